"""The model picker: which models it offers, and that the picked one is the one answering.

The server serves the repository built in conftest (a softmax, an untrained MLP without weight
maps, and the softmax again without an architecture in its metadata). Every expected answer is
the API's own for the same image, asked here over HTTP, never a hard-coded digit.
"""

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, FilePayload, expect

from tests.app.samples import mnist_test_set, png
from tests.e2e.answers import (
    ARCHITECTURES,
    digit_the_models_disagree_on,
    entry,
    expect_answer_shown,
    require,
    served_models,
)
from tests.e2e.conftest import WebPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_picker_lists_the_served_models_with_the_default_picked(web: WebPage) -> None:
    listing = httpx.get(f"{web.base_url}/models").json()
    models = served_models(web.base_url)
    require(len(models) >= 2, "second model")
    picker = web.page.get_by_label("Model", exact=True)
    expect(picker).to_have_value(listing["default_model"])
    options = picker.locator("option")
    expect(options).to_have_count(len(models))
    by_name = {option.get_attribute("value"): option.inner_text() for option in options.all()}
    assert set(by_name) == {model["name"] for model in models}
    # Simplest first: softmax, MLP, CNN, then other architectures by size, then by name.
    ranks = list(ARCHITECTURES)

    def simplicity(model: dict[str, Any]) -> tuple[int, float, str]:
        metadata = model["served"]["metadata"]
        architecture = metadata.get("architecture")
        rank = ranks.index(architecture) if architecture in ranks else len(ranks)
        return rank, metadata.get("parameters", math.inf), model["name"]

    assert list(by_name) == [model["name"] for model in sorted(models, key=simplicity)]
    for model in models:
        architecture = model["served"]["metadata"].get("architecture")
        text = by_name[model["name"]]
        if architecture in ARCHITECTURES:
            assert text.startswith(f"{ARCHITECTURES[architecture]} · {model['name']}")
        else:
            assert text.startswith(model["name"]), "no architecture: named by its folder"
        assert text.endswith("(default)") == model["default"]
    assert web.problems.failed_requests == []
    assert web.problems.console_errors == []


def asks_prediction(url: str) -> bool:
    """A request of the compare round; the evidence overlay's explain=true ones are its own."""
    return "/predict" in url and "explain=true" not in url


def test_the_picked_model_is_the_one_that_answers(web: WebPage, tmp_path: Path) -> None:
    page = web.page
    image, answers = digit_the_models_disagree_on(web.base_url, tmp_path)
    # Every model is asked at once: all requests go out before the first answer comes back.
    events: list[str] = []
    page.on("request", lambda r: events.append("sent") if asks_prediction(r.url) else None)
    page.on("response", lambda r: events.append("answered") if asks_prediction(r.url) else None)
    page.get_by_label("Upload an image").set_input_files(image)
    expect(page.locator('#compare .compare-entry[data-state="done"]')).to_have_count(len(answers))
    assert events[: len(answers)] == ["sent"] * len(answers)

    picker = page.get_by_label("Model", exact=True)
    for name, answer in answers.items():
        picker.select_option(name)
        expect_answer_shown(page, name, answer)
        expect(entry(page, name).get_by_role("button")).to_have_attribute("aria-pressed", "true")
    # Switching shows the answers already in hand: no model is asked twice for one image.
    assert events.count("sent") == len(answers)

    # By keyboard, from the strip: the entry picks its model and keeps the focus.
    first = next(iter(answers))
    entry(page, first).get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(picker).to_have_value(first)
    expect_answer_shown(page, first, answers[first])
    expect(entry(page, first).get_by_role("button")).to_be_focused()
    web.screenshot("10-picked-model")
    assert web.problems.console_errors == []


def test_without_the_model_list_the_default_model_still_answers(
    browser: Browser, base_url: str
) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    try:
        page = context.new_page()
        error = {"status": 503, "code": "unavailable", "message": "listing is down"}
        body = json.dumps({"error": error})
        page.route(
            "**/models",
            lambda route: route.fulfill(status=503, content_type="application/json", body=body),
        )
        page.goto(f"{base_url}/")
        default = httpx.get(f"{base_url}/model").json()
        expect(page.locator("#model-name")).to_have_text(default["name"])
        expect(page.locator("#model-error")).to_contain_text("listing is down")
        expect(page.get_by_label("Model", exact=True)).to_be_disabled()

        images, _ = mnist_test_set()
        image = png(images[1])
        upload: FilePayload = {"name": "digit.png", "mimeType": "image/png", "buffer": image}
        page.get_by_label("Upload an image").set_input_files(upload)
        expected = httpx.post(
            f"{base_url}/predict", files={"files": ("digit.png", image, "image/png")}
        ).json()["predictions"][0]
        expect(page.locator("#digit")).to_have_text(str(expected["digit"]))
        expect(page.locator("#compare .compare-entry")).to_have_count(1)
    finally:
        context.close()
