"""Polarity, background and denoising, for digits cropped close too: ink on every border."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageFilter

from app.images.background import (
    TWO_LEVELS,
    background,
    border,
    denoise,
    image_noise,
    light_on_dark,
    otsu_threshold,
    paper_noise,
    separability,
)
from app.images.normalize import BlankImageError, NormalizeMode, normalize, prepare, to_luminance

Pixels = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]


def felt_tip_zero(width: int = 120, stroke: int = 36) -> Image.Image:
    """A bold '0' cropped at its ink: it touches all four borders and covers ~70% of the image."""
    height = round(width * 1.3)
    image = Image.new("L", (width, height), 255)
    ImageDraw.Draw(image).rounded_rectangle(
        [0, 0, width - 1, height - 1], radius=round(width * 0.3), outline=0, width=stroke
    )
    return image


def gray(image: Image.Image) -> FloatImage:
    return to_luminance(image, strict=False)


def test_a_bold_digit_whose_frame_is_mostly_ink_keeps_its_polarity() -> None:
    dark = gray(felt_tip_zero())
    # The frame alone would take the ink for paper: more than half of it is stroke.
    assert float(np.mean(border(dark) < 128)) > 0.5
    assert float(np.mean(dark < 128)) > 0.6

    np.testing.assert_array_equal(light_on_dark(dark), 255 - dark)
    np.testing.assert_array_equal(light_on_dark(255 - dark), 255 - dark)


def test_the_hole_of_a_bold_zero_stays_paper_at_every_size() -> None:
    for side in (8, 10, 12, 16, 20, 28, 120):
        picture = felt_tip_zero().resize((side, round(side * 1.3)), Image.Resampling.BOX)
        inverse = Image.fromarray(255 - np.asarray(picture))

        dark_ink = prepare(picture, NormalizeMode.AUTO).pixels
        light_ink = prepare(inverse, NormalizeMode.AUTO).pixels

        np.testing.assert_array_equal(dark_ink, light_ink)
        assert dark_ink.max() == 255
        assert dark_ink[0].max() == dark_ink[-1].max() == 0  # light ink on a black field
        # The centre of mass is the centre, inside the hole: ink there means the polarity flipped.
        assert dark_ink[13:15, 13:15].max() < 64, side


def test_background_under_a_felt_tip_stays_on_the_paper() -> None:
    # Light strokes 40 pixels wide cover 5/8 of a 160x160 image: whole 32-pixel cells are ink.
    image = np.full((160, 160), 20.0, dtype=np.float32)
    for left in range(0, 160, 64):
        image[:, left : left + 40] = 220.0

    field = background(image)

    assert float(np.mean(image > 120)) > 0.6
    assert float(field.max()) < 21.0


def test_paper_noise_ignores_ink_covering_most_of_the_image() -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(30.0, 4.0, (128, 128)).astype(np.float32)
    image[:, 16:96] += 170.0  # ink over 5/8 of the pixels
    whole_median = float(np.median(image))

    level, spread = paper_noise(image, otsu_threshold(image))

    assert whole_median > 150  # the whole image's median is a stroke level
    assert abs(level - 30.0) < 1.0
    assert 3.0 < spread < 5.0


def test_a_tiny_crop_has_no_noise_in_its_anti_aliased_edges() -> None:
    # A smooth 12x12 blob: its edge ramp spreads the paper's levels, but it is not noise.
    ys, xs = np.mgrid[0:12, 0:12].astype(np.float32)
    image = (220.0 / (1 + np.exp((np.hypot(ys - 5.5, xs - 5.5) - 4.0) * 1.5))).astype(np.float32)
    below = image[image < otsu_threshold(image)]
    mad_spread = 1.4826 * float(np.median(np.abs(below - np.median(below))))

    _, spread = paper_noise(image, otsu_threshold(image))

    assert mad_spread > 10.0
    assert spread < 0.5 * mad_spread


def test_separability_tells_a_digit_from_noise() -> None:
    noise = np.random.default_rng(1).normal(128.0, 30.0, (64, 64)).astype(np.float32)
    digit = gray(felt_tip_zero(60, 18))

    assert separability(noise, otsu_threshold(noise)) < TWO_LEVELS
    assert separability(digit, otsu_threshold(digit)) > TWO_LEVELS


def seven(size: int, stroke: int) -> Image.Image:
    image = Image.new("L", (size, size), 255)
    s = size / 200
    ImageDraw.Draw(image).line(
        [(50 * s, 40 * s), (150 * s, 40 * s), (80 * s, 170 * s)], fill=0, width=stroke
    )
    return image


def cropped(image: Image.Image, sides: str, margin: int = 20) -> Image.Image:
    """``image`` cut at its ink on the given sides (t, b, l, r), ``margin`` kept on the others."""
    ink = np.asarray(image) < 128
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    top = rows[0] - (0 if "t" in sides else margin)
    bottom = rows[-1] + 1 + (0 if "b" in sides else margin)
    left = cols[0] - (0 if "l" in sides else margin)
    right = cols[-1] + 1 + (0 if "r" in sides else margin)
    return image.crop((int(left), int(top), int(right), int(bottom)))


def best_overlap(a: Pixels, b: Pixels) -> float:
    """Intersection over union of the two images' ink, ``b`` shifted by up to one pixel.

    Cutting the margin moves the digit on the pixel grid, and the centre of mass is placed on a
    whole pixel, so the same digit can land one pixel apart.
    """
    scores = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            shifted = np.roll(np.roll(b, dy, axis=0), dx, axis=1) >= 128
            scores.append(float((shifted & (a >= 128)).sum() / (shifted | (a >= 128)).sum()))
    return max(scores)


@pytest.mark.parametrize("sides", ["t", "tl", "tlb", "tlbr", "r", "br"])
@pytest.mark.parametrize("stroke", [3, 14, 40])
def test_ink_touching_the_borders_gives_the_digit_drawn_with_a_margin(
    sides: str, stroke: int
) -> None:
    with_margin = normalize(gray(seven(200, stroke)))
    picture = cropped(seven(200, stroke), sides)
    for polarity in (picture, Image.fromarray(255 - np.asarray(picture))):
        pixels = normalize(gray(polarity))

        # The same strokes, but a stroke cut at a border ends there at full strength, without
        # its anti-aliased fringe: at most one pixel wider on a stroke ~3 pixels wide, 3 / 4.
        assert best_overlap(with_margin, pixels) >= 0.75


@pytest.mark.parametrize(
    "size", [(1, 1), (1, 7), (2, 2), (3, 3), (8, 8), (8, 3), (16, 16), (28, 28), (40, 9)]
)
@pytest.mark.parametrize("value", [0, 97, 255])
def test_a_blank_image_of_any_size_is_refused(size: tuple[int, int], value: int) -> None:
    for mode in (NormalizeMode.AUTO, NormalizeMode.ALWAYS):
        with pytest.raises(BlankImageError):
            prepare(Image.new("L", size, value), mode)


@pytest.mark.parametrize("side", [8, 16, 28, 64])
def test_noisy_blank_paper_is_refused_even_when_small(side: int) -> None:
    for seed in range(10):
        paper = np.random.default_rng(seed).normal(160, 20, (side, side))
        with pytest.raises(BlankImageError):
            prepare(Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)), NormalizeMode.AUTO)


def test_any_tiny_image_gives_a_digit_or_no_ink() -> None:
    rng = np.random.default_rng(2)
    outcomes = set()
    for _ in range(300):
        height, width = (int(n) for n in rng.integers(1, 13, 2))
        levels = rng.integers(0, 256, 2)
        pixels = rng.integers(min(levels), max(levels) + 1, (height, width)).astype(np.uint8)
        try:
            prepared = prepare(Image.fromarray(pixels), NormalizeMode.AUTO)
        except BlankImageError:
            outcomes.add("no_ink")
            continue
        assert prepared.pixels.shape == (28, 28)
        assert prepared.pixels.dtype == np.uint8
        outcomes.add("digit")
    assert outcomes == {"digit", "no_ink"}


# A handwritten '0' as UCI's optical digits store it: 8x8, 17 grey levels, no margin.
SCANNED_ZERO = np.array(
    [
        [0, 0, 5, 13, 9, 1, 0, 0],
        [0, 0, 13, 15, 10, 15, 5, 0],
        [0, 3, 15, 2, 0, 11, 8, 0],
        [0, 4, 12, 0, 0, 8, 8, 0],
        [0, 5, 8, 0, 0, 9, 8, 0],
        [0, 4, 11, 0, 1, 12, 7, 0],
        [0, 2, 14, 5, 10, 12, 0, 0],
        [0, 0, 6, 13, 10, 0, 0, 0],
    ]
)


@pytest.mark.parametrize("side", [8, 16, 24, 32, 56])
def test_a_small_scan_cropped_close_is_read_in_both_polarities(side: int) -> None:
    light = Image.fromarray(np.round(SCANNED_ZERO * 255 / 16).astype(np.uint8))
    light = light.resize((side, side), Image.Resampling.BICUBIC)
    dark = Image.fromarray(255 - np.asarray(light))

    from_light = prepare(light, NormalizeMode.AUTO).pixels
    from_dark = prepare(dark, NormalizeMode.AUTO).pixels

    np.testing.assert_array_equal(from_light, from_dark)
    assert from_light.max() == 255
    assert from_light[13:15, 13:15].max() < 64  # the 0's hole
    # The ring goes round the hole: ink above, below, left and right of the centre.
    assert from_light[4:12, 12:16].max() >= 128
    assert from_light[16:24, 12:16].max() >= 128
    assert from_light[12:16, 4:12].max() >= 128
    assert from_light[12:16, 16:24].max() >= 128


# --- the median filter gives exactly Pillow's MedianFilter(3) ---------------------------------


def pillow_median(gray: FloatImage) -> FloatImage:
    return np.asarray(Image.fromarray(gray).filter(ImageFilter.MedianFilter(3)), np.float32)


@pytest.mark.parametrize("shape", [(512, 512), (64, 300), (97, 64), (513, 77)])
@pytest.mark.parametrize("levels", ["continuous", "few levels", "grey levels"])
def test_denoise_is_pillows_3x3_median_with_repeated_edges(
    shape: tuple[int, int], levels: str
) -> None:
    rng = np.random.default_rng(sum(shape))
    values = {
        "continuous": rng.random(shape) * 255,
        "few levels": rng.integers(0, 3, shape),  # ties everywhere
        "grey levels": rng.integers(0, 256, shape),
    }[levels].astype(np.float32)
    np.testing.assert_array_equal(denoise(values), pillow_median(values))


def test_small_images_are_left_as_they_are() -> None:
    values = np.arange(63 * 80, dtype=np.float32).reshape(63, 80)
    assert denoise(values) is values


def test_a_large_image_takes_its_noise_and_background_levels_from_a_quarter_of_its_pixels() -> None:
    """Every other row and column: hot pixels on the odd ones, a quarter of the image, are
    not seen, and the levels are those of the pixels sampled, for a quarter of the work."""
    rng = np.random.default_rng(5)
    image = (60 + rng.normal(0, 6, (512, 512))).astype(np.float32)
    image[1::2, 1::2] = 250.0
    sample = image[::2, ::2]
    level, spread = image_noise(image)
    assert level == pytest.approx(float(np.median(sample)))
    assert spread == pytest.approx(1.4826 * float(np.median(np.abs(sample - level))))
    assert paper_noise(image, 200.0) == (level, spread)
    assert spread == pytest.approx(6.0, rel=0.05)
    field = background(image)
    assert float(field.max()) < 60.0  # the cells' 20th percentile of the paper alone


def test_a_small_image_takes_its_levels_from_every_pixel() -> None:
    image = np.arange(100 * 100, dtype=np.float32).reshape(100, 100) % 97
    level, _ = image_noise(image)
    assert level == float(np.median(image))
