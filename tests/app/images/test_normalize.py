"""The MNIST normalisation pipeline, pinned on synthetic shapes and on real MNIST test digits."""

from __future__ import annotations

import base64
import io

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw

from app.images.normalize import (
    MNIST_FORM_HAS_INK,
    BlankImageError,
    NormalizeMode,
    WrongSizeError,
    encode_png_base64,
    looks_like_mnist,
    normalize,
    prepare,
    to_luminance,
)
from tests.app.samples import mnist_test_set

Pixels = npt.NDArray[np.uint8]


def mnist_test_images(count: int) -> Pixels:
    return mnist_test_set(count)[0]


def canvas(size: tuple[int, int] = (200, 200), ink: int = 0, paper: int = 255) -> Image.Image:
    return Image.new("L", size, paper)


def centre_of_mass(pixels: Pixels) -> tuple[float, float]:
    ys, xs = np.indices(pixels.shape)
    total = float(pixels.sum())
    return float((ys * pixels).sum()) / total, float((xs * pixels).sum()) / total


def ink_extent(pixels: Pixels) -> tuple[int, int]:
    """Height and width of the bounding box of pixels at half intensity or more."""
    rows, cols = (
        np.flatnonzero((pixels >= 128).any(axis=1)),
        np.flatnonzero((pixels >= 128).any(axis=0)),
    )
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def overlap(a: Pixels, b: Pixels) -> float:
    """Intersection over union of the two images' ink (pixels at half intensity or more)."""
    a_ink, b_ink = a >= 128, b >= 128
    return float((a_ink & b_ink).sum() / (a_ink | b_ink).sum())


def overlap_bound(reference: Pixels, low: int, high: int) -> float:
    """The least overlap with ``reference`` if only its pixels in ``[low, high)`` change sides.

    A step that moves no grey level by more than the band's reach can only flip pixels whose
    level lies within it: ink pixels below ``high`` may fall below 128, background pixels from
    ``low`` up may rise above it, and nothing else crosses.
    """
    ink = reference >= 128
    lost = int((ink & (reference < high)).sum())
    gained = int((~ink & (reference >= low)).sum())
    return (int(ink.sum()) - lost) / (int(ink.sum()) + gained)


def seven(size: int = 200, polarity: str = "dark_on_light", width: int = 16) -> Image.Image:
    """A lopsided '7': its centre of mass is far from the centre of its bounding box."""
    ink, paper = (0, 255) if polarity == "dark_on_light" else (255, 0)
    image = canvas((size, size), paper=paper)
    draw = ImageDraw.Draw(image)
    s = size / 200
    draw.line([(50 * s, 40 * s), (150 * s, 40 * s), (80 * s, 170 * s)], fill=ink, width=width)
    return image


def test_a_centred_bar_stays_centred_and_fills_the_20_pixel_box() -> None:
    image = canvas()
    ImageDraw.Draw(image).rectangle([90, 40, 109, 159], fill=0)  # 20 wide, 120 tall

    pixels = normalize(to_luminance(image, strict=False))

    assert pixels.shape == (28, 28)
    assert pixels.dtype == np.uint8
    cy, cx = centre_of_mass(pixels)
    assert abs(cy - 14) <= 0.5
    assert abs(cx - 14) <= 0.5
    height, width = ink_extent(pixels)
    assert height == 20
    assert 2 <= width <= 5  # aspect ratio 1:6 kept, not stretched to a square
    # A symmetric shape stays symmetric about MNIST's centre column (index 14).
    np.testing.assert_array_equal(pixels[:, 1:], pixels[:, :0:-1])


def test_an_off_centre_shape_is_moved_to_its_centre_of_mass() -> None:
    image = canvas((400, 300))
    top_left = seven(200)
    image.paste(top_left, (10, 5))

    pixels = normalize(to_luminance(image, strict=False))

    cy, cx = centre_of_mass(pixels)
    assert abs(cy - 14) <= 0.5
    assert abs(cx - 14) <= 0.5
    rows = np.flatnonzero(pixels.any(axis=1))
    # The 7's mass sits high, so the box's own centre lies below the field's centre.
    assert (rows[0] + rows[-1]) / 2 > 14.5


@pytest.mark.parametrize("size", [28, 60, 300])
def test_both_polarities_give_light_ink_on_black(size: int) -> None:
    width = max(2, size // 12)
    dark_ink = normalize(to_luminance(seven(size, "dark_on_light", width), strict=False))
    light_ink = normalize(to_luminance(seven(size, "light_on_dark", width), strict=False))

    for pixels in (dark_ink, light_ink):
        assert pixels[0].max() == 0
        assert pixels[:, 0].max() == 0
        assert pixels.max() == 255
    np.testing.assert_array_equal(dark_ink, light_ink)


def transparent_seven(ink_rgb: tuple[int, int, int], garbage: bool) -> Image.Image:
    alpha = np.asarray(seven(140, "light_on_dark", 12))
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (*alpha.shape, 3)) if garbage else np.zeros((*alpha.shape, 3))
    rgb[alpha > 0] = ink_rgb
    return Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA")


@pytest.mark.parametrize(
    ("ink_rgb", "garbage"),
    [((0, 0, 0), True), ((0, 0, 0), False), ((255, 255, 255), True), ((20, 40, 200), True)],
    ids=["black-ink-garbage", "black-ink-black", "white-ink-garbage", "blue-ink-garbage"],
)
def test_a_transparent_background_is_background_whatever_its_colour(
    ink_rgb: tuple[int, int, int], garbage: bool
) -> None:
    expected = normalize(to_luminance(seven(140, "light_on_dark", 12), strict=False))

    pixels = prepare(transparent_seven(ink_rgb, garbage), NormalizeMode.AUTO).pixels

    # Bit-identical: the seven is drawn without anti-aliasing, so alpha is 0 or 255 and
    # compositing is exact whatever colour hides under it; the ink then differs from the
    # reference only in contrast (203 grey levels for the blue ink instead of 255), and
    # normalisation takes its thresholds and ink level from the image, so contrast cancels out.
    np.testing.assert_array_equal(pixels, expected)


def test_strict_luminance_composites_transparency_on_black() -> None:
    image = transparent_seven((255, 255, 255), garbage=True)
    alpha = np.asarray(image)[..., 3]

    gray = to_luminance(image, strict=True)

    np.testing.assert_allclose(gray, alpha, atol=1e-3)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (300, 200), 255),
        Image.new("L", (28, 28), 0),
        Image.new("RGB", (64, 64), (40, 90, 200)),
        Image.new("RGBA", (100, 100), (0, 0, 0, 0)),
        Image.fromarray(np.random.default_rng(0).normal(200, 6, (240, 320)).astype(np.uint8)),
    ],
    ids=["white", "black-28x28", "flat-colour", "fully-transparent", "noisy-paper"],
)
@pytest.mark.parametrize("mode", [NormalizeMode.AUTO, NormalizeMode.ALWAYS])
def test_an_image_without_ink_is_refused(image: Image.Image, mode: NormalizeMode) -> None:
    with pytest.raises(BlankImageError):
        prepare(image, mode)


@pytest.mark.parametrize("value", [0, 255])
def test_a_blank_28x28_image_is_refused_in_strict_mode_too(value: int) -> None:
    with pytest.raises(BlankImageError):
        prepare(Image.new("L", (28, 28), value), NormalizeMode.NEVER)


def test_uneven_light_and_noise_do_not_change_the_digit() -> None:
    clean = normalize(to_luminance(seven(200, width=14), strict=False))
    height, width = 300, 400
    ys, xs = np.mgrid[0:height, 0:width]
    paper = 110 + 120 * xs / width + 20 * np.sin(ys / 40)  # dim on the left, bright on the right
    paper += np.random.default_rng(5).normal(0, 10, paper.shape)
    ink = np.zeros((height, width))
    ink[60:260, 120:320] = 1 - np.asarray(seven(200, width=14)) / 255
    photo = Image.fromarray(np.clip(paper * (1 - 0.7 * ink), 0, 255).astype(np.uint8))

    pixels = normalize(to_luminance(photo, strict=False))

    assert pixels[clean == 0].max() <= 64  # no paper grain or shading left as ink
    # The ink's contrast is 0.7 of the paper, which under the digit spans ~141..211 grey levels:
    # +-20 % around the median stroke level the soft ink is scaled to. A clean pixel of level v
    # so comes out between 0.8 v and 1.2 v (the noise, averaged over the ~7x7 source pixels of
    # each output pixel, adds ~1 level), and only levels from 107 (1.2 v = 128) to 160
    # (0.8 v = 128) can cross the threshold. That allows an overlap down to ~0.81.
    assert overlap(clean, pixels) >= overlap_bound(clean, 107, 160)


def test_a_speck_far_from_the_digit_does_not_shrink_it() -> None:
    clean = normalize(to_luminance(seven(200), strict=False))
    dirty = seven(200)
    ImageDraw.Draw(dirty).ellipse([185, 185, 190, 190], fill=0)

    np.testing.assert_array_equal(normalize(to_luminance(dirty, strict=False)), clean)


def test_a_thin_pen_is_thickened_towards_mnist_strokes() -> None:
    thin = normalize(to_luminance(seven(280, width=3), strict=False))
    bold = normalize(to_luminance(seven(280, width=36), strict=False))

    # Thickened, the thin pen is drawn at the 2.5-pixel minimum against the bold pen's ~3.3
    # pixels (36 of a ~218-pixel box scaled to 20), so on the same skeleton their ink areas stand
    # ~0.76 apart, less the dilation radius rounded to whole source pixels (~0.1 pixel of width
    # each side here): at least 2.3 / 3.3 = 0.7. Unthickened (~0.3 pixel wide) it is ~0.01.
    assert (thin >= 128).sum() >= 0.7 * (bold >= 128).sum()


def test_mnist_test_images_pass_through_auto_bit_identical() -> None:
    for digit in mnist_test_images(50):
        for image in (Image.fromarray(digit), Image.fromarray(digit).convert("RGB")):
            auto = prepare(image, NormalizeMode.AUTO)
            never = prepare(image, NormalizeMode.NEVER)
            assert not auto.normalized
            assert not never.normalized
            np.testing.assert_array_equal(auto.pixels, digit)
            np.testing.assert_array_equal(never.pixels, digit)


def test_always_normalises_28x28_and_keeps_an_mnist_digit_close() -> None:
    digits = mnist_test_images(20)
    for digit in digits:
        prepared = prepare(Image.fromarray(digit), NormalizeMode.ALWAYS)
        assert prepared.normalized
        # An MNIST digit is already normalised, so the step refits it into the same 20-pixel
        # box (to a pixel: it fits the sure strokes, MNIST the anti-aliased ink) around nearly
        # the same centre of mass (re-rounded to whole pixels, so within half of one).
        height, width = ink_extent(digit)
        assert abs(ink_extent(prepared.pixels)[0] - height) <= 1
        assert abs(ink_extent(prepared.pixels)[1] - width) <= 1
        shift = np.subtract(centre_of_mass(prepared.pixels), centre_of_mass(digit))
        assert np.abs(shift).max() <= 0.5
        # What is left is resampling at a scale within one box pixel (5 %) of 1:1, which moves
        # edges by a fraction of a pixel: only partly covered pixels can change sides of the
        # 128 threshold. One covered or bare by three quarters or more (64 levels from 128)
        # would need its edge to move a quarter pixel, which 5 % does only at the digit's ends.
        flipped = (digit >= 128) != (prepared.pixels >= 128)
        assert np.abs(digit[flipped].astype(int) - 128).max(initial=0) < 64


def test_looks_like_mnist() -> None:
    digit = mnist_test_images(1)[0]

    assert looks_like_mnist(digit)
    assert not looks_like_mnist(255 - digit)
    assert not looks_like_mnist(np.pad(digit, 1))
    assert not looks_like_mnist(np.zeros((28, 28), np.uint8))


def test_an_image_that_looks_like_mnist_passes_the_ink_check() -> None:
    # The fast path for such images skips the check (app.batch.quick_inputs).
    assert MNIST_FORM_HAS_INK
    rng = np.random.default_rng(16)
    looking = 0
    for _ in range(2000):
        low, high = sorted(int(v) for v in rng.integers(0, 256, size=2))
        pixels = rng.integers(low, high + 1, size=(28, 28)).astype(np.uint8)
        pixels[2:-2, 2:-2] = np.maximum(pixels[2:-2, 2:-2], rng.integers(0, 256, dtype=np.uint8))
        if looks_like_mnist(pixels):
            looking += 1
            assert prepare(pixels, NormalizeMode.NEVER).pixels is pixels  # no BlankImageError
    assert looking > 10


def test_an_inverted_28x28_digit_is_normalised_in_auto_mode() -> None:
    digit = mnist_test_images(1)[0]

    prepared = prepare(Image.fromarray(255 - digit), NormalizeMode.AUTO)

    assert prepared.normalized
    assert prepared.pixels[0].max() == 0


def test_never_keeps_the_strict_size_contract() -> None:
    with pytest.raises(WrongSizeError) as caught:
        prepare(seven(100), NormalizeMode.NEVER)

    assert caught.value.received == (100, 100)
    assert caught.value.expected == (28, 28)
    assert "28x28" in str(caught.value)


def test_sixteen_bit_images_are_scaled_to_eight_bits() -> None:
    eight = np.asarray(seven(120, width=10))
    sixteen = Image.fromarray(eight.astype(np.uint16) * 257)
    assert sixteen.mode == "I;16"
    wide = Image.fromarray(eight.astype(np.int32) * 257)
    assert wide.mode == "I"

    np.testing.assert_allclose(to_luminance(sixteen, strict=False), eight, atol=1e-3)
    np.testing.assert_allclose(to_luminance(wide, strict=False), eight, atol=1e-3)
    np.testing.assert_array_equal(
        prepare(sixteen, NormalizeMode.AUTO).pixels,
        prepare(seven(120, width=10), NormalizeMode.AUTO).pixels,
    )


def test_palette_images_with_and_without_transparency() -> None:
    opaque = seven(120, width=10).convert("P")
    transparent = transparent_seven((0, 0, 0), garbage=False).convert("P")
    transparent.info["transparency"] = int(np.asarray(transparent)[0, 0])  # the background index
    expected = normalize(to_luminance(seven(120, width=10), strict=False))

    np.testing.assert_array_equal(prepare(opaque, NormalizeMode.AUTO).pixels, expected)
    assert to_luminance(transparent, strict=True).max() == 0  # black ink on black
    assert prepare(transparent, NormalizeMode.AUTO).pixels.max() == 255


@pytest.mark.parametrize("mode", ["1", "LA", "CMYK", "RGBA", "YCbCr"])
def test_other_modes_give_the_same_digit(mode: str) -> None:
    image = seven(120, width=10)
    expected = normalize(to_luminance(image, strict=False))

    pixels = normalize(to_luminance(image.convert(mode), strict=False))

    # Bit-identical: the seven is drawn in pure black and white, which every one of these modes
    # holds exactly (one bit, grey plus opaque alpha, K of CMYK, Y of YCbCr with neutral chroma),
    # so the luminance and everything computed from it are the same.
    np.testing.assert_array_equal(pixels, expected)


def test_encode_png_base64_round_trips() -> None:
    pixels = mnist_test_images(1)[0]

    encoded = encode_png_base64(pixels)

    decoded = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert decoded.format == "PNG"
    np.testing.assert_array_equal(np.asarray(decoded), pixels)


def test_a_very_large_transparent_upload_gives_the_same_digit() -> None:
    # Black ink on transparent black, as drawing apps save it: only alpha tells them apart.
    alpha = np.asarray(seven(1600, "light_on_dark", 100))
    image = Image.fromarray(np.dstack([np.zeros((*alpha.shape, 3)), alpha]).astype(np.uint8))
    expected = normalize(to_luminance(seven(1600, "light_on_dark", 100), strict=False))

    pixels = prepare(image, NormalizeMode.AUTO).pixels

    # The upload is box-reduced by 3 (to 533 pixels) before the box resize to 512 that the
    # reference gets in one go from 1600: the two grids put stroke edges up to one working pixel
    # apart. The digit's longer side spans ~365 working pixels and becomes 20, so an edge pixel
    # can differ by 255 * 20 / 365 ~ 14 levels, and by one more from rounding to whole levels.
    assert np.abs(pixels.astype(int) - expected).max() <= 15


def test_float_images_in_unit_scale() -> None:
    unit = np.asarray(seven(120, width=10), dtype=np.float32) / 255

    np.testing.assert_allclose(to_luminance(Image.fromarray(unit), strict=False), 255 * unit)


def reference_strict_luminance(image: Image.Image) -> npt.NDArray[np.uint8]:
    """The strict contract spelled out: Pillow's integer BT.601 luma, 16 bits rounded to 8,
    alpha (or palette transparency) composited on black with integer rounding."""
    if image.mode.startswith("I;16"):
        wide = np.asarray(image).astype(np.uint32)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    if image.mode in {"RGBA", "LA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        luma = np.asarray(rgba.convert("L"), dtype=np.uint16)
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint16)
        return ((luma * alpha + 127) // 255).astype(np.uint8)
    return np.asarray(image.convert("RGB").convert("L"), dtype=np.uint8)


def strict_contract_images() -> list[Image.Image]:
    rng = np.random.default_rng(11)
    rgba = Image.fromarray(rng.integers(0, 256, (28, 28, 4), dtype=np.uint8), "RGBA")
    palette = Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).convert("P")
    palette.info["transparency"] = 3
    return [
        Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)),
        rgba,
        rgba.convert("LA"),
        palette,
        Image.fromarray(rng.integers(0, 65536, (28, 28)).astype(np.uint16)),
        rgba.convert("CMYK"),
        rgba.convert("1"),
    ]


@pytest.mark.parametrize(
    "image", strict_contract_images(), ids=["RGB", "RGBA", "LA", "P", "I;16", "CMYK", "1"]
)
def test_the_strict_path_is_the_documented_integer_luminance(image: Image.Image) -> None:
    expected = reference_strict_luminance(image)

    np.testing.assert_array_equal(prepare(image, NormalizeMode.NEVER).pixels, expected)
