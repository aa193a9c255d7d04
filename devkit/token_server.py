"""A Docker token-protocol server for the token-auth registry flavour.

Protocol (https://distribution.github.io/distribution/spec/auth/token/): the registry answers
``401 WWW-Authenticate: Bearer realm="<this>/token",service="...",scope="repository:n:pull"``;
the client calls ``GET /token?service=..&scope=..[&scope=..]`` (Basic credentials optional) and
gets ``{"token", "access_token", "expires_in", "issued_at"}``.

Trust: at start the server makes an RSA key and a self-signed certificate (``cryptography``);
the certificate is written to :attr:`TokenServer.cert_path`, which the registry config names as
``rootcertbundle``. Each JWT is RS256-signed and its header carries ``x5c: [<that cert>]``;
distribution 2.8 verifies the x5c chain against the rootcertbundle and then the signature.

Claims as distribution 2.8 wants them: ``iss`` = issuer, ``aud`` = service (a STRING: 2.8 does
not accept an array), ``sub``, ``exp``, ``nbf``, ``iat``, ``jti``, ``access``. The registry allows
60 s of clock leeway on ``exp``/``nbf``, so a token with ``expires_in=1`` keeps working for about a
minute; to get a token the registry already rejects, set :attr:`TokenServer.jwt_exp_offset`
to e.g. ``-120``.

Policy (default, replaceable through :attr:`TokenServer.policy`): a valid user gets every action
it asks for; wrong credentials get 401; anonymous callers get ``pull`` on repositories whose
name starts with one of :attr:`TokenServer.anonymous_pull_prefixes` (``public/``) and nothing
else (a token with an empty ``access`` list, as Docker Hub does; the registry then says 401).

Every request is recorded as a :class:`TokenRequest` (never with the password or the token).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from devkit.httpserver import LoopbackHTTPServer

DEFAULT_ISSUER = "imagedeploy-test-token-issuer"
DEFAULT_SERVICE = "imagedeploy-test-registry"

#: (account or None for anonymous, scope type, scope name, requested actions) -> granted actions
Policy = Callable[[str | None, str, str, tuple[str, ...]], tuple[str, ...]]


@dataclass(frozen=True)
class Scope:
    """``repository:demo/web:pull,push`` -> Scope("repository", "demo/web", ("pull", "push"))."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        type_, _, rest = text.partition(":")
        name, _, actions = rest.rpartition(":")
        return cls(type_, name, tuple(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token server, as recorded for assertions (no secrets)."""

    method: str
    path: str
    service: str | None
    scopes: tuple[str, ...]  #: raw scope strings, in request order
    account: str | None  #: the Basic username presented (None if anonymous)
    auth_presented: bool
    authenticated: bool  #: credentials were presented and valid
    status: int
    granted: tuple[Scope, ...]  #: what the issued token allows (empty on errors)
    at: float  #: time.monotonic() when the request arrived


@dataclass
class _ErrorReply:
    status: int
    retry_after: str | None
    body: bytes


@dataclass
class _Key:
    private: rsa.RSAPrivateKey
    cert_der: bytes
    cert_pem: bytes


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _make_key(common_name: str) -> _Key:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    return _Key(
        private,
        cert.public_bytes(serialization.Encoding.DER),
        cert.public_bytes(serialization.Encoding.PEM),
    )


class TokenServer:
    """Threaded token server on 127.0.0.1; start with :meth:`start`, stop with :meth:`stop`.

    Per-test knobs (all reset by :meth:`reset`): :attr:`expires_in`, :attr:`jwt_exp_offset`,
    :attr:`allow_anonymous`, :attr:`anonymous_pull_prefixes`, :attr:`policy`, :meth:`fail_next`.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str],
        issuer: str = DEFAULT_ISSUER,
        service: str = DEFAULT_SERVICE,
    ) -> None:
        self.issuer = issuer
        self.service = service
        self._users = dict(users)
        self._key = _make_key(issuer)
        self.cert_path = workdir / "token-signer.pem"
        self.cert_path.write_bytes(self._key.cert_pem)
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._errors: list[_ErrorReply] = []
        self._server: LoopbackHTTPServer | None = None
        self.reset()

    # configuration -------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to defaults, forget recorded requests and queued errors."""
        with self._lock:
            self.expires_in: int | None = 300  # None: the answer has no expires_in
            self.jwt_exp_offset: int | None = None  # None: exp = now + expires_in
            self.allow_anonymous = True
            self.anonymous_pull_prefixes: tuple[str, ...] = ("public/",)
            self.policy: Policy | None = None
            self._requests.clear()
            self._errors.clear()

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        body: bytes = b'{"errors":[{"code":"UNAVAILABLE","message":"injected by test"}]}',
    ) -> None:
        """Answer the next ``times`` token requests with ``status`` (e.g. 503, 429, 401)."""
        with self._lock:
            self._errors.extend(_ErrorReply(status, retry_after, body) for _ in range(times))

    # inspection ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{self._server.host}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    # tokens --------------------------------------------------------------------------------

    def grant(self, account: str | None, scope: Scope) -> tuple[str, ...]:
        """The actions of ``scope`` that ``account`` (None = anonymous) may have."""
        if self.policy is not None:
            return self.policy(account, scope.type, scope.name, scope.actions)
        if account is not None:
            return scope.actions
        if (
            self.allow_anonymous
            and scope.type == "repository"
            and scope.name.startswith(self.anonymous_pull_prefixes)
            and "pull" in scope.actions
        ):
            return ("pull",)
        return ()

    def issue_token(
        self, account: str | None, scopes: Sequence[Scope], *, now: float | None = None
    ) -> str:
        """Mint a signed JWT granting ``scopes`` as they are (no policy applied)."""
        now = time.time() if now is None else now
        exp_offset = self.jwt_exp_offset
        if exp_offset is None:
            exp_offset = self.expires_in or 60
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self._key.cert_der).decode()],
        }
        claims = {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,
            "exp": int(now) + exp_offset,
            "nbf": int(now) - 1,
            "iat": int(now),
            "jti": secrets.token_hex(16),
            "access": [
                {"type": s.type, "name": s.name, "actions": list(s.actions)} for s in scopes
            ],
        }
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        signature = self._key.private.sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return signing_input + "." + _b64url(signature)

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> TokenServer:
        self._server = LoopbackHTTPServer(_handler_for(self))
        self._server.start("token-server")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    # request handling (called by the handler thread) ----------------------------------------

    def _handle(self, method: str, target: str, authorization: str | None) -> _Reply:
        url = urlsplit(target)
        query = parse_qs(url.query)
        raw_scopes = tuple(s for value in query.get("scope", []) for s in value.split(" ") if s)
        service = query.get("service", [None])[0]
        account, authenticated = self._check_auth(authorization)
        arrived = time.monotonic()

        def record(status: int, granted: tuple[Scope, ...] = ()) -> None:
            with self._lock:
                self._requests.append(
                    TokenRequest(
                        method=method,
                        path=url.path,
                        service=service,
                        scopes=raw_scopes,
                        account=account,
                        auth_presented=authorization is not None,
                        authenticated=authenticated,
                        status=status,
                        granted=granted,
                        at=arrived,
                    )
                )

        with self._lock:
            error = self._errors.pop(0) if self._errors else None
        if error is not None:
            record(error.status)
            headers = {"Retry-After": error.retry_after} if error.retry_after else {}
            return _Reply(error.status, error.body, headers)
        if url.path != "/token":
            record(404)
            return _Reply(404, b'{"errors":[{"code":"NOT_FOUND"}]}')
        if authorization is not None and not authenticated:
            record(401)
            return _Reply(
                401,
                b'{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}',
                {"WWW-Authenticate": 'Basic realm="token"'},
            )
        if service != self.service:
            record(400)
            return _Reply(400, b'{"errors":[{"code":"DENIED","message":"unknown service"}]}')
        if account is None and not self.allow_anonymous:
            record(401)
            return _Reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"login required"}]}')
        granted = []
        for raw in raw_scopes:
            scope = Scope.parse(raw)
            actions = self.grant(account if authenticated else None, scope)
            if actions:
                granted.append(Scope(scope.type, scope.name, actions))
        now = time.time()
        token = self.issue_token(account, granted, now=now)
        body: dict[str, object] = {
            "token": token,
            "access_token": token,
            "issued_at": dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        record(200, tuple(granted))
        return _Reply(200, json.dumps(body).encode())

    def _check_auth(self, authorization: str | None) -> tuple[str | None, bool]:
        if authorization is None:
            return None, False
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None, False
        try:
            username, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None, False
        expected = self._users.get(username)
        ok = expected is not None and secrets.compare_digest(expected, password)
        return username, ok


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _handler_for(owner: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # see fault_proxy._Handler

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)  # e.g. an OAuth2 POST form: not supported, drained
            reply = owner._handle(self.command, self.path, self.headers.get("Authorization"))
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

        do_GET = do_POST = do_HEAD = _serve  # noqa: N815 (http.server's naming)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; requests are recorded in owner.requests

    return Handler
