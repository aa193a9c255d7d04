"""Fixtures of the browser suite: one ``serve`` (real containers), one chromium, a page per
test, and the screenshot directory (``$IMAGEDEPLOY_SCREENSHOTS`` or a pytest temp dir)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from devkit.browser import DESKTOP, Screenshots, chromium
from devkit.serve import ServeProcess, remove_containers, running_serve


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with running_serve(tmp_path_factory.mktemp("serve")) as started:
        yield started


@pytest.fixture(scope="module")
def created() -> Iterator[set[str]]:
    services: set[str] = set()
    yield services
    remove_containers(services)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    # a script error or a CSP violation (reported on the console) fails the test; a 4xx page
    # is no problem (Chromium logs it as a failed resource)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield opened
    context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    configured = os.environ.get("IMAGEDEPLOY_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return Screenshots(directory)
