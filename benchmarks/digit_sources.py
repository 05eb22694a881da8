"""Digits that are not MNIST, as users send them: the development set for choosing augmentation.

Three sources, each a list of (upload picture, label), all built here, deterministically:

- ``fonts``: digits typed in handwriting-style fonts on a 280x280 canvas (the page's size), at
  random sizes, places and slants, dark ink on white or light on black. The fonts are Debian
  packages (``apt-get install fonts-dkg-handwriting fonts-breip fonts-bwht fonts-femkeklaver
  fonts-humor-sans fonts-comic-neue fonts-dancingscript``); the ones missing are skipped.
- ``strokes``: digits drawn the way the drawing page draws them (round 21-px pen on a 280x280
  canvas, white on black): a few stroke templates per digit, each jittered, resized and slanted.
- ``scans``: real handwriting by 43 other people, scanned at 8x8 with 17 grey levels (UCI's
  optical digits, bundled with scikit-learn), upscaled 4x with a white margin like a small scan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Sample = tuple[Image.Image, int]
CANVAS = 280
PEN = round(CANVAS * 0.075)  # app/web/static/app.js: STROKE_FRACTION

FONT_FILES = (
    "truetype/fifthhorseman/dkg.ttf",
    "truetype/fifthhorseman/dkgBI.ttf",
    "truetype/breip/Breip.ttf",
    "truetype/femkeklaver/femkeklaver.ttf",
    "truetype/humor-sans/Humor-Sans.ttf",
    "opentype/comic-neue/ComicNeue-Regular.otf",
    "opentype/comic-neue/ComicNeue-BoldItalic.otf",
    "opentype/dancingscript/DancingScript-Regular.otf",
    "opentype/dancingscript/DancingScript-Bold.otf",
    "opentype/bwht/BecauseWeBuild-Regular.otf",
    "opentype/bwht/BecauseWeConnect-Regular.otf",
    "opentype/bwht/BecauseWeCreate-Regular.otf",
    "opentype/bwht/BecauseWeLearn-Regular.otf",
    "opentype/bwht/BecauseWeMentor-Regular.otf",
    "opentype/bwht/BecauseWeOrganize-Regular.otf",
)
FONT_ROOT = Path("/usr/share/fonts")


def installed_fonts() -> list[Path]:
    """The handwriting-style fonts of :data:`FONT_FILES` present on this machine."""
    return [FONT_ROOT / name for name in FONT_FILES if (FONT_ROOT / name).is_file()]


def fonts(per_digit_and_font: int = 6, seed: int = 0) -> list[Sample]:
    """Each digit in each installed handwriting font, ``per_digit_and_font`` times."""
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    for path in installed_fonts():
        for digit in range(10):
            for _ in range(per_digit_and_font):
                size = int(rng.uniform(110, 240))
                font = ImageFont.truetype(str(path), size)
                dark = rng.random() < 0.5
                glyph = Image.new("L", (CANVAS * 2, CANVAS * 2), 0)
                ImageDraw.Draw(glyph).text(
                    (CANVAS, CANVAS), str(digit), fill=255, font=font, anchor="mm"
                )
                glyph = glyph.rotate(rng.uniform(-10, 10), resample=Image.Resampling.BILINEAR)
                box = glyph.getbbox()
                if box is None:
                    continue
                ink = glyph.crop(box)
                if max(ink.size) > CANVAS - 8:
                    ink.thumbnail((CANVAS - 8, CANVAS - 8))
                samples.append((_place(ink, rng, dark), digit))
    return samples


def _place(ink: Image.Image, rng: np.random.Generator, dark: bool) -> Image.Image:
    """``ink`` (white on black) at a random place on the canvas, in the chosen polarity."""
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    x = int(rng.integers(0, CANVAS - ink.width + 1))
    y = int(rng.integers(0, CANVAS - ink.height + 1))
    canvas.paste(ink, (x, y))
    if dark:
        canvas = canvas.point(lambda value: 255 - value)
    return canvas.convert("RGB")


# --- strokes -------------------------------------------------------------------------------------

Stroke = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Stroke:
    """Points on an elliptic arc from ``start`` to ``end`` degrees (counter-clockwise, y up)."""
    steps = max(4, int(abs(end - start) / 12))
    angles = np.radians(np.linspace(start, end, steps))
    return [(cx + rx * math.cos(a), cy - ry * math.sin(a)) for a in angles]


# Each digit as strokes in a unit box (x right, y down), two or three ways of writing it.
TEMPLATES: dict[int, list[list[Stroke]]] = {
    0: [[_arc(0.5, 0.5, 0.32, 0.46, 90, 450)], [_arc(0.5, 0.5, 0.28, 0.46, 100, 460)]],
    1: [
        [[(0.5, 0.03), (0.5, 0.97)]],
        [[(0.3, 0.22), (0.55, 0.03), (0.55, 0.97)]],
        [[(0.3, 0.22), (0.55, 0.03), (0.55, 0.97)], [(0.3, 0.97), (0.8, 0.97)]],
    ],
    2: [
        [[*_arc(0.5, 0.3, 0.3, 0.27, 160, -20), (0.15, 0.97), (0.88, 0.97)]],
        [
            [
                *_arc(0.5, 0.3, 0.3, 0.27, 170, -40),
                (0.2, 0.9),
                *_arc(0.3, 0.88, 0.12, 0.1, 180, 300),
                (0.88, 0.95),
            ]
        ],
    ],
    3: [
        [[*_arc(0.5, 0.27, 0.28, 0.24, 150, -90)], _arc(0.5, 0.73, 0.32, 0.24, 90, -150)],
        [[(0.15, 0.03), (0.85, 0.03), (0.45, 0.42), *_arc(0.5, 0.7, 0.33, 0.27, 100, -150)]],
    ],
    4: [
        [[(0.65, 0.97), (0.65, 0.03), (0.1, 0.68), (0.92, 0.68)]],
        [[(0.2, 0.03), (0.15, 0.6), (0.88, 0.6)], [(0.66, 0.3), (0.66, 0.97)]],
    ],
    5: [
        [[(0.82, 0.03), (0.25, 0.03), (0.2, 0.45), *_arc(0.5, 0.68, 0.32, 0.28, 150, -140)]],
        [
            [(0.25, 0.03), (0.2, 0.45), *_arc(0.5, 0.68, 0.32, 0.28, 150, -140)],
            [(0.25, 0.03), (0.85, 0.03)],
        ],
    ],
    6: [
        [[(0.72, 0.03), (0.3, 0.45), *_arc(0.5, 0.72, 0.27, 0.25, 170, -190)]],
        [[*_arc(0.6, 0.55, 0.4, 0.52, 75, 180), *_arc(0.5, 0.72, 0.28, 0.25, 180, -170)]],
    ],
    7: [
        [[(0.12, 0.03), (0.88, 0.03), (0.4, 0.97)]],
        [[(0.12, 0.15), (0.12, 0.03), (0.88, 0.03), (0.45, 0.97)], [(0.35, 0.5), (0.8, 0.5)]],
    ],
    8: [
        [_arc(0.5, 0.27, 0.24, 0.23, -90, 270), _arc(0.5, 0.73, 0.3, 0.24, 90, 450)],
        [
            [
                *_arc(0.5, 0.27, 0.25, 0.24, 0, 180),
                *_arc(0.5, 0.73, 0.3, 0.24, 90, 450)[::-1],
                *_arc(0.5, 0.27, 0.25, 0.24, 180, 360),
            ]
        ],
    ],
    9: [
        [_arc(0.5, 0.3, 0.28, 0.26, 0, 360), [(0.78, 0.3), (0.7, 0.97)]],
        [[*_arc(0.5, 0.3, 0.28, 0.26, 10, 370), (0.72, 0.97)]],
    ],
}


def strokes(per_template: int = 40, seed: int = 0) -> list[Sample]:
    """Every template of every digit drawn ``per_template`` times with the page's pen."""
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    for digit, ways in TEMPLATES.items():
        for way in ways:
            for _ in range(per_template):
                samples.append((_draw(way, rng), digit))
    return samples


def _draw(way: list[Stroke], rng: np.random.Generator) -> Image.Image:
    """One hand-drawn-looking rendering: jittered points, random box, slant, white pen on black."""
    # Visitors draw big and small: a small digit gets strokes as thick as a big one's.
    height = rng.uniform(70, CANVAS - 2 * PEN - 10)
    width = height * rng.uniform(0.45, 0.95)
    slant = rng.uniform(-0.4, 0.4)
    angle = math.radians(rng.uniform(-18, 18))
    left = rng.uniform(PEN, CANVAS - PEN - width)
    top = rng.uniform(PEN, CANVAS - PEN - height)
    image = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(image)
    for stroke in way:
        points = np.array(stroke) + rng.normal(0, 0.035, (len(stroke), 2))
        u, v = points[:, 0] - 0.5, points[:, 1] - 0.5
        u = u + slant * -v
        x = math.cos(angle) * u - math.sin(angle) * v
        y = math.sin(angle) * u + math.cos(angle) * v
        xy = [
            (left + width * (a + 0.5), top + height * (b + 0.5)) for a, b in zip(x, y, strict=True)
        ]
        draw.line(xy, fill=255, width=PEN, joint="curve")
        for cx, cy in (xy[0], xy[-1]):  # round caps, as the page's lineCap
            draw.ellipse((cx - PEN / 2, cy - PEN / 2, cx + PEN / 2, cy + PEN / 2), fill=255)
    return image.convert("RGB")


# --- scans ---------------------------------------------------------------------------------------


def scans(limit: int | None = None) -> list[Sample]:
    """UCI's 8x8 handwritten digits (scikit-learn ships them), as 40x40 dark-on-white scans."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    samples: list[Sample] = []
    for values, label in zip(bunch.images[:limit], bunch.target[:limit], strict=True):
        paper = np.full((12, 12), 255, np.uint8)
        paper[2:10, 2:10] = 255 - np.round(values * 255 / 16).astype(np.uint8)
        picture = Image.fromarray(paper).resize((48, 48), Image.Resampling.BICUBIC)
        samples.append((picture, int(label)))
    return samples


SOURCES: dict[str, tuple[Callable[[], list[Sample]], str]] = {
    "fonts": (fonts, "handwriting-style fonts on a 280x280 canvas"),
    "strokes": (strokes, "strokes drawn with the page's pen on a 280x280 canvas"),
    "scans": (scans, "8x8 scans of 43 people's handwriting (UCI), upscaled"),
}


def iterate(source: str) -> Iterator[Sample]:
    """The samples of one source, by name."""
    yield from SOURCES[source][0]()


# --- things that are not digits ---------------------------------------------------------------

# Letters that are written like a digit (O and 0, l and 1, S and 5, ...) are left out: a model
# may rightly be sure of them.
LETTERS = "ACDEFHJKLMNPRUVWXYacdefhkmnprtuvwxy"


def letters(per_font: int = 1, seed: int = 0) -> list[Image.Image]:
    """Letters in the handwriting fonts, placed like the digits of :func:`fonts`."""
    rng = np.random.default_rng(seed)
    pictures = []
    for path in installed_fonts():
        for letter in LETTERS[: 12 * per_font]:
            font = ImageFont.truetype(str(path), int(rng.uniform(110, 240)))
            glyph = Image.new("L", (CANVAS * 2, CANVAS * 2), 0)
            ImageDraw.Draw(glyph).text((CANVAS, CANVAS), letter, fill=255, font=font, anchor="mm")
            box = glyph.getbbox()
            if box is not None:
                ink = glyph.crop(box)
                ink.thumbnail((CANVAS - 8, CANVAS - 8))
                pictures.append(_place(ink, rng, dark=rng.random() < 0.5))
    return pictures


def scribbles(count: int = 150, seed: int = 0) -> list[Image.Image]:
    """Random pen scribbles on the page's canvas: a wandering line of 3 to 8 turns."""
    rng = np.random.default_rng(seed)
    pictures = []
    for _ in range(count):
        turns = int(rng.integers(3, 9))
        points = [(float(x), float(y)) for x, y in rng.uniform(0.05, 0.95, size=(turns, 2))]
        pictures.append(_draw([points], rng))
    return pictures


def _polygon(corners: int, start: float, step: int = 1) -> Stroke:
    angles = [start + 360 * step * i / corners for i in range(corners + 1)]
    return [(0.5 + 0.45 * math.cos(math.radians(a)), 0.5 - 0.45 * math.sin(math.radians(a)))
            for a in angles]  # fmt: skip


SHAPES: dict[str, list[Stroke]] = {
    "triangle": [_polygon(3, 90)],
    "square": [_polygon(4, 45)],
    "star": [_polygon(5, 90, step=2)],
    "plus": [[(0.5, 0.05), (0.5, 0.95)], [(0.05, 0.5), (0.95, 0.5)]],
    "cross": [[(0.1, 0.1), (0.9, 0.9)], [(0.9, 0.1), (0.1, 0.9)]],
    "hash": [[(0.35, 0.05), (0.3, 0.95)], [(0.7, 0.05), (0.65, 0.95)],
             [(0.05, 0.35), (0.95, 0.35)], [(0.05, 0.65), (0.95, 0.65)]],
    "arrow": [[(0.05, 0.5), (0.95, 0.5)], [(0.65, 0.2), (0.95, 0.5), (0.65, 0.8)]],
    "smiley": [_arc(0.5, 0.5, 0.45, 0.45, 0, 360), _arc(0.5, 0.55, 0.25, 0.2, 200, 340),
               [(0.35, 0.35), (0.36, 0.36)], [(0.65, 0.35), (0.66, 0.36)]],
}  # fmt: skip


def shapes(per_shape: int = 20, seed: int = 0) -> list[Image.Image]:
    """Simple shapes drawn with the page's pen (no circle: it is a fair 0)."""
    rng = np.random.default_rng(seed)
    return [_draw(way, rng) for way in SHAPES.values() for _ in range(per_shape)]


NOT_DIGITS: dict[str, Callable[[], list[Image.Image]]] = {
    "letters": letters,
    "scribbles": scribbles,
    "shapes": shapes,
}
