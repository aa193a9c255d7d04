"""Registry authentication: anonymous, Basic, and the Bearer token flow of the distribution spec.

A host's last challenge is remembered, so later calls send a cached (or freshly fetched) token up
front instead of being challenged again. Tokens are cached per (host, realm, service, scopes,
credential fingerprint) and refreshed shortly before they expire.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode

from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.registry.challenge import Challenge
from imagedeploy.registry.transport import Budget, RegistryHttp, host_of, unreachable

DEFAULT_TOKEN_SECONDS = 60  # the distribution spec's default when expires_in is absent
MAX_TOKEN_BODY = 1024 * 1024

# What each kind's token needs, for messages that tell the user how to fix a refused credential.
PERMISSION_HINT = {
    RegistryKind.DOCKER: "a Docker Hub access token with read access (or the account password)",
    RegistryKind.GITHUB: "a GitHub personal access token with the read:packages scope",
    RegistryKind.GITLAB: "a GitLab personal access token with the read_registry scope",
    RegistryKind.GOOGLE_ARTIFACT: (
        "a service account with roles/artifactregistry.reader (username _json_key with the JSON "
        "key, or oauth2accesstoken with an access token)"
    ),
    RegistryKind.AWS_ECR: (
        "the output of `aws ecr get-login-password` (it expires after 12 hours; update the "
        "credential with a fresh one)"
    ),
}


@dataclass(frozen=True, slots=True)
class _Token:
    value: str = field(repr=False)
    refresh_at: float


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def basic_header(credential: RegistryCredential) -> str:
    # ECR's Basic login is always the user "AWS"; Render stores the account id as the username.
    user = "AWS" if credential.kind is RegistryKind.AWS_ECR else credential.username
    raw = f"{user}:{credential.token.get_secret_value()}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _usable(challenges: list[Challenge]) -> Challenge | None:
    """Prefer Bearer (scoped, short-lived) over Basic when a registry offers both."""
    by_scheme = {c.scheme: c for c in challenges}
    bearer = by_scheme.get("bearer")
    if bearer is not None and bearer.get("realm"):
        return bearer
    return by_scheme.get("basic")


class Authenticator:
    def __init__(self, http: RegistryHttp) -> None:
        self._http = http
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self._lock = threading.Lock()

    def header(
        self,
        host: str,
        repository: str,
        credential: RegistryCredential | None,
        budget: Budget,
        *,
        challenges: list[Challenge] | None = None,
        force_refresh: bool = False,
    ) -> str | None:
        """The ``Authorization`` value to send, or None for anonymous.

        With ``challenges`` (from a 401) they replace what we knew of the host; otherwise the host's
        remembered challenge is used, and nothing is sent to a host that has not challenged us yet.
        """
        if challenges is not None:
            chosen = _usable(challenges)
            if chosen is None:
                return None
            with self._lock:
                self._challenges[host] = chosen
        else:
            with self._lock:
                remembered = self._challenges.get(host)
            if remembered is None:
                return None
            chosen = remembered
        if chosen.scheme == "basic":
            return basic_header(credential) if credential else None
        return "Bearer " + self._token(host, repository, credential, chosen, budget, force_refresh)

    def _token(
        self,
        host: str,
        repository: str,
        credential: RegistryCredential | None,
        challenge: Challenge,
        budget: Budget,
        force_refresh: bool,
    ) -> str:
        realm = challenge.get("realm") or ""
        # Google Artifact Registry's challenge names neither service nor scope: derive both.
        service = challenge.get("service") or host.split(":", 1)[0]
        scopes = {pull_scope(repository)}
        if (extra := challenge.get("scope")) and extra.startswith("repository:"):
            scopes.add(extra)
        key = (host, realm, service, *sorted(scopes), credential.identity if credential else "")
        now = self._http.clock()
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and not force_refresh and now < cached.refresh_at:
            return cached.value
        token = self._fetch(realm, service, sorted(scopes), credential, budget, registry=host)
        with self._lock:
            self._tokens[key] = token
        return token.value

    def _fetch(
        self,
        realm: str,
        service: str,
        scopes: list[str],
        credential: RegistryCredential | None,
        budget: Budget,
        *,
        registry: str,
    ) -> _Token:
        if not realm.startswith(("https://", "http://")):
            raise ImagePullError(
                PullFailureReason.REGISTRY_UNAVAILABLE,
                f"{registry} sent a token challenge without a usable realm URL",
            )
        params: list[tuple[str, str]] = [("service", service)]
        params += [("scope", scope) for scope in scopes]
        headers = {}
        if credential is not None:
            params.append(("account", credential.username))
            headers["Authorization"] = basic_header(credential)
        url = realm + ("&" if "?" in realm else "?") + urlencode(params)
        started = self._http.clock()
        reply = self._http.send(
            "GET", url, headers=headers, budget=budget, max_body=MAX_TOKEN_BODY, what="token"
        )
        if reply.status in (401, 403):
            raise ImagePullError(
                PullFailureReason.UNAUTHORIZED, refused_message(registry, credential)
            )
        # The realm is the challenger's choice: anything but a token is "unreachable", so a
        # registry cannot use us to tell which ports answer HTTP (transport.unreachable).
        if reply.status != 200:
            raise unreachable(host_of(url))
        try:
            doc = json.loads(reply.body)
            value = doc.get("token") or doc.get("access_token")
            lifetime = doc.get("expires_in") or DEFAULT_TOKEN_SECONDS
        except (ValueError, AttributeError):
            raise unreachable(host_of(url)) from None
        if not isinstance(value, str) or not value:
            raise unreachable(host_of(url))
        if not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_SECONDS
        # Refresh a little early so a token never expires between our check and the registry's.
        return _Token(value, started + lifetime - min(10.0, lifetime / 10))


def refused_message(registry: str, credential: RegistryCredential | None) -> str:
    if credential is None:
        return (
            f"{registry} refused anonymous access: the repository does not exist or is private; "
            "add a registry credential that can read it"
        )
    return (
        f"{registry} refused the {credential.kind} credential for user {credential.username!r}: "
        f"it is wrong, expired or cannot read this repository. It needs "
        f"{PERMISSION_HINT[credential.kind]}"
    )
