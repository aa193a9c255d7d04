"""HTTP for registry calls: the SSRF guard, redirects, retries with backoff inside a time budget,
and capped bodies. Everything the registry client sends goes through ``RegistryHttp.send``.

Retries follow go-containerregistry: 408, 429, 5xx and connection errors/timeouts are retried
with exponential backoff and full jitter, honouring ``Retry-After``; the whole operation shares
one budget.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.settings import IPNetwork

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5

Resolver = Callable[..., Sequence[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def _is_blocked(ip: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip.version == net.version and ip in net for net in allowed):
        return False
    # Loopback, private, link-local (instance metadata), CGNAT, reserved, unspecified: not global.
    return not ip.is_global or ip.is_multicast


class RegistryHttp:
    def __init__(
        self,
        client: httpx.Client,
        *,
        allowed_networks: Sequence[IPNetwork],
        max_attempts: int,
        resolver: Resolver = socket.getaddrinfo,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
    ) -> None:
        self._client = client
        self._allowed = tuple(allowed_networks)
        self._max_attempts = max_attempts
        self._resolve = resolver
        self._sleep = sleep
        self.clock = clock
        self._jitter = jitter
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap

    def budget(self, seconds: float) -> Budget:
        return Budget(seconds, self.clock)

    # -- SSRF guard -----------------------------------------------------------------------------
    def _blocked_error(self, host: str, ip: IPAddress) -> ImagePullError:
        return ImagePullError(
            PullFailureReason.BLOCKED_HOST,
            f"{host} resolves to {ip}, a loopback, private, link-local or multicast address, "
            "which imagedeploy does not contact; allow that network with "
            "IMAGEDEPLOY_REGISTRY_ALLOWED_NETWORKS if this registry is yours",
        )

    def check_host(self, url: str) -> None:
        """Refuse a URL whose host resolves to a non-public address that is not allowed."""
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(hostname)]
        except ValueError:
            try:
                infos = self._resolve(hostname, parts.port or 443, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise ImagePullError(
                    PullFailureReason.REGISTRY_UNAVAILABLE,
                    f"cannot resolve the registry host {hostname!r}; check the image URL",
                ) from exc
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        for ip in addresses:
            if _is_blocked(ip, self._allowed):
                raise self._blocked_error(parts.netloc, ip)

    def _check_peer(self, response: httpx.Response, url: str) -> None:
        """Re-check the address actually connected to: DNS may answer differently a second time."""
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if not peer:
            return
        ip = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        if _is_blocked(ip, self._allowed):
            raise self._blocked_error(host_of(url), ip)

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
        """Send one logical request: follows redirects (dropping ``Authorization`` when the host
        changes), retries transient failures, and raises ``ImagePullError`` once it gives up."""
        headers = dict(headers or {})
        origin = host_of(url)
        for _ in range(MAX_REDIRECTS + 1):
            if host_of(url) != origin:
                headers.pop("Authorization", None)
            reply = self._send_with_retries(method, url, headers, budget, max_body, what)
            location = reply.headers.get("location")
            if reply.status not in REDIRECT_STATUS or not location:
                return reply
            url = urljoin(url, location)
        raise ImagePullError(
            PullFailureReason.REGISTRY_UNAVAILABLE,
            f"{origin} redirected more than {MAX_REDIRECTS} times; the registry is misconfigured",
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
            self.check_host(url)
            failure: str
            delay: float
            try:
                reply = self._send_once(method, url, headers, budget, max_body, what)
            except httpx.TransportError as exc:
                failure = f"could not reach {host} ({type(exc).__name__})"
                delay = self._backoff(attempt)
            else:
                if reply.status not in RETRYABLE_STATUS:
                    return reply
                failure = f"{host} answered HTTP {reply.status}"
                retry_after = _retry_after(reply.headers.get("retry-after"))
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
                raise ImagePullError(
                    PullFailureReason.REGISTRY_UNAVAILABLE,
                    f"{failure}; gave up after {attempt} attempt(s). The registry may be down: "
                    "try again later",
                )
            logger.warning(
                "registry request failed, retrying",
                extra={
                    "host": host,
                    "attempt": attempt,
                    "delay_s": round(delay, 3),
                    "why": failure,
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
            self._check_peer(response, url)
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


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
