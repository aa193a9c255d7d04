"""ECR through IAM: ``EcrAuthorizer`` gets registry logins with ``ecr:GetAuthorizationToken``
and ``EcrAwareRegistry`` uses them in the preflight: an ``AWS_ECR`` image can be pulled with no
stored token at all (docs/architecture.md §5.1).

The rule, for an image on an ECR host (``<account>.dkr.ecr.<region>.amazonaws.com``):

- no credential (none chosen, or an ``AWS_ECR`` credential with no stored token, which
  ``load_credential`` hands over as none): the platform's own role logs in
  (``GetAuthorizationToken``, decoded ``AWS:<password>``), cached per region until shortly
  before ``expiresAt``. The token reads every repository of that region the role may read,
  other accounts' too when their repository policy allows it;
- a stored (Render-style, ``aws ecr get-login-password``) token is used as it is; an expired
  one gets ECR's 403 DENIED, which the registry client reports ``unauthorized`` with the
  12-hour hint, and this wrapper adds that clearing the token lets the platform's role pull.

Containers on ECS pull ECR images through the task execution role either way
(``EcsRuntime`` gives ECS no ECR credential).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from pydantic import SecretStr

from imagedeploy.adapters.aws.clients import error_code
from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.domain.reference import ImageReference
from imagedeploy.domain.registries import RegistryCredential, RegistryKind, registry_kind_of
from imagedeploy.ports import Registry

if TYPE_CHECKING:
    from imagedeploy.registry.client import PreflightResult

logger = logging.getLogger(__name__)

__all__ = ["EcrAuthorizer", "EcrAwareRegistry", "ecr_region"]

#: Refresh this long before ECR's ``expiresAt`` (tokens live 12 hours).
REFRESH_BEFORE = timedelta(minutes=10)


def ecr_region(host: str) -> str:
    """``123456789012.dkr.ecr.eu-west-1.amazonaws.com`` → ``eu-west-1`` (also ``-fips`` hosts
    and ``.amazonaws.com.cn``)."""
    parts = host.lower().split(":", 1)[0].split(".")
    if registry_kind_of(host) is not RegistryKind.AWS_ECR or len(parts) < 5:
        raise ValueError(f"{host} is not an ECR registry host")
    return parts[3]


@dataclass(frozen=True, slots=True)
class _Token:
    password: SecretStr
    expires_at: datetime


class EcrAuthorizer:
    def __init__(
        self,
        client: Any = None,
        *,
        client_for_region: Callable[[str], Any] | None = None,
        clock: Callable[[], datetime] | None = None,
        refresh_before: timedelta = REFRESH_BEFORE,
    ) -> None:
        """``client``: an ECR client of the stack's region; ``client_for_region`` makes
        clients for ECR hosts in other regions (default: boto3's)."""
        self._client = client
        self._client_for_region = client_for_region
        self._clock = clock or (lambda: datetime.now(UTC))
        self._refresh_before = refresh_before
        self._tokens: dict[str, _Token] = {}
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def credential_for(self, host: str) -> RegistryCredential:
        """A login for the ECR registry ``host`` (``AWS_ECR``, username = its account id).
        Raises ``ImagePullError`` (``unauthorized`` when the role may not get a token,
        ``registry_unavailable`` when ECR cannot be reached)."""
        region = ecr_region(host)
        account = host.split(".", 1)[0]
        with self._lock:
            token = self._tokens.get(region)
            if token is None or self._clock() >= token.expires_at - self._refresh_before:
                token = self._fetch(region, host)
                self._tokens[region] = token
        return RegistryCredential(RegistryKind.AWS_ECR, account, token.password)

    def _fetch(self, region: str, host: str) -> _Token:
        try:
            answer = self._ecr(region).get_authorization_token()
        except ClientError as exc:
            code = error_code(exc)
            raise ImagePullError(
                PullFailureReason.UNAUTHORIZED,
                f"could not log in to {host} through the platform's IAM role ({code}); it needs "
                "ecr:GetAuthorizationToken, and ecr:BatchGetImage and "
                "ecr:GetDownloadUrlForLayer on the repository (or choose a credential)",
            ) from None
        except BotoCoreError as exc:
            raise ImagePullError(
                PullFailureReason.REGISTRY_UNAVAILABLE,
                f"could not reach ECR in {region} to log in to {host}: {type(exc).__name__}",
            ) from None
        data = answer["authorizationData"][0]
        decoded = base64.b64decode(data["authorizationToken"]).decode("utf-8")
        _user, _, password = decoded.partition(":")
        expires_at = data.get("expiresAt")
        if not isinstance(expires_at, datetime):
            expires_at = self._clock() + timedelta(hours=12)
        elif expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        logger.info("ECR token obtained", extra={"region": region, "expires_at": str(expires_at)})
        return _Token(SecretStr(password), expires_at)

    def _ecr(self, region: str) -> Any:
        if self._client is not None and _region_of(self._client) in (region, None):
            return self._client
        if region not in self._clients:
            if self._client_for_region is not None:
                self._clients[region] = self._client_for_region(region)
            else:
                import boto3  # type: ignore[import-untyped]

                self._clients[region] = boto3.client("ecr", region_name=region)
        return self._clients[region]


def _region_of(client: Any) -> str | None:
    region = getattr(getattr(client, "meta", None), "region_name", None)
    return str(region) if region else None


class EcrAwareRegistry:
    """The ``Registry`` port with ECR logins through IAM (see the module docstring)."""

    def __init__(self, inner: Registry, authorizer: EcrAuthorizer) -> None:
        self._inner = inner
        self._authorizer = authorizer

    def with_budget(self, seconds: float) -> EcrAwareRegistry:
        return EcrAwareRegistry(self._inner.with_budget(seconds), self._authorizer)

    def inspect(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> PreflightResult:
        login, stored = self._login(ref, credential)
        try:
            return self._inner.inspect(ref, login)
        except ImagePullError as exc:
            raise self._explained(exc, stored) from None

    def check_digest_exists(
        self, ref: ImageReference, credential: RegistryCredential | None = None
    ) -> None:
        login, stored = self._login(ref, credential)
        try:
            self._inner.check_digest_exists(ref, login)
        except ImagePullError as exc:
            raise self._explained(exc, stored) from None

    def _login(
        self, ref: ImageReference, credential: RegistryCredential | None
    ) -> tuple[RegistryCredential | None, bool]:
        """The credential to use, and whether it is a stored ECR token."""
        if registry_kind_of(ref.registry) is not RegistryKind.AWS_ECR:
            return credential, False
        if credential is None or (
            credential.kind is RegistryKind.AWS_ECR and not credential.token.get_secret_value()
        ):
            return self._authorizer.credential_for(ref.registry), False
        return credential, credential.kind is RegistryKind.AWS_ECR

    @staticmethod
    def _explained(exc: ImagePullError, stored_ecr_token: bool) -> ImagePullError:
        if not stored_ecr_token or exc.reason is not PullFailureReason.UNAUTHORIZED:
            return exc
        return ImagePullError(
            exc.reason,
            f"{exc.message}. On AWS the token is optional: clear it (or choose no credential) "
            "and imagedeploy pulls through its own IAM role, with no 12-hour rotation",
        )
