"""``imagedeploy serve``'s data directory, end to end with the real process: private modes after
a real deploy with pre-deploy output, no secret in clear in the database files, refusal of loose
modes, of a second ``serve`` and of a read-only or full disk, and 503s (not 500s) when the disk
fails while serving. The storage failures use a real ext4 filesystem on a loop device."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from devkit.images import StandardImages
from devkit.mounts import fail_read_only, fill, loop_ext4
from devkit.registry import RunningRegistry
from devkit.serve import IMAGEDEPLOY, ServeProcess, refused_serve, running_platform, running_serve
from imagedeploy.embedded import build
from imagedeploy.settings import Settings

pytestmark = pytest.mark.e2e

ENV_SECRET = "env-S3cr3t-7b2e-must-never-be-on-disk-in-clear"


def _modes(data: Path) -> dict[str, int]:
    return {
        str(path.relative_to(data)) or ".": stat.S_IMODE(path.lstat().st_mode)
        for path in (data, *data.rglob("*"))
    }


def _database_bytes(data: Path) -> bytes:
    return b"".join(
        path.read_bytes()
        for path in (data / "state.db", data / "state.db-wal", data / "state.db-shm")
        if path.exists()
    )


def test_a_served_data_dir_is_private_and_keeps_secrets_sealed(
    tmp_path: Path, anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    data = tmp_path / "data"
    with running_platform(data) as platform:
        serve, http, owner_id = platform.serve, platform.http, platform.owner_id
        created = platform.create_service(
            "web_service",
            "private-data",
            test_images.demo.web_v1.ref_on(anon_registry.host),
            preDeployCommand="/bin/sh -c 'echo migrated'",
        )
        service_id, deploy_id = created["service"]["id"], created["deployId"]
        assert platform.wait_deploy(service_id, deploy_id) == "live"
        put = http.put(
            f"/v1/services/{service_id}/env-vars/DB_PASSWORD", json={"value": ENV_SECRET}
        )
        assert put.status_code == 200, put.text
        hook = http.post(
            "/v1/webhooks",
            json={
                "ownerId": owner_id,
                "name": "sealed",
                "url": "https://hooks.example.com/sealed",
                "enabled": False,
                "eventFilter": [],
            },
        )
        assert hook.status_code == 201, hook.text
        hook_secret = hook.json()["secret"]
        new_key = http.post("/v1/api-keys", json={"name": "ci"}).json()["key"]

        assert "migrated" in (data / "logs" / f"{deploy_id}.log").read_text()
        modes = _modes(data)
        loose = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
        assert not loose, loose
        assert all(mode == 0o700 for name, mode in modes.items() if (data / name).is_dir())
        assert {"state.db", "state.db-wal", "secret.key", "serve.lock"} <= set(modes)

        database = _database_bytes(data)
        assert service_id.encode() in database  # the search does look at the rows
        for secret in (ENV_SECRET, hook_secret, serve.api_key, new_key):
            assert secret.encode() not in database
        everything = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
        assert ENV_SECRET.encode() not in everything and hook_secret.encode() not in everything
        serve.stop()

        # a looser mode (an operator's chmod, a restore from backup) is refused with the fix
        (data / "state.db").chmod(0o644)
        refused = refused_serve(data)
        assert refused.returncode != 0
        assert f"`chmod -R go-rwx {data}`" in refused.stderr
        assert str(data / "state.db") in refused.stderr
        subprocess.run(["chmod", "-R", "go-rwx", str(data)], check=True)
        platform.restart()
        env_var = platform.http.get(f"/v1/services/{service_id}/env-vars/DB_PASSWORD").json()
        assert env_var == {"key": "DB_PASSWORD", "value": ENV_SECRET}  # unsealed again


def test_a_second_serve_on_the_same_data_dir_is_refused_naming_the_first(tmp_path: Path) -> None:
    with running_serve(tmp_path / "data") as serve:
        refused = refused_serve(tmp_path / "data")
        assert refused.returncode != 0
        assert f"another imagedeploy serve (PID {serve.process.pid})" in refused.stderr
        with serve.client() as client:
            assert client.get("/v1/owners").status_code == 200  # the first one is unharmed
    ServeProcess.start(tmp_path / "data", api_key=serve.api_key).stop()  # free once it stopped


def test_keys_made_on_the_command_line_work_on_the_running_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_serve(data) as serve:
        created = _keys(data, "create", "--name", "from the cli")
        secret = created.split("only its hash is stored): ")[1].strip()
        key_id = created.split()[3]
        with httpx.Client(base_url=serve.url, headers={"Authorization": f"Bearer {secret}"}) as c:
            assert c.get("/v1/owners").status_code == 200
            listed = [item["apiKey"] for item in c.get("/v1/api-keys").json()]
            assert [k["name"] for k in listed] == ["first key", "from the cli"]
            assert listed[1]["lastUsedAt"] is not None  # this very request's key
            assert "revoked" in _keys(data, "revoke", key_id)
            assert c.get("/v1/owners").status_code == 401
        listing = _keys(data, "list")
        assert "first key" in listing and "from the cli" not in listing


def _keys(data: Path, *args: str) -> str:
    done = subprocess.run(
        [IMAGEDEPLOY, "keys", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def _assert_storage_unavailable(reply: httpx.Response, words: str) -> None:
    assert reply.status_code == 503, reply.text
    body = reply.json()
    assert body["id"] == "storage_unavailable"
    assert words in body["message"]
    assert int(reply.headers["Retry-After"]) > 0


def test_a_disk_turning_read_only_answers_503_and_serve_then_refuses_to_start(
    tmp_path: Path,
) -> None:
    with loop_ext4(tmp_path) as disk:
        data = disk / "data"
        with running_serve(data) as serve, serve.client() as client:
            assert client.post("/v1/api-keys", json={"name": "before"}).status_code == 201
            fail_read_only(disk)
            _assert_storage_unavailable(
                client.post("/v1/api-keys", json={"name": "after"}), "read-only"
            )
            assert client.get("/v1/owners").status_code == 200  # reads still answer
        refused = refused_serve(data)
        assert refused.returncode != 0
        assert f"the data directory {data} is not writable" in refused.stderr


def test_a_full_disk_answers_503_and_serve_then_refuses_to_start(tmp_path: Path) -> None:
    with loop_ext4(tmp_path) as disk:
        data = disk / "data"
        with running_serve(data) as serve, serve.client() as client:
            filler = fill(disk)
            replies = [
                client.post("/v1/api-keys", json={"name": f"key {i} " + "x" * 90})
                for i in range(200)
            ]
            statuses = {r.status_code for r in replies}
            assert statuses <= {201, 503}, statuses  # never a 500
            _assert_storage_unavailable(next(r for r in replies if r.status_code == 503), "full")
            assert client.get("/v1/owners").status_code == 200
        refused = refused_serve(data)
        assert refused.returncode != 0
        assert f"the filesystem of the data directory {data} is full" in refused.stderr
        filler.unlink()
        ServeProcess.start(data, api_key=serve.api_key).stop()  # room again: it starts


def test_a_disk_that_fills_while_serve_resumes_fails_requests_not_the_resume(
    tmp_path: Path, engine_socket: str
) -> None:
    """The URL is out before the resume (issue 13): a disk that fills in between must not take
    ``serve`` down (it did: the runtime made its ``logs/`` directory in the resume)."""
    with loop_ext4(tmp_path) as disk:
        data = disk / "data"
        data.mkdir(mode=0o700)
        platform = build(Settings(container_engine_socket=engine_socket), data, port=0)
        try:
            platform.serve_api()
            assert platform.api_key is not None
            filler = fill(disk)
            platform.resume()
            headers = {"Authorization": f"Bearer {platform.api_key}"}
            with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30) as client:
                replies = [
                    client.post("/v1/api-keys", json={"name": f"key {i} " + "x" * 90})
                    for i in range(200)
                ]
                assert {r.status_code for r in replies} <= {201, 503}
                _assert_storage_unavailable(
                    next(r for r in replies if r.status_code == 503), "full"
                )
                assert client.get("/v1/owners").status_code == 200
        finally:
            platform.stop()
        filler.unlink()
