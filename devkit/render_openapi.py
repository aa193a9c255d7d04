"""Render's own OpenAPI document as a test oracle: validate our responses (and request bodies)
against the exact operation schemas Render publishes.

    validate_response("GET", "/services/{serviceId}", 200, body)
    validate_request("POST", "/services", body)
    operation("GET", "/services")            # the raw operation object
    request_schema("POST", "/services")      # {"$ref": ...} to validate against
    validate_schema("registryCredential", body)   # a component schema, by name or pointer

Dialect. Render's document is OpenAPI 3.0.2; it is validated here with JSON Schema Draft 2020-12
plus the 3.0 differences that matter:

* ``nullable: true`` lets ``null`` through ``type`` and ``enum``;
* ``oneOf`` is checked as ``anyOf``. Render's unions carry no discriminator and its objects allow
  additional properties, so e.g. a web service's ``serviceDetails`` also satisfies
  ``privateServiceDetails``, and every event's ``details`` satisfies the empty "Server Available"
  branch: a literal ``oneOf`` rejects every real body. Strictness comes back through the
  *discriminators* below, which pin the one branch a body must satisfy;
* ``format: date-time`` is asserted (RFC 3339 with a time zone); other formats are annotations.

Discriminators added to the document (where Render's union is keyed by a sibling field):

* ``service.type`` selects ``serviceDetails`` (``web_service`` -> ``webServiceDetails``, ...);
* ``runtime`` ``image``/``docker`` selects ``dockerDetails`` for ``envSpecificDetails``;
* an event's ``type`` selects the ``details`` branch titled after it (``deploy_ended`` ->
  "Deploy Ended"), in ``serviceEventWithCursor`` and in ``GET /events/{eventId}``.

``additionalProperties`` stay allowed (Render allows them); required fields, types, enums and
patterns are checked. Every ``$ref`` resolves, including Render's refs into ``#/paths/...`` and
``#/components/parameters/...`` (percent-encoded pointers included).

The document is Render's own, committed at ``reference/render-openapi.json`` (``$RENDER_OPENAPI``
overrides it).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "document",
    "operation",
    "request_schema",
    "response_schema",
    "validate_request",
    "validate_response",
    "validate_schema",
]

DOCUMENT_URI = "urn:render:openapi"
_METHODS = frozenset({"get", "put", "post", "patch", "delete", "head", "options"})
_REPO_ROOT = Path(__file__).resolve().parents[1]
_CANDIDATES = (_REPO_ROOT / "reference" / "render-openapi.json",)

_SERVICE_DETAILS = {
    "static_site": "staticSiteDetails",
    "web_service": "webServiceDetails",
    "private_service": "privateServiceDetails",
    "background_worker": "backgroundWorkerDetails",
    "cron_job": "cronJobDetails",
}
_EVENT_OBJECT = "#/components/schemas/serviceEventWithCursor/properties/event"
_EVENT_DETAILS = f"{_EVENT_OBJECT}/properties/details"
_EVENT_TITLE_ALIASES = {"plan_changed": "instancetypechanged"}
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


# -- the document -------------------------------------------------------------------------


def _document_path() -> Path:
    override = os.environ.get("RENDER_OPENAPI")
    candidates = (Path(override),) if override else _CANDIDATES
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "Render's OpenAPI document was not found; looked at "
        + ", ".join(str(p) for p in candidates)
        + " (set RENDER_OPENAPI to its path)"
    )


@cache
def _raw_document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_document_path().read_text(encoding="utf-8"))
    return loaded


@cache
def document() -> dict[str, Any]:
    """Render's OpenAPI document with the discriminators added (a private copy: never mutate)."""
    doc = copy.deepcopy(_raw_document())
    _add_service_discriminators(doc)
    _add_event_discriminators(doc)
    return doc


def _resolve_pointer(doc: dict[str, Any], pointer: str) -> Any:
    node: Any = doc
    for raw in pointer.removeprefix("#/").split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _escape(segment: str) -> str:
    """One JSON-pointer segment, percent-encoded for use in a URI fragment."""
    return quote(segment.replace("~", "~0").replace("/", "~1"), safe="~")


def _add_rules(schema: dict[str, Any], rules: list[dict[str, Any]]) -> None:
    schema["allOf"] = [*schema.get("allOf", []), *rules]


def _when(field: str, values: list[str], then: dict[str, Any]) -> dict[str, Any]:
    return {
        "if": {"required": [field], "properties": {field: {"enum": values}}},
        "then": then,
    }


def _add_service_discriminators(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    _add_rules(
        schemas["service"],
        [
            _when(
                "type",
                [service_type],
                {"properties": {"serviceDetails": {"$ref": f"#/components/schemas/{name}"}}},
            )
            for service_type, name in _SERVICE_DETAILS.items()
        ],
    )
    docker_only = {
        "properties": {"envSpecificDetails": {"$ref": "#/components/schemas/dockerDetails"}}
    }
    for name in _SERVICE_DETAILS.values():
        if name != "staticSiteDetails":
            _add_rules(
                schemas[name],
                [
                    _when("runtime", ["image", "docker"], docker_only),
                    _when("env", ["image", "docker"], docker_only),
                ],
            )


def _normalized_title(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def _add_event_discriminators(doc: dict[str, Any]) -> None:
    branches = _resolve_pointer(doc, _EVENT_DETAILS)["oneOf"]
    by_title = {
        _normalized_title(branch["title"]): f"{_EVENT_DETAILS}/oneOf/{index}"
        for index, branch in enumerate(branches)
        if "title" in branch
    }
    event_types = _resolve_pointer(doc, _EVENT_OBJECT)["properties"]["type"]["$ref"]
    rules = []
    for event_type in _resolve_pointer(doc, event_types)["enum"]:
        key = _EVENT_TITLE_ALIASES.get(event_type, _normalized_title(event_type))
        if key in by_title:
            rules.append(
                _when("type", [event_type], {"properties": {"details": {"$ref": by_title[key]}}})
            )
    _add_rules(_resolve_pointer(doc, _EVENT_OBJECT), rules)
    retrieve = doc["paths"]["/events/{eventId}"]["get"]["responses"]["200"]
    _add_rules(retrieve["content"]["application/json"]["schema"], rules)


# -- the validator ------------------------------------------------------------------------


def _any_of(
    validator: Draft202012Validator, subschemas: list[Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """``oneOf`` checked as ``anyOf`` (see the module docstring)."""
    errors: list[ValidationError] = []
    for index, subschema in enumerate(subschemas):
        found = list(validator.descend(instance, subschema, schema_path=index))
        if not found:
            return
        errors.extend(found)
    yield ValidationError(
        f"{_short(instance)} matches none of the {len(subschemas)} alternatives", context=errors
    )


def _nullable(keyword: str) -> Any:
    base = Draft202012Validator.VALIDATORS[keyword]

    def check(
        validator: Validator, value: Any, instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if instance is None and schema.get("nullable") is True:
            return
        yield from base(validator, value, instance, schema)

    return check


_OpenApi30Validator = extend(  # type: ignore[no-untyped-call]  # unannotated in types-jsonschema
    Draft202012Validator,
    validators={"oneOf": _any_of, "type": _nullable("type"), "enum": _nullable("enum")},
)

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or _RFC3339.fullmatch(value) is not None


@cache
def _registry() -> Registry[Any]:
    resource = DRAFT202012.create_resource(document())
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
    return registry


@cache
def _validator(pointer: str) -> Validator:
    validator: Validator = _OpenApi30Validator(
        {"$ref": f"{DOCUMENT_URI}{pointer}"}, registry=_registry(), format_checker=_FORMATS
    )
    return validator


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(error: ValidationError, depth: int = 0) -> list[str]:
    rule = "/".join(str(part) for part in error.absolute_schema_path)
    lines = [f"{'  ' * depth}{error.json_path}: {error.message}  [rule: {rule}]"]
    if error.context and depth < 3:
        # the alternative that got furthest is the useful one
        best = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))
        lines.extend(_describe(best, depth + 1))
    return lines


def _check(pointer: str, instance: Any, what: str) -> None:
    try:
        instance = json.loads(json.dumps(instance, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what}: body is not plain JSON: {exc}") from None
    errors = sorted(_validator(pointer).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        details = "\n".join(line for error in errors for line in _describe(error))
        raise AssertionError(f"{what} does not match Render's schema {pointer}:\n{details}")


# -- operations ---------------------------------------------------------------------------


def _normalize_path(path_template: str) -> str:
    path = path_template.removeprefix("/v1")
    return path if path.startswith("/") else f"/{path}"


def _operation_pointer(method: str, path_template: str) -> str:
    path = _normalize_path(path_template)
    verb = method.lower()
    item = _raw_document()["paths"].get(path)
    if item is None:
        near = [p for p in _raw_document()["paths"] if p.split("/")[1:2] == path.split("/")[1:2]]
        raise AssertionError(f"Render documents no path {path!r}; paths nearby: {near}")
    if verb not in item:
        documented = sorted(m.upper() for m in item if m in _METHODS)
        raise AssertionError(f"Render documents no {method.upper()} {path}; only {documented}")
    return f"#/paths/{_escape(path)}/{verb}"


def operation(method: str, path_template: str) -> dict[str, Any]:
    """Render's operation object for ``METHOD /path/{template}`` (a leading /v1 is optional)."""
    op: dict[str, Any] = _resolve_pointer(document(), _operation_pointer(method, path_template))
    return op


def query_parameters(method: str, path_template: str) -> dict[str, dict[str, Any]]:
    """Render's query parameters of an operation by name (``$ref``s resolved)."""
    found: dict[str, dict[str, Any]] = {}
    for parameter in operation(method, path_template).get("parameters", []):
        if "$ref" in parameter:
            parameter = _resolve_pointer(document(), parameter["$ref"])
        if parameter["in"] == "query":
            found[parameter["name"]] = parameter
    return found


def _follow(node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
    while "$ref" in node:
        pointer = node["$ref"]
        node = _resolve_pointer(document(), pointer)
    return node, pointer


def response_schema(method: str, path_template: str, status: int) -> dict[str, Any] | None:
    """``{"$ref": ...}`` to the documented JSON body of that response, or None when Render
    documents the status without a body (e.g. 202, 204)."""
    op_pointer = _operation_pointer(method, path_template)
    responses = operation(method, path_template)["responses"]
    if str(status) not in responses:
        raise AssertionError(
            f"Render documents no {status} for {method.upper()} {_normalize_path(path_template)};"
            f" documented: {sorted(responses)}"
        )
    response, pointer = _follow(responses[str(status)], f"{op_pointer}/responses/{status}")
    if "application/json" not in response.get("content", {}):
        return None
    return {"$ref": f"{pointer}/content/application~1json/schema"}


def request_schema(method: str, path_template: str) -> dict[str, Any]:
    """``{"$ref": ...}`` to the documented JSON request body of the operation."""
    op_pointer = _operation_pointer(method, path_template)
    body = operation(method, path_template).get("requestBody")
    if body is None:
        raise AssertionError(
            f"Render documents no request body for {method.upper()} {path_template}"
        )
    body, pointer = _follow(body, f"{op_pointer}/requestBody")
    return {"$ref": f"{pointer}/content/application~1json/schema"}


def validate_response(method: str, path_template: str, status: int, body: Any) -> None:
    """Assert that ``body`` is what Render's ``METHOD path`` documents for ``status``.

    A status Render documents without a body requires an empty one (None, "" or b"").
    """
    what = f"{method.upper()} {_normalize_path(path_template)} {status}"
    schema = response_schema(method, path_template, status)
    if schema is None:
        if body not in (None, "", b""):
            raise AssertionError(f"{what}: Render documents no body, got {_short(body)}")
        return
    _check(schema["$ref"], body, what)


def validate_request(method: str, path_template: str, body: Any) -> None:
    """Assert that ``body`` is a request body Render's ``METHOD path`` documents."""
    what = f"request body of {method.upper()} {_normalize_path(path_template)}"
    _check(request_schema(method, path_template)["$ref"], body, what)


def validate_schema(name_or_pointer: str, instance: Any) -> None:
    """Assert that ``instance`` matches a component schema (``"deploy"``) or any pointer
    (``"#/components/schemas/deploy"``)."""
    pointer = (
        name_or_pointer
        if name_or_pointer.startswith("#")
        else f"#/components/schemas/{_escape(name_or_pointer)}"
    )
    _resolve_pointer(document(), pointer)  # KeyError early for a wrong name
    _check(pointer, instance, pointer)
