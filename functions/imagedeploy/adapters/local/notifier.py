"""``WebhookNotifier``: the ``Notifier`` port delivering signed webhooks from a thread pool.

- ``notify`` never raises and never waits on the network: it reads the settings and the
  workspace's webhooks (``domain.notifications.webhooks_to_notify`` decides) and queues one
  delivery per webhook on a bounded queue. A full queue drops the delivery, logs a warning and
  records it as not delivered.
- Workers POST Render's payload, signed per Standard Webhooks (``standardwebhooks``'
  ``Webhook(secret).sign``: headers ``webhook-id`` — the delivery id, the same for every
  attempt —, ``webhook-timestamp``, ``webhook-signature``), each attempt re-signed with its
  own timestamp. Network errors, timeouts, 408, 429 and 5xx are retried with exponential
  backoff and full jitter, honouring ``Retry-After``; anything else non-2xx is final. One
  ``WebhookDelivery`` per event and webhook records the outcome (no secret, no URL path).
- SSRF: a webhook URL is user input. The egress policy (``imagedeploy.net.egress``, the same
  one the API checks new URLs with) decides the scheme and the addresses; requests go through
  ``imagedeploy.net.pinned``, which connects only to the address it resolved and checked
  (``Host`` header and TLS name kept), so a second DNS answer cannot redirect them. Redirects
  are not followed. Every failure to get an HTTP answer is recorded with one text, so the
  delivery log does not tell a closed port from an open one.
- ``stop(timeout)`` stops accepting, lets queued and in-flight deliveries run until the timeout,
  then interrupts backoff waits and records whatever is left as not delivered.
"""

from __future__ import annotations

import collections
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

import httpx
import standardwebhooks

from imagedeploy.domain.accounts import NotificationsToSend, Webhook, WebhookDelivery
from imagedeploy.domain.events import Event
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.notifications import should_notify, webhook_body, webhooks_to_notify
from imagedeploy.domain.services import Service
from imagedeploy.net.egress import EgressPolicy, EgressRefused, Unresolvable
from imagedeploy.net.pinned import pinned_client
from imagedeploy.net.retry_after import retry_after_seconds
from imagedeploy.ports import Clock, Store

logger = logging.getLogger(__name__)

RETRYABLE_STATUS: Final = frozenset({408, 429, *range(500, 600)})
USER_AGENT: Final = "imagedeploy-webhooks/1"
_WEBHOOK_PAGE: Final = 100


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


class WebhookNotifier:
    """Delivers notifications to the workspace's webhooks in the background (see the module
    docstring). Call ``start()`` once; ``stop()`` at shutdown.

    ``clock`` stamps deliveries and signatures (receivers reject timestamps more than 5 min
    off, so give it the real time). ``egress`` decides which URLs and addresses may receive
    webhooks. ``http_client`` is used as given (not closed by ``stop``; give it a
    ``net.pinned`` transport on the same policy); by default the notifier makes a pinned one.
    ``timeout`` is httpx's per-phase timeout (connect, write, wait for the answer). ``workers``
    threads share one queue of ``queue_size`` deliveries. ``sleep`` waits out a backoff
    (default: an ``Event.wait`` that ``stop`` interrupts), ``jitter`` draws from [0, 1)."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        egress: EgressPolicy,
        http_client: httpx.Client | None = None,
        max_attempts: int = 5,
        backoff: Backoff = Backoff(),  # frozen: one shared default is safe
        timeout: float = 15.0,
        workers: int = 4,
        queue_size: int = 1000,
        sleep: Callable[[float], None] | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1 or workers < 1 or queue_size < 1 or timeout <= 0:
            raise ValueError("max_attempts, workers and queue_size must be >= 1, timeout > 0")
        self._store = store
        self._clock = clock
        self._owns_client = http_client is None
        self._egress = egress
        self._client = http_client or pinned_client(
            egress, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._timeout = timeout
        self._workers_wanted = workers
        self._queue_size = queue_size
        self._jitter = jitter
        self._aborted = threading.Event()  # stop() ran out of time: give up waiting and retrying
        self._sleep = sleep or self._interruptible_sleep
        self._cond = threading.Condition()
        self._pending: collections.deque[_Job] = collections.deque()
        self._active = 0
        self._closing = False  # no new deliveries are accepted
        self._stopped = False
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads (idempotent). Deliveries queued before start wait for it."""
        with self._cond:
            if self._threads or self._closing:
                return
            self._threads = [
                threading.Thread(target=self._work, name=f"webhooks-{n}", daemon=True)
                for n in range(self._workers_wanted)
            ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting; give queued and in-flight deliveries ``timeout`` seconds to finish;
        then stop retrying and record every delivery left as not delivered."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._stopped:
                return
            self._stopped = self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads) or self._pending:
            self._aborted.set()
            with self._cond:
                left = list(self._pending)
                self._pending.clear()
                self._cond.notify_all()
            for job in left:
                self._record(job, self._clock.now(), None, 0, "notifier stopped before sending")
            for thread in self._threads:
                thread.join(min(1.0, self._timeout))
        if self._owns_client:
            self._client.close()  # also ends a request still hanging, which is then recorded
        for thread in self._threads:
            thread.join(1.0)
        stuck = sum(thread.is_alive() for thread in self._threads)
        if stuck:
            logger.warning("webhook workers still busy after stop", extra={"workers": stuck})

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being delivered; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._active, timeout)

    def __enter__(self) -> WebhookNotifier:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the port ------------------------------------------------------------------------------

    def notify(self, service: Service, event: Event) -> None:
        """Queue deliveries of ``event`` to every webhook that should get it; returns at once
        and never raises."""
        try:
            targets = self._targets(service, event)
        except Exception:
            logger.exception(
                "could not decide where to notify",
                extra={"service_id": service.id, "event_id": event.id},
            )
            return
        for webhook in targets:
            try:
                self._enqueue(_Job(new_id("whe"), webhook, event))
            except Exception:
                logger.exception(
                    "could not queue a webhook delivery",
                    extra={"webhook_id": webhook.id, "event_id": event.id},
                )

    def _targets(self, service: Service, event: Event) -> list[Webhook]:
        settings = self._store.get_notification_settings(service.owner_id)
        override = self._store.get_notification_override(service.id)
        workspace = settings.notifications_to_send if settings else NotificationsToSend.FAILURE
        own = override.notifications_to_send if override else NotificationsToSend.DEFAULT
        if not should_notify(event, workspace, own):
            return []  # the settings say no: the webhooks need not be read
        webhooks: list[Webhook] = []
        cursor: str | None = None
        while True:
            page = self._store.list_webhooks(service.owner_id, _WEBHOOK_PAGE, cursor)
            webhooks.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return webhooks_to_notify(event, workspace, own, webhooks)

    def _enqueue(self, job: _Job) -> None:
        with self._cond:
            refused = (
                "notifier is shut down"
                if self._closing
                else "delivery queue is full"
                if len(self._pending) >= self._queue_size
                else ""
            )
            if not refused:
                self._pending.append(job)
                self._cond.notify()
                return
        logger.warning(
            "webhook delivery dropped",
            extra={**_job_fields(job), "why": refused, "queue_size": self._queue_size},
        )
        self._record(job, self._clock.now(), None, 0, f"{refused}; dropped, not sent")

    # -- workers -------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closing)
                if not self._pending:
                    return
                job = self._pending.popleft()
                self._active += 1
            try:
                self._deliver(job)
            except Exception:  # a bug must not kill the worker, nor lose the delivery silently
                logger.exception("webhook delivery crashed", extra=_job_fields(job))
                self._record(job, self._clock.now(), None, 0, "internal error while delivering")
            finally:
                with self._cond:
                    self._active -= 1
                    self._cond.notify_all()

    def _deliver(self, job: _Job) -> None:
        body = webhook_body(job.event)
        try:
            signer = standardwebhooks.Webhook(job.webhook.secret)
        except Exception:  # a stored secret that is not base64: say so, never echo it
            self._record(job, self._clock.now(), None, 0, "the webhook's signing secret is invalid")
            return
        sent_at: datetime | None = None
        attempt = 0
        while True:
            attempt += 1
            now = self._clock.now()
            sent_at = sent_at or now
            outcome = self._attempt(job, body, signer, now)
            if outcome.delivered:
                self._record(job, sent_at, outcome.status_code, attempt, "", delivered=True)
                return
            error = outcome.error
            delay = self._backoff.delay(attempt, self._jitter())
            asks_too_much = False
            if outcome.retry_after is not None:
                delay = outcome.retry_after
                asks_too_much = delay > self._backoff.max_retry_after_seconds
                if asks_too_much:
                    error += f"; it asked to retry after {delay:.0f} s, longer than this waits"
            give_up = (
                not outcome.retryable
                or asks_too_much
                or attempt >= self._max_attempts
                or self._aborted.is_set()
            )
            if not give_up:
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
                give_up = self._aborted.is_set()
            if give_up:
                if self._aborted.is_set():
                    error += "; notifier stopped before delivery succeeded"
                elif outcome.retryable:
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
                self._record(job, sent_at, outcome.status_code, attempt, error)
                return

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

    def _interruptible_sleep(self, seconds: float) -> None:
        self._aborted.wait(seconds)

    # -- the delivery log ----------------------------------------------------------------------

    def _record(
        self,
        job: _Job,
        sent_at: datetime,
        status_code: int | None,
        attempts: int,
        error: str,
        *,
        delivered: bool = False,
    ) -> None:
        delivery = WebhookDelivery(
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
        try:
            self._store.write(put=[delivery])
        except Exception:
            logger.exception("could not record a webhook delivery", extra=_job_fields(job))


def _job_fields(job: _Job) -> dict[str, object]:
    return {
        "webhook_id": job.webhook.id,
        "delivery_id": job.delivery_id,
        "event_id": job.event.id,
        "event_type": job.event.type.value,
        "target": _host_label(job.webhook.url),
    }


__all__ = ["Backoff", "WebhookNotifier"]
