"""The committed OpenAPI document (``reference/imagedeploy-openapi.json``) is the one the code
generates: a route, parameter or request model that changes without regenerating it fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import openapi

pytestmark = pytest.mark.unit


def test_committed_document_matches_the_code() -> None:
    diff = openapi.stale()
    assert diff is None, (
        f"{openapi.DOCUMENT.name} is out of date with the API code; run "
        f"`{openapi.COMMAND}` to update it and commit the result.\n{diff[:4000]}"
    )


def test_generation_is_deterministic() -> None:
    first, second = openapi.render(openapi.generate()), openapi.render(openapi.generate())
    assert first == second
    assert first.endswith("}\n")
    assert (
        first == json.dumps(json.loads(first), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )


def test_document_states_the_api_conventions() -> None:
    document = openapi.generate()
    assert document["info"]["title"] == "imagedeploy"
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, f"{method} {path}: the API answers 400, not 422"
            if path.startswith("/v1/"):
                assert responses["401"]["content"]["application/json"]["schema"] == error
                assert "security" not in operation  # the document-wide Bearer requirement
            else:
                assert operation["security"] == [], f"{method} {path} takes its own key"
            if "requestBody" in operation or operation.get("parameters"):
                assert responses["400"]["content"]["application/json"]["schema"] == error


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "imagedeploy-openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert openapi.main(["--check", "--output", str(stale)]) == 1
    assert openapi.COMMAND in capsys.readouterr().err
    assert openapi.main(["--output", str(stale)]) == 0
    assert openapi.main(["--check", "--output", str(stale)]) == 0
