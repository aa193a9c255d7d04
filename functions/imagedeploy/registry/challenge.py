"""``WWW-Authenticate`` parsing (RFC 9110 §11.6.1): several challenges in one header, parameters
whose quoted values contain commas, escaped quotes, and case-insensitive schemes and keys."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_TOKEN68_CHARS = _TOKEN_CHARS | frozenset("/=")
_TOKEN68_TAIL = re.compile(r"=+[ \t]*(?:,|\Z)")


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lowercased: "bearer", "basic", ...
    params: Mapping[str, str] = field(default_factory=dict)  # keys lowercased

    def get(self, key: str) -> str | None:
        return self.params.get(key)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def skip_separators(self) -> None:
        while self.peek() in (" ", "\t", ","):
            self.pos += 1

    def read(self, chars: frozenset[str]) -> str:
        start = self.pos
        while self.peek() and self.peek() in chars:
            self.pos += 1
        return self.text[start : self.pos]

    def read_quoted(self) -> str:
        """A quoted-string starting at the current ``"``; unterminated ones run to the end."""
        self.pos += 1
        out: list[str] = []
        while (ch := self.peek()) and ch != '"':
            if ch == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
                ch = self.text[self.pos]
            out.append(ch)
            self.pos += 1
        self.pos += 1  # closing quote (or past the end)
        return "".join(out)


def parse_challenges(headers: str | Iterable[str]) -> list[Challenge]:
    """All challenges in one or more ``WWW-Authenticate`` header values, in order.

    Malformed parts are skipped rather than raised: a registry's odd header must not stop us from
    using the challenges we can read.
    """
    values = [headers] if isinstance(headers, str) else list(headers)
    challenges: list[Challenge] = []
    for value in values:
        challenges.extend(_parse_one_header(value))
    return challenges


def _parse_one_header(value: str) -> list[Challenge]:
    s = _Scanner(value)
    out: list[Challenge] = []
    while True:
        s.skip_separators()
        scheme = s.read(_TOKEN_CHARS)
        if not scheme:
            if not s.peek():
                return out
            s.pos += 1  # skip a stray character and resynchronise
            continue
        params: dict[str, str] = {}
        s.skip_spaces()
        while True:
            mark = s.pos
            key = s.read(_TOKEN_CHARS)
            s.skip_spaces()
            if key and not params and _TOKEN68_TAIL.match(s.text, s.pos):
                s.pos = mark  # "Negotiate abc==": a token68, which registries never need
                s.read(_TOKEN68_CHARS)
                break
            if not key or s.peek() != "=":
                # Not a parameter: a token68 after the scheme, or the start of the next challenge.
                s.pos = mark
                if not params and s.read(_TOKEN68_CHARS) and s.peek() in ("", ",", " "):
                    s.skip_spaces()
                else:
                    s.pos = mark
                break
            s.pos += 1
            s.skip_spaces()
            val = s.read_quoted() if s.peek() == '"' else s.read(_TOKEN_CHARS)
            params.setdefault(key.lower(), val)
            s.skip_spaces()
            if s.peek() != ",":
                break
            s.pos += 1
            s.skip_separators()
        out.append(Challenge(scheme.lower(), params))
