"""The ``awsvpc`` network of the runtime's tasks: the stack's subnets, the security groups a
task is in, and its workspace's own group when the stack has them (``workspace_groups.py``)."""

from __future__ import annotations

from typing import Any

from imagedeploy.adapters.aws.ecs_config import EcsConfig
from imagedeploy.adapters.aws.workspace_groups import WorkspaceGroups
from imagedeploy.ports import RunSpec


class TaskNetwork:
    def __init__(self, config: EcsConfig, workspaces: WorkspaceGroups) -> None:
        self._config = config
        self._workspaces = workspaces

    def workspace_group(self, spec: RunSpec) -> tuple[str, ...]:
        """The workspace's security group, when the stack has them."""
        if not (self._config.workspace_security_groups and spec.owner_id):
            return ()
        return (self._workspaces.ensure(spec.owner_id),)

    def configuration(self, security_groups: tuple[str, ...]) -> dict[str, Any]:
        """``networkConfiguration`` in ``security_groups``."""
        return {
            "awsvpcConfiguration": {
                "subnets": list(self._config.subnets),
                "securityGroups": list(security_groups),
                "assignPublicIp": "ENABLED" if self._config.assign_public_ip else "DISABLED",
            }
        }

    def no_inbound(self, spec: RunSpec) -> dict[str, Any]:
        """Workers and one-off tasks: the worker groups (no inbound traffic) and the
        workspace's."""
        return self.configuration(self._config.worker_groups + self.workspace_group(spec))
