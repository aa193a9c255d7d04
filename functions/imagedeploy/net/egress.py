"""The one egress policy for everything imagedeploy sends on a user's behalf (registries, their
token services and redirects, webhooks): which addresses may be contacted, which URLs may
receive webhooks, and where credentials may go over plain HTTP.

Defaults per home (``Home``), decided here and only here: AWS talks to public addresses only;
``imagedeploy serve`` also to loopback (registries and receivers on the same machine). A setting
left unset (None) takes the home default; a list replaces it (``[]`` = public only). Link-local
addresses (the cloud metadata service) and multicast are never contacted, whatever the list.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from imagedeploy.net.addresses import (
    NEVER_ALLOWED,
    AddressClass,
    IPAddress,
    IPNetwork,
    classify,
    effective_addresses,
    is_loopback_host,
    parse_ip,
)
from imagedeploy.settings import LOOPBACK_NETWORKS, Settings

Resolver = Callable[..., Sequence[tuple[Any, ...]]]


class Home(StrEnum):
    AWS = "aws"
    SERVE = "serve"


# Non-public networks each home opens when the setting is unset.
_HOME_NETWORKS: Final[dict[Home, tuple[IPNetwork, ...]]] = {
    Home.AWS: (),
    Home.SERVE: LOOPBACK_NETWORKS,
}

_CLASS_WORDS: Final = {
    AddressClass.LOOPBACK: "a loopback address (this machine)",
    AddressClass.PRIVATE: "a private-network address",
    AddressClass.LINK_LOCAL: "a link-local address (the cloud instance metadata range)",
    AddressClass.UNSPECIFIED: "an unspecified address (this machine)",
    AddressClass.MULTICAST: "a multicast or broadcast address",
    AddressClass.RESERVED: "a reserved, non-public address",
}


class EgressRefused(Exception):
    """The destination may not be contacted; the message says why and how to allow it."""


class Unresolvable(Exception):
    """The destination's name does not resolve."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """``allowed_networks``: non-public networks open in addition to public addresses.
    ``setting``: the environment variable that sets them, named in refusals.
    ``http_to_loopback``: whether ``http://`` URLs (and credentials over plain HTTP) are
    accepted for loopback hosts; every other host needs ``https://``."""

    allowed_networks: tuple[IPNetwork, ...]
    setting: str
    http_to_loopback: bool = True
    http_setting: str = ""
    resolver: Resolver = field(default=socket.getaddrinfo, compare=False)

    # -- addresses -------------------------------------------------------------------------------
    def address_refusal(self, ip: IPAddress) -> str | None:
        """Why ``ip`` may not be contacted, or None."""
        kind = classify(ip)
        if kind is AddressClass.PUBLIC:
            return None
        words = _CLASS_WORDS[kind]
        if kind in NEVER_ALLOWED:
            return f"{ip} is {words}, which imagedeploy never contacts"
        if any(
            a.version == net.version and a in net
            for a in effective_addresses(ip)
            for net in self.allowed_networks
        ):
            return None
        return (
            f"{ip} is {words}, which imagedeploy does not contact; if that network is yours, "
            f"add it to {self.setting} (a JSON list of CIDRs, e.g. '[\"{_network_of(ip)}\"]')"
        )

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for ``host``: all of them checked, or ``EgressRefused``
        (any address refused refuses the host: a name must not mix allowed and refused ones)."""
        literal = parse_ip(host)
        if literal is not None:
            checked = [literal]
        else:
            try:
                infos = self.resolver(host, port, type=socket.SOCK_STREAM)
                found = [parse_ip(str(info[4][0])) for info in infos]
            except (OSError, UnicodeError, ValueError, IndexError) as exc:
                raise Unresolvable(f"cannot resolve {host}") from exc
            checked = [a for a in found if a is not None]
            if not checked or len(checked) != len(found):
                raise Unresolvable(f"cannot resolve {host}")
        for ip in checked:
            if why := self.address_refusal(ip):
                named = "" if literal is not None else f"{host} resolves to {ip}: "
                raise EgressRefused(named + why)
        return list(dict.fromkeys(checked))

    # -- URLs --------------------------------------------------------------------------------
    def plain_http_allowed(self, host: str) -> bool:
        return self.http_to_loopback and is_loopback_host(host)

    def scheme_refusal(self, url: str) -> str | None:
        """Why ``url``'s scheme may not receive webhooks, or None: https, or http to a loopback
        host when ``http_to_loopback``. No DNS."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return "the URL is not valid"
        if parts.scheme not in ("http", "https"):
            return "use an https:// URL"
        if parts.scheme == "http" and not self.plain_http_allowed(parts.hostname or ""):
            if not is_loopback_host(parts.hostname or ""):
                return (
                    "use an https:// URL: plain http:// is accepted only for loopback hosts, "
                    "for development"
                )
            return (
                "use an https:// URL; plain http:// to a loopback host needs "
                f"{self.http_setting}=true"
            )
        return None

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not receive webhooks, or None (the ``WebhookTargets`` port): the
        scheme, then every address the host resolves to. A name that does not resolve yet is
        accepted: delivery checks again, every time."""
        try:
            parts = urlsplit(url)
            host, port = (
                parts.hostname or "",
                parts.port or (443 if parts.scheme == "https" else 80),
            )
        except ValueError:
            return "the URL is not valid"
        literal = parse_ip(host)
        if literal is not None and (why := self.address_refusal(literal)):
            return why  # what is wrong with the address matters more than the scheme
        if why := self.scheme_refusal(url):
            return why
        try:
            self.resolve(host, port)
        except EgressRefused as exc:
            return str(exc)
        except Unresolvable:
            return None
        return None


def _network_of(ip: IPAddress) -> str:
    return str(ipaddress.ip_network(f"{ip}/{32 if ip.version == 4 else 128}"))


def registry_egress(settings: Settings, home: Home) -> EgressPolicy:
    """Where registries, token services and their redirects may be."""
    networks = settings.registry_allowed_networks
    return EgressPolicy(
        allowed_networks=_HOME_NETWORKS[home] if networks is None else tuple(networks),
        setting="IMAGEDEPLOY_REGISTRY_ALLOWED_NETWORKS",
        http_to_loopback=True,  # a loopback registry speaks plain HTTP (Docker's default too)
    )


def webhook_egress(settings: Settings, home: Home) -> EgressPolicy:
    """Where webhooks may be delivered."""
    networks = settings.webhook_allowed_networks
    http = settings.webhook_allow_http_loopback
    return EgressPolicy(
        allowed_networks=_HOME_NETWORKS[home] if networks is None else tuple(networks),
        setting="IMAGEDEPLOY_WEBHOOK_ALLOWED_NETWORKS",
        http_to_loopback=(home is Home.SERVE) if http is None else http,
        http_setting="IMAGEDEPLOY_WEBHOOK_ALLOW_HTTP_LOOPBACK",
    )
