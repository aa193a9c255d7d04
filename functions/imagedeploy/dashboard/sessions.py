"""Dashboard sessions: the browser holds one cookie, sealed (encrypted and authenticated) with
a key derived from the server's session secret, so the API key inside it is never readable by
the browser, by a proxy, or in a log line.

A session is ``{"k": API key or None, "o": workspace id, "c": CSRF token}``. A visitor who has
not signed in gets an anonymous session (no key) so that even the sign-in form carries a CSRF
token. Fernet timestamps the sealed value: a session older than its lifetime is refused as if
absent, whatever the cookie's own expiry says.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE = "imagedeploy_session"
_INFO = b"imagedeploy dashboard session v1"


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    api_key: str | None = None
    owner_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.api_key is not None

    def __repr__(self) -> str:  # never the key
        return f"Session(signed_in={self.signed_in}, owner_id={self.owner_id!r})"


def new_session(api_key: str | None = None, owner_id: str | None = None) -> Session:
    return Session(csrf=secrets.token_urlsafe(24), api_key=api_key, owner_id=owner_id)


class SessionSealer:
    """Seals sessions into cookie values and opens them again."""

    def __init__(self, secret: bytes, lifetime_seconds: int) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self.lifetime_seconds = lifetime_seconds

    def __repr__(self) -> str:
        return f"SessionSealer(lifetime_seconds={self.lifetime_seconds})"

    def seal(self, session: Session) -> str:
        plain = {"c": session.csrf, "k": session.api_key, "o": session.owner_id}
        return self._fernet.encrypt(json.dumps(plain).encode()).decode("ascii")

    def open(self, value: str | None) -> Session | None:
        """The session in a cookie value; None when absent, tampered with or expired."""
        if not value:
            return None
        try:
            plain = json.loads(
                self._fernet.decrypt(value.encode("ascii"), ttl=self.lifetime_seconds)
            )
        except (InvalidToken, UnicodeEncodeError, ValueError):
            return None
        if not isinstance(plain, dict) or not isinstance(plain.get("c"), str):
            return None
        key, owner = plain.get("k"), plain.get("o")
        return Session(
            csrf=plain["c"],
            api_key=key if isinstance(key, str) else None,
            owner_id=owner if isinstance(owner, str) else None,
        )


def csrf_matches(session: Session, submitted: str | None) -> bool:
    return submitted is not None and secrets.compare_digest(session.csrf, submitted)
