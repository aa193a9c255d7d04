"""``SecretsManagerSecretStore``: registry tokens in AWS Secrets Manager.

- One secret per registry credential, named ``<prefix>/registry-credentials/<credential_id>``,
  holding ``{"username": ..., "password": ...}``: the shape ECS reads for a task definition's
  ``repositoryCredentials`` (``arn_of`` gives the ARN to put there; the task execution role needs
  ``secretsmanager:GetSecretValue`` on ``<prefix>/registry-credentials/*``, and ``kms:Decrypt``
  when ``kms_key_id`` names a customer managed key).
- Each secret is tagged ``imagedeploy:credential-id`` = the credential id, plus the stack's tags,
  so IAM conditions, cost reports and clean-ups can find them.
- ``put`` creates the secret, or adds a new version to an existing one (``PutSecretValue``:
  the new version becomes ``AWSCURRENT``, the previous one ``AWSPREVIOUS``). A secret scheduled
  for deletion is restored first, so ``delete`` followed by ``put`` of the same id works.
- ``delete`` schedules deletion with a **7-day recovery window** (the shortest AWS allows short of
  forcing): a credential deleted by mistake can be restored with ``restore-secret`` for a week,
  and its name stays reserved meanwhile (ids are random, never reused). Deleting a secret that
  does not exist, or is already scheduled for deletion, succeeds (deletes are retried).
- Values never leave this module except as ``SecretStr``: nothing here logs or reprs one, and
  AWS error messages never echo a secret value. (botocore's own DEBUG logging prints request
  bodies, secret values included: keep the ``botocore`` logger above DEBUG in production.)
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from pydantic import SecretStr

from imagedeploy.adapters.aws.clients import error_code, lazy_client
from imagedeploy.domain.errors import InvalidInput

if TYPE_CHECKING:
    from imagedeploy.ports import SecretStore

logger = logging.getLogger(__name__)

CREDENTIAL_ID_TAG: Final = "imagedeploy:credential-id"
RECOVERY_WINDOW_DAYS: Final = 7
# Secrets Manager names: letters, digits and /_+=.@- (the id adds no "/": one level per secret).
_PREFIX = re.compile(r"[A-Za-z0-9_+=.@/-]{1,256}")
_CREDENTIAL_ID = re.compile(r"[A-Za-z0-9_+=.@-]{1,128}")


class SecretsManagerSecretStore:
    """The ``SecretStore`` port on Secrets Manager (see the module docstring).

    ``client`` is a boto3 Secrets Manager client (created lazily with the default session when
    None); ``tags`` are added to every secret created (the stack's tags); ``kms_key_id``
    encrypts new secrets with that key instead of ``aws/secretsmanager``.
    """

    def __init__(
        self,
        prefix: str,
        *,
        client: Any = None,
        tags: Mapping[str, str] | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        prefix = prefix.strip("/")
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(
                f"secret name prefix {prefix!r} may only hold letters, digits and /_+=.@-"
            )
        if tags and CREDENTIAL_ID_TAG in tags:
            raise ValueError(f"the {CREDENTIAL_ID_TAG} tag is set per secret, not per stack")
        self.prefix = prefix
        self._client = lazy_client("secretsmanager", client)
        self._tags = dict(tags or {})
        self._kms_key_id = kms_key_id
        self._arns: dict[str, str] = {}  # credential id -> ARN, as learned from AWS

    def __repr__(self) -> str:
        return f"SecretsManagerSecretStore(prefix={self.prefix!r})"

    @property
    def client(self) -> Any:
        """The boto3 client (the injected one, or one made on first use)."""
        return self._client()

    def name_of(self, credential_id: str) -> str:
        """The secret's name; ``InvalidInput`` for an id that cannot be part of one."""
        if not isinstance(credential_id, str) or not _CREDENTIAL_ID.fullmatch(credential_id):
            raise InvalidInput(
                f"registry credential id {str(credential_id)[:40]!r} is not valid: letters, "
                "digits and _+=.@- only"
            )
        return f"{self.prefix}/registry-credentials/{credential_id}"

    # -- the port ------------------------------------------------------------------------------

    def put(self, credential_id: str, username: str, token: SecretStr) -> None:
        name = self.name_of(credential_id)
        value = json.dumps({"username": username, "password": token.get_secret_value()})
        try:
            self._create(credential_id, name, value)
            logger.info("registry secret created", extra={"credential_id": credential_id})
            return
        except ClientError as exc:
            # The name is taken: by a live secret (ResourceExistsException), or by one scheduled
            # for deletion (AWS: InvalidRequestException; moto: ResourceExistsException, so ask
            # rather than trust the code; updates are rare, one DescribeSecret is cheap).
            if error_code(exc) not in ("ResourceExistsException", "InvalidRequestException"):
                raise
            if self._scheduled_for_deletion(name):
                self.client.restore_secret(SecretId=name)
                logger.info("registry secret restored", extra={"credential_id": credential_id})
            elif error_code(exc) != "ResourceExistsException":
                raise
        response = self.client.put_secret_value(SecretId=name, SecretString=value)
        self._remember(credential_id, response)
        logger.info("registry secret updated", extra={"credential_id": credential_id})

    def get(self, credential_id: str) -> SecretStr | None:
        name = self.name_of(credential_id)
        try:
            response = self.client.get_secret_value(SecretId=name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            if error_code(exc) == "InvalidRequestException" and self._scheduled_for_deletion(name):
                return None  # deleted, still recoverable: gone as far as deploys are concerned
            raise
        self._remember(credential_id, response)
        try:
            password = json.loads(response["SecretString"])["password"]
        except (KeyError, TypeError, ValueError):
            # The value is not shown: it may be a token pasted into the wrong place.
            raise ValueError(
                f"secret {name} does not hold JSON with a string 'password'; store the "
                "credential again"
            ) from None
        if not isinstance(password, str):
            raise ValueError(f"secret {name}: 'password' is not a string; store it again")
        return SecretStr(password)

    def delete(self, credential_id: str) -> None:
        name = self.name_of(credential_id)
        try:
            self.client.delete_secret(SecretId=name, RecoveryWindowInDays=RECOVERY_WINDOW_DAYS)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                pass
            elif not (code == "InvalidRequestException" and self._scheduled_for_deletion(name)):
                raise
        self._arns.pop(credential_id, None)
        logger.info(
            "registry secret scheduled for deletion",
            extra={"credential_id": credential_id, "recovery_window_days": RECOVERY_WINDOW_DAYS},
        )

    # -- for the ECS runtime -------------------------------------------------------------------

    def arn_of(self, credential_id: str) -> str | None:
        """The secret's full ARN (with the random suffix AWS appends to names), for a task
        definition's ``repositoryCredentials.credentialsParameter``; None when there is no
        such secret (or it is scheduled for deletion). Remembered once known."""
        known = self._arns.get(credential_id)
        if known is not None:
            return known
        name = self.name_of(credential_id)
        try:
            response = self.client.describe_secret(SecretId=name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        if response.get("DeletedDate") is not None:
            return None
        self._remember(credential_id, response)
        return self._arns.get(credential_id)

    # -- helpers -------------------------------------------------------------------------------

    def _create(self, credential_id: str, name: str, value: str) -> None:
        tags = {**self._tags, CREDENTIAL_ID_TAG: credential_id}
        request: dict[str, Any] = {
            "Name": name,
            "Description": f"imagedeploy registry credential {credential_id}",
            "SecretString": value,
            "Tags": [{"Key": key, "Value": tag} for key, tag in sorted(tags.items())],
        }
        if self._kms_key_id is not None:
            request["KmsKeyId"] = self._kms_key_id
        self._remember(credential_id, self.client.create_secret(**request))

    def _remember(self, credential_id: str, response: Mapping[str, Any]) -> None:
        arn = response.get("ARN")
        if isinstance(arn, str):
            self._arns[credential_id] = arn

    def _scheduled_for_deletion(self, name: str) -> bool:
        try:
            response = self.client.describe_secret(SecretId=name)
        except ClientError:
            return False
        return response.get("DeletedDate") is not None


if TYPE_CHECKING:
    _conforms: type[SecretStore] = SecretsManagerSecretStore
