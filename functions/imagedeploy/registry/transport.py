"""HTTP for registry calls: redirects, retries with backoff inside a time budget, capped bodies,
and where credentials may go. Everything the registry client sends goes through
``RegistryHttp.send``; where it may connect is the egress policy's decision, enforced when the
connection is opened (``imagedeploy.net.pinned``).

Retries follow go-containerregistry: 408, 429, 5xx and connection errors/timeouts are retried
with exponential backoff and full jitter, honouring ``Retry-After``; the whole operation shares
one budget.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.net.egress import EgressPolicy, EgressRefused, Unresolvable
from imagedeploy.net.retry_after import retry_after_seconds

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


class Budget:
    """The wall time one registry operation (all its requests and retries) may take."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._deadline = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._deadline - self._clock())


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def unreachable(host: str) -> ImagePullError:
    """The one error for every way ``host`` fails to answer as a registry (or token service)
    would: refused, reset, timed out, not HTTP, or HTTP that is not a registry's. Telling these
    apart would let a user scan which ports are open where imagedeploy runs."""
    return ImagePullError(
        PullFailureReason.REGISTRY_UNAVAILABLE,
        f"could not reach a registry at {host}; it may be down: try again later",
    )


def from_a_registry(reply: Reply) -> bool:
    """Whether a registry wrote this answer: registries mark their answers with
    ``Docker-Distribution-API-Version``, challenge with ``WWW-Authenticate``, or explain errors
    in the distribution spec's JSON."""
    if reply.headers.get("docker-distribution-api-version"):
        return True
    if reply.status == 401 and reply.headers.get("www-authenticate"):
        return True
    try:
        errors = json.loads(reply.body).get("errors")
    except (ValueError, AttributeError):
        return False
    return isinstance(errors, list) and bool(errors)


def origin_of(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: what must stay the same for ``Authorization`` to follow a
    redirect (a same-host https→http redirect changes the origin too)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


class RegistryHttp:
    def __init__(
        self,
        client: httpx.Client,
        *,
        egress: EgressPolicy,
        max_attempts: int,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
    ) -> None:
        self._client = client
        self.egress = egress
        self._max_attempts = max_attempts
        self._sleep = sleep
        self.clock = clock
        self._jitter = jitter
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap

    def budget(self, seconds: float) -> Budget:
        return Budget(seconds, self.clock)

    def _check_credentials(self, url: str, headers: dict[str, str]) -> None:
        """Credentials (and tokens made from them) travel over https only, or to loopback."""
        parts = urlsplit(url)
        if (
            "Authorization" in headers
            and parts.scheme != "https"
            and not self.egress.plain_http_allowed(parts.hostname or "")
        ):
            raise ImagePullError(
                PullFailureReason.BLOCKED_HOST,
                f"{host_of(url)} is reached over plain http://, and imagedeploy sends registry "
                "credentials only over https:// (or to a registry on this machine); the "
                "registry or its token service must use https",
            )

    # -- sending ----------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return self._jitter() * ceiling

    def send(
        self,
        method: str,
        url: str,
        *,
        budget: Budget,
        headers: dict[str, str] | None = None,
        max_body: int | None = None,
        what: str = "response",
    ) -> Reply:
        """Send one logical request: follows redirects (dropping ``Authorization`` when the
        scheme, host or port changes), retries transient failures, and raises
        ``ImagePullError`` once it gives up."""
        headers = dict(headers or {})
        origin = origin_of(url)
        for _ in range(MAX_REDIRECTS + 1):
            if origin_of(url) != origin:
                headers.pop("Authorization", None)
            self._check_credentials(url, headers)
            reply = self._send_with_retries(method, url, headers, budget, max_body, what)
            location = reply.headers.get("location")
            if reply.status not in REDIRECT_STATUS or not location:
                return reply
            url = urljoin(url, location)
        raise ImagePullError(
            PullFailureReason.REGISTRY_UNAVAILABLE,
            f"{host_of(url)} redirected more than {MAX_REDIRECTS} times; the registry is misconfigured",
        )

    def _send_with_retries(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        budget: Budget,
        max_body: int | None,
        what: str,
    ) -> Reply:
        host = host_of(url)
        attempt = 0
        while True:
            attempt += 1
            failure: str
            delay: float
            try:
                reply = self._send_once(method, url, headers, budget, max_body, what)
            except EgressRefused as exc:
                raise ImagePullError(PullFailureReason.BLOCKED_HOST, str(exc)) from None
            except Unresolvable:
                raise ImagePullError(
                    PullFailureReason.REGISTRY_UNAVAILABLE,
                    f"cannot resolve the registry host {urlsplit(url).hostname!r}; check the "
                    "image URL",
                ) from None
            except httpx.TransportError as exc:
                # Which failure it was is logged for the operator only (``unreachable``).
                failure, detail = "", type(exc).__name__
                delay = self._backoff(attempt)
            else:
                if reply.status not in RETRYABLE_STATUS:
                    return reply
                detail = f"{host} answered HTTP {reply.status}"
                failure = detail if from_a_registry(reply) else ""
                retry_after = retry_after_seconds(
                    reply.headers.get("retry-after"), datetime.now(UTC)
                )
                delay = retry_after if retry_after is not None else self._backoff(attempt)
                if reply.status == 429 and (
                    attempt >= self._max_attempts or delay > budget.remaining()
                ):
                    raise ImagePullError(
                        PullFailureReason.RATE_LIMITED,
                        f"{host} is rate limiting requests (HTTP 429"
                        + (f", retry after {retry_after:.0f} s" if retry_after else "")
                        + "); try again later, or use a credential with a higher pull limit",
                    )
            if attempt >= self._max_attempts or delay > budget.remaining():
                logger.warning(
                    "registry request failed, giving up",
                    extra={"host": host, "attempts": attempt, "why": detail},
                )
                if not failure:
                    raise unreachable(host)
                raise ImagePullError(
                    PullFailureReason.REGISTRY_UNAVAILABLE,
                    f"{failure}; the registry may be down: try again later",
                )
            logger.warning(
                "registry request failed, retrying",
                extra={
                    "host": host,
                    "attempt": attempt,
                    "delay_s": round(delay, 3),
                    "why": detail,
                },
            )
            self._sleep(delay)

    def _send_once(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        budget: Budget,
        max_body: int | None,
        what: str,
    ) -> Reply:
        remaining = budget.remaining()
        if remaining <= 0:
            raise httpx.TimeoutException("registry budget exhausted")
        timeout = httpx.Timeout(min(self._client.timeout.read or remaining, remaining))
        request = self._client.build_request(method, url, headers=headers, timeout=timeout)
        response = self._client.send(request, stream=True)
        try:
            if method == "HEAD" or response.status_code in REDIRECT_STATUS:
                return Reply(response.status_code, response.headers, b"", url)
            declared = response.headers.get("content-length", "")
            if max_body is not None and declared.isdigit() and int(declared) > max_body:
                raise _too_large(what, host_of(url), max_body)
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if max_body is not None and total > max_body:
                    raise _too_large(what, host_of(url), max_body)
                chunks.append(chunk)
            return Reply(response.status_code, response.headers, b"".join(chunks), url)
        finally:
            response.close()


def _too_large(what: str, host: str, limit: int) -> ImagePullError:
    return ImagePullError(
        PullFailureReason.UNSUPPORTED_MANIFEST,
        f"the {what} from {host} is larger than {limit:,} bytes, more than any image needs",
    )
