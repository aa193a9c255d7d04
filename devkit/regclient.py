"""A tiny, test-only HTTP client factory for talking to the test registries.

This is NOT the product's registry client (that one lives in ``functions/imagedeploy`` and is
what the tests exercise). It exists so fixtures and infrastructure tests can push, read and
delete with any of the three registry flavours:

- anonymous: a plain ``httpx.Client``;
- Basic: ``httpx.BasicAuth`` sent on every request;
- Bearer: :class:`ChallengeAuth` answers a ``401 WWW-Authenticate: Bearer realm=..,service=..,
  scope=..`` by fetching a token from the realm (with Basic credentials, if any) and retrying,
  caching one token per repository.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Generator
from dataclasses import dataclass, field

import httpx

_PARAM = re.compile(r'(\w+)="([^"]*)"')
_REPO_IN_PATH = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags)/")


@dataclass(frozen=True)
class Credentials:
    """Username and password of a test user. The password is kept out of ``repr``."""

    username: str
    password: str = field(repr=False)

    def basic_auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.username, self.password)

    def basic_header(self) -> str:
        """``Authorization`` header value for Basic auth."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def skopeo_creds(self) -> str:
        """Value for ``skopeo --creds``; pass it in argv only, never print it."""
        return f"{self.username}:{self.password}"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``'Bearer realm="x",service="y"'`` -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(_PARAM.findall(rest))


class ChallengeAuth(httpx.Auth):
    """Answers registry challenges: Basic -> credentials, Bearer -> token from the realm."""

    requires_response_body = True  # the token response's JSON is read inside the flow

    def __init__(self, credentials: Credentials | None) -> None:
        self.credentials = credentials
        self._tokens: dict[str, str] = {}  # repository (or "" for /v2/) -> token
        self.token_fetches = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        match = _REPO_IN_PATH.match(request.url.path)
        key = match.group(1) if match else ""
        if key in self._tokens:
            request.headers["Authorization"] = f"Bearer {self._tokens[key]}"
        response = yield request
        if response.status_code != 401 or "WWW-Authenticate" not in response.headers:
            return
        scheme, params = parse_challenge(response.headers["WWW-Authenticate"])
        if scheme == "basic" and self.credentials:
            request.headers["Authorization"] = self.credentials.basic_header()
            yield request
            return
        if scheme != "bearer" or "realm" not in params:
            return
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        token_request = httpx.Request("GET", params["realm"], params=query)
        if self.credentials:
            token_request.headers["Authorization"] = self.credentials.basic_header()
        token_response = yield token_request
        self.token_fetches += 1
        if token_response.status_code != 200:
            return
        body = token_response.json()
        token = body.get("token") or body.get("access_token")
        self._tokens[key] = token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def registry_client(
    base_url: str, credentials: Credentials | None = None, *, timeout: float = 10.0
) -> httpx.Client:
    """An ``httpx.Client`` for ``base_url`` that handles Basic and Bearer challenges.

    With no credentials it still answers Bearer challenges anonymously (anonymous pull on the
    token registry). The caller closes the client (``with registry_client(...) as c:``).
    """
    return httpx.Client(
        base_url=base_url,
        auth=ChallengeAuth(credentials),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # loopback only: never route through an HTTP(S)_PROXY from the env
    )
