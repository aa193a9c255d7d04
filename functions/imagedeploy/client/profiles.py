"""Where the CLI finds its API: ``IMAGEDEPLOY_API_URL`` / ``IMAGEDEPLOY_API_KEY`` first, then the
chosen profile of ``$XDG_CONFIG_HOME/imagedeploy/config.json`` (0600; written by ``login``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from imagedeploy.client.api import ClientError

DEFAULT_PROFILE = "default"


@dataclass(frozen=True, slots=True)
class Profile:
    url: str
    api_key: str

    def __repr__(self) -> str:  # never the key
        return f"Profile(url={self.url!r})"


def config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "imagedeploy" / "config.json"


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read {path}: {exc}; fix or delete it and log in again") from None
    profiles = data.get("profiles") if isinstance(data, dict) else None
    return profiles if isinstance(profiles, dict) else {}


def save_profile(environ: Mapping[str, str], name: str, profile: Profile) -> Path:
    """Store ``profile`` as ``name``; the file is created 0600 (it holds API keys)."""
    path = config_path(environ)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    profiles = _read(path)
    profiles[name] = {"url": profile.url, "apiKey": profile.api_key}
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"profiles": profiles}, out, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def resolve(environ: Mapping[str, str], name: str | None) -> Profile:
    """The API to talk to: the environment overrides the profile field by field."""
    chosen = name or environ.get("IMAGEDEPLOY_PROFILE") or DEFAULT_PROFILE
    stored = _read(config_path(environ)).get(chosen, {})
    if name and not stored and not environ.get("IMAGEDEPLOY_API_URL"):
        raise ClientError(
            f"no profile {name!r}: run `imagedeploy login --profile {name} --url URL`"
        )
    url = environ.get("IMAGEDEPLOY_API_URL") or stored.get("url")
    key = environ.get("IMAGEDEPLOY_API_KEY") or stored.get("apiKey")
    if not url or not key:
        raise ClientError(
            "not logged in: run `imagedeploy login --url URL` "
            "or set IMAGEDEPLOY_API_URL and IMAGEDEPLOY_API_KEY"
        )
    return Profile(url, key)
