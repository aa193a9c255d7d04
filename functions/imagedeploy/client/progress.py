"""A deploy's phases, read from what the API exposes (the deploy's ``status``, its ``image.sha``
and its service's events), shown live: a rich display on a terminal, one line per phase otherwise.

The API does not report pulling, starting and the health check apart: a deploy that resolved its
image (``image.sha``) and is ``update_in_progress`` is "pulling" until a pre-deploy ran, then
"starting"; "health check" is passed when it goes live."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from imagedeploy.client.api import ApiClient

if TYPE_CHECKING:
    from rich.table import Table

PHASES = ("queued", "preflight", "pulling", "pre-deploy", "starting", "health check", "live")
FAILED = frozenset(
    {"update_failed", "pre_deploy_failed", "build_failed", "canceled", "deactivated"}
)
Deploy = dict[str, Any]
Events = list[dict[str, Any]]


def _of(events: Events, deploy_id: str, type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_ and e["details"].get("deployId") == deploy_id]


def phase_of(deploy: Deploy, events: Events) -> str:
    status = deploy["status"]
    if status == "live":
        return "live"
    if status in ("created", "queued"):
        return "queued"
    if status == "pre_deploy_in_progress":
        return "pre-deploy"
    if not (deploy.get("image") or {}).get("sha"):
        return "preflight"
    if _of(events, deploy["id"], "pre_deploy_ended"):
        return "starting"
    return "pulling"


def failure_of(deploy: Deploy, events: Events) -> str:
    """The classified reason of a finished, not live deploy, as one line."""
    ended = _of(events, deploy["id"], "deploy_ended")
    reason = ended[-1]["details"].get("reason", {}) if ended else {}
    if pulled := reason.get("imagePullFailed"):
        return f"image pull failed ({pulled.get('reason')}): {pulled.get('message')}"
    if failure := reason.get("failure"):
        shown = {k: v for k, v in failure.items() if k != "evicted" or v}
        return f"{deploy['status']}: " + ", ".join(f"{k}={v}" for k, v in shown.items())
    if new := reason.get("newDeploy"):
        return f"{deploy['status']}: superseded by deploy {new.get('id')}"
    return str(deploy["status"])


def _events(client: ApiClient, service_id: str) -> Events:
    page = client.get(f"/v1/services/{service_id}/events", limit=100)
    return [item["event"] for item in reversed(page or [])]


def _render(deploy_id: str, phase: str, status: str) -> Table:
    from rich.spinner import Spinner
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    reached = PHASES.index(phase)
    for index, name in enumerate(PHASES):
        if index < reached or phase == "live":
            grid.add_row(Text("✓", style="green"), Text(name))
        elif index == reached:
            grid.add_row(Spinner("dots"), Text(name, style="bold"))
        else:
            grid.add_row(Text("·", style="dim"), Text(name, style="dim"))
    grid.add_row(Text(""), Text(f"deploy {deploy_id}: {status}", style="dim"))
    return grid


def watch(
    client: ApiClient,
    service_id: str,
    deploy_id: str,
    out: TextIO,
    *,
    terminal: bool,
    color: bool,
    quiet: bool = False,
    poll: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Deploy, str | None]:
    """Follow a deploy until it finishes; returns it and its failure line (None when live)."""
    # rich is imported here, not with the module: ``imagedeploy serve`` imports the CLI's
    # modules and must not pay for it at start (issue 13).
    from rich.console import Console
    from rich.live import Live

    console = Console(file=out, force_terminal=terminal, no_color=not color, highlight=False)
    shown: str | None = None
    live = Live(console=console, transient=False) if terminal and not quiet else None
    if live is not None:
        live.start()
    try:
        while True:
            deploy = client.get(f"/v1/services/{service_id}/deploys/{deploy_id}")
            events = _events(client, service_id)
            finished = deploy["status"] == "live" or deploy["status"] in FAILED
            phase = (
                phase_of(deploy, events) if not finished or deploy["status"] == "live" else shown
            )
            phase = phase or "queued"
            if live is not None:
                live.update(_render(deploy_id, phase, deploy["status"]), refresh=True)
            elif phase != shown and not quiet:
                out.write(f"{deploy_id}  {phase}\n")
                out.flush()
            shown = phase
            if finished:
                break
            sleep(poll)
    finally:
        if live is not None:
            live.stop()
    if deploy["status"] == "live":
        return deploy, None
    return deploy, failure_of(deploy, events)
