"""Render command results as ``text`` (aligned columns or ``key: value`` lines), ``json`` or
``yaml``. Text is for people; json and yaml carry the API's objects unchanged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

FORMATS = ("text", "json", "yaml")


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def pick(obj: Any, path: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; None where a step is missing."""
    for step in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(step)
    return obj


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """``columns`` is ``(heading, path)``; each column as wide as its widest cell."""
    grid = [[heading for heading, _ in columns]]
    grid += [[cell(pick(row, path)) for _, path in columns] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in grid
    )


def fields(obj: dict[str, Any]) -> str:
    width = max((len(k) for k in obj), default=0)
    return "\n".join(f"{key.ljust(width)}  {cell(value)}" for key, value in obj.items())


def emit(
    out: TextIO,
    fmt: str,
    data: Any,
    columns: Sequence[tuple[str, str]] | None = None,
    text: str | None = None,
) -> None:
    """Write ``data`` in ``fmt``. In text: ``text`` if given, else a table of ``columns`` (a
    list) or ``key  value`` lines (an object)."""
    if fmt == "json":
        out.write(json.dumps(data, indent=2) + "\n")
    elif fmt == "yaml":
        import yaml  # type: ignore[import-untyped]  # no stubs in the lock; not at serve's start

        out.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    elif text is not None:
        out.write(text + "\n")
    elif isinstance(data, list):
        out.write(table(data, columns or [("VALUE", "")]) + "\n" if data else "(none)\n")
    elif isinstance(data, dict):
        out.write(fields(data) + "\n")
    elif data is not None:
        out.write(cell(data) + "\n")
