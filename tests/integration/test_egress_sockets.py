"""The egress policy against real sockets on loopback: connections go to the address that was
checked (DNS rebinding), credentials never travel over plain HTTP to a non-loopback host, and
neither verify's errors nor the webhook delivery log tell a closed port from an open one."""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from devkit.fakes import FakeDns
from devkit.httpserver import LoopbackHTTPServer
from devkit.raw_ports import RawPort
from devkit.registry import free_port
from devkit.registry_client import loopback_settings
from imagedeploy.adapters.local.sqlite_store import SqliteStore
from imagedeploy.adapters.webhooks import Backoff, WebhookSender
from imagedeploy.domain.accounts import NotificationSettings, NotificationsToSend, Owner, Webhook
from imagedeploy.domain.errors import ImagePullError, PullFailureReason
from imagedeploy.domain.events import Event, EventType
from imagedeploy.domain.ids import new_id
from imagedeploy.domain.notifications import new_webhook_secret
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.registries import RegistryCredential, RegistryKind
from imagedeploy.domain.service_rules import validate_create
from imagedeploy.domain.services import ServiceType
from imagedeploy.embedded import SystemClock
from imagedeploy.net.egress import EgressPolicy
from imagedeploy.registry import RegistryClient
from imagedeploy.settings import LOOPBACK_NETWORKS

pytestmark = pytest.mark.integration

PASSWORD = "pw-7c1e-never-on-the-wire"
OWNER = "tea-0000000000000000000a"


@dataclass
class Seen:
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def recording_server(
    answer: Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str]]],
    address: tuple[str, int] = ("127.0.0.1", 0),
) -> tuple[LoopbackHTTPServer, Seen]:
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            with seen.lock:
                seen.requests.append((self.command, self.path, dict(self.headers)))
            status, headers = answer(self)
            self.send_response(status)
            for key, value in {"Content-Length": "0", **headers}.items():
                self.send_header(key, value)
            self.end_headers()

        do_GET = do_HEAD = do_POST = _any  # noqa: N815 - http.server's names

        def log_message(self, *args: Any) -> None:
            pass

    server = LoopbackHTTPServer(Handler, address)
    server.start("egress-test-server")
    return server, seen


def not_found(_: BaseHTTPRequestHandler) -> tuple[int, dict[str, str]]:
    return 404, {"Docker-Distribution-API-Version": "registry/2.0"}


@pytest.fixture
def servers() -> Iterator[list[LoopbackHTTPServer]]:
    started: list[LoopbackHTTPServer] = []
    yield started
    for server in started:
        server.stop()


# -- pinning --------------------------------------------------------------------------------------


def twin_servers(
    servers: list[LoopbackHTTPServer],
) -> tuple[int, Seen, Seen]:
    """A server on 127.0.0.2:P (the address DNS answers first) and one on 127.0.0.1:P (what a
    second lookup would answer), same port."""
    for _ in range(20):
        good, good_seen = recording_server(not_found, ("127.0.0.2", 0))
        servers.append(good)
        port = int(good.server_address[1])
        try:
            evil, evil_seen = recording_server(not_found, ("127.0.0.1", port))
        except OSError:
            continue  # that port is taken on 127.0.0.1: try another
        servers.append(evil)
        return port, good_seen, evil_seen
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")


class RebindingDns(FakeDns):
    """Answers ``first`` once, then ``later``: a DNS-rebinding attacker's name server."""

    def __init__(self, first: str, later: str) -> None:
        super().__init__()
        self.answers = [first, later]

    def __call__(self, host: str, port: int, *args: object, **kwargs: object) -> list[Any]:
        self.table[host] = [self.answers[0] if not self.lookups else self.answers[1]]
        return super().__call__(host, port, *args, **kwargs)


def test_the_registry_client_connects_to_the_address_it_checked(
    servers: list[LoopbackHTTPServer],
) -> None:
    port, good, evil = twin_servers(servers)
    dns = RebindingDns("127.0.0.2", later="127.0.0.1")
    settings = loopback_settings(
        registry_allowed_networks=["127.0.0.2/32"], registry_retry_budget_seconds=3.0
    )
    with RegistryClient(settings, resolver=dns) as client, pytest.raises(ImagePullError) as exc:
        client.inspect(parse_reference(f"localhost:{port}/demo/web:1.0"))
    assert evil.requests == [], "the request went to an address nobody checked"
    assert good.requests, "nothing reached the address that was checked"
    assert exc.value.reason is PullFailureReason.NOT_FOUND  # the checked server answered


def test_the_notifier_connects_to_the_address_it_checked(
    servers: list[LoopbackHTTPServer], tmp_path: Path
) -> None:
    port, good, evil = twin_servers(servers)
    dns = RebindingDns("127.0.0.2", later="127.0.0.1")
    egress = EgressPolicy((ipaddress.ip_network("127.0.0.2/32"),), "X", resolver=dns)
    deliveries = deliver(tmp_path, egress, f"http://hooks.localhost:{port}/hook")
    assert [d.status_code for d in deliveries] == [404]
    assert good.requests and evil.requests == []


# -- credentials ------------------------------------------------------------------------------


def test_credentials_are_not_sent_to_a_plain_http_token_realm_off_loopback(
    servers: list[LoopbackHTTPServer],
) -> None:
    realm, realm_seen = recording_server(lambda h: (200, {}))
    servers.append(realm)
    realm_port = realm.server_address[1]

    def challenge(_: BaseHTTPRequestHandler) -> tuple[int, dict[str, str]]:
        # 0.0.0.0 reaches this machine, but it is no loopback name: plain HTTP is not for
        # credentials there, whatever the allow list says about the address.
        return 401, {
            "WWW-Authenticate": f'Bearer realm="http://0.0.0.0:{realm_port}/token",service="reg"',
            "Docker-Distribution-API-Version": "registry/2.0",
        }

    registry, _ = recording_server(challenge)
    servers.append(registry)
    settings = loopback_settings(registry_allowed_networks=["127.0.0.0/8", "0.0.0.0/32"])
    credential = RegistryCredential(RegistryKind.DOCKER, "deployer", SecretStr(PASSWORD))
    with RegistryClient(settings) as client, pytest.raises(ImagePullError) as exc:
        client.inspect(parse_reference(f"{registry.host}/demo/web:1.0"), credential)
    assert realm_seen.requests == [], "the credential went over plain HTTP"
    assert exc.value.reason is PullFailureReason.BLOCKED_HOST
    assert "only over https://" in exc.value.message
    assert PASSWORD not in exc.value.message


# -- no port-scan oracle ------------------------------------------------------------------------


def _same_text(messages: dict[str, str], hosts: dict[str, str]) -> set[str]:
    return {re.sub(re.escape(hosts[k]), "HOST", m) for k, m in messages.items()}


def test_verify_does_not_tell_a_closed_port_from_an_open_one(
    servers: list[LoopbackHTTPServer],
) -> None:
    settings = loopback_settings(
        registry_request_timeout_seconds=0.5, registry_retry_budget_seconds=1.5
    )
    web, web_seen = recording_server(lambda h: (404, {"Content-Type": "text/html"}))
    page, _ = recording_server(lambda h: (200, {"Content-Type": "text/html"}))
    broken, _ = recording_server(lambda h: (500, {}))
    servers.extend((web, page, broken))
    with (
        RawPort(banner=b"SSH-2.0-OpenSSH_9.6\r\n") as ssh,
        RawPort(banner=None) as silent,
        RegistryClient(settings) as client,
    ):
        hosts = {
            "closed": f"127.0.0.1:{free_port()}",
            "ssh": ssh.host,
            "silent": silent.host,
            "web server, 404": web.host,
            "web server, 200": page.host,
            "web server, 500": broken.host,
        }
        errors: dict[str, ImagePullError] = {}
        for kind, host in hosts.items():
            with pytest.raises(ImagePullError) as exc:
                client.inspect(parse_reference(f"{host}/demo/web:1.0"))
            errors[kind] = exc.value
        assert ssh.connections and silent.connections and web_seen.requests  # ports were reached
    assert {e.reason for e in errors.values()} == {PullFailureReason.REGISTRY_UNAVAILABLE}
    texts = _same_text({k: e.message for k, e in errors.items()}, hosts)
    assert len(texts) == 1, texts


def test_the_delivery_log_does_not_tell_a_closed_port_from_an_open_one(tmp_path: Path) -> None:
    egress = EgressPolicy(LOOPBACK_NETWORKS, "X")
    with RawPort(banner=b"SSH-2.0-OpenSSH_9.6\r\n") as ssh, RawPort(banner=None) as silent:
        hosts = {"closed": f"127.0.0.1:{free_port()}", "ssh": ssh.host, "silent": silent.host}
        errors = {}
        for kind, host in hosts.items():
            (delivery,) = deliver(tmp_path / kind, egress, f"http://{host}/hook")
            assert not delivery.delivered and delivery.status_code is None
            errors[kind] = delivery.error
        assert ssh.connections and silent.connections
    texts = _same_text(errors, hosts)
    assert len(texts) == 1, texts


# -- helpers ------------------------------------------------------------------------------------


def deliver(directory: Path, egress: EgressPolicy, url: str) -> list[Any]:
    """One event delivered (or not) to one webhook at ``url``: the delivery log."""
    directory.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(directory / "state.db")
    try:
        clock = SystemClock()
        spec = validate_create(ServiceType.WEB_SERVICE, "web", "registry.example.com/team/web:1")
        service = spec.to_service(
            id=new_id("srv"), owner_id=OWNER, hook_key_hash="0" * 64, now=clock.now()
        )
        hook = Webhook(new_id("whk"), OWNER, "hook", url, new_webhook_secret(), True, ())
        store.write(
            put=[
                Owner(OWNER, "Team", "team@example.com"),
                service,
                hook,
                NotificationSettings(OWNER, NotificationsToSend.ALL),
            ]
        )
        sender = WebhookSender(
            clock=clock,
            egress=egress,
            timeout=0.5,
            max_attempts=2,
            backoff=Backoff(base_seconds=0.01, cap_seconds=0.01),
        )
        with sender:
            event = Event(new_id("evt"), service.id, EventType.DEPLOY_ENDED, clock.now(), {})
            store.write(put=[sender.deliver(hook, event, new_id("whe"))])
        return store.list_deliveries(hook.id, 10).items
    finally:
        store.close()
