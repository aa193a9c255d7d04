"""Content digests validated the way go-digest v1.0.0 validates them (``digest.Parse``).

``Digest.Validate`` in github.com/opencontainers/go-digest: the text is ``<algorithm>:<encoded>``
with a non-empty algorithm and encoded part; an algorithm that is not registered is "unsupported"
when the text has the general digest shape and "invalid format" otherwise; a registered algorithm
needs its exact length ("invalid length") of *lowercase* hex characters ("invalid format").

We register sha256 (64) and sha512 (128) only: the algorithms the OCI image spec registers and
registries serve (go-digest also has sha384).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from imagedeploy.domain.errors import InvalidReference

# go-digest's error texts.
ERR_DIGEST_INVALID_FORMAT = "invalid checksum digest format"
ERR_DIGEST_INVALID_LENGTH = "invalid checksum digest length"
ERR_DIGEST_UNSUPPORTED = "unsupported digest algorithm"

#: Registered algorithms and the length of their hex encoding.
SUPPORTED_ALGORITHMS: Mapping[str, int] = MappingProxyType({"sha256": 64, "sha512": 128})

# go-digest's DigestRegexpAnchored: the shape any digest has, whatever its algorithm. ``\A``/``\Z``
# and re.ASCII because Python's ``$`` also matches before a trailing newline and its classes are
# Unicode-aware by default; Go's are neither.
_ANY_DIGEST = re.compile(r"\A[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\Z", re.ASCII)

_ENCODED = {
    algorithm: re.compile(rf"\A[a-f0-9]{{{length}}}\Z", re.ASCII)
    for algorithm, length in SUPPORTED_ALGORITHMS.items()
}

_EXAMPLE = "e.g. sha256:<64 lowercase hex characters>"


def digest_problem(text: str) -> str | None:
    """Why go-digest would refuse ``text``, starting with its error text; None when it is valid."""
    separator = text.find(":")
    if separator <= 0 or separator + 1 == len(text):
        return f"{ERR_DIGEST_INVALID_FORMAT}: expected <algorithm>:<hex>, {_EXAMPLE}"
    algorithm, encoded = text[:separator], text[separator + 1 :]
    length = SUPPORTED_ALGORITHMS.get(algorithm)
    if length is None:
        if not _ANY_DIGEST.match(text):
            return f"{ERR_DIGEST_INVALID_FORMAT}: expected <algorithm>:<hex>, {_EXAMPLE}"
        supported = " or ".join(SUPPORTED_ALGORITHMS)
        return f"{ERR_DIGEST_UNSUPPORTED} {algorithm!r}: use {supported}"
    # Go's len() counts bytes: a non-ASCII character makes the length wrong, as it does in Go.
    if len(encoded.encode()) != length:
        return (
            f"{ERR_DIGEST_INVALID_LENGTH}: a {algorithm} digest is {length} lowercase hex "
            f"characters; this one has {len(encoded)}"
        )
    if _ENCODED[algorithm].match(encoded):
        return None
    if _ENCODED[algorithm].match(encoded.lower()):
        why = "uppercase hex; digests are lowercase"
    else:
        why = "characters other than 0-9 and a-f"
    return f"{ERR_DIGEST_INVALID_FORMAT}: this {algorithm} digest has {why}"


def validate_digest(text: str) -> str:
    """``text`` if it is a valid sha256/sha512 digest; else raise InvalidReference saying why."""
    problem = digest_problem(text)
    if problem is not None:
        raise InvalidReference(f"invalid digest {quote(text)}: {problem}")
    return text


def quote(text: str, limit: int = 100) -> str:
    """``text`` for an error message: quoted, escapes visible (a newline shows as \\n), bounded."""
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} characters)"
    return repr(text)
