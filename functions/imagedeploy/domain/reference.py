r"""Image references parsed exactly as Docker parses them.

This reproduces github.com/distribution/reference (the Go package that Docker, containerd and the
registry use: ``regexp.go``, ``reference.go``, ``normalize.go``, ``helpers.go``) and, for digests,
github.com/opencontainers/go-digest v1.0.0 (see ``digest.py``):

- ``parse_reference`` is ``ParseNormalizedNamed``: ``alpine`` -> ``docker.io/library/alpine``,
  ``index.docker.io`` -> ``docker.io``, a first component is a registry only if it is ``localhost``,
  contains ``.`` or ``:``, or has uppercase; the repository path is lowercase and at most 255
  characters; a bare 64-hex id is refused.
- ``parse_docker_ref`` is ``ParseDockerRef``; ``parse_named`` is ``ParseNamed`` (canonical input
  only); ``parse_any_reference`` is ``ParseAnyReference``; ``parse_unnormalized`` is ``Parse``.
- ``ImageReference.normalized`` is ``TagNameOnly(ref).String()``; ``.familiar`` is
  ``FamiliarString``.

Where we deliberately differ from Go (each has a test):

1. A character that no reference can contain (non-ASCII, whitespace, control, ``$``...) is reported
   first, by name. Go's grammar is pure ASCII, so this changes messages, never what is accepted.
2. ``foo_bar.com/app``: the first component is taken as a registry (it contains ``.``) but is not a
   valid host, so Go's regexp reads the whole name as a path and returns a reference with *no*
   domain, which no registry serves. We refuse it.
3. Digests: sha256 and sha512 only (go-digest also registers sha384).
4. ``with_tag`` drops the digest (Go's ``WithTag`` keeps it) and ``with_digest`` validates with
   go-digest (Go's ``WithDigest`` only checks the grammar, 32+ hex characters of any case).
5. ``familiar`` keeps ``docker.io/`` when the first path component would otherwise read as a
   registry (``docker.io/localhost/app``), so the familiar form always parses back to the same
   image.

Python pitfalls avoided: every pattern is anchored with ``\A``/``\Z`` (``$`` also matches before
a trailing newline) and compiled with ``re.ASCII`` (``\w`` and ``[0-9]`` are Unicode-aware
otherwise); lowercase checks only ever see ASCII. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
import string
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from imagedeploy.domain.digest import digest_problem, quote, validate_digest
from imagedeploy.domain.errors import InvalidReference

__all__ = [
    "DEFAULT_DOMAIN",
    "DIGEST_PATTERN",
    "DOMAIN_PATTERN",
    "ERR_NAME_CONTAINS_UPPERCASE",
    "ERR_NAME_EMPTY",
    "ERR_NAME_NOT_CANONICAL",
    "ERR_NAME_TOO_LONG",
    "ERR_REFERENCE_INVALID_FORMAT",
    "ERR_TAG_INVALID_FORMAT",
    "IDENTIFIER_PATTERN",
    "NAME_PATTERN",
    "REFERENCE_PATTERN",
    "TAG_PATTERN",
    "ImageReference",
    "ReferenceParts",
    "parse_any_reference",
    "parse_docker_ref",
    "parse_named",
    "parse_reference",
    "parse_unnormalized",
    "validate_digest",
]

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
REPOSITORY_NAME_TOTAL_LENGTH_MAX = 255

# distribution/reference's error texts; our messages start with ERR_REFERENCE_INVALID_FORMAT and
# contain the more specific one.
ERR_REFERENCE_INVALID_FORMAT = "invalid reference format"
ERR_TAG_INVALID_FORMAT = "invalid tag format"
ERR_NAME_CONTAINS_UPPERCASE = "repository name must be lowercase"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_NAME_TOO_LONG = (
    f"repository name must not be more than {REPOSITORY_NAME_TOTAL_LENGTH_MAX} characters"
)
ERR_NAME_NOT_CANONICAL = "repository name must be canonical"
ERR_HEX_IDENTIFIER = "invalid repository name, cannot specify 64-byte hexadecimal strings"

# --- the grammar, transcribed from regexp.go ---
_ALPHANUMERIC = r"[a-z0-9]+"
# One period, one or two underscores, or any number of dashes.
_SEPARATOR = r"(?:[._]|__|[-]+)"
_DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_OPTIONAL_PORT = r"(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
# Go writes the hex part as [[:xdigit:]], which Python's re does not know.
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}"
_IDENTIFIER = r"([a-f0-9]{64})"
# Bracketed IPv6, compressed or not; zones (%eth0) and IPv4-mapped forms are excluded on purpose.
_IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_NAME_COMPONENT}(?:\.{_DOMAIN_NAME_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6_ADDRESS})"
_DOMAIN_AND_PORT = _HOST + _OPTIONAL_PORT
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"


def _anchored(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"\A(?:{pattern})\Z", re.ASCII)


#: host[:port] (Go's DomainRegexp, anchored).
DOMAIN_PATTERN = _anchored(_DOMAIN_AND_PORT)
#: Groups (domain or None, path): Go's anchoredNameRegexp.
NAME_PATTERN = _anchored(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})")
#: Groups (name, tag or None, digest or None): Go's ReferenceRegexp.
REFERENCE_PATTERN = _anchored(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?")
TAG_PATTERN = _anchored(_TAG)
#: The grammar's digest (any algorithm, 32+ hex of any case); validate_digest is stricter.
DIGEST_PATTERN = _anchored(_DIGEST)
#: A bare image id: 64 lowercase hex characters.
IDENTIFIER_PATTERN = _anchored(_IDENTIFIER)
_REMOTE_NAME_PATTERN = _anchored(_REMOTE_NAME)

# Every character the grammar can match; anything else is refused before the regexps run.
_GRAMMAR_CHARACTERS = frozenset(string.ascii_letters + string.digits + "._-/:@[]+")

_FORMAT = "[registry[:port]/]repository[:tag][@digest]"
_TAG_RULE = (
    "a tag is 1 to 128 letters, digits, '_', '.' and '-', and does not start with '.' or '-'"
)
_NAME_RULE = (
    "repository path components are lowercase letters and digits joined by '.', '_', '__' or "
    "'-', separated by '/'; a registry host[:port] may come first"
)


class ReferenceParts(NamedTuple):
    """What Go's ``reference.Parse`` gives: the name as written, without normalization.

    ``domain`` is "" when the name has none (Go's ``Domain()``); tag and digest are None when
    absent.
    """

    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        return _join(self.name, self.tag, self.digest)


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A normalized image reference; construct it with ``parse_reference``.

    Always valid: the constructor refuses components that ``parse_reference(ref.normalized)`` would
    not give back.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        problem = _component_problem(self.registry, self.repository, self.tag, self.digest)
        if problem is not None:
            raise InvalidReference(f"{ERR_REFERENCE_INVALID_FORMAT}: {problem}")

    @property
    def name(self) -> str:
        """registry/repository, Go's ``Name()``."""
        return f"{self.registry}/{self.repository}"

    @property
    def normalized(self) -> str:
        """The full reference, with ``:latest`` only when neither tag nor digest is given."""
        if self.tag is None and self.digest is None:
            return f"{self.name}:{DEFAULT_TAG}"
        return _join(self.name, self.tag, self.digest)

    @property
    def familiar(self) -> str:
        """The short form ``docker`` shows: ``alpine:3.19``, ``user/app``, ``ghcr.io/o/app:1``."""
        return _join(self._familiar_name(), self.tag, self.digest)

    @property
    def manifest_reference(self) -> str:
        """What goes after ``/v2/<repository>/manifests/``: the digest if any, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def same_repository_as(self, other: ImageReference) -> bool:
        """Same registry (host names compare case-insensitively) and same repository path."""
        return (
            _ascii_lower(self.registry) == _ascii_lower(other.registry)
            and self.repository == other.repository
        )

    def with_tag(self, tag: str) -> ImageReference:
        """This repository at ``tag``; any digest is dropped, since it would override the tag."""
        if not TAG_PATTERN.match(tag):
            raise InvalidReference(f"{ERR_TAG_INVALID_FORMAT}: {quote(tag)}: {_TAG_RULE}")
        return dataclasses.replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> ImageReference:
        """This repository pinned to ``digest`` (validated); the tag, if any, is kept."""
        return dataclasses.replace(self, digest=validate_digest(digest))

    def __str__(self) -> str:
        return self.normalized

    def _familiar_name(self) -> str:
        # familiarizeName: Docker Hub drops its domain and the "library/" of official images.
        if self.registry != DEFAULT_DOMAIN:
            return self.name
        path = self.repository
        if path.startswith(OFFICIAL_REPO_PREFIX):
            remainder = path.removeprefix(OFFICIAL_REPO_PREFIX)
            if "/" not in remainder:
                return remainder
        if _looks_like_domain(path.partition("/")[0]):
            return self.name  # deviation 5: "localhost/app" would name another registry
        return path


def parse_reference(text: str) -> ImageReference:
    """Parse and normalize ``text`` as Docker does (``ParseNormalizedNamed``)."""
    _check_characters(text)
    if text == "":
        raise _invalid(text, f"the reference is empty; expected {_FORMAT}")
    if IDENTIFIER_PATTERN.match(text):
        raise _invalid(
            text, f"{ERR_HEX_IDENTIFIER}; to pin an image use <repository>@sha256:{text}"
        )
    domain, remainder = _split_docker_domain(text)
    remote = remainder.partition(":")[0]
    if _ascii_lower(remote) != remote:
        raise _invalid(text, ERR_NAME_CONTAINS_UPPERCASE)
    parts = _parse(f"{domain}/{remainder}", shown=text)
    if not parts.domain:
        # Deviation 2: Go returns a reference with an empty domain here.
        raise _invalid(
            text,
            f"{domain!r} is taken as the registry (it contains '.' or ':') but is not a valid "
            "host name: use letters, digits, '-' and '.', and an optional :port",
        )
    return ImageReference(parts.domain, parts.path, parts.tag, parts.digest)


def parse_docker_ref(text: str) -> ImageReference:
    """``ParseDockerRef``: normalized, tag ``latest`` if none; with a digest, the tag is dropped."""
    ref = parse_reference(text)
    if ref.digest is not None:
        return dataclasses.replace(ref, tag=None)
    return dataclasses.replace(ref, tag=ref.tag or DEFAULT_TAG)


def parse_named(text: str) -> ImageReference:
    """``ParseNamed``: like parse_reference, but ``text`` must already be in canonical form."""
    ref = parse_reference(text)
    canonical = _join(ref.name, ref.tag, ref.digest)
    if canonical != text:
        raise _invalid(text, f"{ERR_NAME_NOT_CANONICAL}; the canonical form is {canonical!r}")
    return ref


def parse_any_reference(text: str) -> ImageReference | str:
    """``ParseAnyReference``: a digest (str) for a bare 64-hex id or a digest; else a reference."""
    if IDENTIFIER_PATTERN.match(text):
        return f"sha256:{text}"
    if digest_problem(text) is None:
        return text
    return parse_reference(text)


def parse_unnormalized(text: str) -> ReferenceParts:
    """``reference.Parse``: check ``text`` against the grammar, without any normalization."""
    _check_characters(text)
    return _parse(text, shown=text)


# --- internals ---


def _parse(text: str, *, shown: str) -> ReferenceParts:
    """Go's ``Parse`` step by step; errors describe ``shown``, the text the caller was given."""
    if text == "":
        raise _invalid(shown, ERR_NAME_EMPTY)
    match = REFERENCE_PATTERN.match(text)
    if match is None:
        lowered = _ascii_lower(text)
        if lowered != text and REFERENCE_PATTERN.match(lowered):
            raise _invalid(shown, ERR_NAME_CONTAINS_UPPERCASE)
        raise _invalid(shown, _diagnose(shown))
    name, tag, digest = match.groups()
    name_match = NAME_PATTERN.match(name)
    if name_match is None:  # cannot happen: the same sub-pattern just matched
        raise AssertionError(name)
    domain, path = name_match.group(1) or "", name_match.group(2)
    if len(path) > REPOSITORY_NAME_TOTAL_LENGTH_MAX:
        raise _invalid(shown, f"{ERR_NAME_TOO_LONG}; the path has {len(path)}")
    if digest is not None:
        problem = digest_problem(digest)
        if problem is not None:
            raise _invalid(shown, problem)
    return ReferenceParts(domain, path, tag, digest)


def _split_docker_domain(name: str) -> tuple[str, str]:
    """splitDockerDomain: (registry, rest); Docker Hub unless the first component is a host."""
    maybe_domain, slash, maybe_remote = name.partition("/")
    if not slash:
        # A single component ("ubuntu", "ubuntu:22.04") is always a Docker Hub official image.
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif _looks_like_domain(maybe_domain):
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def _looks_like_domain(component: str) -> bool:
    # "localhost" is reserved; "." or ":" means a host name, IP or port; uppercase is not allowed in
    # a path, so an uppercase first component must be a host.
    return (
        component == "localhost"
        or "." in component
        or ":" in component
        or _ascii_lower(component) != component
    )


def _component_problem(registry: str, path: str, tag: str | None, digest: str | None) -> str | None:
    """Why these components are not what parse_reference could return, or None."""
    if not DOMAIN_PATTERN.match(registry):
        return f"registry {quote(registry)} is not a valid host[:port]"
    if registry == LEGACY_DEFAULT_DOMAIN or not _looks_like_domain(registry):
        return f"registry {quote(registry)} is not in normalized form"
    if not _REMOTE_NAME_PATTERN.match(path):
        return f"repository {quote(path)}: {_NAME_RULE}"
    if len(path) > REPOSITORY_NAME_TOTAL_LENGTH_MAX:
        return ERR_NAME_TOO_LONG
    if registry == DEFAULT_DOMAIN and "/" not in path:
        return f"repository {quote(path)} on {DEFAULT_DOMAIN} must be {OFFICIAL_REPO_PREFIX}{path}"
    if tag is not None and not TAG_PATTERN.match(tag):
        return f"{ERR_TAG_INVALID_FORMAT}: {quote(tag)}: {_TAG_RULE}"
    if digest is not None:
        return digest_problem(digest)
    return None


def _check_characters(text: str) -> None:
    """Refuse, naming it, the first character that no part of the grammar accepts (deviation 1)."""
    for index, char in enumerate(text):
        if char in _GRAMMAR_CHARACTERS:
            continue
        where = f"at character {index + 1}"
        if char in "\r\n":
            what = f"a line break {where}"
        elif not char.isascii():
            unicode_name = unicodedata.name(char, "unnamed")
            what = (
                f"the non-ASCII character {char!r} (U+{ord(char):04X} {unicode_name}) {where}; "
                "image references are ASCII only"
            )
        elif char.isspace():
            what = f"whitespace ({char!r}) {where}"
        elif not char.isprintable():
            what = f"the control character {char!r} {where}"
        else:
            what = f"{char!r} {where}, which no part of a reference may contain"
        raise _invalid(text, f"contains {what}")


def _diagnose(text: str) -> str:
    """Say what is wrong with text that does not match the grammar (used for messages only)."""
    scheme, separator, _ = text.partition("://")
    if separator:
        return f"remove {scheme + separator!r}: a reference is {_FORMAT}, not a URL"
    if text.startswith("[") and "/" not in text:
        return "a registry alone is not a reference: add /repository after it"
    name_and_tag, at, after = text.partition("@")
    if at:
        if "@" in after:
            return "more than one '@': '@' comes once, before the digest"
        if ":" not in after:
            untagged = ":" not in name_and_tag.rpartition("/")[2]
            if TAG_PATTERN.match(after) and name_and_tag and untagged:
                return (
                    f"{quote(after)} after '@' looks like a tag: write tags after ':' "
                    f"({name_and_tag}:{after}); '@' is only for digests such as sha256:<64 hex>"
                )
            return f"{quote(after)} after '@' is not a digest such as sha256:<64 hex>"
        problem = digest_problem(after)
        if problem is not None:
            return problem
    last_slash = name_and_tag.rfind("/")
    colon = name_and_tag.find(":", last_slash + 1)
    name = name_and_tag if colon < 0 else name_and_tag[:colon]
    if colon >= 0 and not TAG_PATTERN.match(name_and_tag[colon + 1 :]):
        return f"invalid tag {quote(name_and_tag[colon + 1 :])}: {_TAG_RULE}"
    if not name:
        return f"the repository name is missing; expected {_FORMAT}"
    return f"invalid repository name {quote(name)}: {_NAME_RULE}"


def _invalid(text: str, detail: str) -> InvalidReference:
    return InvalidReference(f"{ERR_REFERENCE_INVALID_FORMAT}: {quote(text)}: {detail}")


def _join(name: str, tag: str | None, digest: str | None) -> str:
    # Go's String(): name[:tag][@digest]
    return (
        name + (f":{tag}" if tag is not None else "") + (f"@{digest}" if digest is not None else "")
    )


def _ascii_lower(text: str) -> str:
    # Go's strings.ToLower, on text the grammar can match (ASCII only); str.lower() would also map
    # characters such as 'İ' and the Kelvin sign.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
