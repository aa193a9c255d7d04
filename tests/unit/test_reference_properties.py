"""Property tests: references built from the grammar round-trip; anything non-ASCII is refused."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from imagedeploy.domain.digest import validate_digest
from imagedeploy.domain.errors import InvalidReference
from imagedeploy.domain.reference import (
    ImageReference,
    parse_any_reference,
    parse_docker_ref,
    parse_reference,
    parse_unnormalized,
)

pytestmark = pytest.mark.unit

_LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
_WORD = _LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"

alphanumeric = st.text(_LOWER, min_size=1, max_size=6)
separator = st.sampled_from([".", "_", "__", "-", "---"])
path_component = st.builds(
    lambda first, rest: first + "".join(sep + part for sep, part in rest),
    alphanumeric,
    st.lists(st.tuples(separator, alphanumeric), max_size=2),
)
path = st.lists(path_component, min_size=1, max_size=3).map("/".join)
host_label = st.from_regex(r"\A[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?\Z")
domain = st.one_of(
    st.sampled_from(
        ["docker.io", "index.docker.io", "localhost", "ghcr.io", "Foo", "[::1]", "[fc00::1]:5000"]
    ),
    st.builds(
        lambda labels, port: ".".join(labels) + port,
        st.lists(host_label, min_size=2, max_size=3),
        st.sampled_from(["", ":5000", ":1"]),
    ),
    st.builds(lambda label, port: f"{label}:{port}", host_label, st.integers(0, 65535)),
)
tag = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(_WORD),
    st.text(_WORD + ".-", max_size=20),
)
digest = st.one_of(
    st.text("0123456789abcdef", min_size=64, max_size=64).map("sha256:{}".format),
    st.text("0123456789abcdef", min_size=128, max_size=128).map("sha512:{}".format),
)


@st.composite
def references(draw: st.DrawFn) -> str:
    text = draw(path)
    if draw(st.booleans()):
        text = f"{draw(domain)}/{text}"
    elif "/" in text and "." in text.partition("/")[0]:
        # A first component with "." is taken as a registry host, and "a_b.c" is not a valid one.
        text = f"docker.io/{text}"
    if draw(st.booleans()):
        text += f":{draw(tag)}"
    if draw(st.booleans()):
        text += f"@{draw(digest)}"
    return text


@given(references())
@example("alpine")
@example("docker.io/localhost/app")
def test_normalized_round_trips(text: str) -> None:
    ref = parse_reference(text)
    again = parse_reference(ref.normalized)
    # normalized adds ":latest" when neither tag nor digest was given.
    assert again == (ref if ref.tag or ref.digest else ref.with_tag("latest"))
    assert again.normalized == ref.normalized
    assert str(parse_docker_ref(text)) == str(parse_docker_ref(ref.normalized))


@given(references())
@example("docker.io/a.b/c")
@example("library/a/b")
def test_familiar_parses_back_to_the_same_reference(text: str) -> None:
    ref = parse_reference(text)
    assert parse_reference(ref.familiar) == ref


@given(references())
def test_grammar_built_references_parse_unnormalized(text: str) -> None:
    assert str(parse_unnormalized(text)) == text


_non_ascii = st.characters(min_codepoint=0x80)
_line_break = st.sampled_from(["\n", "\r", "\r\n"])


@given(st.one_of(references(), st.text()), st.one_of(_non_ascii, _line_break), st.data())
@example("alpine", "\n", None)
@example("alpine:latest", "\n", None)
def test_non_ascii_or_line_breaks_are_refused(
    text: str, bad: str, data: st.DataObject | None
) -> None:
    position = len(text) if data is None else data.draw(st.integers(0, len(text)))
    poisoned = text[:position] + bad + text[position:]
    for parse in (parse_reference, parse_docker_ref, parse_unnormalized, parse_any_reference):
        with pytest.raises(InvalidReference):
            parse(poisoned)
    with pytest.raises(InvalidReference):
        validate_digest(poisoned)


@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    # Go's FuzzParseNormalizedNamed: never anything but a clean refusal.
    try:
        ref: ImageReference | None = parse_reference(text)
    except InvalidReference:
        ref = None
    assert ref is None or text.isascii()
