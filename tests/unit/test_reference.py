"""ImageReference's API, edge cases beyond the Go tables, and each deliberate deviation from Go."""

from __future__ import annotations

import dataclasses
import time

import pytest

from imagedeploy.domain.digest import ERR_DIGEST_UNSUPPORTED, validate_digest
from imagedeploy.domain.errors import InvalidInput, InvalidReference
from imagedeploy.domain.reference import (
    DIGEST_PATTERN,
    ERR_REFERENCE_INVALID_FORMAT,
    ERR_TAG_INVALID_FORMAT,
    REFERENCE_PATTERN,
    TAG_PATTERN,
    ImageReference,
    parse_any_reference,
    parse_docker_ref,
    parse_reference,
    parse_unnormalized,
)
from tests.unit.reference_cases import EDGE_CASES, EdgeCase

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "0123456789abcdef" * 4
OTHER_DIGEST = "sha256:" + "f" * 64
SHA512 = "sha512:" + "ab" * 64


@pytest.mark.parametrize("case", EDGE_CASES, ids=lambda c: repr(c.input[:50]))
def test_edge_case(case: EdgeCase) -> None:
    if case.fields is None:
        with pytest.raises(InvalidReference) as caught:
            parse_reference(case.input)
        message = caught.value.message
        assert message.startswith(f"{ERR_REFERENCE_INVALID_FORMAT}: ")
        for expected in case.error:
            assert expected in message
        return
    ref = parse_reference(case.input)
    for field, expected_value in case.fields.items():
        assert getattr(ref, field) == expected_value, field


def test_grammar_boundaries() -> None:
    assert TAG_PATTERN.match("a" * 128)
    assert not TAG_PATTERN.match("a" * 129)
    # The grammar takes 32+ hex digits of either case; go-digest then checks the exact form.
    assert DIGEST_PATTERN.match("sha256:" + "F" * 32)
    assert not DIGEST_PATTERN.match("sha256:" + "f" * 31)
    assert DIGEST_PATTERN.match("a.b+c_d-e:" + "f" * 200)
    assert not REFERENCE_PATTERN.match("alpine\n")
    assert not TAG_PATTERN.match("\u0661")  # ARABIC-INDIC DIGIT ONE: a Unicode \w, not an ASCII one


@pytest.mark.parametrize(
    "text",
    [
        "b" * 100_000 + "!",
        "b-" * 50_000 + "!",
        "b." * 50_000 + "/",
        "b/" * 50_000 + "B",
        "b__b" * 25_000 + "_",
        "Ab-" * 30_000 + ":/x",
        "b@sha256:" + "f" * 100_000 + "g",
    ],
    ids=lambda text: text[:8],
)
def test_long_hostile_input_is_refused_quickly(text: str) -> None:
    # Backtracking can take exponential time (Go's old separator "[-]*" would); ours is linear.
    started = time.perf_counter()
    with pytest.raises(InvalidReference):
        parse_reference(text)
    assert time.perf_counter() - started < 2


def test_the_same_image_four_ways() -> None:
    refs = [
        parse_reference(text)
        for text in (
            "docker.io/library/alpine:latest",
            "docker.io/library/alpine",
            "library/alpine",
        )
    ]
    alpine = parse_reference("alpine")
    for ref in refs:
        assert ref.normalized == alpine.normalized == "docker.io/library/alpine:latest"
        assert ref.same_repository_as(alpine)
        assert ref.manifest_reference == "latest"
    assert alpine.tag is None  # as given: not defaulted
    assert alpine == parse_reference("docker.io/library/alpine")
    assert str(alpine) == alpine.normalized


def test_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        parse_reference("Nope")
    assert issubclass(InvalidReference, InvalidInput)


def test_tag_and_digest_together() -> None:
    ref = parse_reference(f"ghcr.io/o/app:1.2@{DIGEST}")
    assert (ref.tag, ref.digest) == ("1.2", DIGEST)
    assert ref.normalized == f"ghcr.io/o/app:1.2@{DIGEST}"
    assert ref.manifest_reference == DIGEST  # the digest is what is pulled
    pulled = parse_docker_ref(f"ghcr.io/o/app:1.2@{DIGEST}")
    assert (pulled.tag, pulled.digest, str(pulled)) == (None, DIGEST, f"ghcr.io/o/app@{DIGEST}")


def test_parse_docker_ref_applies_the_default_tag() -> None:
    ref = parse_docker_ref("busybox")
    assert ref.tag == "latest"
    assert parse_docker_ref(f"busybox@{DIGEST}").tag is None


def test_manifest_reference() -> None:
    assert parse_reference("alpine").manifest_reference == "latest"
    assert parse_reference("alpine:3.19").manifest_reference == "3.19"
    assert parse_reference(f"alpine@{DIGEST}").manifest_reference == DIGEST


def test_name_and_familiar() -> None:
    assert parse_reference("alpine:3.19").name == "docker.io/library/alpine"
    assert parse_reference("alpine:3.19").familiar == "alpine:3.19"
    assert parse_reference(f"user/app@{DIGEST}").familiar == f"user/app@{DIGEST}"
    assert parse_reference("localhost:5000/x:1").familiar == "localhost:5000/x:1"
    assert parse_reference("docker.io/library/a/b").familiar == "library/a/b"


def test_same_repository_as() -> None:
    service = parse_reference("ghcr.io/owner/app:1.0")
    assert service.same_repository_as(parse_reference(f"ghcr.io/owner/app@{DIGEST}"))
    assert service.same_repository_as(parse_reference("GHCR.io/owner/app:2"))  # hosts ignore case
    assert not service.same_repository_as(parse_reference("ghcr.io/owner/other:1.0"))
    assert not service.same_repository_as(parse_reference("docker.io/owner/app:1.0"))
    assert not service.same_repository_as(parse_reference("ghcr.io:443/owner/app:1.0"))
    assert parse_reference("nginx").same_repository_as(parse_reference("index.docker.io/nginx:1"))


def test_with_tag_replaces_the_tag_and_drops_the_digest() -> None:
    ref = parse_reference(f"ghcr.io/o/app:1@{DIGEST}")
    moved = ref.with_tag("2")
    assert (moved.tag, moved.digest) == ("2", None)
    assert moved.normalized == "ghcr.io/o/app:2"
    assert ref.tag == "1"  # immutable: the original is unchanged


@pytest.mark.parametrize("tag", ["", "-x", ".x", "a" * 129, "a b", "a\n", "é", "a/b", "a:b", "a@b"])
def test_with_tag_refuses_invalid_tags(tag: str) -> None:
    with pytest.raises(InvalidReference, match=ERR_TAG_INVALID_FORMAT):
        parse_reference("alpine").with_tag(tag)


def test_with_digest_keeps_the_tag() -> None:
    ref = parse_reference("ghcr.io/o/app:1").with_digest(DIGEST)
    assert (ref.tag, ref.digest) == ("1", DIGEST)
    assert ref.with_digest(SHA512).digest == SHA512
    assert parse_reference(f"alpine@{DIGEST}").with_digest(OTHER_DIGEST).digest == OTHER_DIGEST


@pytest.mark.parametrize(
    ("digest", "expected"),
    [
        ("sha256:" + "A" * 64, "uppercase"),
        ("sha256:" + "a" * 63, "invalid checksum digest length"),
        ("sha256:" + "a" * 128, "invalid checksum digest length"),
        ("sha512:" + "a" * 64, "invalid checksum digest length"),
        ("sha384:" + "a" * 96, ERR_DIGEST_UNSUPPORTED),
        ("md5:" + "a" * 32, ERR_DIGEST_UNSUPPORTED),
        ("sha256:" + "g" * 64, "other than 0-9 and a-f"),
        ("SHA256:" + "a" * 64, "invalid checksum digest format"),
        ("sha256" + "a" * 64, "invalid checksum digest format"),
        ("sha256:" + "a" * 64 + "\n", "invalid checksum digest length"),
        ("sha256:" + "a" * 63 + "é", "invalid checksum digest length"),  # Go counts bytes
        ("", "invalid checksum digest format"),
    ],
)
def test_invalid_digests(digest: str, expected: str) -> None:
    with pytest.raises(InvalidReference, match=expected):
        validate_digest(digest)
    with pytest.raises(InvalidReference, match=expected):
        parse_reference("alpine").with_digest(digest)


def test_valid_digests() -> None:
    assert validate_digest(DIGEST) == DIGEST
    assert validate_digest(SHA512) == SHA512


def test_value_semantics() -> None:
    ref = parse_reference("alpine:3.19")
    assert hash(ref) == hash(parse_reference("docker.io/library/alpine:3.19"))
    assert {ref, parse_reference("library/alpine:3.19")} == {ref}
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "3.20"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("registry", "repository", "tag", "digest"),
    [
        ("docker.io", "alpine", None, None),  # official images are library/<name>
        ("index.docker.io", "library/alpine", None, None),  # not normalized
        ("foo", "bar", None, None),  # would be read as a path component
        ("ghcr.io/", "o/app", None, None),
        ("ghcr.io", "O/app", None, None),
        ("ghcr.io", "o/app\n", None, None),
        ("ghcr.io", "o/" + "a" * 254, None, None),
        ("ghcr.io", "o/app", "-bad", None),
        ("ghcr.io", "o/app", None, "sha256:abc"),
        ("ghcr.io", "o/app", "", None),
    ],
)
def test_constructor_refuses_what_parsing_could_not_give(
    registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    with pytest.raises(InvalidReference):
        ImageReference(registry, repository, tag, digest)


def test_constructor_accepts_normalized_components() -> None:
    ref = ImageReference("Foo", "bar", "v1", DIGEST)
    assert parse_reference(ref.normalized) == ref


def test_parse_any_reference_digests() -> None:
    assert parse_any_reference("f" * 64) == "sha256:" + "f" * 64
    assert parse_any_reference(DIGEST) == DIGEST
    ref = parse_any_reference("alpine")
    assert isinstance(ref, ImageReference)


# --- deviations from Go, one test each (listed in the docstring of imagedeploy.domain.reference)


def test_deviation_1_unusable_characters_are_named_but_acceptance_is_unchanged() -> None:
    # Go refuses these too (its grammar is ASCII); we only say why more precisely.
    for text, expected in [("a$b", "'$'"), ("a b", "whitespace"), ("\u00e4", "U+00E4")]:
        with pytest.raises(InvalidReference) as caught:
            parse_unnormalized(text)
        assert expected in caught.value.message


def test_deviation_2_a_host_like_first_component_must_be_a_valid_host() -> None:
    assert parse_unnormalized("foo_bar.com/app").domain == ""  # Go's Parse: a plain path
    with pytest.raises(InvalidReference, match="not a valid host name"):
        parse_reference("foo_bar.com/app")


def test_deviation_3_only_sha256_and_sha512() -> None:
    with pytest.raises(InvalidReference, match=ERR_DIGEST_UNSUPPORTED):
        validate_digest("sha384:" + "a" * 96)


def test_deviation_5_familiar_keeps_docker_io_when_needed_to_parse_back() -> None:
    for text in ("docker.io/localhost/app", "docker.io/a.b/app", "docker.io/a.b/c:1"):
        ref = parse_reference(text)
        assert ref.familiar.startswith("docker.io/")
        assert parse_reference(ref.familiar) == ref
