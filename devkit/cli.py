"""Run the ``imagedeploy`` client commands as a user would: a subprocess with its own config dir
(``CliUser``), or on a real terminal inside a tmux session (``TmuxTerminal``)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.serve import IMAGEDEPLOY


@dataclass
class CliUser:
    """A user of the CLI: a home with its own XDG config dir, no API variables inherited."""

    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("IMAGEDEPLOY_") and k not in ("NO_COLOR", "XDG_CONFIG_HOME")
        }
        # The venv's bin first, as for a user who activated it: a shell finds `imagedeploy`.
        path = os.pathsep.join([str(Path(IMAGEDEPLOY).parent), base.get("PATH", os.defpath)])
        return {
            **base,
            "PATH": path,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            **extra,
        }

    def run(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [IMAGEDEPLOY, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(**(env or {})),
            timeout=300,
        )

    def ok(self, *args: str, stdin: str = "") -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def json(self, *args: str, stdin: str = "") -> Any:
        return json.loads(self.ok(*args, "-o", "json", stdin=stdin))


@dataclass
class TmuxTerminal:
    """A detached tmux session (a real pseudo-terminal) on a tmux server of its own (its own
    socket), so the shell inherits exactly ``env``."""

    name: str

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run(
            ["tmux", "-L", self.name, *args], capture_output=True, text=True, check=True, env=env
        ).stdout

    @classmethod
    def open(cls, env: dict[str, str]) -> TmuxTerminal:
        terminal = cls(f"idcli-{uuid.uuid4().hex[:8]}")
        shell = ["env", "PS1=$ ", "sh"]
        terminal._tmux("new-session", "-d", "-x", "160", "-y", "40", *shell, env=env)
        return terminal

    def type(self, *command: str) -> None:
        """Type ``command`` and Enter; its exit status follows as ``EXIT=<n>``."""
        line = " ".join(shlex.quote(part) for part in command) + "; echo EXIT=$?"
        self._tmux("send-keys", line, "Enter")

    def screen(self, escapes: bool = False) -> str:
        return self._tmux("capture-pane", "-p", "-S", "-200", *(["-e"] if escapes else []))

    def wait_for(self, text: str, timeout: float = 180) -> list[str]:
        """Every screen captured (about 5 a second) until ``text`` follows the typed command."""
        deadline = time.monotonic() + timeout
        screens: list[str] = []
        while time.monotonic() < deadline:
            screen = self.screen()
            screens.append(screen)
            if text in screen.split("EXIT=$?", 1)[-1]:
                return screens
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not on the terminal after {timeout} s:\n{screens[-1]}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], check=False)
