"""What the ECS runtime records about its routing, in the stack's DynamoDB table (next to the
store's items, under keys the store never uses):

====================================  ==========================================================
item                                  PK / SK (+ attributes)
====================================  ==========================================================
a load balancer of the pool           ``ALBPOOL`` / ``<key>`` (+ ``arn``, ``listenerArn``,
                                      ``dnsName``, ``zoneId``, ``used``)
a service's routing and names         ``ROUTE#<service id>`` / ``ROUTE`` (+ ``albKey``,
                                      ``targetGroupArn``, ``host``, ``cloudMapId``, ``ecsName``)
====================================  ==========================================================

A web service takes a slot of one load balancer with ONE transaction: the pool item's
``used`` goes up only while it is below the capacity, and the route item gets the
load balancer only if it has none. Two creations racing for the last slot cannot both win
(one transaction's condition fails; it moves on to the next load balancer), and a retried
creation keeps the slot it already holds. Releasing is the reverse transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.adapters.aws.ecs_config import EcsRuntimeError

POOL: Final = "ALBPOOL"


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    key: str  # its place in the pool: "000", "001", ... (the stack's own ALB is "000")
    arn: str
    listener_arn: str
    dns_name: str
    zone_id: str  # its canonical hosted zone (Route 53 alias records)
    used: int  # web services routed through it


@dataclass(frozen=True, slots=True)
class Route:
    service_id: str
    alb_key: str = ""
    target_group_arn: str = ""
    host: str = ""  # the DNS record made for the service ("" = none)
    cloud_map_id: str = ""  # private services: their Cloud Map service
    ecs_name: str = ""  # the ECS service and task definition family (EcsRuntime.name_of)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class RouteRecords:
    def __init__(self, table_name: str, dynamodb: Callable[[], Any]) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def _client(self) -> Any:
        if not self._table:
            raise EcsRuntimeError("web and private services need EcsConfig.table_name")
        return self._dynamodb()

    def _route_key(self, service_id: str) -> dict[str, Any]:
        return {"PK": _s(f"ROUTE#{service_id}"), "SK": _s("ROUTE")}

    # -- the pool --------------------------------------------------------------------------
    def load_balancers(self) -> list[LoadBalancer]:
        """The pool in order (one partition: at most a few hundred small items)."""
        pages = (
            self._client()
            .get_paginator("query")
            .paginate(
                TableName=self._table,
                KeyConditionExpression="PK = :pool",
                ExpressionAttributeValues={":pool": _s(POOL)},
                ConsistentRead=True,
            )
        )
        return [
            LoadBalancer(
                key=item["SK"]["S"],
                arn=item["arn"]["S"],
                listener_arn=item["listenerArn"]["S"],
                dns_name=item["dnsName"]["S"],
                zone_id=item["zoneId"]["S"],
                used=int(item["used"]["N"]),
            )
            for page in pages
            for item in page.get("Items", [])
        ]

    def add_load_balancer(self, lb: LoadBalancer) -> None:
        """Put ``lb`` into the pool unless its key is already there (a concurrent creation
        made the same load balancer: ELB names are unique, so it is the same one)."""
        try:
            self._client().put_item(
                TableName=self._table,
                Item={
                    "PK": _s(POOL),
                    "SK": _s(lb.key),
                    "arn": _s(lb.arn),
                    "listenerArn": _s(lb.listener_arn),
                    "dnsName": _s(lb.dns_name),
                    "zoneId": _s(lb.zone_id),
                    "used": {"N": str(lb.used)},
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def claim(self, service_id: str, lb: LoadBalancer, capacity: int) -> bool:
        """Take a slot of ``lb`` for the service: False when ``lb`` is full or the service
        already holds a slot (read the route again)."""
        return self._transact(
            self._update(
                {"PK": _s(POOL), "SK": _s(lb.key)},
                "SET used = used + :one",
                "used < :capacity",
                {":one": {"N": "1"}, ":capacity": {"N": str(capacity)}},
            ),
            self._update(
                self._route_key(service_id),
                "SET albKey = :key",
                "attribute_not_exists(albKey)",
                {":key": _s(lb.key)},
            ),
        )

    def release(self, route: Route) -> None:
        """Give the service's slot back (nothing when it holds none, or no longer)."""
        if not route.alb_key:
            return
        self._transact(
            self._update(
                {"PK": _s(POOL), "SK": _s(route.alb_key)},
                "SET used = used - :one",
                "used > :zero",
                {":one": {"N": "1"}, ":zero": {"N": "0"}},
            ),
            self._update(
                self._route_key(route.service_id),
                "REMOVE albKey, targetGroupArn, host",
                "albKey = :key",
                {":key": _s(route.alb_key)},
            ),
        )

    def _update(
        self, key: dict[str, Any], expression: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        """One conditional ``Update`` of a transaction."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": key,
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
        }

    def _transact(self, *updates: dict[str, Any]) -> bool:
        """Write ``updates`` together: False when a condition failed (nothing was written)."""
        try:
            self._client().transact_write_items(TransactItems=list(updates))
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                return False
            raise
        return True

    # -- a service's route -----------------------------------------------------------------
    def route(self, service_id: str) -> Route:
        item = (
            self._client()
            .get_item(TableName=self._table, Key=self._route_key(service_id), ConsistentRead=True)
            .get("Item")
        )
        if not item:
            return Route(service_id)

        def text(name: str) -> str:
            return str(item.get(name, {}).get("S", ""))

        return Route(
            service_id,
            alb_key=text("albKey"),
            target_group_arn=text("targetGroupArn"),
            host=text("host"),
            cloud_map_id=text("cloudMapId"),
            ecs_name=text("ecsName"),
        )

    def set(self, service_id: str, **values: str) -> None:
        """Record attributes of the service's route (``targetGroupArn``, ``host``,
        ``cloudMapId``, ``ecsName``)."""
        names = {f"#{i}": name for i, name in enumerate(values)}
        self._client().update_item(
            TableName=self._table,
            Key=self._route_key(service_id),
            UpdateExpression="SET " + ", ".join(f"#{i} = :{i}" for i in range(len(values))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{i}": _s(v) for i, v in enumerate(values.values())},
        )

    def forget(self, service_id: str) -> None:
        """Delete the service's route item (after everything it names is gone)."""
        self._client().delete_item(TableName=self._table, Key=self._route_key(service_id))
