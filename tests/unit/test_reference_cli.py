"""``imagedeploy image parse``: every table input through the CLI, one JSON line each."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from imagedeploy.cli.main import main
from tests.unit import reference_cases as cases

pytestmark = pytest.mark.unit

_ALL_KEYS = {"input", "registry", "repository", "tag", "digest", "normalized", "familiar"}


def _expectations() -> list[tuple[str, dict[str, Any] | None]]:
    """(input, expected fields, or None for a refusal) from every table whose Go function is
    ParseNormalizedNamed (or builds on it), plus our edge cases."""
    rows: list[tuple[str, dict[str, Any] | None]] = []
    rows += [(name, {}) for name in cases.VALIDATE_REFERENCE_NAME_VALID]
    rows += [(name, None) for name in cases.VALIDATE_REFERENCE_NAME_INVALID]
    rows += [(name, {}) for name in cases.VALIDATE_REMOTE_NAME_VALID]
    rows += [(name, None) for name in cases.VALIDATE_REMOTE_NAME_INVALID]
    for info in cases.PARSE_REPOSITORY_INFO:
        expected = {
            "registry": info.domain,
            "repository": info.remote_name,
            "tag": None,
            "digest": None,
            "normalized": f"{info.full_name}:latest",
            "familiar": info.familiar_name,
        }
        names = [info.familiar_name, info.full_name, info.ambiguous_name]
        rows += [(name, expected) for name in names if name]
    short = cases.TAG_AND_DIGEST_SHORT_REF
    rows.append((short, {"normalized": f"docker.io/library/{short}", "familiar": short}))
    rows.append((cases.INVALID_REFERENCE_COMPONENTS["name"], None))
    for any_case in cases.PARSE_ANY_REFERENCE:
        if any_case.expected_digest is None:  # a bare digest is not a name: parse refuses it
            equivalent = any_case.equivalent
            has_version = ":" in equivalent.rpartition("/")[2] or "@" in equivalent
            normalized = equivalent if has_version else f"{equivalent}:latest"
            rows.append((any_case.reference, {"normalized": normalized}))
        elif ":" in any_case.reference:
            # Only ParseAnyReference reads "sha256:<hex>" as a digest; as a name, Go reads the
            # image "sha256" at a 64-character tag.
            algorithm, _, encoded = any_case.reference.partition(":")
            rows.append(
                (any_case.reference, {"repository": f"library/{algorithm}", "tag": encoded})
            )
        else:
            rows.append((any_case.reference, None))  # a bare 64-hex id
    for text, domain, path in cases.NORMALIZED_SPLIT_HOSTNAME:
        rows.append((text, {"registry": domain, "repository": path}))
    for _, text, expected_ref in cases.PARSE_DOCKER_REF:
        # ParseDockerRef adds ":latest" as normalized does; with a digest it drops the tag.
        name, _, digest = expected_ref.partition("@")
        if digest:
            registry, _, repository = name.partition("/")
            rows.append((text, {"registry": registry, "repository": repository, "digest": digest}))
        else:
            rows.append((text, {"normalized": expected_ref}))
    for text, domain, path, go_error in cases.PARSE_NAMED:
        rows.append((text, {} if go_error else {"registry": domain, "repository": path}))
    for edge in cases.EDGE_CASES:
        rows.append((edge.input, edge.fields if edge.fields is not None else None))
    return rows


def _check_line(line: dict[str, Any], text: str, expected: dict[str, Any] | None) -> None:
    assert line["input"] == text
    if expected is None:
        assert set(line) == {"input", "error"}
        assert line["error"].startswith("invalid reference format: ")
        return
    assert set(line) == _ALL_KEYS, line
    for key, value in expected.items():
        if value is not None or key in {"tag", "digest"}:
            assert line[key] == value, (text, key)


def test_every_table_input_through_the_cli() -> None:
    rows = _expectations()
    out = io.StringIO()
    # "--": several inputs start with "-"; they are references, not options.
    status = main(["image", "parse", "--", *(text for text, _ in rows)], stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == len(rows)
    for line, (text, expected) in zip(lines, rows, strict=True):
        _check_line(line, text, expected)
    assert status == 2  # some failed


def test_exit_status_is_zero_when_all_parse() -> None:
    out = io.StringIO()
    valid = cases.VALIDATE_REFERENCE_NAME_VALID + cases.VALIDATE_REMOTE_NAME_VALID
    assert main(["image", "parse", *valid], stdout=out) == 0
    assert all("error" not in json.loads(line) for line in out.getvalue().splitlines())


def test_stdin() -> None:
    out = io.StringIO()
    stdin = io.StringIO("alpine\r\nnginx@1.24\nghcr.io/o/app:1\n")
    status = main(["image", "parse", "--stdin"], stdin=stdin, stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert status == 2
    assert [line["input"] for line in lines] == ["alpine", "nginx@1.24", "ghcr.io/o/app:1"]
    assert lines[0]["normalized"] == "docker.io/library/alpine:latest"
    assert "looks like a tag" in lines[1]["error"]
    assert lines[2] == {
        "input": "ghcr.io/o/app:1",
        "registry": "ghcr.io",
        "repository": "o/app",
        "tag": "1",
        "digest": None,
        "normalized": "ghcr.io/o/app:1",
        "familiar": "ghcr.io/o/app:1",
    }
