"""``WorkspaceGroups``: one EC2 security group per workspace (owner), so a workspace's private
services are reachable from that workspace's tasks only, not from the whole VPC.

- The group ``<name prefix>-ws-<owner id>`` admits traffic from its own members only (a
  self-referencing rule, every protocol); egress is open (the default).
- A private service's tasks are in their workspace's group alone; every other task of the
  workspace (web services, workers, cron runs, pre-deploy commands) also joins it, so it can
  reach the workspace's private services (by their Cloud Map names) and nothing else can.
- Found by name in the stack's VPC (``DescribeSecurityGroups``), created when missing and
  tagged ``imagedeploy:stack`` / ``imagedeploy:owner``; a concurrent creation is tolerated.
  Groups are free and stay when a workspace's last service goes (a later service reuses it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.adapters.aws.ecs_config import EcsConfig

OWNER_TAG = "imagedeploy:owner"
STACK_TAG = "imagedeploy:stack"


class WorkspaceGroups:
    def __init__(self, config: EcsConfig, client: Callable[[], Any]) -> None:
        self._config = config
        self._client = client
        self._known: dict[str, str] = {}  # owner id -> group id
        self._lock = threading.Lock()

    def name_of(self, owner_id: str) -> str:
        return f"{self._config.name_prefix}-ws-{owner_id}"

    def ensure(self, owner_id: str) -> str:
        """The workspace's group id (created, with its rule, when missing)."""
        with self._lock:
            known = self._known.get(owner_id)
        if known:
            return known
        group = self._find(owner_id) or self._create(owner_id)
        with self._lock:
            self._known[owner_id] = group
        return group

    def _find(self, owner_id: str) -> str | None:
        found = self._client().describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [self._config.vpc_id]},
                {"Name": "group-name", "Values": [self.name_of(owner_id)]},
            ]
        )
        groups = found.get("SecurityGroups") or []
        return str(groups[0]["GroupId"]) if groups else None

    def _create(self, owner_id: str) -> str:
        client = self._client()
        try:
            group = str(
                client.create_security_group(
                    GroupName=self.name_of(owner_id),
                    Description=f"imagedeploy workspace {owner_id}: its tasks reach each other",
                    VpcId=self._config.vpc_id,
                    TagSpecifications=[
                        {
                            "ResourceType": "security-group",
                            "Tags": [
                                {"Key": STACK_TAG, "Value": self._config.name_prefix},
                                {"Key": OWNER_TAG, "Value": owner_id},
                            ],
                        }
                    ],
                )["GroupId"]
            )
        except ClientError as exc:
            if error_code(exc) != "InvalidGroup.Duplicate":
                raise
            found = self._find(owner_id)  # created meanwhile by another worker
            if found is None:
                raise
            group = found
        try:
            client.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group}]}],
            )
        except ClientError as exc:
            if error_code(exc) != "InvalidPermission.Duplicate":
                raise
        return group
