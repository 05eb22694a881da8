"""What the API answers, and how the page shows it: shared by the multi-model browser tests."""

import os
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.app.samples import mnist_test_set, png


def require(ok: bool, what: str) -> None:
    """Our own test server always has ``what``; one named by E2E_BASE_URL may not: then skip."""
    if ok:
        return
    if os.environ.get("E2E_BASE_URL"):
        pytest.skip(f"the server at E2E_BASE_URL has no {what}")
    raise AssertionError(f"the test repository (tests/e2e/conftest.py) should have {what}")


def first(items: Iterable[Any], what: str) -> Any:
    """The first of ``items``, or a skip / failure (see :func:`require`) when there is none."""
    for item in items:
        return item
    require(False, what)
    raise AssertionError("unreachable")


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
    require(False, "two models that disagree on one of the first 200 MNIST test digits")
    raise AssertionError("unreachable")


def fixed(value: float, decimals: int) -> str:
    """JavaScript's ``value.toFixed(decimals)``: the exact double, ties rounded up."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP))


def percent(p: float) -> str:
    """A probability as the page writes it (app/web/static/api.js)."""
    return f"{fixed(p * 100, 0 if p >= 0.9995 or p < 0.0005 else 1)}%"


def entry(page: Page, name: str) -> Locator:
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
