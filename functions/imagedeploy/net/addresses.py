"""What kind of address an IP is, seen from a server that must not be turned against its own
network: every IPv6 form that embeds an IPv4 address (mapped, compatible, SIIT, NAT64, 6to4,
Teredo) is classified by the IPv4 address it reaches, so ``64:ff9b::a9fe:a9fe`` is the instance
metadata service just like ``169.254.169.254``."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressClass(StrEnum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"  # 169.254.169.254 is the cloud instance metadata service
    UNSPECIFIED = "unspecified"  # 0.0.0.0 and :: reach this machine
    MULTICAST = "multicast"
    RESERVED = "reserved"  # documentation, benchmarking, future use... never routed to us


# Classes no allow list opens: link-local is the metadata service, multicast is not a peer.
NEVER_ALLOWED: Final = frozenset({AddressClass.LINK_LOCAL, AddressClass.MULTICAST})

_V4_PRIVATE: Final = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_V6_PRIVATE: Final = (
    ipaddress.IPv6Network("fc00::/7"),  # unique local
    ipaddress.IPv6Network("fec0::/10"),  # site-local (deprecated, still routed by some stacks)
)
_V6_LINK_LOCAL: Final = ipaddress.IPv6Network("fe80::/10")
_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")  # ::a.b.c.d (deprecated)
_SIIT: Final = ipaddress.IPv6Network("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
# Where RFC 6052 puts the IPv4 address for each NAT64 prefix length that fits in a /48:
# (prefix length, bit offset of the first IPv4 byte); bits 64..71 (the "u" octet) are skipped.
_RFC6052_LAYOUTS: Final = ((48, 48), (56, 56), (64, 72), (96, 96))


def _v4(value: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(value & 0xFFFFFFFF)


def _rfc6052_candidates(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address a local-use NAT64 prefix could embed in ``ip``."""
    bits = int(ip)
    found = []
    for _, offset in _RFC6052_LAYOUTS:
        if offset + 32 <= 64 or offset >= 72:
            found.append(_v4(bits >> (128 - offset - 32)))
        else:  # the address straddles the u octet: the part after it is shifted by 8 bits
            before = 64 - offset
            high = (bits >> 64) & ((1 << before) - 1)
            low = (bits >> (128 - 72 - (32 - before))) & ((1 << (32 - before)) - 1)
            found.append(_v4((high << (32 - before)) | low))
    return found


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (none for a native address)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _SIIT or ip in _NAT64:
        return [_v4(int(ip))]
    if ip in _COMPATIBLE and int(ip) > 1:  # not :: or ::1
        return [_v4(int(ip))]
    if ip in _NAT64_LOCAL:
        return _rfc6052_candidates(ip)
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client): packets go to both
    return []


def _native_class(ip: IPAddress) -> AddressClass:
    if ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
        return AddressClass.MULTICAST
    if ip.is_loopback:
        return AddressClass.LOOPBACK
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in ipaddress.IPv4Network("169.254.0.0/16"):
            return AddressClass.LINK_LOCAL
        if ip in ipaddress.IPv4Network("0.0.0.0/8"):
            return AddressClass.UNSPECIFIED
        if any(ip in net for net in _V4_PRIVATE):
            return AddressClass.PRIVATE
    else:
        if ip in _V6_LINK_LOCAL:
            return AddressClass.LINK_LOCAL
        if ip.is_unspecified:
            return AddressClass.UNSPECIFIED
        if any(ip in net for net in _V6_PRIVATE):
            return AddressClass.PRIVATE
    return AddressClass.PUBLIC if ip.is_global else AddressClass.RESERVED


# The most dangerous class wins when an address reaches several IPv4 addresses (Teredo).
_SEVERITY: Final = (
    AddressClass.LINK_LOCAL,
    AddressClass.MULTICAST,
    AddressClass.UNSPECIFIED,
    AddressClass.LOOPBACK,
    AddressClass.PRIVATE,
    AddressClass.RESERVED,
    AddressClass.PUBLIC,
)


def classify(ip: IPAddress) -> AddressClass:
    """The class of ``ip``; an IPv6 address embedding IPv4 takes the class of what it embeds
    when that is not public (a public 6to4 or NAT64 address keeps its own class)."""
    inner = [_native_class(v4) for v4 in embedded_ipv4(ip)]
    non_public = [c for c in inner if c is not AddressClass.PUBLIC]
    if non_public:
        return min(non_public, key=_SEVERITY.index)
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped is not None or ip in _NAT64):
        return AddressClass.PUBLIC  # a translation of a public IPv4 address
    return _native_class(ip)


def effective_addresses(ip: IPAddress) -> list[IPAddress]:
    """``ip`` and the IPv4 addresses it embeds: what an allow list is matched against, so that
    ``127.0.0.0/8`` also opens ``::ffff:127.0.0.1``."""
    return [ip, *embedded_ipv4(ip)]


def parse_ip(text: str) -> IPAddress | None:
    """An IP literal (brackets and an IPv6 zone are accepted), or None for a name."""
    text = text.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """A host that is this machine by definition: a loopback literal, or ``localhost`` and
    its subdomains (RFC 6761), without asking DNS."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    ip = parse_ip(name)
    return ip is not None and classify(ip) is AddressClass.LOOPBACK
