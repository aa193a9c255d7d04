"""``FakeEngine``: the ``Engine`` port in memory, for unit tests of the local runtime.

Containers are records; ``exit(id, code)`` ends one and publishes a ``die`` event on the event
stream, ``vanish(id)`` removes one without any event (what the resync must notice), and
``drop_stream()`` ends the current event connection (the watcher reconnects). Every call is
counted in ``calls`` (method names), so a test can say how many engine requests an operation
made. ``wait`` blocks until the container exits, as the real one does.
"""

from __future__ import annotations

import builtins
import itertools
import queue
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from imagedeploy.adapters.local.engine import (
    ContainerSpec,
    ContainerState,
    EngineError,
    EngineEvent,
    EngineKind,
    RegistryAuth,
    all_labels,
)

_END = object()


@dataclass
class _Container:
    spec: ContainerSpec
    running: bool = True
    exit_code: int | None = None
    oom_killed: bool = False
    exited: threading.Event = field(default_factory=threading.Event)


class FakeEngine:
    def __init__(self) -> None:
        self.kind: EngineKind = "podman"
        self.calls: Counter[str] = Counter()
        self.containers: dict[str, _Container] = {}
        self.streams_opened = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._events: queue.Queue[object] = queue.Queue()
        self.failing_runs = 0  #: how many next ``run`` calls fail as the engine failing a create

    # -- test controls --------------------------------------------------------------------------

    def exit(self, container_id: str, code: int, *, oom: bool = False) -> None:
        with self._lock:
            container = self.containers[container_id]
            container.running, container.exit_code, container.oom_killed = False, code, oom
        container.exited.set()
        self._publish("die", container_id, code)

    def vanish(self, container_id: str) -> None:
        """The container is gone and no event says so (a lost event)."""
        with self._lock:
            container = self.containers.pop(container_id)
        container.exited.set()

    def drop_stream(self) -> None:
        self._events.put(_END)

    def running(self, **labels: str) -> builtins.list[str]:
        with self._lock:
            return [
                cid
                for cid, c in self.containers.items()
                if c.running and all_labels(c.spec.labels, labels)
            ]

    def _publish(self, action: str, container_id: str, code: int | None) -> None:
        with self._lock:
            container = self.containers.get(container_id)
            labels = dict(container.spec.labels) if container else {}
        self._events.put(EngineEvent(action, container_id, labels, code))

    # -- the Engine port ------------------------------------------------------------------------

    def pull(
        self,
        image: str,
        auth: RegistryAuth | None = None,
        *,
        insecure: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.calls["pull"] += 1

    def run(self, spec: ContainerSpec) -> str:
        self.calls["run"] += 1
        container_id = f"c{next(self._ids):04d}"
        with self._lock:
            if self.failing_runs > 0:
                self.failing_runs -= 1
                raise EngineError("creating container failed: injected engine fault")
            if any(c.spec.name == spec.name for c in self.containers.values()):
                raise EngineError(f"the container name {spec.name!r} is already in use")
            self.containers[container_id] = _Container(spec)
        return container_id

    def stop(self, container: str, timeout_seconds: int) -> None:
        self.calls["stop"] += 1
        with self._lock:
            found = self.containers.get(container)
            running = found is not None and found.running
        if running:
            self.exit(container, 143)

    def remove(self, container: str, *, force: bool = True) -> None:
        self.calls["remove"] += 1
        with self._lock:
            found = self.containers.get(container)
            running = found is not None and found.running
        if running:
            self.exit(container, 137)
        with self._lock:
            self.containers.pop(container, None)

    def inspect(self, container: str) -> ContainerState | None:
        self.calls["inspect"] += 1
        with self._lock:
            found = self.containers.get(container)
            return None if found is None else self._state(container, found)

    def list(
        self, label_filter: Mapping[str, str], *, all: bool = True
    ) -> builtins.list[ContainerState]:
        self.calls["list"] += 1
        with self._lock:
            return [
                self._state(cid, c)
                for cid, c in self.containers.items()
                if all_labels(c.spec.labels, label_filter) and (all or c.running)
            ]

    def logs(self, container: str, *, tail: int | None = None) -> str:
        self.calls["logs"] += 1
        return ""

    def stream_logs(self, container: str, *, follow: bool = False) -> Iterator[bytes]:
        self.calls["stream_logs"] += 1
        yield b"output\n"

    def wait(self, container: str, timeout: float) -> int | None:
        self.calls["wait"] += 1
        with self._lock:
            found = self.containers.get(container)
        if found is None or not found.exited.wait(timeout):
            return None
        return found.exit_code

    def host_port(self, container: str, container_port: int) -> int:
        raise AssertionError("the runtime chooses ports up front")

    def ensure_network(self, name: str, *, labels: Mapping[str, str] | None = None) -> None:
        self.calls["ensure_network"] += 1

    def events(
        self, label_filter: Mapping[str, str], *, since: float | None = None
    ) -> Iterator[EngineEvent]:
        self.calls["events"] += 1
        self.streams_opened += 1
        while True:
            item = self._events.get()
            if item is _END:
                return
            assert isinstance(item, EngineEvent)
            if all_labels(item.labels, label_filter):
                yield item

    @staticmethod
    def _state(container_id: str, c: _Container) -> ContainerState:
        return ContainerState(
            id=container_id,
            name=c.spec.name,
            labels=c.spec.labels,
            running=c.running,
            exit_code=c.exit_code,
            oom_killed=c.oom_killed,
            started_at=None,
            finished_at=None,
            status="running" if c.running else "exited",
        )
