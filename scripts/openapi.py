"""imagedeploy's own OpenAPI document, generated from the code (docs/architecture.md §13).

    .venv/bin/python -m scripts.openapi           # (re)write reference/imagedeploy-openapi.json
    .venv/bin/python -m scripts.openapi --check   # exit 1 if the committed file is stale

The document is what powertools derives from the routes and request models of
``imagedeploy.api.app.build_resolver`` (``get_openapi_json_schema``), plus the API conventions
the routes do not declare themselves, taken from the code that implements them:

* authentication: ``/v1`` operations take ``Authorization: Bearer <api key>`` (the middleware in
  ``api.app``; an unauthenticated request is a 401); the deploy hook (outside ``/v1``)
  authenticates by its own key and declares no security;
* errors: a request that fails validation answers ``api.errors.VALIDATION_STATUS`` (400, as
  Render documents it) with the ``{"id", "message"}`` body of every error, not the 422
  ``HTTPValidationError`` powertools documents by default.

Output is deterministic: keys sorted, two-space indent, one trailing newline.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any, Final, cast

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from imagedeploy import __version__
from imagedeploy.api.app import build_resolver
from imagedeploy.api.deps import ApiDeps
from imagedeploy.api.errors import VALIDATION_STATUS
from imagedeploy.ports import Ports

DOCUMENT: Final = Path(__file__).resolve().parents[1] / "reference" / "imagedeploy-openapi.json"
COMMAND: Final = ".venv/bin/python -m scripts.openapi"
TITLE: Final = "imagedeploy"
DESCRIPTION: Final = (
    "Deploy prebuilt container images as services and cron jobs. Wire-compatible with Render's "
    "public API v1 for image-backed services (same paths, fields, enums, status codes, "
    'errors {"id", "message"} and cursor pagination), plus a few extensions.'
)
SECURITY_SCHEME: Final = "apiKey"
ERROR_SCHEMA: Final = "Error"
_POWERTOOLS_VALIDATION: Final = "422"
_METHODS: Final = ("get", "put", "post", "patch", "delete", "head", "options")


class _NoPorts:
    """Building the resolver registers routes; generating the document runs none of them."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the OpenAPI generator touched ports.{name}: a route ran")


def generate() -> dict[str, Any]:
    """The document, as plain JSON values."""
    resolver = build_resolver(ApiDeps(ports=cast("Ports", _NoPorts()), base_url="http://localhost"))
    raw = resolver.get_openapi_json_schema(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        security_schemes={
            SECURITY_SCHEME: HTTPBearer(description="An imagedeploy API key (Render: rnd_...)")
        },
        security=[{SECURITY_SCHEME: []}],
    )
    document: dict[str, Any] = json.loads(raw)
    _apply_api_conventions(document)
    return document


def _apply_api_conventions(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = {
        "type": "object",
        "title": ERROR_SCHEMA,
        "description": 'Every error: {"id": "<kind>", "message": "<what is wrong, how to fix it>"}',
        "properties": {"id": {"type": "string"}, "message": {"type": "string"}},
        "required": ["id", "message"],
        "additionalProperties": False,
    }
    error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if responses.pop(_POWERTOOLS_VALIDATION, None) is not None:
                responses[str(VALIDATION_STATUS)] = {
                    "description": "The request is not valid",
                    "content": error,
                }
            if path.startswith("/v1/"):
                responses["401"] = {"description": "No valid API key", "content": error}
            else:
                operation["security"] = []  # the deploy hook: its key is in the query
    _drop_unreferenced(
        document, ("HTTPValidationError", "ResponseValidationError", "ValidationError")
    )


def _drop_unreferenced(document: dict[str, Any], names: tuple[str, ...]) -> None:
    schemas = document["components"]["schemas"]
    for name in names:
        rest = {k: v for k, v in document.items() if k != "components"}
        others = {k: v for k, v in schemas.items() if k != name}
        if f'"#/components/schemas/{name}"' not in json.dumps([rest, others]):
            schemas.pop(name, None)


def render(document: dict[str, Any]) -> str:
    """The committed text: sorted keys, stable indentation, a trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale(path: Path = DOCUMENT) -> str | None:
    """None when ``path`` holds the document the code generates; else a unified diff."""
    expected = render(generate())
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    if current == expected:
        return None
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        expected.splitlines(keepends=True),
        fromfile=f"{path.name} (committed)",
        tofile=f"{path.name} (generated from the code)",
    )
    return "".join(diff) or f"{path} is missing"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the document is stale")
    parser.add_argument("--output", type=Path, default=DOCUMENT, help="where the document is")
    args = parser.parse_args(argv)
    if args.check:
        diff = stale(args.output)
        if diff is None:
            return 0
        sys.stderr.write(diff + f"\n{args.output} is stale: run {COMMAND} to update it\n")
        return 1
    args.output.write_text(render(generate()), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
