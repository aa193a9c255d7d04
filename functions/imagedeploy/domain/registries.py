"""Registry credentials and which registry hosts each credential kind is for.

Kinds use Render's spelling. A registry host we recognise belongs to exactly one kind; any other
host (a self-hosted registry, a self-managed GitLab) accepts the generic kinds, ``DOCKER`` and
``GITLAB``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"  # docker.io itself serves no registry API


class RegistryKind(StrEnum):
    DOCKER = "DOCKER"
    GITHUB = "GITHUB"
    GITLAB = "GITLAB"
    GOOGLE_ARTIFACT = "GOOGLE_ARTIFACT"
    AWS_ECR = "AWS_ECR"


_KIND_LABEL = {
    RegistryKind.DOCKER: "Docker Hub",
    RegistryKind.GITHUB: "GitHub Container Registry (ghcr.io)",
    RegistryKind.GITLAB: "GitLab Container Registry",
    RegistryKind.GOOGLE_ARTIFACT: "Google Artifact Registry",
    RegistryKind.AWS_ECR: "AWS ECR",
}
GENERIC_KINDS = frozenset({RegistryKind.DOCKER, RegistryKind.GITLAB})

_ECR_HOST = re.compile(
    r"[0-9]{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?", re.ASCII
)
_GOOGLE_HOST = re.compile(r"(?:[a-z0-9-]+-docker\.pkg\.dev|(?:[a-z]+\.)?gcr\.io)", re.ASCII)


@dataclass(frozen=True, slots=True)
class RegistryCredential:
    """A reusable registry login. The token is a ``SecretStr``: its repr and str are masked."""

    kind: RegistryKind
    username: str
    token: SecretStr

    @property
    def identity(self) -> str:
        """A one-way fingerprint, so caches can key on the credential without holding it."""
        material = f"{self.kind}\0{self.username}\0{self.token.get_secret_value()}"
        return hashlib.sha256(material.encode()).hexdigest()[:32]


def registry_kind_of(host: str) -> RegistryKind | None:
    """The kind a registry host belongs to, or None for a host we do not recognise."""
    host = _hostname(host)
    if host in (DOCKER_HUB, DOCKER_HUB_API_HOST, "index.docker.io"):
        return RegistryKind.DOCKER
    if host in ("ghcr.io", "docker.pkg.github.com"):
        return RegistryKind.GITHUB
    if host == "registry.gitlab.com":
        return RegistryKind.GITLAB
    if _GOOGLE_HOST.fullmatch(host):
        return RegistryKind.GOOGLE_ARTIFACT
    if _ECR_HOST.fullmatch(host):
        return RegistryKind.AWS_ECR
    return None


def _hostname(host: str) -> str:
    """``host[:port]`` without the port, lowercased; bracketed IPv6 literals stay whole."""
    host = host.lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0]


def describe_kind(kind: RegistryKind) -> str:
    return _KIND_LABEL[kind]


def credential_mismatch(kind: RegistryKind, host: str) -> str | None:
    """Why a credential of ``kind`` cannot be used for ``host``, or None when it can."""
    host_kind = registry_kind_of(host)
    if host_kind is None:
        if kind in GENERIC_KINDS:
            return None
        return (
            f"a {kind} credential is for {describe_kind(kind)}, but {host} is another registry; "
            f"use a DOCKER credential (username and token) for a self-hosted registry"
        )
    if host_kind is kind:
        return None
    return (
        f"a {kind} credential cannot be used for {host}, which is {describe_kind(host_kind)}; "
        f"choose or create a {host_kind} credential"
    )


def api_host(registry: str) -> str:
    """The host that serves the registry API for a reference's registry (Docker Hub's differs)."""
    return DOCKER_HUB_API_HOST if registry in (DOCKER_HUB, "index.docker.io") else registry


def uses_plain_http(host: str) -> bool:
    """Like Docker's default insecure-registry range: only loopback registries speak plain
    HTTP; everything else is HTTPS."""
    name = _hostname(host).strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
