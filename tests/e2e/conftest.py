"""Browser-test fixtures: Debian's Chromium driven by Playwright, against the real server."""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Playwright,
    Request,
    Response,
    expect,
    sync_playwright,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
# The flags the project's guide prescribes for Chromium in containers and CI.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Starting the server imports TensorFlow and loads the SavedModel: slow on a busy 2-core machine.
SERVER_START_TIMEOUT_S = 180.0
UVICORN = [sys.executable, "-m", "uvicorn", "app.main:app"]
# Predictions go through a debounce and a real model; generous, since CI machines are shared.
expect.set_options(timeout=20_000)


def find_chromium() -> str | None:
    """Debian's chromium, or whatever CHROMIUM_PATH names; never a Playwright-downloaded build."""
    candidates = [os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium found (looked at $CHROMIUM_PATH, /usr/bin/chromium, chromium on PATH); "
            "install it with `apt-get install chromium chromium-driver` (.ci/run does this in CI)"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    playwright: Playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_ready(base_url: str, server: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Poll /health/ready until it answers 200; fail with the server's log if it dies or stalls."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.5)
    pytest.fail(f"{base_url} was not ready after {SERVER_START_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn on a free local port, or an already running one (E2E_BASE_URL)."""
    external = os.environ.get("E2E_BASE_URL")
    log = tmp_path_factory.mktemp("server") / "uvicorn.log"
    if external:
        url = external.rstrip("/")
        wait_until_ready(url, None, log)
        yield url
        return
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*UVICORN, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(url, server, log)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@dataclass
class PageProblems:
    """Everything that went wrong while a page was open, for assertions."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def on_page_error(self, error: Exception) -> None:
        self.console_errors.append(f"uncaught: {error}")

    def on_request_failed(self, request: Request) -> None:
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed_requests.append(
                f"{response.request.method} {response.url}: {response.status}"
            )


@dataclass
class WebPage:
    """An open page on the app, with the problems seen so far."""

    page: Page
    problems: PageProblems
    base_url: str

    def screenshot(self, name: str, part: Locator | None = None) -> Path:
        """Save a screenshot of the whole page (or of one part of it) as a test artefact."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if part is None:
            self.page.screenshot(path=str(path), full_page=True)
        else:
            part.screenshot(path=str(path))
        return path


def open_page(browser: Browser, base_url: str, width: int, height: int) -> Iterator[WebPage]:
    context = browser.new_context(
        viewport={"width": width, "height": height}, has_touch=True, color_scheme="light"
    )
    page = context.new_page()
    problems = PageProblems()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.on("requestfailed", problems.on_request_failed)
    page.on("response", problems.on_response)
    page.goto(f"{base_url}/")
    # The page is settled once the model panel has been filled from /model.
    expect(page.locator("#model-version")).not_to_have_text("…")
    try:
        yield WebPage(page, problems, base_url)
    finally:
        context.close()


@pytest.fixture
def web(browser: Browser, base_url: str) -> Iterator[WebPage]:
    """The page in a desktop-sized window."""
    yield from open_page(browser, base_url, 1200, 1000)


@pytest.fixture
def phone(browser: Browser, base_url: str) -> Iterator[WebPage]:
    """The page in a phone-sized window."""
    yield from open_page(browser, base_url, 390, 844)
