"""``imagedeploy serve``: the embedded platform in one process (see ``imagedeploy.embedded``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagedeploy.cli.main import Context
    from imagedeploy.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "imagedeploy"
EXIT_REFUSED = 1  # the data directory cannot be used as it is (the message says why)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="run the API, deploy worker, scheduler, router and runtime on this machine"
    )
    serve.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="state and secrets")
    serve.add_argument("--host", default="127.0.0.1", help="address for the API and web services")
    serve.add_argument("--port", type=int, default=8080, help="API port (0: any free port)")
    serve.add_argument("--engine", help="podman binary (default: podman on PATH)")
    serve.add_argument(
        "--engine-socket",
        help="the container engine's API socket (default: serve starts podman's own)",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace, ctx: Context) -> int:
    from imagedeploy.adapters.local.engine import EngineError
    from imagedeploy.adapters.local.engine_service import EngineService

    logger.info("imagedeploy serve starting")  # after the imports: start-up timing
    settings = ctx.settings
    if args.engine:
        settings = settings.model_copy(update={"container_engine": args.engine})
    if args.engine_socket:
        settings = settings.model_copy(update={"container_engine_socket": args.engine_socket})
    try:
        # Spawned first: podman's service starts while the rest of serve is imported.
        engine_service = EngineService.open(
            settings.container_engine_socket, binary=settings.container_engine, wait=False
        )
    except EngineError as exc:  # no engine API to drive: say what the doctor finds, and why
        return _refuse_without_engine(settings, exc)

    from imagedeploy.adapters.local.datadir import DataDirError
    from imagedeploy.adapters.local.secrets import SecretStoreError
    from imagedeploy.domain.errors import StorageUnavailable
    from imagedeploy.embedded import build

    try:
        platform = build(
            settings,
            args.data_dir,
            host=args.host,
            port=args.port,
            engine_service=engine_service,
        ).serve_api()
    except (DataDirError, SecretStoreError, StorageUnavailable) as exc:
        sys.stderr.write(f"imagedeploy serve: {exc}\n")
        return EXIT_REFUSED
    stop = threading.Event()  # before the URL is out: a stop request may come at once
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    out = ctx.stdout
    out.write(f"imagedeploy is serving the API at {platform.base_url}\n")
    if platform.api_key is not None:
        out.write(f"API key (shown once, store it now): {platform.api_key}\n")
    out.flush()
    try:
        platform.resume()
    except EngineError as exc:
        platform.stop()
        return _refuse_without_engine(settings, exc)
    # After the API is up and resumed, in the background (the checks start a test container):
    # serve runs anyway (the engine may be fixed while it runs), and says what deploys will hit.
    threading.Thread(target=warn_about_engine, args=(settings,), name="doctor", daemon=True).start()
    stop.wait()
    out.write("stopping (containers keep running; the next serve adopts them)\n")
    out.flush()
    platform.stop()
    return 0


def warn_about_engine(settings: Settings) -> None:
    """Log each failed engine check of ``imagedeploy doctor`` as a warning, then that the
    checks are done."""
    from imagedeploy.cli.doctor import engine_warnings

    warnings = engine_warnings(settings)
    for warning in warnings:
        logger.warning("imagedeploy doctor: %s", warning)
    logger.info("imagedeploy doctor: engine checks done", extra={"failed": len(warnings)})


def _refuse_without_engine(settings: Settings, exc: Exception) -> int:
    warn_about_engine(settings)
    sys.stderr.write(f"imagedeploy serve: {exc}\n")
    return EXIT_REFUSED
