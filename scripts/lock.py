"""``./dev lock``: pin the resolved Python dependencies, with hashes, in two files.

- ``requirements.lock``: ``pyproject.toml``'s runtime and ``dev`` dependencies, resolved for every
  platform and Python >= 3.11 (``uv pip compile --universal``). ``./dev`` installs exactly this
  (``pip install --require-hashes``), then the project itself without dependencies.
  Refreshing keeps the pinned versions that still fit; ``./dev lock --upgrade`` takes the
  newest allowed.
- ``functions/requirements.txt``: ``functions/requirements.in`` resolved for the Lambda runtime
  (Python 3.13, x86_64 Linux); ``sam build`` installs it into every function.

Each file starts with a fingerprint of what it was resolved from (pyproject's dependency tables,
the ``.in`` file's requirements). ``tests/unit/test_lock.py`` recomputes them, so a dependency
changed without ``./dev lock`` fails the tests and says to run it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
LAMBDA_IN = ROOT / "functions" / "requirements.in"
LAMBDA_LOCK = ROOT / "functions" / "requirements.txt"
FINGERPRINT_PREFIX = "# resolved from: sha256="
REFRESH = "./dev lock"

# The Lambda functions' runtime (template.yaml: Runtime python3.13, Architectures x86_64).
LAMBDA_PYTHON = "3.13"
LAMBDA_PLATFORM = "x86_64-manylinux_2_28"


def pyproject_fingerprint(text: str) -> str:
    """A hash of what decides the resolution: requires-python and the dependency tables."""
    project = tomllib.loads(text)["project"]
    material = {
        "requires-python": project.get("requires-python"),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {
            extra: sorted(deps) for extra, deps in project.get("optional-dependencies", {}).items()
        },
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def requirements_in_fingerprint(text: str) -> str:
    """A hash of a requirements file's requirement lines (comments and blank lines ignored)."""
    lines = sorted(
        stripped for line in text.splitlines() if (stripped := line.split("#", 1)[0].strip())
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def recorded_fingerprint(lock_text: str) -> str | None:
    """The fingerprint a lock file was made from (its first matching header line)."""
    for line in lock_text.splitlines():
        if line.startswith(FINGERPRINT_PREFIX):
            return line.removeprefix(FINGERPRINT_PREFIX).split()[0]
    return None


def _uv() -> list[str]:
    found = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("uv is not installed: run ./dev setup (it is a dev dependency)")
    return [found]


def _compile(
    source: Path, target: Path, fingerprint: str, options: list[str], *, upgrade: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / target.name
        if target.exists() and not upgrade:
            shutil.copy(target, out)  # uv keeps the pins it finds there unless they must move
        subprocess.run(
            [
                *_uv(),
                "pip",
                "compile",
                str(source.relative_to(ROOT)),
                "--generate-hashes",
                "--custom-compile-command",
                REFRESH,
                "--quiet",
                "-o",
                str(out),
                *options,
            ],
            cwd=ROOT,
            check=True,
        )
        header = f"{FINGERPRINT_PREFIX}{fingerprint} ({source.relative_to(ROOT)}; {REFRESH})\n"
        target.write_text(header + out.read_text())


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--upgrade"]):
        raise SystemExit("usage: ./dev lock [--upgrade]  (--upgrade: newest versions allowed)")
    upgrade = args == ["--upgrade"]
    _compile(
        PYPROJECT,
        LOCK,
        pyproject_fingerprint(PYPROJECT.read_text()),
        ["--extra", "dev", "--universal", "--python-version", "3.11"],
        upgrade=upgrade,
    )
    _compile(
        LAMBDA_IN,
        LAMBDA_LOCK,
        requirements_in_fingerprint(LAMBDA_IN.read_text()),
        ["--python-version", LAMBDA_PYTHON, "--python-platform", LAMBDA_PLATFORM],
        upgrade=upgrade,
    )
    print(f"wrote {LOCK.relative_to(ROOT)} and {LAMBDA_LOCK.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
