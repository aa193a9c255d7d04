"""``imagedeploy doctor``: can this machine run ``imagedeploy serve``?

Prints one line per check (``ok`` or ``FAIL``, and for a failure the missing piece and its fix)
and exits non-zero when any check failed. The checks are in ``adapters.local.doctor``; the
optional registry check is the deploy preflight itself, with the settings ``serve`` uses.
``serve`` runs the engine part at start (``engine_warnings``).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from imagedeploy.adapters.local.doctor import CheckResult, EngineDoctor, check_data_dir
from imagedeploy.cli.image import UsageError, add_credential_arguments, credential_from_args
from imagedeploy.cli.serve import DEFAULT_DATA_DIR
from imagedeploy.domain.errors import ImagePullError, InvalidReference
from imagedeploy.domain.reference import parse_reference
from imagedeploy.domain.registries import RegistryCredential
from imagedeploy.settings import Settings

if TYPE_CHECKING:
    from imagedeploy.cli.main import Context

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor", help="check that this machine can run `imagedeploy serve`; one line per check"
    )
    doctor.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="serve's data")
    doctor.add_argument("--engine", help="podman or docker binary (default: as serve picks it)")
    doctor.add_argument(
        "--image",
        metavar="REF",
        help="also check that the registry of REF answers and serves it (with the credential)",
    )
    add_credential_arguments(doctor)
    doctor.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace, ctx: Context) -> int:
    try:
        credential = credential_from_args(args, ctx)
    except UsageError as exc:
        ctx.stdout.write(f"usage: {exc}\n")
        return EXIT_USAGE
    if credential is not None and not args.image:
        ctx.stdout.write("usage: a credential is checked against an image: add --image REF\n")
        return EXIT_USAGE
    engine = args.engine or ctx.settings.container_engine
    results = EngineDoctor(engine, os.environ).run_all()
    results.append(check_data_dir(args.data_dir))
    if args.image:
        results.append(check_registry(ctx.settings, args.image, credential))
    for result in results:
        ctx.stdout.write(result.line() + "\n")
    ctx.stdout.flush()
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def check_registry(
    settings: Settings, image: str, credential: RegistryCredential | None
) -> CheckResult:
    """The deploy preflight of ``image``: the registry answers, accepts the credential and
    serves a linux/amd64 image."""
    from imagedeploy.net.egress import Home, registry_egress
    from imagedeploy.registry import RegistryClient

    name = "registry"
    try:
        ref = parse_reference(image)
    except InvalidReference as exc:
        return CheckResult(name, False, exc.message)
    with RegistryClient(settings, egress=registry_egress(settings, Home.SERVE)) as client:
        try:
            result = client.inspect(ref, credential)
        except ImagePullError as exc:
            return CheckResult(name, False, f"{exc.message} ({exc.reason.value})")
    login = " with the credential" if credential is not None else " anonymously"
    return CheckResult(name, True, f"{ref.familiar} is {result.platform_digest}{login}")


def engine_warnings(settings: Settings) -> list[str]:
    """What ``serve`` warns about at start: the failed engine checks, one line each."""
    return [
        r.line() for r in EngineDoctor(settings.container_engine, os.environ).run_all() if not r.ok
    ]
