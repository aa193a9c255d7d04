"""``WebhookSender``: the ``WebhookSender`` port, home-neutral (the ``webhook`` job delivers
through it in both homes; docs/architecture.md §10).

- It only delivers: who gets an event was decided by the use case (``usecases.notifications``),
  and the use case records the ``WebhookDelivery`` it returns (no secret, no URL path).
- It POSTs Render's payload, signed per Standard Webhooks (``standardwebhooks``'
  ``Webhook(secret).sign``: headers ``webhook-id`` — the delivery id, the same for every
  attempt —, ``webhook-timestamp``, ``webhook-signature``), each attempt re-signed with its
  own timestamp. Network errors, timeouts, 408, 429 and 5xx are retried with exponential
  backoff and full jitter, honouring ``Retry-After``, within ``max_attempts`` and
  ``budget_seconds``; anything else non-2xx is final.
- SSRF: a webhook URL is user input. The egress policy (``imagedeploy.net.egress``, the same
  one the API checks new URLs with) decides the scheme and the addresses; requests go through
  ``imagedeploy.net.pinned``, which connects only to the address it resolved and checked
  (``Host`` header and TLS name kept), so a second DNS answer cannot redirect them. Redirects
  are not followed. Every failure to get an HTTP answer is recorded with one text, so the
  delivery log does not tell a closed port from an open one.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

import httpx
import standardwebhooks

from imagedeploy.domain.accounts import Webhook, WebhookDelivery
from imagedeploy.domain.events import Event
from imagedeploy.domain.notifications import webhook_body
from imagedeploy.net.egress import EgressPolicy, EgressRefused, Unresolvable
from imagedeploy.net.pinned import pinned_client
from imagedeploy.net.retry_after import retry_after_seconds
from imagedeploy.ports import Clock

logger = logging.getLogger(__name__)

RETRYABLE_STATUS: Final = frozenset({408, 429, *range(500, 600)})
USER_AGENT: Final = "imagedeploy-webhooks/1"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between attempts: attempt n waits ``random() * min(cap, base * 2**(n-1))`` (full
    jitter), or what ``Retry-After`` asks for, up to ``max_retry_after_seconds``; a receiver
    asking for longer gets no further attempt."""

    base_seconds: float = 1.0
    cap_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0

    def delay(self, attempt: int, jitter: float) -> float:
        return jitter * min(self.cap_seconds, self.base_seconds * 2.0 ** (attempt - 1))


@dataclass(frozen=True, slots=True)
class _Job:
    delivery_id: str  # also the Standard Webhooks message id (webhook-id)
    webhook: Webhook
    event: Event


@dataclass(frozen=True, slots=True)
class _Attempt:
    """How one POST went."""

    delivered: bool
    status_code: int | None
    error: str  # for people; never the secret, the URL's path or query
    retryable: bool
    retry_after: float | None = None


def _host_label(url: str) -> str:
    """``host[:port]`` of a URL, without user info, path or query: safe to log and record."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return host if port is None else f"{host}:{port}"


class WebhookSender:
    """Delivers one event to one webhook, in the calling thread (see the module docstring).

    ``clock`` stamps deliveries and signatures (receivers reject timestamps more than 5 min
    off, so give it the real time). ``egress`` decides which URLs and addresses may receive
    webhooks. ``http_client`` is used as given (give it a ``net.pinned`` transport on the same
    policy); by default the sender makes a pinned one, closed by ``close``. ``timeout`` is
    httpx's per-phase timeout (connect, write, wait for the answer); ``budget_seconds`` bounds
    one delivery's attempts and waits together. ``sleep`` waits out a backoff, ``jitter``
    draws from [0, 1)."""

    def __init__(
        self,
        *,
        clock: Clock,
        egress: EgressPolicy,
        http_client: httpx.Client | None = None,
        max_attempts: int = 5,
        backoff: Backoff = Backoff(),  # frozen: one shared default is safe
        timeout: float = 15.0,
        budget_seconds: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1 or timeout <= 0 or budget_seconds <= 0:
            raise ValueError("max_attempts must be >= 1, timeout and budget_seconds > 0")
        self._clock = clock
        self._owns_client = http_client is None
        self._egress = egress
        self._client = http_client or pinned_client(
            egress, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._timeout = timeout
        self._budget = budget_seconds
        self._sleep = sleep
        self._jitter = jitter
        self._monotonic = monotonic

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the port ------------------------------------------------------------------------------

    def deliver(self, webhook: Webhook, event: Event, delivery_id: str) -> WebhookDelivery:
        """POST ``event`` to ``webhook`` (retrying what may succeed later) and say how it went;
        never raises."""
        job = _Job(delivery_id, webhook, event)
        try:
            return self._deliver(job)
        except Exception:  # a bug must not lose the delivery silently
            logger.exception("webhook delivery crashed", extra=_job_fields(job))
            return _record(job, self._clock.now(), None, 0, "internal error while delivering")

    def _deliver(self, job: _Job) -> WebhookDelivery:
        body = webhook_body(job.event)
        try:
            signer = standardwebhooks.Webhook(job.webhook.secret)
        except Exception:  # a stored secret that is not base64: say so, never echo it
            return _record(
                job, self._clock.now(), None, 0, "the webhook's signing secret is invalid"
            )
        deadline = self._monotonic() + self._budget
        sent_at: datetime | None = None
        attempt = 0
        while True:
            attempt += 1
            now = self._clock.now()
            sent_at = sent_at or now
            outcome = self._attempt(job, body, signer, now)
            if outcome.delivered:
                return _record(job, sent_at, outcome.status_code, attempt, "", delivered=True)
            error = outcome.error
            delay = self._backoff.delay(attempt, self._jitter())
            asks_too_much = False
            if outcome.retry_after is not None:
                delay = outcome.retry_after
                asks_too_much = delay > self._backoff.max_retry_after_seconds
                if asks_too_much:
                    error += f"; it asked to retry after {delay:.0f} s, longer than this waits"
            out_of_time = self._monotonic() + delay > deadline
            give_up = (
                not outcome.retryable
                or asks_too_much
                or attempt >= self._max_attempts
                or out_of_time
            )
            if give_up:
                if outcome.retryable:
                    error += f" (gave up after {attempt} attempt{'s' if attempt > 1 else ''})"
                logger.warning(
                    "webhook not delivered",
                    extra={
                        **_job_fields(job),
                        "attempts": attempt,
                        "status_code": outcome.status_code,
                        "why": error,
                    },
                )
                return _record(job, sent_at, outcome.status_code, attempt, error)
            logger.warning(
                "webhook delivery failed, retrying",
                extra={
                    **_job_fields(job),
                    "attempt": attempt,
                    "delay_s": round(delay, 3),
                    "status_code": outcome.status_code,
                    "why": error,
                },
            )
            self._sleep(delay)

    def _attempt(
        self, job: _Job, body: str, signer: standardwebhooks.Webhook, now: datetime
    ) -> _Attempt:
        url = job.webhook.url
        label = _host_label(url)
        moment = now.astimezone(UTC)
        if refused := self._egress.scheme_refusal(url):
            return _Attempt(False, None, f"{label}: {refused}", retryable=False)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": job.delivery_id,
            "webhook-timestamp": str(math.floor(moment.timestamp())),
            "webhook-signature": signer.sign(job.delivery_id, moment, body),
        }
        try:
            request = self._client.build_request(
                "POST",
                url,
                content=body.encode("ascii"),
                headers=headers,
                timeout=httpx.Timeout(self._timeout),
            )
        except httpx.InvalidURL:
            return _Attempt(False, None, f"the webhook URL for {label} is not valid", False)
        try:
            response = self._client.send(request, stream=True, follow_redirects=False)
        except EgressRefused as exc:
            return _Attempt(False, None, str(exc), retryable=False)
        except Unresolvable:
            return _Attempt(False, None, f"cannot resolve {label}", retryable=True)
        except Exception as exc:  # httpx.TransportError, or the client closed by stop()
            # One text for refused, reset, timed out or not HTTP: which one it was would tell
            # a port scanner which ports are open.
            logger.info(
                "webhook receiver unreachable",
                extra={**_job_fields(job), "why": type(exc).__name__},
            )
            why = f"no HTTP answer from {label} within {self._timeout:g} s"
            return _Attempt(False, None, why, retryable=True)
        try:
            status = response.status_code
            retry_after = retry_after_seconds(response.headers.get("retry-after"), now)
        finally:
            response.close()  # the body is not needed: never read a hostile receiver's bytes
        if 200 <= status < 300:
            return _Attempt(True, status, "", retryable=False)
        return _Attempt(
            False,
            status,
            f"{label} answered HTTP {status}",
            retryable=status in RETRYABLE_STATUS,
            retry_after=retry_after if status in RETRYABLE_STATUS else None,
        )


def _record(
    job: _Job,
    sent_at: datetime,
    status_code: int | None,
    attempts: int,
    error: str,
    *,
    delivered: bool = False,
) -> WebhookDelivery:
    return WebhookDelivery(
        id=job.delivery_id,
        webhook_id=job.webhook.id,
        event_id=job.event.id,
        event_type=job.event.type.value,
        sent_at=sent_at,
        status_code=status_code,
        attempts=attempts,
        delivered=delivered,
        error=error,
    )


def _job_fields(job: _Job) -> dict[str, object]:
    return {
        "webhook_id": job.webhook.id,
        "delivery_id": job.delivery_id,
        "event_id": job.event.id,
        "event_type": job.event.type.value,
        "target": _host_label(job.webhook.url),
    }


__all__ = ["Backoff", "WebhookSender"]
