"""Times as Render writes them: RFC 3339 in UTC with a ``Z`` (the API, webhook payloads, SNS
messages)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """``2024-05-01T12:00:00Z`` / ``2024-05-01T12:00:00.123456Z``. A naive datetime is taken
    as UTC (the Clock port promises aware UTC; this keeps a slip from becoming a 500)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"
