"""Browser-test fixtures: Debian's Chromium driven by Playwright, against the real server."""

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

from tests.app.saved_models import export_mlp_model
from tests.app.server_process import running_server

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED_MODEL = REPO_ROOT / "model" / "mnist" / "1"
# export_mlp_model's layers: 784 -> 32 -> 10, no biases.
MLP_PARAMETERS = 784 * 32 + 32 * 10
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
# The flags the project's guide prescribes for Chromium in containers and CI.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
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


# Module scope, not session: while Playwright's sync API runs, the thread counts as running an
# event loop, which would break any async (anyio) test collected after the browser tests.
@pytest.fixture(scope="module")
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


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn on a free local port, or an already running one (E2E_BASE_URL)."""
    external = os.environ.get("E2E_BASE_URL")
    if external:
        url = external.rstrip("/")
        ready = httpx.get(f"{url}/health/ready", timeout=10.0)
        assert ready.status_code == 200, f"{url} is not ready: {ready.status_code} {ready.text}"
        yield url
        return
    repository = build_repository(tmp_path_factory.mktemp("model"))
    log = tmp_path_factory.mktemp("server") / "uvicorn.log"
    with running_server({"MNIST_MODEL_DIR": str(repository)}, log) as server:
        yield server.url


def build_repository(root: Path) -> Path:
    """Three models for the page to pick and compare, as training lays them out.

    ``mnist`` is the committed softmax (the default), ``mnist-mlp`` an untrained MLP (no weight
    maps, and answers of its own), ``mnist-plain`` the softmax again with no architecture in its
    metadata, so the page has to fall back to the folder's name.
    """
    committed = json.loads((COMMITTED_MODEL / "metadata.json").read_text(encoding="utf-8"))
    plain = {k: v for k, v in committed.items() if k not in {"architecture", "parameters"}}
    models: dict[str, dict[str, Any]] = {
        "mnist": {**committed, "architecture": "softmax", "parameters": 784 * 10 + 10},
        "mnist-plain": {**plain, "name": "mnist-plain"},
        "mnist-mlp": {"name": "mnist-mlp", "version": 1, "architecture": "mlp",
                      "parameters": MLP_PARAMETERS, "description": "784 -> 32 -> 10, untrained"},
    }  # fmt: skip
    for name in ("mnist", "mnist-plain"):
        shutil.copytree(COMMITTED_MODEL, root / name / "1")
    export_mlp_model(root / "mnist-mlp" / "1")
    for name, metadata in models.items():
        (root / name / "1" / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return root


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
            self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        else:
            part.screenshot(path=str(path), animations="disabled")
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
