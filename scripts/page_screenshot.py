"""Photograph the drawing page for the README: serve a model repository, upload one MNIST test
digit, and save the full page as the browser shows it.

    .venv/bin/python -m scripts.page_screenshot --model-dir model --index 33

Pick a digit the models disagree on (``--find`` lists test digits the default model gets wrong
and the others get right) so the picture shows why the bigger models exist.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from tests.app.samples import png
from tests.app.server_process import running_server
from tests.e2e.conftest import CHROMIUM_ARGS, find_chromium
from training.data import load_mnist

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "mnist"


def disagreements(url: str, images: list[bytes], labels: list[int], limit: int) -> None:
    """Print test digits the default model gets wrong and every other served model gets right."""
    listing = httpx.get(f"{url}/models").json()
    names = [m["name"] for m in listing["models"] if m["ready"]]
    found = 0
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        answers = {
            name: httpx.post(
                f"{url}/models/{name}/predict", files={"files": ("d.png", image, "image/png")}
            ).json()["predictions"][0]
            for name in names
        }
        default = listing["default_model"]
        others = [a["digit"] == label for n, a in answers.items() if n != default]
        if answers[default]["digit"] != label and others and all(others):
            line = ", ".join(
                f"{n} {a['digit']} ({a['confidence']:.1%})" for n, a in answers.items()
            )
            print(f"--index {index}: a {label}; {line}")
            found += 1
            if found == limit:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description="Photograph the drawing page for the README.")
    parser.add_argument("--model-dir", type=Path, default=Path("model"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--index", type=int, default=33, help="the MNIST test digit to upload")
    parser.add_argument("--find", type=int, default=0, help="list this many disagreements")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        parser.error("no Chromium: apt-get install chromium")
    mnist = load_mnist(args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="page-screenshot-"))
    env = {"MNIST_MODEL_DIR": str(args.model_dir.resolve())}
    with running_server(env, work / "uvicorn.log") as server:
        if args.find:
            pngs = [png(pixels) for pixels in mnist.test_images[:2000]]
            disagreements(server.url, pngs, [int(x) for x in mnist.test_labels[:2000]], args.find)
            return
        # Uploaded at 280x280, as a photo would be, so the canvas shows it crisply.
        upload = work / f"mnist-test-{args.index}.png"
        digit = Image.fromarray(mnist.test_images[args.index])
        digit.resize((280, 280), Image.Resampling.LANCZOS).save(upload)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1200, "height": 1000}, color_scheme="light")
            page.goto(f"{server.url}/")
            expect(page.locator("#model-version")).not_to_have_text("…")
            page.get_by_label("Upload an image").set_input_files(upload)
            served = page.locator("#model-picker option").count()
            answered = page.locator('#compare .compare-entry:not([data-state="pending"])')
            expect(answered).to_have_count(served)
            page.wait_for_function("() => [...document.images].every(image => image.complete)")
            page.screenshot(path=str(args.out), full_page=True, animations="disabled")
            print(page.locator("#compare-summary").inner_text())
            browser.close()
    Image.open(args.out).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
