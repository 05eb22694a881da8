"""Draw docs/evidence.png: three MNIST test digits and each committed model's evidence map.

Row by row a test digit (a 7, a 2, a 1); column by column the 28x28 input, then the
``explain=true`` map of the softmax (exact), the MLP and the CNN (occlusion) laid over the
input dimmed as the page dims it. The maps come from the service itself, in process, over the
committed model repository.

    .venv/bin/python -m scripts.evidence_figure [--out docs/evidence.png]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

from app.config import Settings
from app.main import create_app
from benchmarks.loadgen import digit_png, mnist_pixels

MODELS = ("mnist", "mnist-mlp", "mnist-cnn")
TITLES = ("input", "softmax (exact)", "MLP (occlusion)", "CNN (occlusion)")
SCALE, GAP, TITLE = 6, 8, 18


async def evidence_maps(indices: list[int]) -> dict[tuple[int, str], Image.Image]:
    app = create_app(Settings(poll_seconds=0, log_level="warning"))
    maps: dict[tuple[int, str], Image.Image] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://figure") as client:
            for index in indices:
                files = {"files": ("digit.png", digit_png(index), "image/png")}
                for model in MODELS:
                    url = f"/models/{model}/predict?normalize=never&explain=true"
                    response = await client.post(url, files=files)
                    response.raise_for_status()
                    encoded = response.json()["predictions"][0]["explanation"]["evidence_image"]
                    maps[index, model] = Image.open(io.BytesIO(base64.b64decode(encoded)))
    return maps


def figure(indices: list[int]) -> Image.Image:
    maps = asyncio.run(evidence_maps(indices))
    side = 28 * SCALE
    width = len(TITLES) * (side + GAP) + GAP
    height = TITLE + len(indices) * (side + GAP) + GAP
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for column, title in enumerate(TITLES):
        draw.text((GAP + column * (side + GAP), 4), title, fill="black")
    for row, index in enumerate(indices):
        pixels = mnist_pixels(index)[0]
        dimmed = Image.fromarray((pixels * 0.55).astype(np.uint8)).convert("RGBA")
        tiles = [Image.fromarray(pixels).convert("RGBA")]
        tiles += [Image.alpha_composite(dimmed, maps[index, model]) for model in MODELS]
        for column, tile in enumerate(tiles):
            position = (GAP + column * (side + GAP), TITLE + GAP + row * (side + GAP))
            canvas.paste(tile.resize((side, side), Image.Resampling.NEAREST), position)
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/evidence.png"))
    args = parser.parse_args()
    figure([0, 1, 2]).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
