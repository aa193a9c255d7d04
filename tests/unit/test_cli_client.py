"""The CLI client's pure parts: profiles (private file, environment override, key never shown),
output formats, the deploy phases read from the API's status and events, and API errors as one
line (through an in-process fake API on httpx's MockTransport)."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from imagedeploy.client import output, profiles, progress
from imagedeploy.client.api import ApiClient, ApiError, ClientError, Unreachable

pytestmark = pytest.mark.unit


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), **extra}


def test_a_saved_profile_is_private_and_the_environment_overrides_it(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    path = profiles.save_profile(env, "default", profiles.Profile("http://a", "rnd_secret"))
    assert path == tmp_path / "cfg" / "imagedeploy" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    profiles.save_profile(env, "prod", profiles.Profile("http://b", "rnd_other"))
    assert profiles.resolve(env, None) == profiles.Profile("http://a", "rnd_secret")
    assert profiles.resolve(env, "prod").url == "http://b"
    overridden = profiles.resolve({**env, "IMAGEDEPLOY_API_URL": "http://c"}, None)
    assert overridden == profiles.Profile("http://c", "rnd_secret")
    assert "rnd_secret" not in repr(overridden)


def test_xdg_default_and_clear_errors_when_not_logged_in(tmp_path: Path) -> None:
    assert profiles.config_path({"HOME": "/home/u"}) == Path(
        "/home/u/.config/imagedeploy/config.json"
    )
    with pytest.raises(ClientError, match="not logged in"):
        profiles.resolve(env_for(tmp_path), None)
    with pytest.raises(ClientError, match="no profile 'nope'"):
        profiles.resolve(env_for(tmp_path), "nope")
    only_env = env_for(tmp_path, IMAGEDEPLOY_API_URL="http://x", IMAGEDEPLOY_API_KEY="k")
    assert profiles.resolve(only_env, None) == profiles.Profile("http://x", "k")


ROWS = [{"id": "srv-1", "name": "web", "image": {"ref": "r:1"}}, {"id": "srv-22", "name": None}]


def render(fmt: str, data: Any, **kw: Any) -> str:
    out = io.StringIO()
    output.emit(out, fmt, data, **kw)
    return out.getvalue()


def test_text_is_an_aligned_table_and_json_yaml_carry_the_objects() -> None:
    text = render("text", ROWS, columns=[("ID", "id"), ("NAME", "name"), ("IMAGE", "image.ref")])
    assert text.splitlines() == [
        "ID      NAME  IMAGE",
        "srv-1   web   r:1",
        "srv-22  -     -",
    ]
    assert json.loads(render("json", ROWS)) == ROWS
    assert yaml.safe_load(render("yaml", ROWS)) == ROWS
    assert render("text", {"a": True, "long": [1]}) == "a     yes\nlong  [1]\n"
    assert render("text", []) == "(none)\n"


def deploy(status: str, sha: str | None = None) -> dict[str, Any]:
    return {"id": "dep-1", "status": status, "image": {"ref": "r", **({"sha": sha} if sha else {})}}


def event(type_: str, **details: Any) -> dict[str, Any]:
    return {"type": type_, "details": {"deployId": "dep-1", **details}}


@pytest.mark.parametrize(
    ("status", "sha", "events", "phase"),
    [
        ("created", None, [], "queued"),
        ("queued", None, [], "queued"),
        ("update_in_progress", None, [], "preflight"),
        ("update_in_progress", "sha256:a", [], "pulling"),
        ("pre_deploy_in_progress", "sha256:a", [], "pre-deploy"),
        ("update_in_progress", "sha256:a", [event("pre_deploy_ended")], "starting"),
        ("live", "sha256:a", [], "live"),
    ],
)
def test_phases_follow_the_status_the_digest_and_the_events(
    status: str, sha: str | None, events: list[dict[str, Any]], phase: str
) -> None:
    assert progress.phase_of(deploy(status, sha), events) == phase


def test_an_other_deploys_events_do_not_move_the_phase() -> None:
    other = {"type": "pre_deploy_ended", "details": {"deployId": "dep-2"}}
    assert progress.phase_of(deploy("update_in_progress", "sha256:a"), [other]) == "pulling"


def test_failure_lines_carry_the_classified_reason() -> None:
    pulled = event(
        "deploy_ended",
        reason={"imagePullFailed": {"reason": "platform_mismatch", "message": "arm64 only"}},
    )
    failed = deploy("update_failed")
    assert progress.failure_of(failed, [pulled]) == (
        "image pull failed (platform_mismatch): arm64 only"
    )
    exited = event("deploy_ended", reason={"failure": {"evicted": False, "nonZeroExit": 3}})
    assert progress.failure_of(deploy("pre_deploy_failed"), [exited]) == (
        "pre_deploy_failed: nonZeroExit=3"
    )
    assert progress.failure_of(deploy("canceled"), []) == "canceled"


def fake_api(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/services/srv-x":
        return httpx.Response(404, json={"id": "not_found", "message": "service srv-x not found"})
    if request.url.path == "/v1/html":
        return httpx.Response(502, text="<html>bad gateway</html>")
    return httpx.Response(200, json=[{"service": {"id": "srv-1"}, "cursor": "c1"}])


def test_api_errors_are_one_line_with_the_status_and_never_the_key() -> None:
    with ApiClient("http://api", "rnd_key", transport=httpx.MockTransport(fake_api)) as client:
        with pytest.raises(ApiError) as missing:
            client.get("/v1/services/srv-x")
        assert str(missing.value) == "HTTP 404 not_found: service srv-x not found"
        with pytest.raises(ApiError, match="HTTP 502 error: Bad Gateway"):
            client.get("/v1/html")
        assert client.items("/v1/services") == [{"id": "srv-1"}]


def test_an_unreachable_api_is_a_client_error() -> None:
    with ApiClient("http://127.0.0.1:9", "rnd_key") as client, pytest.raises(Unreachable) as exc:
        client.get("/v1/owners")
    assert "rnd_key" not in str(exc.value) and "127.0.0.1:9" in str(exc.value)
