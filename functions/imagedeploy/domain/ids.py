"""Resource ids in Render's form: a prefix, a dash and 20 lowercase base32 characters (the
"extended hex" alphabet 0-9a-v, as Render's own ids use)."""

from __future__ import annotations

import base64
import re
import secrets

PREFIXES = {
    "service": "srv",
    "cron_job": "crn",
    "deploy": "dep",
    "event": "evt",
    "credential": "rgc",
    "owner": "tea",
    "webhook": "whk",
    "cron_run": "run",
    "api_key": "rnd",
    "webhook_event": "whe",
    "job": "job",
}
_ID = re.compile(r"(?P<prefix>[a-z]{3})-[0-9a-v]{20}", re.ASCII)


def new_id(prefix: str) -> str:
    """A fresh random id: 100 bits of entropy, 20 base32 characters."""
    body = base64.b32hexencode(secrets.token_bytes(13)).decode("ascii").lower()[:20]
    return f"{prefix}-{body}"


def is_id(text: str, *prefixes: str) -> bool:
    match = _ID.fullmatch(text)
    return match is not None and (not prefixes or match["prefix"] in prefixes)
