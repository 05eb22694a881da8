"""The drawing page in a real headless Chromium, against the real server and model.

Screenshots of each state land in artifacts/screenshots/. Set E2E_BASE_URL to test a server that
is already running (a container, say) instead of starting one; CHROMIUM_PATH to use another build.
"""

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, Request, expect

from tests.app.samples import mnist_test_set
from tests.e2e.conftest import WebPage
from tests.e2e.drawing import CLOSED_LOOP, VERTICAL_STROKE, draw_with_mouse, draw_with_touch

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# The page's delay between the last stroke and its request, read from its own source.
_APP_JS = (Path(__file__).parents[2] / "app" / "web" / "static" / "app.js").read_text()
_DEBOUNCE = re.search(r"const DEBOUNCE_MS = (\d+);", _APP_JS)
assert _DEBOUNCE is not None, "app.js no longer defines DEBOUNCE_MS"
DEBOUNCE_MS = int(_DEBOUNCE[1])


def is_predict(request: Request) -> bool:
    return urlsplit(request.url).path.endswith("/predict")


def choose_ink(page: Page, ink: str) -> None:
    page.get_by_label(ink, exact=True).check()


def bar_values(page: Page) -> list[float]:
    meters = page.get_by_role("meter")
    return [float(meters.nth(i).get_attribute("aria-valuenow") or "nan") for i in range(10)]


def expect_shown_digit(page: Page, digit: str) -> None:
    """The big digit, the highlighted bar and the model's-eye image all agree on one answer."""
    expect(page.locator("#digit")).to_have_text(digit)
    expect(page.locator(".bar.top .bar-label")).to_have_text(digit)
    values = bar_values(page)
    assert max(values) == values[int(digit)]
    assert sum(values) == pytest.approx(100.0, abs=0.5)
    seen = page.get_by_role("img", name="The 28 by 28 pixel image the model received")
    expect(seen).to_be_visible()
    assert seen.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]


def canvas_is_blank(canvas: Locator) -> bool:
    js = """c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data
        .every((v, i, d) => v === d[i % 4])"""
    return bool(canvas.evaluate(js))


def test_page_loads_with_no_errors_and_shows_the_model(web: WebPage) -> None:
    page = web.page
    expect(page.get_by_role("heading", name="Draw a digit")).to_be_visible()
    expect(page.get_by_role("button", name="Clear")).to_be_enabled()
    expect(page.get_by_label("Upload an image")).to_be_attached()
    expect(page.get_by_label("Drawing area")).to_be_visible()
    expect(page.locator("#digit")).to_have_text("?")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, button, canvas, img')]
            .filter(el => !(el.labels?.length || el.getAttribute('aria-label') || el.alt
                            || el.textContent.trim()))
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == [], "controls and images without an accessible name"

    model = httpx.get(f"{web.base_url}/model").json()
    expect(page.locator("#model-name")).to_have_text(model["name"])
    expect(page.locator("#model-version")).to_have_text(str(model["version"]))
    accuracy = model["metadata"]["test_accuracy"]
    expect(page.locator("#model-accuracy")).to_contain_text(f"{accuracy * 100:.2f}%")

    page.wait_for_load_state("networkidle")
    web.screenshot("01-loaded")
    assert web.problems.failed_requests == []
    assert web.problems.console_errors == []


def test_weights_panel_image_loads(web: WebPage) -> None:
    image = web.page.get_by_role("img", name="Ten learned weight maps")
    expect(image).to_be_visible()
    image.scroll_into_view_if_needed()
    web.page.wait_for_function("img => img.complete", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") > 0
    expect(web.page.locator("#weights-error")).to_be_hidden()
    web.screenshot("02-weights-panel", web.page.locator(".weights-card"))


@pytest.mark.parametrize("ink", ["White on black", "Black on white"])
def test_a_vertical_stroke_reads_as_one(web: WebPage, ink: str) -> None:
    page = web.page
    choose_ink(page, ink)
    with page.expect_response(lambda r: "/predict" in r.url) as answered:
        draw_with_mouse(page, VERTICAL_STROKE)
    # Playwright cannot see Blob request bodies; the server's 200 shows the PNG was readable.
    assert answered.value.ok
    request = answered.value.request
    assert request.method == "POST"
    assert request.headers["content-type"] == "image/png"
    query = parse_qs(urlsplit(request.url).query)
    assert query == {"normalize": ["auto"], "return_input": ["true"]}

    expect_shown_digit(page, "1")
    web.screenshot(f"03-drew-one-{ink.split()[0].lower()}-ink")
    assert web.problems.console_errors == []


@pytest.mark.parametrize("ink", ["White on black", "Black on white"])
def test_a_closed_loop_drawn_by_finger_reads_as_zero(web: WebPage, ink: str) -> None:
    page = web.page
    choose_ink(page, ink)
    draw_with_touch(page, CLOSED_LOOP)
    expect_shown_digit(page, "0")
    web.screenshot(f"04-drew-zero-{ink.split()[0].lower()}-ink")
    assert web.problems.console_errors == []


@pytest.mark.parametrize("index", [0, 1, 2])
def test_uploading_an_mnist_test_digit_shows_its_label(
    web: WebPage, tmp_path: Path, index: int
) -> None:
    images, labels = mnist_test_set()
    png = tmp_path / f"mnist-test-{index}.png"
    Image.fromarray(images[index]).save(png)

    with web.page.expect_response(lambda r: "/predict" in r.url) as answered:
        web.page.get_by_label("Upload an image").set_input_files(png)
    assert answered.value.ok
    assert answered.value.request.headers["content-type"].startswith("multipart/form-data")

    expect_shown_digit(web.page, str(labels[index]))
    web.screenshot(f"05-uploaded-mnist-{index}")
    assert web.problems.console_errors == []


def test_clear_resets_the_display(web: WebPage) -> None:
    page = web.page
    canvas = page.locator("#pad")
    predictions: list[Request] = []
    page.on("request", lambda request: predictions.append(request) if is_predict(request) else None)
    draw_with_mouse(page, VERTICAL_STROKE)
    expect(page.locator("#digit")).not_to_have_text("?")
    assert not canvas_is_blank(canvas)

    # By keyboard, to show the button is usable without a pointer.
    page.get_by_role("button", name="Clear").focus()
    page.keyboard.press("Enter")

    expect(page.locator("#digit")).to_have_text("?")
    expect(page.locator("#seen")).to_be_hidden()
    assert bar_values(page) == [0.0] * 10
    assert canvas_is_blank(canvas)
    # Nothing drawn means nothing sent: no late answer may bring a guess back. Every request
    # sent so far is seen to its end, and a page timer set now with the debounce delay fires
    # after any prediction scheduled before the clear would have: then nothing more may go out.
    sent = len(predictions)
    for request in predictions[:sent]:
        response = request.response()
        if response is not None:
            response.finished()
    page.evaluate("delay => new Promise(resolve => setTimeout(resolve, delay))", DEBOUNCE_MS)
    assert len(predictions) == sent
    expect(page.locator("#digit")).to_have_text("?")
    web.screenshot("06-cleared")


def test_api_errors_are_shown_on_the_page(web: WebPage, tmp_path: Path) -> None:
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("these are notes, not pixels")

    with web.page.expect_response(lambda r: "/predict" in r.url) as answered:
        web.page.get_by_label("Upload an image").set_input_files(not_an_image)
    response = answered.value
    assert 400 <= response.status < 500
    error = response.json()["error"]

    alert = web.page.locator("#error")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text(error["message"])
    expect(alert).to_contain_text(f"HTTP {response.status}")
    expect(web.page.locator("#digit")).to_have_text("?")
    # Every model refuses the same file for the same reason: the strip says so once.
    expect(web.page.locator("#compare")).to_be_hidden()
    expect(web.page.locator("#compare-summary")).to_contain_text(
        f"No model could answer: {error['code']}"
    )
    web.screenshot("07-api-error")


def test_the_page_fits_a_phone_and_draws_by_touch(phone: WebPage) -> None:
    page = phone.page
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "the page scrolls sideways on a phone"
    box = page.locator("#pad").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390

    draw_with_touch(page, VERTICAL_STROKE)
    expect_shown_digit(page, "1")
    phone.screenshot("08-phone")
    assert phone.problems.console_errors == []
