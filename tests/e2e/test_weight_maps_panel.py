"""The weight-map panel follows the picked model, and explains when a model has none."""

import json

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.answers import first, served_models
from tests.e2e.conftest import WebPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_model_without_weight_maps_gets_an_explanation(web: WebPage) -> None:
    page = web.page
    models = served_models(web.base_url)
    without = first((m for m in models if not m["served"]["weight_maps"]), "model without maps")
    with_maps = first((m for m in models if m["served"]["weight_maps"]), "model with weight maps")
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
    description = without["served"]["metadata"].get("description", "")
    expect(page.locator("#model-description")).to_have_text(description)
    expect(page.get_by_text("Layers", exact=True)).to_be_visible(visible=bool(description))
    web.screenshot("12-no-weight-maps", page.locator(".weights-card"))

    page.get_by_label("Model", exact=True).select_option(with_maps["name"])
    image = page.get_by_role("img", name="Ten learned weight maps")
    expect(image).to_be_visible()
    url = f"models/{with_maps['name']}/weights.png?scale=5&version={with_maps['served_version']}"
    expect(image).to_have_attribute("src", url)
    page.wait_for_function("img => img.complete", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") > 0
    expect(note).to_be_hidden()
    assert web.problems.failed_requests == []
    assert web.problems.console_errors == []


@pytest.mark.parametrize(("status", "code"), [(404, "no_weight_maps"), (500, "internal_error")])
def test_weight_maps_refused_after_all_are_explained_or_reported(
    web: WebPage, status: int, code: str
) -> None:
    """The model's details promised weight maps, but the server refuses them (a new version)."""
    page = web.page
    models = served_models(web.base_url)
    candidates = (m["name"] for m in models if m["served"]["weight_maps"] and not m["default"])
    name = first(candidates, "model with weight maps besides the default")
    error = {"status": status, "code": code, "message": "refused here", "request_id": "x2"}
    body = json.dumps({"error": error})
    page.route(
        f"**/models/{name}/weights*",
        lambda route: route.fulfill(status=status, content_type="application/json", body=body),
    )
    page.get_by_label("Model", exact=True).select_option(name)
    if code == "no_weight_maps":
        expect(page.locator("#weights-none")).to_contain_text("no weight maps")
        expect(page.locator("#weights-error")).to_be_hidden()
        expect(page.get_by_role("img", name="Ten learned weight maps")).to_be_hidden()
    else:
        expect(page.locator("#weights-error")).to_contain_text("refused here")
        expect(page.locator("#weights-error")).to_contain_text(f"HTTP {status}")
        expect(page.locator("#weights-none")).to_be_hidden()
