"""Webhook deliveries, the use case's way (``usecases.notifications.notify`` decides who is told
and queues ``webhook`` jobs; ``deliver_webhook`` runs them through the real ``WebhookSender``)
against a real HTTP receiver on 127.0.0.1 that verifies every request with
``standardwebhooks.Webhook(secret).verify`` (what any Standard Webhooks receiver does).

The receiver can be scripted per path to answer 500 / 429 (with ``Retry-After``) / 400, or to
hang past the sender's timeout. Backoff waits go through a recording fake ``sleep``, so the
suite never waits for real backoff.
"""

from __future__ import annotations

import collections
import datetime as dt
import ipaddress
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devkit.fakes import QueuedJobs
from devkit.httpserver import LoopbackHTTPServer
from imagedeploy.adapters.local.sqlite_store import SqliteStore
from imagedeploy.adapters.webhooks import Backoff, WebhookSender
from imagedeploy.domain.accounts import (
    NotificationOverride,
    NotificationSettings,
    NotificationsToSend,
    Owner,
    Webhook,
    WebhookDelivery,
)
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.notifications import new_webhook_secret, webhook_payload
from imagedeploy.domain.service_rules import validate_create
from imagedeploy.domain.services import Service, ServiceType
from imagedeploy.net.egress import EgressPolicy
from imagedeploy.net.pinned import pinned_client
from imagedeploy.ports import NoBroadcast, Ports
from imagedeploy.settings import LOOPBACK_NETWORKS
from imagedeploy.usecases import notifications
from imagedeploy.usecases.worker import run_job

pytestmark = pytest.mark.integration

OWNER = "tea-0000000000000000000a"
WAIT = 20.0  # generous upper bound for "eventually"; never a timing assertion
NOTIFIER_LOGGER = "imagedeploy.adapters.webhooks"


class UtcClock:
    """The real clock: receivers check ``webhook-timestamp`` against their own (±5 min)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


# -- the receiver --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: Any


@dataclass
class Receiver:
    """Scripted per path: ``script[path]`` is consumed one behaviour per request ("200", "500",
    "429", "429:7" = with ``Retry-After: 7``, "400", "hang"), then ``default[path]`` (or
    "200") applies."""

    secrets: dict[str, str] = field(default_factory=dict)
    script: dict[str, collections.deque[str]] = field(
        default_factory=lambda: collections.defaultdict(collections.deque)
    )
    default: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)  # ends every hang
    server: LoopbackHTTPServer | None = None
    scheme: str = "http"
    host: str = ""

    def url(self, path: str, host: str | None = None) -> str:
        if host is None:
            return f"{self.scheme}://{self.host}{path}"
        return f"{self.scheme}://{host}:{self.host.rsplit(':', 1)[1]}{path}"

    def behaviour(self, path: str) -> str:
        queue = self.script[path]
        return queue.popleft() if queue else self.default.get(path, "200")

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            secret = receiver.secrets.get(self.path)
            try:
                if secret is None:
                    raise standardwebhooks.WebhookVerificationError("no secret for this path")
                payload = standardwebhooks.Webhook(secret).verify(body, headers)
                verified = True
            except standardwebhooks.WebhookVerificationError:
                payload, verified = None, False
            behaviour = receiver.behaviour(self.path) if verified else "400"
            receiver.received.append(Received(self.path, headers, body, verified, payload))
            self.close_connection = True
            if behaviour == "hang":
                receiver.release.wait(WAIT)
                return  # hang up without an answer
            code, _, retry_after = behaviour.partition(":")
            self.send_response(int(code))
            if retry_after:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()
    server = LoopbackHTTPServer(_handler_for(got))
    got.server, got.host = server, server.host
    server.start("webhook-receiver")
    yield got
    got.release.set()
    server.stop()


# -- the world -----------------------------------------------------------------------------------


@dataclass
class Delivering:
    """``notify`` as the outbox runs it, then every ``webhook`` job it queued, at once."""

    sender: WebhookSender
    ports: Ports
    jobs: QueuedJobs

    def notify(self, service: Service, event: Event) -> None:
        if self.ports.store.get_event(event.id) is None:
            self.ports.store.write(put=[event])
        notifications.notify(self.ports, service.id, event.id)
        while self.jobs.queue:
            run_job(self.ports, self.jobs.queue.popleft())


@dataclass
class Setup:
    store: SqliteStore
    receiver: Receiver
    service: Service
    sleeps: list[float]
    senders: list[WebhookSender] = field(default_factory=list)

    def webhook(
        self,
        path: str = "/hook",
        *,
        enabled: bool = True,
        event_filter: tuple[str, ...] = (),
        url: str | None = None,
    ) -> Webhook:
        hook = Webhook(
            id=new_id("whk"),
            owner_id=OWNER,
            name=path.strip("/") or "hook",
            url=url or self.receiver.url(path),
            secret=new_webhook_secret(),
            enabled=enabled,
            event_filter=event_filter,
        )
        self.receiver.secrets[path] = hook.secret
        (stored,) = self.store.write(put=[hook])
        assert isinstance(stored, Webhook)
        return stored

    def notifier(self, **overrides: Any) -> Delivering:
        egress = EgressPolicy(
            LOOPBACK_NETWORKS if overrides.pop("allow_loopback", True) else (),
            setting="IMAGEDEPLOY_WEBHOOK_ALLOWED_NETWORKS",
            resolver=overrides.pop("resolver", socket.getaddrinfo),
        )
        options: dict[str, Any] = {
            "clock": UtcClock(),
            "egress": egress,
            "sleep": self.sleeps.append,  # record the backoff, never wait for it
            "jitter": lambda: 0.5,
            "timeout": 2.0,
            "backoff": Backoff(base_seconds=1.0, cap_seconds=30.0, max_retry_after_seconds=60.0),
        }
        options.update(overrides)
        sender = WebhookSender(**options)
        self.senders.append(sender)
        jobs = QueuedJobs()
        absent: Any = None  # nothing else is used on this path
        ports = Ports(
            store=self.store,
            secrets=absent,
            registry=absent,
            runtime=absent,
            scheduler=absent,
            notifier=NoBroadcast(),
            webhooks=sender,
            webhook_targets=egress,
            jobs=jobs,
            clock=UtcClock(),
        )
        return Delivering(sender, ports, jobs)

    def event(self, type_: EventType = EventType.DEPLOY_ENDED, **details: Any) -> Event:
        if type_ is EventType.DEPLOY_ENDED and not details:
            details = {"deployId": new_id("dep"), "deployStatus": "failed", "reason": {}}
        return Event(new_id("evt"), self.service.id, type_, UtcClock().now(), details)

    def deliveries(self, webhook: Webhook) -> list[WebhookDelivery]:
        return self.store.list_deliveries(webhook.id, 100).items

    def settings(self, value: NotificationsToSend) -> None:
        current = self.store.get_notification_settings(OWNER) or NotificationSettings(OWNER)
        self.store.write(put=[NotificationSettings(OWNER, value, current.version)])


@pytest.fixture
def setup(tmp_path: Path, receiver: Receiver) -> Iterator[Setup]:
    store = SqliteStore(tmp_path / "state.db")
    store.write(put=[Owner(OWNER, "Team", "team@example.com")])
    now = UtcClock().now()
    spec = validate_create(ServiceType.WEB_SERVICE, "web", "registry.example.com/team/web:1")
    service = spec.to_service(id=new_id("srv"), owner_id=OWNER, hook_key_hash="0" * 64, now=now)
    store.write(put=[service])
    got = Setup(store, receiver, service, [])
    yield got
    receiver.release.set()
    for sender in got.senders:
        sender.close()
    store.close()


# -- tests ---------------------------------------------------------------------------------------


def test_delivery_arrives_signed_verified_and_logged(setup: Setup) -> None:
    hook = setup.webhook()
    notifier = setup.notifier()
    event = setup.event()
    notifier.notify(setup.service, event)

    (got,) = setup.receiver.on("/hook")
    assert got.verified
    assert got.payload == webhook_payload(event)
    assert json.loads(got.body) == {
        "type": "deploy_ended",
        "timestamp": got.payload["timestamp"],
        "data": {"id": event.id, "serviceId": setup.service.id},
    }
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("imagedeploy-webhooks/")
    assert got.headers["webhook-signature"].startswith("v1,")
    (delivery,) = setup.deliveries(hook)
    assert got.headers["webhook-id"] == delivery.id
    assert delivery.id.startswith("whe-")
    assert (delivery.event_id, delivery.event_type) == (event.id, "deploy_ended")
    assert (delivery.delivered, delivery.status_code, delivery.attempts, delivery.error) == (
        True,
        200,
        1,
        "",
    )
    assert setup.sleeps == []


def test_500_and_429_are_retried_honouring_retry_after(setup: Setup) -> None:
    hook = setup.webhook()
    setup.receiver.script["/hook"].extend(["500", "429:7", "200"])
    notifier = setup.notifier()
    notifier.notify(setup.service, setup.event())

    attempts = setup.receiver.on("/hook")
    assert len(attempts) == 3
    assert all(a.verified for a in attempts)  # every attempt re-signed, all valid
    assert len({a.headers["webhook-id"] for a in attempts}) == 1  # one message id for all
    assert setup.sleeps == [0.5 * 1.0, 7.0]  # jittered backoff, then Retry-After exactly
    (delivery,) = setup.deliveries(hook)
    assert (delivery.delivered, delivery.attempts, delivery.status_code) == (True, 3, 200)


def test_backoff_grows_exponentially_up_to_the_cap(setup: Setup) -> None:
    hook = setup.webhook()
    setup.receiver.default["/hook"] = "503"
    notifier = setup.notifier(
        max_attempts=6, jitter=lambda: 1.0, backoff=Backoff(base_seconds=1.0, cap_seconds=5.0)
    )
    notifier.notify(setup.service, setup.event())
    assert setup.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]
    (delivery,) = setup.deliveries(hook)
    assert (delivery.delivered, delivery.attempts, delivery.status_code) == (False, 6, 503)


def test_a_receiver_hanging_past_the_timeout_is_retried(setup: Setup) -> None:
    hook = setup.webhook()
    setup.receiver.script["/hook"].extend(["hang", "200"])
    notifier = setup.notifier(timeout=0.3)
    notifier.notify(setup.service, setup.event())
    assert len(setup.receiver.on("/hook")) == 2
    (delivery,) = setup.deliveries(hook)
    assert (delivery.delivered, delivery.attempts, delivery.status_code) == (True, 2, 200)


def test_always_failing_receiver_is_recorded(setup: Setup) -> None:
    hook = setup.webhook()
    setup.receiver.default["/hook"] = "500"
    setup.notifier(max_attempts=3).notify(setup.service, setup.event())

    assert len(setup.receiver.on("/hook")) == 3
    (delivery,) = setup.deliveries(hook)
    assert (delivery.delivered, delivery.attempts, delivery.status_code) == (False, 3, 500)
    assert "HTTP 500" in delivery.error
    assert "gave up after 3 attempts" in delivery.error


def test_the_budget_bounds_the_attempts_and_waits(setup: Setup) -> None:
    hook = setup.webhook()
    setup.receiver.default["/hook"] = "503"
    notifier = setup.notifier(
        max_attempts=10,
        jitter=lambda: 1.0,
        budget_seconds=5.0,
        monotonic=lambda: sum(setup.sleeps),  # time passes only in the backoff waits
    )
    notifier.notify(setup.service, setup.event())
    assert setup.sleeps == [1.0, 2.0]  # a third wait (4 s) would end past the 5 s budget
    (delivery,) = setup.deliveries(hook)
    assert (delivery.delivered, delivery.attempts) == (False, 3)


def test_4xx_is_final(setup: Setup) -> None:
    hook = setup.webhook()
    setup.receiver.script["/hook"].append("410")
    notifier = setup.notifier()
    notifier.notify(setup.service, setup.event())
    (delivery,) = setup.deliveries(hook)
    assert (delivery.delivered, delivery.attempts, delivery.status_code) == (False, 1, 410)
    assert setup.sleeps == []


def test_retry_after_longer_than_allowed_gives_up(setup: Setup) -> None:
    hook = setup.webhook()
    setup.receiver.script["/hook"].append("429:3600")
    notifier = setup.notifier()
    notifier.notify(setup.service, setup.event())
    (delivery,) = setup.deliveries(hook)
    assert (delivery.delivered, delivery.attempts, delivery.status_code) == (False, 1, 429)
    assert "retry after 3600 s" in delivery.error
    assert setup.sleeps == []


def test_disabled_and_filtered_out_webhooks_get_nothing(setup: Setup) -> None:
    setup.settings(NotificationsToSend.ALL)
    control = setup.webhook("/control")
    disabled = setup.webhook("/disabled", enabled=False)
    only_started = setup.webhook("/started", event_filter=("deploy_started",))
    only_failed = setup.webhook("/failed", event_filter=("server_failed",))
    notifier = setup.notifier()
    notifier.notify(setup.service, setup.event(EventType.SERVER_AVAILABLE))

    assert [r.path for r in setup.receiver.received] == ["/control"]
    assert len(setup.deliveries(control)) == 1
    for hook in (disabled, only_started, only_failed):
        assert setup.deliveries(hook) == []


def test_settings_gate_every_webhook(setup: Setup) -> None:
    hook = setup.webhook()
    notifier = setup.notifier()
    # Default (failure): a successful deploy is not sent, a failed one is.
    notifier.notify(
        setup.service, setup.event(EventType.DEPLOY_ENDED, deployId="d", deployStatus="succeeded")
    )
    failed = setup.event()
    notifier.notify(setup.service, failed)
    assert [r.payload["data"]["id"] for r in setup.receiver.on("/hook")] == [failed.id]
    # The service's override says none: nothing, whatever the workspace says.
    setup.settings(NotificationsToSend.ALL)
    setup.store.write(put=[NotificationOverride(setup.service.id, NotificationsToSend.NONE)])
    notifier.notify(setup.service, setup.event())
    assert len(setup.deliveries(hook)) == 1


def test_private_targets_are_refused_unless_allowed(setup: Setup) -> None:
    hook = setup.webhook()
    notifier = setup.notifier(allow_loopback=False)
    notifier.notify(setup.service, setup.event())
    assert setup.receiver.received == []
    (delivery,) = setup.deliveries(hook)
    assert (delivery.delivered, delivery.attempts, delivery.status_code) == (False, 1, None)
    assert (
        "127.0.0.1" in delivery.error and "IMAGEDEPLOY_WEBHOOK_ALLOWED_NETWORKS" in delivery.error
    )


def test_a_name_resolving_to_metadata_is_refused_even_with_loopback_allowed(setup: Setup) -> None:
    hook = setup.webhook(url="https://hooks.test/hook")
    notifier = setup.notifier(resolver=_resolver({"hooks.test": "169.254.169.254"}))
    notifier.notify(setup.service, setup.event())
    (delivery,) = setup.deliveries(hook)
    assert not delivery.delivered
    assert "169.254.169.254" in delivery.error


def test_the_checked_address_is_the_one_connected_to(setup: Setup) -> None:
    # The notifier resolves hooks.localhost once (to loopback), checks it, and connects to that
    # address with the original Host header: no second lookup can send it elsewhere.
    lookups: list[str] = []
    hook = setup.webhook(url=setup.receiver.url("/hook", host="hooks.localhost"))
    notifier = setup.notifier(resolver=_resolver({"hooks.localhost": "127.0.0.1"}, lookups))
    notifier.notify(setup.service, setup.event())
    (got,) = setup.receiver.on("/hook")
    assert got.verified
    assert got.headers["host"] == f"hooks.localhost:{setup.receiver.host.rsplit(':', 1)[1]}"
    assert lookups == ["hooks.localhost"]
    assert setup.deliveries(hook)[0].delivered


def test_https_is_verified_for_the_hostname_while_pinned_to_the_address(
    setup: Setup, tmp_path: Path
) -> None:
    ca_file, server_context = _tls_for("hooks.test", tmp_path)
    tls_receiver = Receiver(scheme="https")
    server = LoopbackHTTPServer(_handler_for(tls_receiver))
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    tls_receiver.server, tls_receiver.host = server, server.host
    server.start("tls-webhook-receiver")
    try:
        setup.receiver = tls_receiver
        good = setup.webhook("/good", url=tls_receiver.url("/good", host="hooks.test"))
        wrong = setup.webhook("/wrong", url=tls_receiver.url("/wrong", host="other.test"))
        resolve = _resolver({"hooks.test": "127.0.0.1", "other.test": "127.0.0.1"})
        egress = EgressPolicy(LOOPBACK_NETWORKS, setting="X", resolver=resolve)
        with pinned_client(
            egress, verify=ssl.create_default_context(cafile=str(ca_file))
        ) as client:
            notifier = setup.notifier(http_client=client, resolver=resolve, max_attempts=1)
            notifier.notify(setup.service, setup.event())
    finally:
        tls_receiver.release.set()
        server.stop()
    assert [r.path for r in tls_receiver.received] == ["/good"]
    assert all(r.verified for r in tls_receiver.received)
    assert setup.deliveries(good)[0].delivered
    (refused,) = setup.deliveries(wrong)  # certificate is for hooks.test, not other.test
    assert not refused.delivered and refused.status_code is None


def test_deliver_never_raises(setup: Setup) -> None:
    hook = setup.webhook()

    def explode(request: httpx.Request) -> None:
        raise RuntimeError("a bug in a transport")

    with httpx.Client(trust_env=False, event_hooks={"request": [explode]}) as client:
        sender = setup.notifier(http_client=client, max_attempts=1).sender
        delivery = sender.deliver(hook, setup.event(), new_id("whe"))
    assert not delivery.delivered
    assert delivery.error


def test_secret_never_appears_in_logs_or_records(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(NOTIFIER_LOGGER)
    logger.addHandler(caplog.handler)  # even if something turned propagation off
    caplog.handler.setLevel(logging.DEBUG)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        ok = setup.webhook("/ok")
        flaky = setup.webhook("/flaky")
        broken = setup.webhook("/broken")
        blocked = setup.webhook(url="https://hooks.test/blocked")
        setup.receiver.script["/flaky"].extend(["500", "429:1", "hang", "200"])
        setup.receiver.default["/broken"] = "503"
        notifier = setup.notifier(
            timeout=0.3, resolver=_resolver({"hooks.test": "10.1.2.3"}), max_attempts=4
        )
        notifier.notify(setup.service, setup.event())
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(previous)

    assert any(r.levelno == logging.WARNING for r in caplog.records)  # we did capture
    hooks = (ok, flaky, broken, blocked)
    deliveries = [d for hook in hooks for d in setup.deliveries(hook)]
    assert len(deliveries) == 4
    for hook in hooks:
        raw = hook.secret.removeprefix("whsec_")
        assert raw not in caplog.text
        for record in caplog.records:
            assert raw not in " ".join(str(v) for v in vars(record).values())
        for delivery in deliveries:
            assert raw not in repr(delivery)


# -- helpers -------------------------------------------------------------------------------------


def _resolver(
    table: dict[str, str], lookups: list[str] | None = None
) -> Callable[..., list[tuple[Any, ...]]]:
    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if lookups is not None:
            lookups.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        ip = ipaddress.ip_address(table[host])
        return [(2 if ip.version == 4 else 10, 1, 6, "", (str(ip), port))]

    return resolve


def _tls_for(hostname: str, workdir: Path) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA and a server certificate for ``hostname`` signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imagedeploy test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = workdir / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = workdir / "server.pem", workdir / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context
