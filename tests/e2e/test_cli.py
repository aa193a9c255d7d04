"""The ``imagedeploy`` client commands against a real ``serve`` running real containers: a user
logs in, verifies an image, creates a service and follows its deploy, deploys another tag,
rolls back, and sees failures as one line with their reason. ``--wait`` on a real terminal is
driven through tmux."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.cli import CliUser, TmuxTerminal
from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import ServeProcess, remove_containers, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def created() -> Iterator[set[str]]:
    services: set[str] = set()
    yield services
    remove_containers(services)


def test_login_stores_a_private_profile_and_refuses_a_wrong_key(
    user: CliUser, serve: ServeProcess
) -> None:
    config = user.home / ".config" / "imagedeploy" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    wrong = user.run("login", "--profile", "other", "--url", serve.url, stdin="rnd_wrong\n")
    assert wrong.returncode == 1
    assert "HTTP 401" in wrong.stderr and "rnd_wrong" not in wrong.stderr + wrong.stdout
    assert user.run("services", "list", "--profile", "other").returncode == 1
    # the environment overrides the profile
    env = {"IMAGEDEPLOY_API_URL": serve.url, "IMAGEDEPLOY_API_KEY": "rnd_nope"}
    refused = user.run("services", "list", env=env)
    assert refused.returncode == 1 and "HTTP 401" in refused.stderr


def test_a_service_goes_live_is_redeployed_and_rolled_back(
    user: CliUser,
    created: set[str],
    anon_registry: RunningRegistry,
    test_images: StandardImages,
) -> None:
    web_v1 = test_images.demo.web_v1.ref_on(anon_registry.host)
    web_v2 = test_images.demo.web_v2.ref_on(anon_registry.host)
    verified = user.json("images", "verify", web_v1)
    assert test_images.demo.web_v1.digest in str(verified)

    made = user.run(
        "services", "create", "--type", "web_service", "--name", "cli-web",
        "--image", web_v1, "--health-check-path", "/", "--wait",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    service_id = re.search(r"created (srv-\w+)", made.stdout)
    assert service_id, made.stdout
    sid = service_id.group(1)
    created.add(sid)
    lines = made.stdout.splitlines()
    assert lines[-1].endswith("is live") and any(line.endswith("  live") for line in lines)
    assert "?key=" not in made.stdout  # the hook's key is shown by `hook regenerate` only

    listed = user.json("services", "list")
    assert sid in [s["id"] for s in listed]
    table = user.ok("services", "list")
    assert "cli-web" in table and web_v1 in table
    assert user.json("services", "get", sid)["name"] == "cli-web"

    user.ok("env", "set", sid, "GREETING=hello", "MODE=cli")
    assert {"GREETING", "MODE"} <= {e["key"] for e in user.json("env", "list", sid)}
    assert "GREETING" in user.ok("env", "list", sid, "-o", "yaml")
    user.ok("env", "unset", sid, "MODE")
    assert "MODE" not in {e["key"] for e in user.json("env", "list", sid)}

    user.ok("deploys", "create", sid, "--image", web_v2, "--wait")
    deploys = user.json("deploys", "list", sid)
    assert deploys[0]["status"] == "live" and deploys[0]["image"]["ref"] == web_v2
    first = deploys[-1]["id"]
    rolled = user.run("rollback", sid, first, "--wait", "-o", "json")
    assert rolled.returncode == 0, rolled.stderr
    assert '"status": "live"' in rolled.stdout

    shown = user.json("hook", "show", sid)
    assert "key=" not in str(shown)
    regenerated = user.ok("hook", "regenerate", sid)
    assert "?key=" in regenerated and "shown once" in regenerated

    updated = user.json("services", "update", sid, "--name", "cli-web2", "--image", web_v2)
    assert (updated["name"], updated["imagePath"]) == ("cli-web2", web_v2)
    user.ok("services", "restart", sid)
    user.ok("services", "scale", sid, "--instances", "2")
    assert user.json("services", "get", sid)["serviceDetails"]["numInstances"] == 2
    user.ok("services", "suspend", sid)
    assert user.json("services", "get", sid)["suspended"] == "suspended"
    user.ok("services", "resume", sid)
    user.ok("services", "delete", sid)
    gone = user.run("services", "get", sid)
    assert gone.returncode == 1 and gone.stderr.startswith("imagedeploy: HTTP 404")


def test_a_failed_deploy_exits_1_with_its_classified_reason(
    user: CliUser, created: set[str], anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    arm = test_images.demo.arm64_only.ref_on(anon_registry.host)
    refused = user.run("images", "verify", arm)
    assert refused.returncode == 1 and "linux/arm64" in refused.stderr
    assert "image refused (" in refused.stderr
    made = user.run(
        "services", "create", "--type", "web_service", "--name", "cli-arm", "--image", arm,
        "--wait", "-o", "json",
    )  # fmt: skip
    assert made.returncode == 1
    assert "image pull failed" in made.stderr and "linux/arm64" in made.stderr
    created.update(re.findall(r"srv-[0-9a-z]+", made.stdout))


def test_credentials_take_the_token_on_stdin_and_never_show_it(user: CliUser) -> None:
    token = "ghp_cli_secret_token_value"
    made = user.json(
        "credentials", "create", "--name", "gh", "--registry", "GITHUB", "--username", "me",
        stdin=token + "\n",
    )  # fmt: skip
    listed = user.ok("credentials", "list")
    assert "gh" in listed and token not in listed + str(made)
    user.ok(
        "credentials", "update", made["id"], "--name", "gh2", "--registry", "GITHUB",
        "--username", "me", stdin="ghp_rotated\n",
    )  # fmt: skip
    assert [c["name"] for c in user.json("credentials", "list")] == ["gh2"]
    user.ok("credentials", "delete", made["id"])
    assert user.json("credentials", "list") == []


def test_usage_errors_exit_2(user: CliUser) -> None:
    assert user.run("services", "scale", "srv-x").returncode == 2
    assert user.run("deploys", "list", "srv-x", "-o", "xml").returncode == 2


def test_wait_on_a_terminal_shows_the_phases_live(
    user: CliUser,
    created: set[str],
    serve: ServeProcess,
    anon_registry: RunningRegistry,
    test_images: StandardImages,
    tmp_path: Path,
) -> None:
    web_v1 = test_images.demo.web_v1.ref_on(anon_registry.host)
    made = user.json("services", "create", "--type", "web_service", "--name", "cli-tty",
                     "--image", web_v1)  # fmt: skip
    sid = made["service"]["id"]
    created.add(sid)
    terminal = TmuxTerminal.open(user.env(TERM="xterm-256color"))
    try:
        terminal.type("imagedeploy", "deploys", "create", sid, "--wait")
        screens = terminal.wait_for("EXIT=")
        colored = terminal.screen(escapes=True)
    finally:
        terminal.close()
    screen = screens[-1]
    assert "EXIT=0" in screen, screen
    # while the deploy ran, the display showed it short of live; at the end every phase is done
    assert any("· live" in s for s in screens), screens
    for phase in ("queued", "preflight", "pulling", "starting", "health check", "live"):
        assert f"✓ {phase}" in screen, screen
    assert "is live" in screen
    assert "\x1b[" in colored  # rich colours on a terminal...
    quiet = TmuxTerminal.open(user.env(TERM="xterm-256color", NO_COLOR="1"))
    try:
        quiet.type("imagedeploy", "deploys", "create", sid, "--wait")
        quiet.wait_for("EXIT=")
        plain = quiet.screen(escapes=True)
    finally:
        quiet.close()
    assert "EXIT=0" in plain and "\x1b[32m" not in plain  # ...and none with NO_COLOR


def test_a_cron_job_runs_now_and_lists_its_runs(
    user: CliUser, created: set[str], anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    web_v1 = test_images.demo.web_v1.ref_on(anon_registry.host)
    made = user.json(
        "services", "create", "--type", "cron_job", "--name", "cli-cron", "--image", web_v1,
        "--schedule", "0 0 1 1 *", "--docker-command", "/bin/sh -c 'exit 3'", "--wait",
    )  # fmt: skip
    assert made["deploy"]["status"] == "live"
    sid = made["service"]["id"]
    created.add(sid)
    run = user.json("cron", "run", sid)
    finished = wait_for(
        lambda: [r for r in user.json("cron", "runs", sid) if r.get("exitCode") is not None],
        120,
        "the run to finish",
    )
    assert finished[0]["id"] == run["id"] and finished[0]["exitCode"] == 3
    assert "EXIT" in user.ok("cron", "runs", sid)


def test_a_running_deploy_is_canceled(
    user: CliUser, created: set[str], anon_registry: RunningRegistry, test_images: StandardImages
) -> None:
    web_v1 = test_images.demo.web_v1.ref_on(anon_registry.host)
    made = user.json(
        "services", "create", "--type", "background_worker", "--name", "cli-slow",
        "--image", web_v1, "--pre-deploy-command", "/bin/sh -c 'sleep 120'",
    )  # fmt: skip
    sid, deploy_id = made["service"]["id"], made["deployId"]
    created.add(sid)
    wait_for(
        lambda: user.json("deploys", "list", sid)[0]["status"] == "pre_deploy_in_progress",
        90,
        "the pre-deploy command to run",
    )
    out = user.ok("deploys", "cancel", sid, deploy_id)
    assert deploy_id in out
    wait_for(lambda: user.json("deploys", "list", sid)[0]["status"] == "canceled", 60, "the cancel")
