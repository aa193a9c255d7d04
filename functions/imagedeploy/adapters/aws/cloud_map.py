"""Private services in Cloud Map: one service per private service in the stack's namespace
(A records ``<slug>.<namespace>``), found again by its description when a retried removal runs
after the ECS service that named it is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.ecs_config import EcsConfig, error_code
from imagedeploy.domain.ecs_rules import TAG_SERVICE
from imagedeploy.ports import RunSpec


def _description(service_id: str) -> str:
    return f"imagedeploy private service {service_id}"


class CloudMap:
    def __init__(self, config: EcsConfig, servicediscovery: Callable[[], Any]) -> None:
        self._config = config
        self._client = servicediscovery

    def ensure(self, spec: RunSpec) -> str:
        name = spec.internal_host or spec.service_id
        namespace = self._config.namespace_id
        filters = [{"Name": "NAMESPACE_ID", "Values": [namespace], "Condition": "EQ"}]
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Filters": filters}
            if token:
                params["NextToken"] = token
            page = self._client().list_services(**params)
            for service in page.get("Services", []):
                if (
                    service.get("Name") == name
                    and service.get("NamespaceId", namespace) == namespace
                ):
                    return str(service["Arn"])
            token = page.get("NextToken")
            if not token:
                break
        created = self._client().create_service(
            Name=name,
            NamespaceId=namespace,
            CreatorRequestId=f"{spec.service_id}-{name}"[:64],
            Description=_description(spec.service_id),
            DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 10}]},
            HealthCheckCustomConfig={"FailureThreshold": 1},
            Tags=[{"Key": TAG_SERVICE, "Value": spec.service_id}],
        )
        return str(created["Service"]["Arn"])

    def services_of(self, service_id: str) -> list[str]:
        """The Cloud Map services made for ``service_id`` (by their description: a retried
        removal runs after the ECS service that named them is gone)."""
        namespace = self._config.namespace_id
        if not namespace:
            return []
        filters = [{"Name": "NAMESPACE_ID", "Values": [namespace], "Condition": "EQ"}]
        wanted = _description(service_id)
        return [
            str(service["Arn"])
            for page in self._client().get_paginator("list_services").paginate(Filters=filters)
            for service in page.get("Services", [])
            if service.get("Description") == wanted
        ]

    def delete(self, registry_arn: str) -> None:
        service_id = registry_arn.rsplit("/", 1)[-1]
        try:
            for instance in (
                self._client().list_instances(ServiceId=service_id).get("Instances", [])
            ):
                self._client().deregister_instance(ServiceId=service_id, InstanceId=instance["Id"])
            self._client().delete_service(Id=service_id)
        except ClientError as exc:
            if error_code(exc) != "ServiceNotFound":
                raise
