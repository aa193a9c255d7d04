"""Entry point of the ``imagedeploy`` command: builds settings once, dispatches to a subcommand."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from imagedeploy.cli import admin, doctor, image, keys, remote, serve
from imagedeploy.logs import configure_logging
from imagedeploy.settings import Settings


@dataclass(frozen=True, slots=True)
class Context:
    """What every subcommand gets: the settings (read once) and its streams."""

    settings: Settings
    stdin: TextIO
    stdout: TextIO


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagedeploy",
        description="Deploy prebuilt container images as services and cron jobs.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    image.register(commands)
    serve.register(commands)
    doctor.register(commands)
    admin.register(commands)
    keys.register(commands)
    remote.register(commands)
    return parser


def main(
    argv: Sequence[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    settings: Settings | None = None,
) -> int:
    """Run one command; returns the exit status (0 ok, 2 a user-facing failure)."""
    args = build_parser().parse_args(argv)
    configure_logging({0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG))
    context = Context(settings or Settings(), stdin or sys.stdin, stdout or sys.stdout)
    status: int = args.handler(args, context)
    return status


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
