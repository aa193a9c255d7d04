"""The egress policy: every form of a refused address, the allowed ones, the settings' None / []
/ CIDR semantics per home, and which URLs may receive webhooks. No network: DNS is a table."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from devkit.fakes import FakeDns
from imagedeploy.net.addresses import AddressClass, classify, is_loopback_host
from imagedeploy.net.egress import (
    EgressPolicy,
    EgressRefused,
    Home,
    Unresolvable,
    registry_egress,
    webhook_egress,
)
from imagedeploy.settings import Settings

pytestmark = pytest.mark.unit

METADATA_FORMS = [
    "169.254.169.254",
    "169.254.0.1",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:a9fe:a9fe",  # IPv4-mapped, hex
    "::a9fe:a9fe",  # IPv4-compatible
    "::169.254.169.254",  # IPv4-compatible, dotted
    "::ffff:0:a9fe:a9fe",  # SIIT (IPv4-translated)
    "64:ff9b::a9fe:a9fe",  # NAT64 well-known prefix
    "64:ff9b::169.254.169.254",
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64, /96 layout
    "64:ff9b:1:a9fe:a9:fe00::",  # local-use NAT64, /48 layout (IPv4 around the u octet)
    "64:ff9b:1:a9:fe:a9fe::",  # local-use NAT64, /56 layout
    "64:ff9b:1:0:a9:fea9:fe00:0",  # local-use NAT64, /64 layout
    "2002:a9fe:a9fe::",  # 6to4
    "2002:a9fe:a9fe:1::1",
    "2001:0:a9fe:a9fe::1",  # Teredo, server 169.254.169.254
    "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, client ~0x5601 5601 = 169.254.169.254
    "fe80::1",
    "fe80::a9fe:a9fe",
    "febf:ffff::1",
]

REFUSED_BY_DEFAULT = [
    ("127.0.0.1", AddressClass.LOOPBACK),
    ("127.5.6.7", AddressClass.LOOPBACK),
    ("::1", AddressClass.LOOPBACK),
    ("::ffff:127.0.0.1", AddressClass.LOOPBACK),
    ("64:ff9b::7f00:1", AddressClass.LOOPBACK),
    ("2002:7f00:1::", AddressClass.LOOPBACK),
    ("10.0.0.1", AddressClass.PRIVATE),
    ("172.16.3.4", AddressClass.PRIVATE),
    ("192.168.1.1", AddressClass.PRIVATE),
    ("100.64.0.1", AddressClass.PRIVATE),  # carrier-grade NAT
    ("fd00::1", AddressClass.PRIVATE),
    ("fec0::1", AddressClass.PRIVATE),
    ("::ffff:10.0.0.1", AddressClass.PRIVATE),
    ("::ffff:0:a00:1", AddressClass.PRIVATE),
    ("64:ff9b::a00:1", AddressClass.PRIVATE),
    ("0.0.0.0", AddressClass.UNSPECIFIED),
    ("::", AddressClass.UNSPECIFIED),
    ("2001::1", AddressClass.UNSPECIFIED),  # Teredo with server 0.0.0.0
    ("224.0.0.1", AddressClass.MULTICAST),
    ("ff02::1", AddressClass.MULTICAST),
    ("255.255.255.255", AddressClass.MULTICAST),
    ("192.0.2.1", AddressClass.RESERVED),  # documentation
    ("198.18.0.1", AddressClass.RESERVED),  # benchmarking
    ("2001:db8::1", AddressClass.RESERVED),
]

PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]

EVERYTHING = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def policy(*networks: str) -> EgressPolicy:
    return EgressPolicy(tuple(ipaddress.ip_network(n) for n in networks), setting="X_NETWORKS")


@pytest.mark.parametrize("address", METADATA_FORMS)
def test_every_form_of_link_local_is_refused_even_when_everything_is_allowed(
    address: str,
) -> None:
    ip = ipaddress.ip_address(address)
    assert classify(ip) is AddressClass.LINK_LOCAL
    wide_open = EgressPolicy(EVERYTHING, setting="X_NETWORKS")
    why = wide_open.address_refusal(ip)
    assert why is not None and "never contacts" in why and "link-local" in why
    with pytest.raises(EgressRefused):
        wide_open.resolve(address, 443)


@pytest.mark.parametrize(("address", "kind"), REFUSED_BY_DEFAULT)
def test_non_public_addresses_are_refused_with_how_to_allow_them(
    address: str, kind: AddressClass
) -> None:
    ip = ipaddress.ip_address(address)
    assert classify(ip) is kind
    why = policy().address_refusal(ip)
    assert why is not None and address in why
    if kind is not AddressClass.MULTICAST:
        assert "X_NETWORKS" in why  # says how to allow it


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert classify(ip) is AddressClass.PUBLIC
    assert policy().address_refusal(ip) is None


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"]
)
def test_loopback_networks_open_every_form_of_loopback(address: str) -> None:
    assert policy("127.0.0.0/8", "::1/128").address_refusal(ipaddress.ip_address(address)) is None


def test_an_allow_list_opens_exactly_its_networks() -> None:
    open_ten = policy("10.0.0.0/8")
    assert open_ten.address_refusal(ipaddress.ip_address("10.9.8.7")) is None
    assert open_ten.address_refusal(ipaddress.ip_address("192.168.0.1")) is not None
    assert open_ten.address_refusal(ipaddress.ip_address("127.0.0.1")) is not None


def test_a_name_is_refused_if_any_of_its_addresses_is() -> None:
    dns = FakeDns({"mixed.test": ["93.184.215.14", "169.254.169.254"], "ok.test": ["8.8.8.8"]})
    checked = dataclasses.replace(policy(), resolver=dns)
    with pytest.raises(EgressRefused, match=r"mixed\.test resolves to 169\.254\.169\.254"):
        checked.resolve("mixed.test", 443)
    assert [str(a) for a in checked.resolve("ok.test", 443)] == ["8.8.8.8"]
    with pytest.raises(Unresolvable):
        checked.resolve("nowhere.test", 443)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("api.localhost", True),
        ("127.0.0.1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost.example.com", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts_are_known_without_dns(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


# -- settings and homes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "home", "expected"),
    [
        (None, Home.AWS, []),
        (None, Home.SERVE, ["127.0.0.0/8", "::1/128"]),
        ("[]", Home.AWS, []),
        ("[]", Home.SERVE, []),  # switched off: public addresses only
        ('["10.0.0.0/8"]', Home.SERVE, ["10.0.0.0/8"]),  # replaces, does not add to, loopback
        ('["10.0.0.0/8"]', Home.AWS, ["10.0.0.0/8"]),
    ],
)
@pytest.mark.parametrize("kind", ["registry", "webhook"])
def test_allowed_networks_setting_none_empty_and_cidrs(
    monkeypatch: pytest.MonkeyPatch, env: str | None, home: Home, expected: list[str], kind: str
) -> None:
    variable = f"IMAGEDEPLOY_{kind.upper()}_ALLOWED_NETWORKS"
    if env is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, env)
    make = registry_egress if kind == "registry" else webhook_egress
    egress = make(Settings(), home)
    assert [str(n) for n in egress.allowed_networks] == expected
    assert egress.setting == variable
    loopback_allowed = egress.address_refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert loopback_allowed is ("127.0.0.0/8" in expected)


@pytest.mark.parametrize(
    ("env", "home", "http_ok"),
    [(None, Home.AWS, False), (None, Home.SERVE, True), ("false", Home.SERVE, False)],
)
def test_http_to_loopback_webhooks_per_home(
    monkeypatch: pytest.MonkeyPatch, env: str | None, home: Home, http_ok: bool
) -> None:
    if env is not None:
        monkeypatch.setenv("IMAGEDEPLOY_WEBHOOK_ALLOW_HTTP_LOOPBACK", env)
    monkeypatch.setenv("IMAGEDEPLOY_WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.0/8"]')
    egress = webhook_egress(Settings(), home)
    why = egress.refusal("http://127.0.0.1:9000/hook")
    assert (why is None) is http_ok
    if not http_ok:
        assert why is not None and "IMAGEDEPLOY_WEBHOOK_ALLOW_HTTP_LOOPBACK=true" in why


# -- webhook URLs --------------------------------------------------------------------------------

SERVE_DNS = FakeDns(
    {
        "hooks.example.com": ["93.184.215.14"],
        "metadata.test": ["169.254.169.254"],
        "internal.test": ["10.1.2.3"],
        "localhost": ["127.0.0.1"],
    }
)


@pytest.mark.parametrize(
    ("url", "mentions"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://169.254.169.254/", "never contacts"),
        ("https://[64:ff9b::a9fe:a9fe]/", "link-local"),
        ("http://10.0.0.1/", "a private-network address"),
        ("http://93.184.215.14/", "plain http:// is accepted only for loopback"),
        ("https://10.0.0.1/", "IMAGEDEPLOY_WEBHOOK_ALLOWED_NETWORKS"),
        ("https://internal.test/hook", "internal.test resolves to 10.1.2.3"),
        ("https://metadata.test/hook", "link-local"),
        ("http://hooks.example.com/hook", "use an https:// URL"),
        ("ftp://hooks.example.com/hook", "use an https:// URL"),
    ],
)
def test_webhook_urls_refused_on_serve(url: str, mentions: str) -> None:
    egress = dataclasses.replace(webhook_egress(Settings(), Home.SERVE), resolver=SERVE_DNS)
    why = egress.refusal(url)
    assert why is not None and mentions in why


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/hook",
        "http://127.0.0.1:8000/hook",
        "http://localhost:8000/hook",
        "http://[::1]:8000/hook",
        "https://not-yet-in-dns.test/hook",  # delivery checks again
    ],
)
def test_webhook_urls_accepted_on_serve(url: str) -> None:
    egress = dataclasses.replace(webhook_egress(Settings(), Home.SERVE), resolver=SERVE_DNS)
    assert egress.refusal(url) is None
