"""Benchmark: size of the Lambda bundle ``sam build`` would ship for every function.

What ships (``template.yaml``: ``CodeUri: functions/``, Python runtime): the packages of
``functions/requirements.txt`` installed for the Lambda platform (manylinux2014_x86_64, CPython
3.13, wheels only — what ``sam build`` resolves) plus ``functions/`` itself without caches and
egg-info. Both are zipped (deflate, level 6, like ``sam package``). Reported: zipped and unzipped
MB, the top packages by unzipped size, and Lambda's limits (50 MB zipped for a direct upload,
250 MB unzipped including layers). boto3/botocore are NOT in requirements.txt (the runtime has
them); a line says what they would add if vendored.

    .venv/bin/python -m bench.bundle_size [--python-version 3.13] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
MB = 1024 * 1024
ZIP_LIMIT_MB = 50
UNZIPPED_LIMIT_MB = 250


def pip_install(target: Path, requirements: list[str], python_version: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        "--platform",
        "manylinux2014_x86_64",
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        *requirements,
    ]
    subprocess.run(cmd, check=True)


def copy_functions(target: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(FUNCTIONS):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            if name.endswith((".pyc", ".pyo")):
                continue
            src = Path(dirpath) / name
            dst = target / src.relative_to(FUNCTIONS)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def top_level_of(rel: Path) -> str:
    """The package a file belongs to (dist-info/.libs folded into the package's name)."""
    head = rel.parts[0]
    for suffix in (".dist-info", ".libs", ".data"):
        if head.endswith(suffix):
            head = head[: -len(suffix)].split("-")[0].lower()
    if (
        len(rel.parts) == 1
    ):  # a module or extension at the top: typing_extensions.py, _cffi_backend.*.so
        head = head.split(".", 1)[0]
        return "cffi" if head == "_cffi_backend" else head
    return head


def sizes(tree: Path) -> tuple[int, int, dict[str, int]]:
    total, files = 0, 0
    per: defaultdict[str, int] = defaultdict(int)
    for path in tree.rglob("*"):
        if path.is_file():
            n = path.stat().st_size
            total += n
            files += 1
            per[top_level_of(path.relative_to(tree)).lower().replace("-", "_")] += n
    return total, files, per


def zip_tree(tree: Path, out: Path) -> int:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(tree))
    return out.stat().st_size


def zipped_per_package(tree: Path, per_names: list[str], workdir: Path) -> dict[str, int]:
    """Zipped size of each named top-level entry (and its dist-info), for the top table."""
    out: dict[str, int] = {}
    for name in per_names:
        paths = [
            p
            for p in tree.iterdir()
            if top_level_of(Path(p.name)).lower().replace("-", "_") == name
        ]
        zpath = workdir / f"{name}.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for p in paths:
                for f in [p] if p.is_file() else sorted(p.rglob("*")):
                    if f.is_file():
                        z.write(f, f.relative_to(tree))
        out[name] = zpath.stat().st_size
    return out


def requirements() -> list[str]:
    """``-r`` of the hash-locked file, as `sam build` installs it (hashes checked)."""
    return ["-r", str(FUNCTIONS / "requirements.txt")]


def pinned(requirements_file: Path = FUNCTIONS / "requirements.txt") -> list[str]:
    """The ``name==version`` pins of the locked file (what the report lists)."""
    pins = re.findall(r"^([A-Za-z0-9_.-]+==[^\s\\]+)", requirements_file.read_text(), re.M)
    return list(pins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python-version", default="3.13")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="build into this directory and keep it")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bundle-"))
    bundle = work / "bundle"
    deps_only = work / "deps"
    for d in (bundle, deps_only):
        if d.exists():
            shutil.rmtree(d)
    reqs = requirements()
    pip_install(deps_only, reqs, args.python_version)
    shutil.copytree(deps_only, bundle)
    copy_functions(bundle)

    total, files, per = sizes(bundle)
    zipped = zip_tree(bundle, work / "bundle.zip")
    own = sum(v for k, v in per.items() if k == "imagedeploy")
    top = sorted(per.items(), key=lambda kv: -kv[1])[: args.top]
    zper = zipped_per_package(bundle, [k for k, _ in top], work)

    boto = work / "boto"
    try:
        pip_install(boto, ["boto3"], args.python_version)
        boto_total, _, _ = sizes(boto)
        boto_zip = zip_tree(boto, work / "boto.zip")
    except subprocess.CalledProcessError:
        boto_total = boto_zip = -1

    print(f"requirements (functions/requirements.txt): {', '.join(pinned())}")
    print(
        f"platform manylinux2014_x86_64, CPython {args.python_version}, wheels only; + functions/ (no caches)"
    )
    print()
    print("| bundle | files | unzipped MB | zipped MB | Lambda limit | share of the limit |")
    print("|---|---:|---:|---:|---|---|")
    print(
        f"| requirements + functions/ | {files} | {total / MB:.1f} | {zipped / MB:.1f} | "
        f"{ZIP_LIMIT_MB} MB zipped, {UNZIPPED_LIMIT_MB} MB unzipped | "
        f"{zipped / MB / ZIP_LIMIT_MB:.0%} of zipped, {total / MB / UNZIPPED_LIMIT_MB:.0%} of unzipped |"
    )
    print(f"| of which imagedeploy (functions/) | | {own / MB:.2f} | | | |")
    if boto_total >= 0:
        print(
            f"| (boto3+botocore+deps if vendored, not shipped) | | {boto_total / MB:.1f} | "
            f"{boto_zip / MB:.1f} | | |"
        )
    print()
    print(f"top {args.top} top-level packages by unzipped size")
    print()
    print("| package | unzipped MB | zipped MB | share of unzipped |")
    print("|---|---:|---:|---:|")
    for name, n in top:
        print(f"| {name} | {n / MB:.2f} | {zper[name] / MB:.2f} | {n / total:.0%} |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
