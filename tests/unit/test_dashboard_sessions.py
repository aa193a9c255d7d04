"""Dashboard sessions: sealed, so neither readable nor forgeable; refused once too old."""

from __future__ import annotations

import time

import pytest

from imagedeploy.dashboard.sessions import SessionSealer, csrf_matches, new_session

pytestmark = pytest.mark.unit


def test_a_sealed_session_hides_the_key_and_opens_only_unchanged() -> None:
    sealer = SessionSealer(b"secret one", 3600)
    session = new_session("rnd_the_key_itself", "tea-1")
    sealed = sealer.seal(session)
    assert "rnd_the_key_itself" not in sealed and "rnd_" not in repr(session)
    assert sealer.open(sealed) == session
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    assert sealer.open(tampered) is None
    assert SessionSealer(b"secret two", 3600).open(sealed) is None
    assert sealer.open("") is None and sealer.open("not a cookie") is None


def test_an_old_session_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    sealer = SessionSealer(b"secret", 60)
    sealed = sealer.seal(new_session("rnd_k", "tea-1"))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 61)
    assert sealer.open(sealed) is None


def test_csrf_tokens_must_match_exactly() -> None:
    session = new_session()
    assert csrf_matches(session, session.csrf)
    assert not csrf_matches(session, None)
    assert not csrf_matches(session, session.csrf + "x")
    assert new_session().csrf != session.csrf
