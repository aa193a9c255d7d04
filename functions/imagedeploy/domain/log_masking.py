"""Which values a log line must never show, and masking them: decided once, for both homes.

Render has no "secret" flag on env vars, so the rule is by what a value is:

- the token of the registry credential the service pulls with;
- the value of an env var whose key names a secret (``SECRET``, ``TOKEN``, ``PASSWORD``,
  ``KEY``, ``CREDENTIAL``, ``AUTH``, ``PRIVATE``, ``DSN``, ...), at least 4 characters long;
- any other env value that looks generated: 16 characters or more, no whitespace, letters and
  digits mixed (``generateValue: true`` makes such values), or a URL with a password in it.

Short or plain values (``PORT=10000``, ``ENV=production``) are not masked: masking them would
hide ordinary words in every line. Every occurrence is replaced by ``MASK``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

MASK: Final = "********"
_SECRET_KEY: Final = re.compile(
    r"SECRET|TOKEN|PASSW|PWD|KEY|CREDENTIAL|AUTH|PRIVATE|DSN|SALT|CERT|SIGNATURE", re.I
)
_URL_PASSWORD: Final = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]*:[^/@\s]+@", re.I)
_PLATFORM_PREFIX: Final = "RENDER"  # values the platform injects (ids, ports): not secrets


def is_secret(key: str, value: str) -> bool:
    """Whether env var ``key=value`` is masked in logs (the module docstring's rule)."""
    if key.upper().startswith(_PLATFORM_PREFIX) or len(value) < 4:
        return False
    if _SECRET_KEY.search(key) or _URL_PASSWORD.match(value):
        return True
    return (
        len(value) >= 16
        and not any(c.isspace() for c in value)
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )


@dataclass(frozen=True, slots=True)
class Masker:
    """Replaces the secret values of one service in text."""

    pattern: re.Pattern[str] | None

    def mask(self, text: str) -> str:
        return text if self.pattern is None else self.pattern.sub(MASK, text)


NO_MASK: Final = Masker(None)


def masker(env: Mapping[str, str], tokens: Iterable[str] = ()) -> Masker:
    """The masker for a service with ``env`` and registry ``tokens``."""
    values = {v for k, v in env.items() if is_secret(k, v)}
    values.update(t for t in tokens if len(t) >= 4)
    if not values:
        return NO_MASK
    # longest first: a secret containing another is masked whole
    alternatives = sorted(values, key=len, reverse=True)
    return Masker(re.compile("|".join(re.escape(v) for v in alternatives)))
