"""The explorer in a real browser: the service on a local port (uvicorn in the test's
event loop, on the demo company's database) and the distribution's Chromium driven by
Playwright. Without Chromium the browser tests skip and say how to install it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from service.app import create_app
from tests.conftest import make_settings
from tests.demo.company import Demo

INSTALL = "apt-get install -y chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium reaches out at start and the closed network refuses it.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "explorer-one-off-" + "s" * 40


def chromium_path() -> str | None:
    configured = os.environ.get("QUOTATREE_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Server:
    url: str
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


async def serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[Any], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
async def explorer_url(demo: Demo) -> AsyncIterator[str]:
    """The service on the demo's database, signing with a one-off development secret
    (so /explorer carries a token, as on a developer's machine)."""
    settings = make_settings(env="development", jwt_secret=None)
    app = create_app(settings, database=demo.db, generated_secret=SECRET)
    server, task, url = await serve(app)
    try:
        yield url
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    executable = chromium_path()
    if executable is None:
        message = f"no Chromium for the browser tests: install it with `{INSTALL}`"
        if os.environ.get("CI"):  # .ci/run installs it: there they must run
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class Page:
    """A browser page that records console errors and saves screenshots."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("response", self._failed)

    async def _failed(self, response: Any) -> None:
        """A refused request with its answer (the console only says its status)."""
        if response.status >= 400:
            self.errors.append(f"{response.status} {response.url}: {await response.text()}")

    async def screenshot(self, name: str) -> Path:
        target = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(target), full_page=True)
        return target


@pytest.fixture
async def page(browser: Any, tmp_path: Path) -> AsyncIterator[Page]:
    context = await browser.new_context(
        locale="en-US", viewport={"width": 1400, "height": 900}, device_scale_factor=1
    )
    opened = Page(await context.new_page(), tmp_path)
    try:
        yield opened
        assert opened.errors == [], opened.errors
    finally:
        await context.close()
