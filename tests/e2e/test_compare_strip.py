"""The compare strip: every served model's answer to the same drawing, side by side.

Expected answers are the API's own for the same image (see tests/e2e/answers.py).
"""

import base64
import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Route, expect

from tests.app.samples import mnist_test_set
from tests.e2e.answers import api_answers, entry, expect_answer_shown, first, percent
from tests.e2e.conftest import WebPage
from tests.e2e.drawing import CLOSED_LOOP, draw_with_mouse

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_strip_shows_every_models_answer_to_the_same_drawing(web: WebPage) -> None:
    page = web.page
    draw_with_mouse(page, CLOSED_LOOP)
    data_url = page.locator("#pad").evaluate("canvas => canvas.toDataURL('image/png')")
    answers = api_answers(web.base_url, base64.b64decode(data_url.split(",", 1)[1]))

    entries = page.locator("#compare .compare-entry")
    expect(entries).to_have_count(len(answers))
    votes = Counter(answer["digit"] for answer in answers.values())
    (top, top_votes), *rest = votes.most_common()
    tie = bool(rest) and rest[0][1] == top_votes
    for name, answer in answers.items():
        shown = entry(page, name)
        expect(shown).to_have_attribute("data-digit", str(answer["digit"]))
        confidence = shown.locator(".compare-confidence")
        expect(confidence).to_have_text(f"({percent(answer['confidence'])})")
    for name, answer in answers.items():
        disagrees = len(votes) > 1 and (tie or answer["digit"] != top)
        classes = entry(page, name).get_attribute("class") or ""
        assert ("disagree" in classes.split()) == disagrees, name
    summary = page.locator("#compare-summary")
    if len(votes) > 1:
        expect(summary).to_contain_text("The models disagree")
    else:
        expect(summary).to_contain_text(f"All {len(answers)} models say {top}")
    web.screenshot("11-compare-strip")
    assert web.problems.failed_requests == []
    assert web.problems.console_errors == []


@pytest.mark.parametrize("failure", ["gone", "unreachable"])
def test_a_failing_model_shows_its_error_and_the_others_still_answer(
    web: WebPage, tmp_path: Path, failure: str
) -> None:
    page = web.page
    listing = httpx.get(f"{web.base_url}/models").json()
    others = (m["name"] for m in listing["models"] if m["ready"] and not m["default"])
    failing = first(others, "model besides the default")
    message = f"model '{failing}' is not in the repository"

    def fail(route: Route) -> None:
        if failure == "unreachable":
            route.abort("connectionrefused")
            return
        error = {"status": 404, "code": "unknown_model", "message": message, "request_id": "x1"}
        body = json.dumps({"error": error})
        route.fulfill(status=404, content_type="application/json", body=body)

    page.route(f"**/models/{failing}/predict*", fail)
    images, _ = mnist_test_set()
    upload = tmp_path / "digit.png"
    Image.fromarray(images[0]).save(upload)
    answers = api_answers(web.base_url, upload.read_bytes())
    page.get_by_label("Upload an image").set_input_files(upload)

    broken = entry(page, failing)
    expect(broken).to_have_attribute("data-state", "error")
    expected = "unknown_model" if failure == "gone" else "Could not reach the server"
    expect(broken).to_contain_text(expected)
    for name, answer in answers.items():
        if name != failing:
            expect(entry(page, name)).to_have_attribute("data-digit", str(answer["digit"]))
    expect(page.locator("#compare-summary")).to_contain_text("1 of")
    default = listing["default_model"]
    expect_answer_shown(page, default, answers[default])
    web.screenshot(f"13-failing-model-{failure}")

    # Picking the failing model (from its entry in the strip) shows its error as the answer.
    broken.get_by_role("button").click()
    expect(page.get_by_label("Model", exact=True)).to_have_value(failing)
    expect(page.locator("#digit")).to_have_text("?")
    expect(page.locator("#error")).to_contain_text(expected)
    expect(entry(page, default)).to_have_attribute("data-digit", str(answers[default]["digit"]))


def wait_until_served(base_url: str, name: str, served: bool) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listing = httpx.get(f"{base_url}/models").json()
        if any(m["name"] == name and m["ready"] for m in listing["models"]) == served:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} is {'still not' if served else 'still'} served")


def test_a_model_unloaded_while_the_page_is_open_leaves_and_comes_back(
    web: WebPage, tmp_path: Path
) -> None:
    page = web.page
    listing = httpx.get(f"{web.base_url}/models").json()
    default = listing["default_model"]
    others = [m["name"] for m in listing["models"] if m["ready"] and not m["default"]]
    gone = first(reversed(others), "model besides the default")
    images, _ = mnist_test_set()
    before, after = tmp_path / "before.png", tmp_path / "after.png"
    Image.fromarray(images[0]).save(before)
    Image.fromarray(images[1]).save(after)
    entries = page.locator("#compare .compare-entry")
    page.get_by_label("Upload an image").set_input_files(before)
    expect(entries).to_have_count(len([m for m in listing["models"] if m["ready"]]))
    page.get_by_label("Model", exact=True).select_option(gone)
    expect(page.locator("#model-name")).to_have_text(gone)

    unloaded = httpx.post(f"{web.base_url}/v2/repository/models/{gone}/unload")
    assert unloaded.status_code == 200, unloaded.text
    try:
        wait_until_served(web.base_url, gone, served=False)
        answers = api_answers(web.base_url, after.read_bytes())
        assert gone not in answers
        page.get_by_label("Upload an image").set_input_files(after)
        # Its failed answer makes the page re-read the models: it drops out, the default takes
        # over, and the models still served are asked again.
        expect(page.get_by_label("Model", exact=True)).to_have_value(default)
        expect(page.locator("#model-picker option")).to_have_count(len(answers))
        expect(entries).to_have_count(len(answers))
        for name, answer in answers.items():
            expect(entry(page, name)).to_have_attribute("data-digit", str(answer["digit"]))
        expect_answer_shown(page, default, answers[default])
        web.screenshot("14-model-unloaded")

        # Served again: the page finds it when the visitor comes back to the tab, and asks it.
        load(web.base_url, gone)
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        back = api_answers(web.base_url, after.read_bytes())
        expect(entries).to_have_count(len(back))
        expect(page.locator("#model-picker option")).to_have_count(len(back))
        expect(entry(page, gone)).to_have_attribute("data-digit", str(back[gone]["digit"]))
    finally:
        load(web.base_url, gone)


def load(base_url: str, name: str) -> None:
    """Serve the model again (a no-op when it is served)."""
    loaded = httpx.post(f"{base_url}/v2/repository/models/{name}/load", timeout=120)
    assert loaded.status_code == 200, loaded.text
    wait_until_served(base_url, name, served=True)
