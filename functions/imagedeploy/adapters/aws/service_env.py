"""``ServiceEnvSecrets``: a service's environment values in Secrets Manager, so task definitions
never carry them in plaintext (the console, CloudTrail and every inactive revision would show
them forever). Task definitions reference them through ``secrets`` (``valueFrom``).

- **One secret per service**, ``<prefix>/service-env/<service id>``, holding the JSON map
  ``{"NAME": "value", ...}``; each variable is referenced with the JSON-key form
  ``<secret ARN>:<NAME>::<version id>``. One secret per variable would cost $0.40/month per
  variable instead of per service (10 variables x 1,000 services: $4,000 vs $400 a month) and
  one API call per variable at every deploy; a service's map fits the 64 KB secret limit
  (``EnvTooLarge`` otherwise).
- **Pinned versions**: a version's id is derived from its content (``ClientRequestToken`` =
  a hash of the JSON), and each task definition revision pins the version it was registered
  with. A revision ECS rolls back to (circuit breaker, cancel) keeps the environment it ran with,
  and an unchanged environment gives the same ``valueFrom`` (so the same revision) without a
  write: ``store`` reads that version first (GetSecretValue: 10,000 requests/s, against
  PutSecretValue's 50/s), and writes only new content.
- ``delete`` removes the secret without a recovery window: it runs when the service is removed
  (the removal job), and a deleted service's variables are not recoverable through the API
  either. Deleting a missing secret succeeds (removal is retried).
- Values never leave this module except inside the secret: nothing here logs them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.adapters.aws.ecs_config import EcsRuntimeError

logger = logging.getLogger(__name__)

__all__ = ["EnvReference", "ServiceEnvSecrets"]

MAX_SECRET_BYTES: Final = 65_536  # Secrets Manager's limit on SecretString
SERVICE_TAG: Final = "imagedeploy:service"


@dataclass(frozen=True, slots=True)
class EnvReference:
    """One version of a service's environment secret."""

    arn: str  # the full ARN (with the random suffix AWS appends to names)
    version_id: str

    def value_from(self, name: str) -> str:
        """``valueFrom`` of variable ``name``: ``<arn>:<json key>:<stage>:<version id>``."""
        return f"{self.arn}:{name}::{self.version_id}"


def version_token(body: str) -> str:
    """The ``ClientRequestToken`` (and so the version id) of a secret value: 64 hex digits."""
    return hashlib.sha256(body.encode()).hexdigest()


class ServiceEnvSecrets:
    """``client`` makes the boto3 Secrets Manager client (on first use: cold starts)."""

    def __init__(
        self, prefix: str, client: Callable[[], Any], *, tags: Mapping[str, str] | None = None
    ) -> None:
        self.prefix = prefix.strip("/")
        self._client = client
        self._tags = dict(tags or {})

    def __repr__(self) -> str:
        return f"ServiceEnvSecrets(prefix={self.prefix!r})"

    def name_of(self, service_id: str) -> str:
        return f"{self.prefix}/service-env/{service_id}"

    def store(self, service_id: str, values: Mapping[str, str]) -> EnvReference | None:
        """The secret version holding exactly ``values`` (written when new); None for none."""
        if not values:
            return None
        body = json.dumps(dict(sorted(values.items())), separators=(",", ":"))
        if len(body.encode()) > MAX_SECRET_BYTES:
            raise EcsRuntimeError(
                f"service {service_id}'s environment variables take {len(body.encode())} bytes "
                f"as JSON; AWS Secrets Manager holds at most {MAX_SECRET_BYTES}: remove or "
                "shorten some variables and deploy again"
            )
        name, token = self.name_of(service_id), version_token(body)
        client = self._client()
        try:
            found = client.get_secret_value(SecretId=name, VersionId=token)
            return EnvReference(str(found["ARN"]), token)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise  # (missing secret and missing version both answer ResourceNotFound)
        try:
            written = client.put_secret_value(
                SecretId=name, SecretString=body, ClientRequestToken=token
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            tags = {**self._tags, SERVICE_TAG: service_id}
            written = client.create_secret(
                Name=name,
                Description=f"imagedeploy environment variables of service {service_id}",
                SecretString=body,
                ClientRequestToken=token,
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )
        logger.info("service environment stored", extra={"service_id": service_id})
        return EnvReference(str(written["ARN"]), token)

    def delete(self, service_id: str) -> None:
        try:
            self._client().delete_secret(
                SecretId=self.name_of(service_id), ForceDeleteWithoutRecovery=True
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
