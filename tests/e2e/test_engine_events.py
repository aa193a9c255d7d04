"""Issue 13: the runtime's event stream against a real podman service. A container's exit
arrives as a ``die`` event with its exit code; after the service is killed, the watcher restarts
it (``EngineService.ensure_running``), reconnects with backoff, and events arrive again."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from devkit.containers import TEST_LABELS, engine_service
from devkit.images import StandardImages
from devkit.registry import RunningRegistry
from devkit.serve import wait_for
from imagedeploy.adapters.local.engine import ContainerSpec, EngineEvent
from imagedeploy.adapters.local.engine_api import EngineApi
from imagedeploy.adapters.local.watcher import EngineWatcher

pytestmark = pytest.mark.e2e


def test_exit_events_arrive_before_and_after_the_engine_service_is_killed(
    tmp_path: Path, test_images: StandardImages, anon_registry: RunningRegistry
) -> None:
    image = test_images.demo.web_v1.pinned_on(anon_registry.host)
    labels = {**TEST_LABELS, "imagedeploy.test.events": uuid.uuid4().hex[:8]}
    seen: list[EngineEvent] = []
    arrived = threading.Condition()

    def on_event(event: EngineEvent) -> None:
        with arrived:
            seen.append(event)
            arrived.notify_all()

    def exit_seen(name: str, code: int) -> bool:
        return any(
            e.action == "die" and e.labels.get("name") == name and e.exit_code == code for e in seen
        )

    # The first connection asks for the events since now too: one that opens after the first
    # container's exit still gets its event (no sleep until "the stream is open").
    opened = time.time()
    with engine_service(tmp_path) as service:
        engine = EngineApi(service.socket)
        watcher = EngineWatcher(
            lambda since: engine.events(labels, since=opened if since is None else since),
            on_event,
            lambda: None,
            resync_seconds=3600,
            on_disconnect=service.ensure_running,
        )
        watcher.start()
        made: list[str] = []
        try:
            name = f"ev-a-{labels['imagedeploy.test.events']}"
            spec = ContainerSpec(
                name, image, ("/bin/sh", "-c", "exit 3"), labels=labels, insecure_registry=True
            )
            made.append(engine.run(spec))
            with arrived:
                assert arrived.wait_for(lambda: exit_seen(name, 3), 30), seen

            first = service.process
            assert first is not None
            first.kill()
            first.wait(10)
            name = f"ev-b-{labels['imagedeploy.test.events']}"
            wait_for(
                lambda: service.process not in (first, None),
                60,
                "the service to be started again",
                interval=0.1,
            )
            # The restart assigns the new process before its socket answers; ensure_running takes
            # the same lock, so it returns once the restart in progress has finished.
            assert not service.ensure_running()
            spec = ContainerSpec(
                name, image, ("/bin/sh", "-c", "exit 4"), labels=labels, insecure_registry=True
            )
            made.append(engine.run(spec))
            with arrived:
                assert arrived.wait_for(lambda: exit_seen(name, 4), 30), seen
            assert watcher.connections >= 2
        finally:
            watcher.stop()
            for container_id in made:
                engine.remove(container_id)
            engine.close()
