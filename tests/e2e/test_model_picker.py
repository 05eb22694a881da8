"""Several models on the page: the picker, the compare strip and the weight-map panel.

The server serves the repository built in conftest (a softmax, an untrained MLP without weight
maps, and the softmax again without an architecture in its metadata). Every expected answer is
the API's own for the same image, asked here over HTTP, never a hard-coded digit.
"""

import base64
import json
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, Route, expect

from tests.app.samples import mnist_test_set, png
from tests.e2e.conftest import WebPage
from tests.e2e.drawing import CLOSED_LOOP, draw_with_mouse

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# What training writes as "architecture", and the name the page gives it.
ARCHITECTURES = {
    "softmax": "Softmax regression",
    "mlp": "Multi-layer perceptron",
    "cnn": "Convolutional network",
}


def served_models(base_url: str) -> list[dict[str, Any]]:
    """``GET /models/{name}`` of every model with an available version."""
    listing = httpx.get(f"{base_url}/models").json()
    ready = [model["name"] for model in listing["models"] if model["ready"]]
    return [httpx.get(f"{base_url}/models/{name}").json() for name in ready]


def api_answers(base_url: str, image: bytes) -> dict[str, dict[str, Any]]:
    """Each served model's prediction for one PNG, as the page asks for it."""
    answers = {}
    for model in served_models(base_url):
        response = httpx.post(
            f"{base_url}/models/{model['name']}/predict",
            params={"normalize": "auto", "return_input": "true"},
            files={"files": ("digit.png", image, "image/png")},
        )
        assert response.status_code == 200, response.text
        answers[model["name"]] = response.json()["predictions"][0]
    return answers


def digit_the_models_disagree_on(base_url: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """An MNIST test digit that the served models do not all read the same, and their answers."""
    images, _ = mnist_test_set()
    for index in range(200):
        image = png(images[index])
        answers = api_answers(base_url, image)
        if len({answer["digit"] for answer in answers.values()}) > 1:
            path = tmp_path / f"mnist-test-{index}.png"
            path.write_bytes(image)
            return path, answers
    raise AssertionError("the served models agree on the first 200 test digits")


def fixed(value: float, decimals: int) -> str:
    """JavaScript's ``value.toFixed(decimals)``: the exact double, ties rounded up."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP))


def percent(p: float) -> str:
    """A probability as the page writes it (app/web/static/api.js)."""
    return f"{fixed(p * 100, 0 if p >= 0.9995 or p < 0.0005 else 1)}%"


def entry(page: Page, name: str) -> Any:
    return page.locator(f'#compare .compare-entry[data-model="{name}"]')


def expect_answer_shown(page: Page, name: str, answer: dict[str, Any]) -> None:
    """The big digit, its confidence and the probability bars are this model's answer."""
    expect(page.locator("#digit")).to_have_text(str(answer["digit"]))
    expect(page.locator("#model-name")).to_have_text(name)
    expect(page.locator("#confidence")).to_have_text(f"{percent(answer['confidence'])} sure")
    meters = page.get_by_role("meter")
    for digit, p in enumerate(answer["probabilities"]):
        expect(meters.nth(digit)).to_have_attribute("aria-valuenow", fixed(p * 100, 1))
    seen = page.get_by_role("img", name="The 28 by 28 pixel image the model received")
    expect(seen).to_be_visible()
    assert seen.evaluate("img => img.src") == f"data:image/png;base64,{answer['input_image']}"
    expect(page.locator("#error")).to_be_hidden()


def test_the_picker_lists_the_served_models_with_the_default_picked(web: WebPage) -> None:
    listing = httpx.get(f"{web.base_url}/models").json()
    models = served_models(web.base_url)
    assert len(models) >= 2, "the test repository serves several models"
    picker = web.page.get_by_label("Model", exact=True)
    expect(picker).to_have_value(listing["default_model"])
    options = picker.locator("option")
    expect(options).to_have_count(len(models))
    by_name = {option.get_attribute("value"): option.inner_text() for option in options.all()}
    assert set(by_name) == {model["name"] for model in models}
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


def test_the_picked_model_is_the_one_that_answers(web: WebPage, tmp_path: Path) -> None:
    page = web.page
    image, answers = digit_the_models_disagree_on(web.base_url, tmp_path)
    # Every model is asked at once: all requests go out before the first answer comes back.
    events: list[str] = []
    page.on("request", lambda r: events.append("sent") if "/predict" in r.url else None)
    page.on("response", lambda r: events.append("answered") if "/predict" in r.url else None)
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
    web.screenshot("10-picked-model")
    assert web.problems.console_errors == []


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


def test_a_model_without_weight_maps_gets_an_explanation(web: WebPage) -> None:
    page = web.page
    models = served_models(web.base_url)
    without = next(m for m in models if not m["served"]["weight_maps"])
    with_maps = next(m for m in models if m["served"]["weight_maps"])
    refused = httpx.get(f"{web.base_url}/models/{without['name']}/weights.png")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "no_weight_maps"

    page.get_by_label("Model", exact=True).select_option(without["name"])
    note = page.locator("#weights-none")
    expect(note).to_be_visible()
    expect(note).to_contain_text("no weight maps")
    expect(page.get_by_role("img", name="Ten learned weight maps")).to_be_hidden()
    expect(page.locator("#weights-error")).to_be_hidden()
    expect(page.locator("#model-name")).to_have_text(without["name"])
    web.screenshot("12-no-weight-maps", page.locator(".weights-card"))

    page.get_by_label("Model", exact=True).select_option(with_maps["name"])
    image = page.get_by_role("img", name="Ten learned weight maps")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("src", f"models/{with_maps['name']}/weights.png?scale=5")
    page.wait_for_function("img => img.complete", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") > 0
    expect(note).to_be_hidden()
    assert web.problems.failed_requests == []
    assert web.problems.console_errors == []


@pytest.mark.parametrize("failure", ["gone", "unreachable"])
def test_a_failing_model_shows_its_error_and_the_others_still_answer(
    web: WebPage, tmp_path: Path, failure: str
) -> None:
    page = web.page
    listing = httpx.get(f"{web.base_url}/models").json()
    failing = next(m["name"] for m in listing["models"] if m["ready"] and not m["default"])
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
