"""Every case of the Go test tables of distribution/reference and go-digest, run against our parser.

The tables live in ``reference_cases.py`` (which names the source files and commits). Where a Go
test calls a function we do not expose, the same behaviour is checked through our API: ``WithName``
through ``NAME_PATTERN`` and the path limit, ``Parse`` through ``parse_unnormalized``,
``FamiliarMatch`` through ``familiar`` and a small port of Go's ``path.Match`` below.
"""

from __future__ import annotations

import re

import pytest

from imagedeploy.domain.digest import ERR_DIGEST_INVALID_LENGTH, validate_digest
from imagedeploy.domain.errors import InvalidReference
from imagedeploy.domain.reference import (
    DOMAIN_PATTERN,
    ERR_REFERENCE_INVALID_FORMAT,
    ERR_TAG_INVALID_FORMAT,
    IDENTIFIER_PATTERN,
    NAME_PATTERN,
    REFERENCE_PATTERN,
    REPOSITORY_NAME_TOTAL_LENGTH_MAX,
    ImageReference,
    parse_any_reference,
    parse_docker_ref,
    parse_named,
    parse_reference,
    parse_unnormalized,
)
from tests.unit import reference_cases as cases

pytestmark = pytest.mark.unit

# Go error texts more specific than ErrReferenceInvalidFormat: a case that expects the generic error
# must not report one of these.
_SPECIFIC_ERRORS = (
    "must be lowercase",
    "must not be more than",
    "unsupported digest algorithm",
    "must be canonical",
    "cannot specify 64-byte",
)


def _refused(func: object, text: str) -> str:
    assert callable(func)
    with pytest.raises(InvalidReference) as caught:
        func(text)
    return caught.value.message


def _assert_go_error(message: str, go_error: str) -> None:
    assert message.startswith(f"{ERR_REFERENCE_INVALID_FORMAT}: ")
    assert go_error in message
    if go_error == ERR_REFERENCE_INVALID_FORMAT:
        assert not any(specific in message for specific in _SPECIFIC_ERRORS), message


def _go_string(ref: ImageReference) -> str:
    """Go's String() of a reference from ParseNormalizedNamed (no default tag)."""
    return ref.name + (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest else "")


def _ids(values: list[str]) -> list[str]:
    return [value[:60] for value in values]


# --- normalize_test.go ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", cases.VALIDATE_REFERENCE_NAME_VALID, ids=_ids(cases.VALIDATE_REFERENCE_NAME_VALID)
)
def test_validate_reference_name_valid(name: str) -> None:
    parse_reference(name)


@pytest.mark.parametrize(
    "name", cases.VALIDATE_REFERENCE_NAME_INVALID, ids=_ids(cases.VALIDATE_REFERENCE_NAME_INVALID)
)
def test_validate_reference_name_invalid(name: str) -> None:
    _refused(parse_reference, name)


@pytest.mark.parametrize(
    "name", cases.VALIDATE_REMOTE_NAME_VALID, ids=_ids(cases.VALIDATE_REMOTE_NAME_VALID)
)
def test_validate_remote_name_valid(name: str) -> None:
    parse_reference(name)


@pytest.mark.parametrize(
    "name", cases.VALIDATE_REMOTE_NAME_INVALID, ids=_ids(cases.VALIDATE_REMOTE_NAME_INVALID)
)
def test_validate_remote_name_invalid(name: str) -> None:
    _refused(parse_reference, name)


def _repository_info_inputs() -> list[tuple[str, cases.RepositoryInfoCase]]:
    inputs: list[tuple[str, cases.RepositoryInfoCase]] = []
    for case in cases.PARSE_REPOSITORY_INFO:
        names = [case.familiar_name, case.full_name]
        if case.ambiguous_name:
            names.append(case.ambiguous_name)
        inputs.extend((name, case) for name in names)
    return inputs


@pytest.mark.parametrize(("text", "case"), _repository_info_inputs())
def test_parse_repository_info(text: str, case: cases.RepositoryInfoCase) -> None:
    ref = parse_reference(text)
    assert ImageReference(ref.registry, ref.repository).familiar == case.familiar_name
    assert _go_string(ref) == case.full_name
    assert ref.registry == case.domain
    assert ref.repository == case.remote_name


def test_parse_reference_with_tag_and_digest() -> None:
    short = cases.TAG_AND_DIGEST_SHORT_REF
    ref = parse_reference(short)
    assert ref.normalized == f"docker.io/library/{short}"
    assert ref.tag is not None
    assert ref.digest is not None
    assert ref.familiar == short


def test_invalid_reference_components() -> None:
    components = cases.INVALID_REFERENCE_COMPONENTS
    _refused(parse_reference, components["name"])
    ref = parse_reference(components["base"])
    assert ERR_TAG_INVALID_FORMAT in _refused(ref.with_tag, components["tag"])
    _refused(ref.with_digest, components["digest"])


@pytest.mark.parametrize(
    "case", cases.PARSE_ANY_REFERENCE, ids=[c.reference[:60] for c in cases.PARSE_ANY_REFERENCE]
)
def test_parse_any_reference(case: cases.AnyReferenceCase) -> None:
    result = parse_any_reference(case.reference)
    if case.expected_digest is not None:
        assert result == case.expected_digest == case.equivalent
        return
    assert isinstance(result, ImageReference)
    assert _go_string(result) == case.equivalent
    expected = parse_unnormalized(case.equivalent)  # Go: Parse(tc.Equivalent), then compare
    assert (result.registry, result.repository, result.tag, result.digest) == (
        expected.domain,
        expected.path,
        expected.tag,
        expected.digest,
    )


@pytest.mark.parametrize(("text", "domain", "path"), cases.NORMALIZED_SPLIT_HOSTNAME)
def test_normalized_split_hostname(text: str, domain: str, path: str) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository) == (domain, path)


def _go_path_match(pattern: str, name: str) -> bool:
    """Go's path.Match, enough for these tables: '*', '?' and '[...]' never match '/'."""
    regex, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = pattern.find("]", i + 1)
            body = pattern[i + 1 : end]
            if end < 0 or not body or body.startswith("-") or body.endswith("-"):
                raise ValueError("syntax error in pattern")  # Go's ErrBadPattern
            regex += f"[{body}]"
            i = end
        else:
            regex += re.escape(char)
        i += 1
    return re.fullmatch(regex, name) is not None


def _familiar_match(pattern: str, ref: ImageReference | str) -> bool:
    # FamiliarMatch: the familiar string first, then the familiar name.
    if isinstance(ref, str):
        return _go_path_match(pattern, ref)
    name_only = ImageReference(ref.registry, ref.repository)
    return _go_path_match(pattern, ref.familiar) or _go_path_match(pattern, name_only.familiar)


def test_match_error() -> None:
    reference, pattern = cases.MATCH_ERROR
    ref = parse_any_reference(reference)
    with pytest.raises(ValueError, match="syntax error"):
        _familiar_match(pattern, ref)


@pytest.mark.parametrize(("reference", "pattern", "expected"), cases.MATCH)
def test_match(reference: str, pattern: str, expected: bool) -> None:
    assert _familiar_match(pattern, parse_any_reference(reference)) is expected


@pytest.mark.parametrize(("name", "text", "expected"), cases.PARSE_DOCKER_REF)
def test_parse_docker_ref(name: str, text: str, expected: str) -> None:
    ref = parse_docker_ref(text)
    assert str(ref) == expected, name
    parse_unnormalized(str(ref))  # the output is itself a valid reference


# --- reference_test.go ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", cases.REFERENCE_PARSE, ids=[c.input[:60] for c in cases.REFERENCE_PARSE]
)
def test_reference_parse(case: cases.ParseCase) -> None:
    if case.err is not None:
        _assert_go_error(_refused(parse_unnormalized, case.input), case.err)
        return
    parts = parse_unnormalized(case.input)
    assert str(parts) == case.input
    assert parts.name == case.repository
    assert parts.domain == case.domain
    assert parts.tag == case.tag
    assert parts.digest == case.digest


@pytest.mark.parametrize(("text", "go_error"), cases.WITH_NAME_FAILURE)
def test_with_name_failure(text: str, go_error: str) -> None:
    # WithName is the anchored name regexp, then the path limit.
    match = NAME_PATTERN.match(text)
    if go_error == ERR_REFERENCE_INVALID_FORMAT:
        assert match is None
    else:
        assert match is not None
        assert len(match.group(2)) > REPOSITORY_NAME_TOTAL_LENGTH_MAX


@pytest.mark.parametrize(("text", "domain", "path"), cases.DOMAIN_AND_PATH)
def test_domain_and_path(text: str, domain: str, path: str) -> None:
    match = NAME_PATTERN.match(text)
    assert match is not None
    assert (match.group(1) or "", match.group(2)) == (domain, path)


@pytest.mark.parametrize("case", cases.SERIALIZATION, ids=lambda c: c.description)
def test_serialization(case: cases.SerializationCase) -> None:
    if case.err is not None:
        _assert_go_error(_refused(parse_unnormalized, case.input), case.err)
        return
    parts = parse_unnormalized(case.input)
    assert (parts.name, parts.tag, parts.digest) == (case.name, case.tag, case.digest)
    assert str(parts) == case.input  # MarshalText gives back what was read


def _full_digest(digest: str) -> str:
    # Pad the table's 39-hex digest to a valid sha256 one, to check the composition itself.
    return digest + "0" * (len("sha256:") + 64 - len(digest))


@pytest.mark.parametrize("case", cases.WITH_TAG, ids=lambda c: c.combined[:60])
def test_with_tag(case: cases.CombineCase) -> None:
    assert case.tag is not None
    ref = parse_reference(case.name)
    if case.digest is None:
        assert ref.with_tag(case.tag).familiar == case.combined
        return
    # Deviation 4: go-digest refuses the table's 39-hex digest (Go's WithDigest only checks the
    # grammar), and with_tag drops a digest (Go's WithTag keeps it).
    assert ERR_DIGEST_INVALID_LENGTH in _refused(ref.with_digest, case.digest)
    pinned = ref.with_digest(_full_digest(case.digest))
    assert pinned.with_tag(case.tag).familiar == case.combined.partition("@")[0]


@pytest.mark.parametrize("case", cases.WITH_DIGEST, ids=lambda c: c.combined[:60])
def test_with_digest(case: cases.CombineCase) -> None:
    assert case.digest is not None
    ref = parse_reference(case.name)
    if case.tag is not None:
        ref = ref.with_tag(case.tag)
    # Deviation 4: the table's 39-hex digest is refused by go-digest's rules ...
    assert ERR_DIGEST_INVALID_LENGTH in _refused(ref.with_digest, case.digest)
    # ... and a valid one composes as Go's WithDigest does, keeping the tag.
    full = _full_digest(case.digest)
    assert ref.with_digest(full).familiar == case.combined.replace(case.digest, full)


@pytest.mark.parametrize(("text", "domain", "path", "go_error"), cases.PARSE_NAMED)
def test_parse_named(text: str, domain: str, path: str, go_error: str | None) -> None:
    if go_error is not None:
        _assert_go_error(_refused(parse_named, text), go_error)
        return
    ref = parse_named(text)
    assert (ref.registry, ref.repository) == (domain, path)


# --- regexp_test.go -------------------------------------------------------------------------------


def _check_regexp(pattern: re.Pattern[str], case: cases.RegexpMatch) -> None:
    match = pattern.match(case.input)
    assert (match is not None) is case.match
    if match is not None:
        assert match.group(0) == case.input
        # Go gives "" for a group that did not take part; Python gives None.
        assert tuple(group or "" for group in match.groups())[: len(case.subs)] == case.subs


@pytest.mark.parametrize(("text", "matches"), cases.DOMAIN_REGEXP)
def test_domain_regexp(text: str, matches: bool) -> None:
    assert (DOMAIN_PATTERN.match(text) is not None) is matches


def test_full_name_regexp_has_two_groups() -> None:
    assert NAME_PATTERN.groups == 2


@pytest.mark.parametrize("case", cases.FULL_NAME_REGEXP, ids=lambda c: c.input[:60])
def test_full_name_regexp(case: cases.RegexpMatch) -> None:
    _check_regexp(NAME_PATTERN, case)


def test_reference_regexp_has_three_groups() -> None:
    assert REFERENCE_PATTERN.groups == 3


@pytest.mark.parametrize("case", cases.REFERENCE_REGEXP, ids=lambda c: c.input[:60])
def test_reference_regexp(case: cases.RegexpMatch) -> None:
    _check_regexp(REFERENCE_PATTERN, case)


@pytest.mark.parametrize(("text", "matches"), cases.IDENTIFIER_REGEXP)
def test_identifier_regexp(text: str, matches: bool) -> None:
    assert (IDENTIFIER_PATTERN.match(text) is not None) is matches


# --- go-digest digest_test.go ---


@pytest.mark.parametrize("case", cases.PARSE_DIGEST, ids=lambda c: repr(c.input[:40]))
def test_parse_digest(case: cases.DigestCase) -> None:
    expected_error = case.err if case.ours == "same" else case.ours
    if expected_error is None:
        assert validate_digest(case.input) == case.input
        algorithm, _, encoded = case.input.partition(":")
        assert (algorithm, encoded) == (case.algorithm, case.encoded)
        return
    message = _refused(validate_digest, case.input)
    assert expected_error in message
