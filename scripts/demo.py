"""The README's main command (``./dev demo``): a registry preflight against a real local registry.

Starts CNCF distribution on loopback with Bearer-token auth (plus its token server), builds a few
images offline and pushes them, then runs ``imagedeploy image inspect`` as a user would: a
multi-arch image and a Docker manifest list resolve to their linux/amd64 digests; an arm64-only
image, a missing tag, a wrong token and an over-size image fail with their classified reasons.
Everything stops when the demo ends.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.stack import registry_stack

IMAGEDEPLOY = str(Path(sys.executable).parent / "imagedeploy")


def run(title: str, args: list[str], token: str | None = None) -> None:
    env = dict(os.environ)
    shown = ["imagedeploy", *args]
    if token is not None:
        env["REGISTRY_TOKEN"] = token
        shown = ["REGISTRY_TOKEN=…", *shown]
    print(f"\n# {title}\n$ {shlex.join(shown)}")
    done = subprocess.run(
        [IMAGEDEPLOY, *args], env=env, capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        print(json.dumps(json.loads(line), indent=2))
    print(f"(exit status {done.returncode})")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, registry_stack(Path(tmp)) as stack:
        assert stack.images is not None and stack.token.credentials is not None
        host, user = stack.token.host, stack.token.credentials.username
        password = stack.token.credentials.password
        demo = stack.images.demo
        print(f"A token-auth registry is serving on {host}; images were built offline and pushed.")
        auth = ["--username", user, "--token-env", "REGISTRY_TOKEN", "--allow-private-hosts"]

        def inspect(title: str, ref: str, *extra: str, token: str | None = password) -> None:
            run(title, ["image", "inspect", ref, *(auth if token else []), *extra], token)

        run("Parse references the way Docker does", ["image", "parse", "alpine", "nginx@1.24"])
        inspect("Multi-arch OCI index: pick linux/amd64", demo.multi.ref_on(host))
        inspect("Docker manifest list", demo.docker_list.ref_on(host))
        inspect("Pinned by digest", demo.multi.pinned_on(host))
        inspect("arm64-only image: refused before anything runs", demo.arm64_only.ref_on(host))
        inspect("A tag that does not exist", f"{host}/demo/web:9.9")
        inspect("A wrong token", demo.web_v1.ref_on(host), token="not-the-token")
        inspect(
            "Over the size limit",
            demo.big.ref_on(host),
            "--max-image-bytes",
            str(demo.web_v1.expected_size),
        )
        run(
            "Without --allow-private-hosts, a loopback registry is refused (SSRF guard)",
            ["image", "inspect", demo.web_v1.ref_on(host)],
        )


if __name__ == "__main__":
    main()
