"""The evidence overlay: the picked model's evidence map laid over the 28x28 input, with a legend.

The expected maps are the API's own for the same upload (``explain=true``); a model that cannot
explain is played by the browser's network layer answering the explain request with the 422
``cannot_explain`` the API gives such a model (its server side is tested in
tests/app/protocols/native/test_predict_explain.py).
"""

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, Request, Route, expect

from tests.app.samples import mnist_test_set
from tests.e2e.answers import api_answers, expect_answer_shown, first
from tests.e2e.conftest import WebPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def is_explain(request: Request) -> bool:
    url = urlsplit(request.url)
    return url.path.endswith("/predict") and parse_qs(url.query).get("explain") == ["true"]


def api_explanation(base_url: str, model: str, image: bytes) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/models/{model}/predict",
        params={"normalize": "auto", "explain": "true"},
        files={"files": ("digit.png", image, "image/png")},
    )
    assert response.status_code == 200, response.text
    explanation: dict[str, Any] = response.json()["predictions"][0]["explanation"]
    return explanation


def upload_digit(page: Page, tmp_path: Path, index: int = 0) -> bytes:
    images, _ = mnist_test_set()
    path = tmp_path / f"mnist-test-{index}.png"
    Image.fromarray(images[index]).save(path)
    page.get_by_label("Upload an image").set_input_files(path)
    return path.read_bytes()


def expect_overlay(page: Page, explanation: dict[str, Any]) -> None:
    """The overlay is this explanation's map, exactly over the input, with its legend."""
    overlay = page.locator("#evidence")
    expect(overlay).to_have_attribute(
        "src", f"data:image/png;base64,{explanation['evidence_image']}"
    )
    expect(overlay).to_be_visible()
    seen = page.get_by_role("img", name="The 28 by 28 pixel image the model received")
    assert overlay.bounding_box() == seen.bounding_box()
    assert overlay.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]
    digit = explanation["digit"]
    legend = page.get_by_role("list", name="What the colours mean")
    expect(legend).to_contain_text(f"Blue: ink that counts for {digit}")
    expect(legend).to_contain_text(f"Red: ink that counts against {digit}")
    expect(page.locator("#evidence-note")).to_be_hidden()


def test_the_picked_models_evidence_is_laid_over_its_input(web: WebPage, tmp_path: Path) -> None:
    page = web.page
    listing = httpx.get(f"{web.base_url}/models").json()
    default = listing["default_model"]
    explained: list[Request] = []
    page.on("request", lambda request: explained.append(request) if is_explain(request) else None)

    image = upload_digit(page, tmp_path)
    linear = api_explanation(web.base_url, default, image)
    assert linear["method"] == "linear"
    expect_overlay(page, linear)
    expect(page.locator("#evidence-method")).to_contain_text("Exact for this model")
    # Only the picked model is asked to explain, after its plain answer.
    assert {urlsplit(r.url).path for r in explained} == {f"/models/{default}/predict"}
    web.screenshot("21-evidence-linear", page.locator(".result-card"))

    # Another model: its own map, found by occlusion.
    others = (m["name"] for m in listing["models"] if m["ready"] and m["name"] == "mnist-mlp")
    other = first(others, "the MLP, a model without weights")
    page.get_by_label("Model", exact=True).select_option(other)
    occlusion = api_explanation(web.base_url, other, image)
    assert occlusion["method"] == "occlusion"
    expect_overlay(page, occlusion)
    patch = "2 \N{MULTIPLICATION SIGN} 2-pixel patch"
    expect(page.locator("#evidence-method")).to_contain_text(f"hiding each {patch}")
    web.screenshot("22-evidence-occlusion", page.locator(".result-card"))

    # The visitor can hide it to see the input alone, and bring it back.
    toggle = page.get_by_label("Show where the evidence is")
    toggle.uncheck()
    expect(page.locator("#evidence")).to_be_hidden()
    toggle.check()
    expect(page.locator("#evidence")).to_be_visible()

    # Back to the first model: its map again, from what the page already has.
    sent = len(explained)
    page.get_by_label("Model", exact=True).select_option(default)
    expect_overlay(page, linear)
    assert len(explained) == sent
    assert web.problems.failed_requests == []
    assert web.problems.console_errors == []


def test_a_model_that_cannot_explain_still_shows_its_answer(web: WebPage, tmp_path: Path) -> None:
    page = web.page
    default = httpx.get(f"{web.base_url}/models").json()["default_model"]
    message = f"model '{default}' version 1 cannot explain its predictions"
    error = {"status": 422, "code": "cannot_explain", "message": message, "request_id": "x2"}

    def refuse(route: Route) -> None:
        if is_explain(route.request):
            route.fulfill(
                status=422, content_type="application/json", body=json.dumps({"error": error})
            )
        else:
            route.continue_()

    page.route("**/predict?*", refuse)
    image = upload_digit(page, tmp_path, index=1)
    answer = api_answers(web.base_url, image)[default]

    note = page.locator("#evidence-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("cannot show where its evidence is")
    expect_answer_shown(page, default, answer)  # the answer stands; no error alert
    expect(page.locator("#evidence")).to_be_hidden()
    expect(page.locator("#evidence-key")).to_be_hidden()
    web.screenshot("23-evidence-cannot-explain", page.locator(".result-card"))
    # Chromium logs every 4xx response; anything else would be the page's own error.
    refused = "the server responded with a status of 422"
    assert [e for e in web.problems.console_errors if refused not in e] == []


def test_clearing_the_pad_removes_the_evidence(web: WebPage, tmp_path: Path) -> None:
    page = web.page
    upload_digit(page, tmp_path, index=2)
    expect(page.locator("#evidence")).to_be_visible()
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#evidence")).to_be_hidden()
    expect(page.locator("#evidence-key")).to_be_hidden()
    expect(page.locator("#seen")).to_be_hidden()
