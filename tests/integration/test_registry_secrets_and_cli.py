"""Credentials never leak (logs, errors, reprs, CLI output), and ``imagedeploy image inspect``
works end to end as a console script against the real registry."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.images import StandardImages
from devkit.regclient import Credentials
from devkit.registry import RunningRegistry
from devkit.registry_client import credential_for
from devkit.token_server import TokenServer
from imagedeploy.domain.errors import ImagePullError
from imagedeploy.domain.reference import parse_reference
from imagedeploy.logs import configure_logging
from imagedeploy.registry import RegistryClient

pytestmark = pytest.mark.integration

IMAGEDEPLOY = Path(sys.executable).parent / "imagedeploy"


def secrets_of(creds: Credentials) -> list[str]:
    basic = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    # "eyJ" starts every JWT the token server issues (base64 of '{"')
    return [creds.password, basic, "eyJ"]


def test_no_secret_in_logs_errors_or_reprs(
    basic_registry: RunningRegistry,
    token_registry: RunningRegistry,
    token_server: TokenServer,
    test_images: StandardImages,
    make_client: Callable[..., RegistryClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert token_registry.credentials is not None
    creds = token_registry.credentials
    stream = io.StringIO()
    configure_logging(logging.DEBUG, stream=stream)
    caplog.set_level(logging.DEBUG)
    evidence: list[str] = []
    client = make_client()
    good = credential_for(creds)
    bad = credential_for(Credentials(creds.username, creds.password + "-wrong"))
    for registry in (basic_registry, token_registry):
        for image in (test_images.demo.multi, test_images.demo.arm64_only):
            for cred in (good, bad, None):
                try:
                    evidence.append(
                        repr(client.inspect(parse_reference(image.ref_on(registry.host)), cred))
                    )
                except ImagePullError as exc:
                    evidence += [str(exc), repr(exc), exc.message, repr(exc.__cause__)]
    evidence += [repr(good), str(good), repr(client), repr(vars(client))]
    evidence += [stream.getvalue(), caplog.text]
    configure_logging()
    text = "\n".join(evidence)
    assert "linux/arm64" in text and "refused" in text  # the flows above really ran
    for secret in [*secrets_of(creds), creds.password + "-wrong"]:
        assert secret not in text


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(IMAGEDEPLOY), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_cli_inspect_with_token_from_env(
    token_registry: RunningRegistry, test_images: StandardImages
) -> None:
    creds = token_registry.credentials
    assert creds is not None
    multi = test_images.demo.multi
    done = run_cli(
        "-vv",
        "image",
        "inspect",
        multi.ref_on(token_registry.host),
        "--username",
        creds.username,
        "--token-env",
        "REGISTRY_TOKEN",
        "--allow-private-hosts",
        env={"REGISTRY_TOKEN": creds.password},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result == {
        "reference": f"{token_registry.host}/demo/multi:1.0",
        "digest": multi.digest,
        "platformDigest": multi.amd64_digest,
        "platform": "linux/amd64",
        "mediaType": multi.media_type,
        "sizeBytes": multi.expected_size,
    }
    for secret in secrets_of(creds):
        assert secret not in done.stdout + done.stderr


def test_cli_inspect_token_from_stdin_and_classified_failures(
    basic_registry: RunningRegistry, test_images: StandardImages
) -> None:
    creds = basic_registry.credentials
    assert creds is not None
    ref = test_images.demo.arm64_only.ref_on(basic_registry.host)
    done = run_cli(
        "image",
        "inspect",
        ref,
        "--username",
        creds.username,
        "--token-stdin",
        "--allow-private-hosts",
        stdin=creds.password + "\n",
    )
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"] == "wrong_platform"

    wrong = run_cli(
        "image",
        "inspect",
        test_images.demo.web_v1.ref_on(basic_registry.host),
        "--username",
        creds.username,
        "--token-stdin",
        "--allow-private-hosts",
        stdin="nope\n",
    )
    assert wrong.returncode == 2
    assert json.loads(wrong.stdout)["error"] == "unauthorized"

    blocked = run_cli("image", "inspect", test_images.demo.web_v1.ref_on(basic_registry.host))
    assert json.loads(blocked.stdout)["error"] == "blocked_host"

    invalid = run_cli("image", "inspect", "nginx@1.24")
    assert invalid.returncode == 2
    assert json.loads(invalid.stdout)["error"] == "invalid_reference"

    usage = run_cli("image", "inspect", "alpine", "--username", "u")
    assert usage.returncode == 2 and json.loads(usage.stdout)["error"] == "usage"
