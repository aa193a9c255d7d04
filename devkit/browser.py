"""Debian's chromium under Playwright, for the dashboard's browser tests (tests/browser).

Playwright is told to use the system browser (``/usr/bin/chromium``, installed by ``./dev``),
never to download one. ``Screenshots`` writes each page at a desktop and a phone width, as test
artifacts, to ``$IMAGEDEPLOY_SCREENSHOTS`` or a pytest temporary directory."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

CHROMIUM = "/usr/bin/chromium"
DESKTOP = ViewportSize(width=1440, height=1000)
PHONE = ViewportSize(width=375, height=812)


class NoBrowserError(RuntimeError):
    pass


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    path = shutil.which("chromium") or CHROMIUM
    if not Path(path).exists():
        raise NoBrowserError(
            "the browser tests need Debian's chromium: run ./dev setup (or apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root in a container, where chromium's sandbox cannot start
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Screenshots:
    directory: Path
    taken: list[Path] = field(default_factory=list)

    def take(self, page: Page, name: str) -> Path:
        """``<name>-1440.png`` (the full page) and ``<name>-375.png`` of the current page."""
        slug = re.sub(r"[^a-z0-9-]+", "-", name.lower())
        desktop = self.directory / f"{slug}-1440.png"
        page.screenshot(path=str(desktop), full_page=True)
        size = page.viewport_size or DESKTOP
        page.set_viewport_size(PHONE)
        phone = self.directory / f"{slug}-375.png"
        page.screenshot(path=str(phone), full_page=True)
        page.set_viewport_size(size)
        self.taken += [desktop, phone]
        return desktop
