"""Private services in Cloud Map: one service per private service in the stack's namespace
(A records ``<slug>.<namespace>``; the slug is unique in the stack). Found by the id recorded
for it (``route_records.py``), never by name: two services named alike never share a Cloud Map
service, and removing one never deregisters the other's instances. Also found by its
description when a retried removal runs after the ECS service that named it is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.adapters.aws.ecs_config import EcsConfig, resource_tags
from imagedeploy.adapters.aws.route_records import RouteRecords
from imagedeploy.ports import RunSpec


def _description(service_id: str) -> str:
    return f"imagedeploy private service {service_id}"


class CloudMap:
    def __init__(
        self, config: EcsConfig, servicediscovery: Callable[[], Any], records: RouteRecords
    ) -> None:
        self._config = config
        self._client = servicediscovery
        self._records = records

    def ensure(self, spec: RunSpec) -> str:
        """The ARN of the service's Cloud Map service: the recorded one, else a new one
        (``CreatorRequestId`` = the service id: a retried creation makes no second one)."""
        recorded = self._records.route(spec.service_id).cloud_map_id
        if recorded:
            try:
                return str(self._client().get_service(Id=recorded)["Service"]["Arn"])
            except ClientError as exc:
                if error_code(exc) != "ServiceNotFound":
                    raise
        created = self._client().create_service(
            Name=spec.slug or spec.internal_host or spec.service_id,
            NamespaceId=self._config.namespace_id,
            CreatorRequestId=spec.service_id,
            Description=_description(spec.service_id),
            DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 10}]},
            HealthCheckCustomConfig={"FailureThreshold": 1},
            Tags=[{"Key": k, "Value": v} for k, v in resource_tags(self._config, spec).items()],
        )["Service"]
        self._records.set(spec.service_id, cloudMapId=str(created["Id"]))
        return str(created["Arn"])

    def services_of(self, service_id: str) -> list[str]:
        """The Cloud Map services made for ``service_id`` (by their description: a retried
        removal runs after the ECS service that named them is gone)."""
        recorded = self._records.route(service_id).cloud_map_id
        if recorded:
            try:
                return [str(self._client().get_service(Id=recorded)["Service"]["Arn"])]
            except ClientError as exc:
                if error_code(exc) != "ServiceNotFound":
                    raise
                return []
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
