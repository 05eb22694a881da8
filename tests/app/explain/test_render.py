"""The evidence picture: blue for, red against, opacity by strength, transparent at zero."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from app.explain.render import AGAINST, FOR, evidence_png_base64, evidence_rgba


def test_sign_picks_the_colour_and_strength_the_opacity() -> None:
    evidence = np.zeros((28, 28))
    evidence[1, 1], evidence[2, 2], evidence[3, 3] = 2.0, -1.0, 8.0
    rgba = evidence_rgba(evidence, scale=4.0)

    assert tuple(rgba[1, 1, :3]) == FOR
    assert tuple(rgba[2, 2, :3]) == AGAINST
    assert rgba[1, 1, 3] == 128  # half the scale: half opaque
    assert rgba[2, 2, 3] == 64
    assert rgba[3, 3, 3] == 255  # beyond the scale: clipped, fully opaque
    assert rgba[0, 0, 3] == 0  # no evidence: transparent


def test_all_zero_map_is_transparent() -> None:
    picture = Image.open(io.BytesIO(base64.b64decode(evidence_png_base64(np.zeros((28, 28)), 0.0))))
    assert picture.mode == "RGBA"
    assert np.asarray(picture)[..., 3].max() == 0
