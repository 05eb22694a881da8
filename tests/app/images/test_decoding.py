"""app.images.decoding: hostile bytes, orientation, pixel formats, the greyscale PNG path."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyspng
import pytest
from PIL import Image, PngImagePlugin

from app.errors import ApiError
from app.images import decoding
from app.images.decoding import GreyPng, ImageLimits, prepare_image, read_header
from app.images.normalize import NormalizeMode, Prepared, prepare
from tests.app.samples import digit_pixels, encode, mnist_test_set, png

LIMITS = ImageLimits(max_side=4096, max_pixels=4096 * 4096)


def decode(data: bytes, mode: NormalizeMode) -> Prepared:
    """The service's two steps: the header on the event loop, then decoding and normalisation."""
    return prepare_image(read_header(data, LIMITS), mode)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"])
def test_damaged_files_give_client_errors_only(fmt: str) -> None:
    """Random byte flips and cuts: every outcome is a decoded image or an API error (a 4xx)."""
    original = encode(Image.fromarray(digit_pixels()), fmt)
    rng = np.random.default_rng(len(fmt))
    statuses = set()
    for _ in range(150):
        damaged = bytearray(original)
        for position in rng.integers(0, len(damaged), size=rng.integers(1, 8)):
            damaged[position] = int(rng.integers(0, 256))
        damaged = damaged[: int(rng.integers(1, len(damaged) + 1))]
        try:
            pixels = decode(bytes(damaged), NormalizeMode.NEVER).pixels
        except ApiError as error:
            statuses.add(error.status)
        else:
            assert pixels.shape == (28, 28)
            assert pixels.dtype == np.uint8
    assert statuses
    assert all(400 <= status < 500 for status in statuses)


def test_exif_orientation_is_applied() -> None:
    pixels = digit_pixels(seed=30)
    pixels[2, :5] = 255  # mark the top-left corner
    upright = Image.fromarray(pixels)
    # Stored rotated, with EXIF saying "rotate 90 degrees clockwise to display" (orientation 6).
    stored = upright.transpose(Image.Transpose.ROTATE_90).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode(encode(stored, "PNG", exif=exif), NormalizeMode.NEVER)
    np.testing.assert_array_equal(decoded.pixels, pixels)


def test_thirty_two_bit_integer_pixels_in_byte_range_keep_their_values() -> None:
    pixels = digit_pixels()
    wide = Image.fromarray(pixels.astype(np.int32))
    assert wide.mode == "I"
    decoded = decode(encode(wide, "TIFF"), NormalizeMode.NEVER)
    np.testing.assert_array_equal(decoded.pixels, pixels)


def _grey_pngs() -> dict[str, bytes]:
    """8-bit greyscale PNGs of the kinds clients send, all meant for the libspng fast path."""
    digit = digit_pixels(seed=3)
    gamma = PngImagePlugin.PngInfo()
    gamma.add(b"gAMA", struct.pack(">I", 45455))
    noise = np.random.default_rng(7).integers(0, 256, size=(100, 37), dtype=np.uint8)
    return {
        "mnist-like 28x28": png(digit),
        "28x28 with a tRNS chunk": encode(Image.fromarray(digit), transparency=0),
        "28x28 with a gAMA chunk": encode(Image.fromarray(digit), pnginfo=gamma),
        "28x28 optimised": encode(Image.fromarray(digit), optimize=True),
        "28x28 dark on light": png(255 - digit),
        "300x300 dark on light": png(np.asarray(Image.fromarray(255 - digit).resize((300, 300)))),
        "37x100 noise": png(noise),
    }


def _outcome(step: Callable[[], Prepared]) -> tuple[str, Any]:
    try:
        prepared = step()
    except ApiError as error:
        return error.code, error.message
    return "ok", (prepared.pixels.tolist(), prepared.normalized)


def _served(data: bytes, mode: NormalizeMode) -> tuple[str, Any]:
    """The outcome as the service decodes the file."""
    return _outcome(lambda: decode(data, mode))


def _with_pillow(data: bytes, mode: NormalizeMode, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The outcome with the fast path switched off, so that Pillow decodes every file."""
    with monkeypatch.context() as patch:
        patch.setattr(decoding, "_grey_png", lambda data: None)
        return _served(data, mode)


@pytest.mark.parametrize("name", list(_grey_pngs()))
@pytest.mark.parametrize("mode", list(NormalizeMode))
def test_greyscale_pngs_take_the_fast_path_with_pillows_results(
    name: str, mode: NormalizeMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _grey_pngs()[name]
    header = read_header(data, LIMITS)
    assert isinstance(header, GreyPng)
    assert decoding._decode_grey_png(header) is not None  # libspng, not the fallback, decoded it
    assert _served(data, mode) == _with_pillow(data, mode, monkeypatch)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks as (type, data), CRCs dropped."""
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        chunks.append(
            (data[position + 4 : position + 8], data[position + 8 : position + 8 + length])
        )
        position += 12 + length
    return chunks


def _chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _assemble(*chunks: bytes) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _damaged_pngs() -> dict[str, bytes]:
    """Greyscale PNGs broken in the ways a network, a disk or a careless encoder break them."""
    data = png(digit_pixels(seed=4))
    (_, header), (_, stream), _ = _chunks(data)
    ihdr, idat, iend = _chunk(b"IHDR", header), _chunk(b"IDAT", stream), _chunk(b"IEND", b"")
    assert data == _assemble(ihdr, idat, iend)  # what the damage below starts from
    bad_adler = stream[:-1] + bytes([stream[-1] ^ 1])

    def bad_crc(kind: bytes, body: bytes) -> bytes:
        return _chunk(kind, body, zlib.crc32(kind + body) ^ 1)

    return {
        "bad IHDR CRC": _assemble(bad_crc(b"IHDR", header), idat, iend),
        "bad CRC in a chunk before the image data": _assemble(
            ihdr, bad_crc(b"gAMA", struct.pack(">I", 45455)), idat, iend
        ),
        "bad IDAT CRC": _assemble(ihdr, bad_crc(b"IDAT", stream), iend),
        "bad IEND CRC": _assemble(ihdr, idat, bad_crc(b"IEND", b"")),
        "bad adler32": _assemble(ihdr, _chunk(b"IDAT", bad_adler), iend),
        "bad adler32, image data in two chunks": _assemble(
            ihdr, _chunk(b"IDAT", bad_adler[:40]), _chunk(b"IDAT", bad_adler[40:]), iend
        ),
        "no adler32": _assemble(ihdr, _chunk(b"IDAT", stream[:-4]), iend),
        "zlib stream cut short": _assemble(ihdr, _chunk(b"IDAT", stream[:-12]), iend),
        "file cut inside IDAT": _assemble(ihdr, idat[: len(idat) // 2]),
        "file cut inside IEND": data[:-6],
        "no IEND": _assemble(ihdr, idat),
        "extra data after IEND": data + b"\x00garbage after the end",
        "extra zlib data after the stream": _assemble(
            ihdr, _chunk(b"IDAT", stream + zlib.compress(b"more")), iend
        ),
        "a gAMA chunk too short": _assemble(ihdr, _chunk(b"gAMA", b"\x00\x00"), idat, iend),
        "a tRNS chunk too short": _assemble(ihdr, _chunk(b"tRNS", b"\x00"), idat, iend),
        "a pHYs chunk too short after the image data": _assemble(
            ihdr, idat, _chunk(b"pHYs", b"\x00"), iend
        ),
        "an unknown critical chunk": _assemble(ihdr, _chunk(b"QQQQ", b"?"), idat, iend),
        "two IHDR chunks": _assemble(ihdr, ihdr, idat, iend),
        "no IDAT": _assemble(ihdr, iend),
    }


@pytest.mark.parametrize("name", list(_damaged_pngs()))
@pytest.mark.parametrize("mode", [NormalizeMode.AUTO, NormalizeMode.NEVER])
def test_damaged_greyscale_pngs_get_pillows_verdict(
    name: str, mode: NormalizeMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _damaged_pngs()[name]
    assert isinstance(read_header(data, LIMITS), GreyPng)
    assert _served(data, mode) == _with_pillow(data, mode, monkeypatch)


def test_corrupt_zlib_data_is_an_error_even_where_libspng_decodes_it() -> None:
    data = _damaged_pngs()["bad adler32"]
    np.testing.assert_array_equal(pyspng.load(data), digit_pixels(seed=4))  # libspng's verdict
    with pytest.raises(ApiError) as caught:
        decode(data, NormalizeMode.NEVER)
    assert caught.value.code == "truncated_image"


def test_a_png_that_libspng_refuses_is_decoded_by_pillow() -> None:
    data = _damaged_pngs()["two IHDR chunks"]
    header = read_header(data, LIMITS)
    assert isinstance(header, GreyPng)
    assert decoding._intact(header)  # so it is libspng, not the checks before it, that refuses
    with pytest.raises(RuntimeError):
        pyspng.load(data)
    decoded = decode(data, NormalizeMode.NEVER)
    np.testing.assert_array_equal(decoded.pixels, digit_pixels(seed=4))


@pytest.mark.parametrize("name", ["28x28 with a tRNS chunk", "28x28 with a gAMA chunk"])
def test_damage_behind_valid_crcs_gets_pillows_verdict(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes changed or cut inside a chunk whose CRC is then fixed, as a broken encoder writes."""
    chunks = _chunks(_grey_pngs()[name])
    rng = np.random.default_rng(11)
    verdicts = set()
    for _ in range(150):
        damaged = list(chunks)
        index = int(rng.integers(0, len(damaged)))
        kind, body = damaged[index]
        changed = bytearray(body)
        if changed and rng.random() < 0.7:
            changed[int(rng.integers(0, len(changed)))] = int(rng.integers(0, 256))
        else:
            changed = changed[: int(rng.integers(0, len(changed) + 1))]
        damaged[index] = (kind, bytes(changed))
        data = _assemble(*(_chunk(kind, body) for kind, body in damaged))
        try:
            header = read_header(data, LIMITS)
        except ApiError:
            continue  # a broken header is refused before either decoder runs
        if isinstance(header, GreyPng):
            outcome = _served(data, NormalizeMode.AUTO)
            assert outcome == _with_pillow(data, NormalizeMode.AUTO, monkeypatch)
            verdicts.add(outcome[0])
    assert {"ok", "truncated_image"} <= verdicts


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(digit_pixels()).convert("RGB"),
        Image.fromarray(digit_pixels()).convert("P"),
        Image.fromarray(digit_pixels()).convert("1"),
        Image.fromarray(digit_pixels().astype(np.uint16) * 257),
    ],
    ids=["rgb", "palette", "one-bit", "sixteen-bit"],
)
def test_other_pngs_are_left_to_pillow(image: Image.Image) -> None:
    assert isinstance(read_header(encode(image), LIMITS), Image.Image)


def test_a_greyscale_png_with_exif_orientation_is_shown_upright() -> None:
    pixels = digit_pixels(seed=31)
    pixels[2, :5] = 255  # mark the top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored = encode(Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90), exif=exif)
    opened = read_header(stored, LIMITS)
    assert not isinstance(opened, GreyPng) or not decoding._intact(opened)  # libspng ignores EXIF
    np.testing.assert_array_equal(decode(stored, NormalizeMode.NEVER).pixels, pixels)


@pytest.mark.parametrize(
    ("keyword", "fast"),
    [(b"exif", False), (b"Raw profile type exif", False), (b"Comment", True)],
    ids=["exif", "imagemagick-exif", "comment"],
)
def test_exif_in_a_text_chunk_leaves_a_greyscale_png_to_pillow(keyword: bytes, fast: bool) -> None:
    """Pillow reads EXIF (and so the orientation) from these text chunks too."""
    pixels = digit_pixels(seed=32)
    (_, header), (_, stream), _ = _chunks(png(pixels))
    text = _chunk(b"tEXt", keyword + b"\0" + b"45786966000049492a00")
    data = _assemble(_chunk(b"IHDR", header), text, _chunk(b"IDAT", stream), _chunk(b"IEND", b""))
    opened = read_header(data, LIMITS)
    assert isinstance(opened, GreyPng)
    assert decoding._intact(opened) is fast


def test_a_damaged_greyscale_png_gets_pillows_verdict() -> None:
    data = png(digit_pixels())
    cut = data[: len(data) - 30]  # the end of the image data and the IEND chunk are missing
    assert isinstance(read_header(cut, LIMITS), GreyPng)
    with pytest.raises(ApiError) as caught:
        decode(cut, NormalizeMode.NEVER)
    assert caught.value.code == "truncated_image"


def test_image_data_longer_than_the_header_says_is_left_to_pillow() -> None:
    """Inflating stops at the image's size: a zlib bomb costs the fast path nothing."""
    pixels = digit_pixels()
    (_, header), _, _ = _chunks(png(pixels))
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0: bytes as they are
    data = _assemble(
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(rows + bytes(50_000_000))),
        _chunk(b"IEND", b""),
    )
    opened = read_header(data, LIMITS)
    assert isinstance(opened, GreyPng)
    assert not decoding._intact(opened)
    np.testing.assert_array_equal(decode(data, NormalizeMode.NEVER).pixels, pixels)


def phone_photo(digit: npt.NDArray[np.uint8], size: tuple[int, int], seed: int) -> bytes:
    """An MNIST digit in dark blue ink on unevenly lit, noisy grey paper: a phone's JPEG."""
    rng = np.random.default_rng(seed)
    width, height = size
    side = int(min(size) * rng.uniform(0.3, 0.6))
    big = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    ink = np.clip(np.asarray(big, dtype=np.float32) / 255, 0, 1)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    paper = 170 + 40 * (xs / width - ys / height) + rng.normal(0, 8, (height, width))
    coverage = np.zeros((height, width), np.float32)
    top, left = rng.integers(0, height - side), rng.integers(0, width - side)
    coverage[top : top + side, left : left + side] = ink
    pen = np.array([25, 40, 120])
    rgb = paper[..., None] * (1 - coverage[..., None]) + coverage[..., None] * pen
    return encode(Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)), "JPEG", quality=90)


def _decoded_for_normalisation(data: bytes, monkeypatch: pytest.MonkeyPatch) -> Image.Image:
    """The Pillow image that normalisation receives when the service decodes ``data``."""
    seen: list[Image.Image] = []

    def keep(image: Image.Image, mode: NormalizeMode) -> Prepared:
        seen.append(image.copy())
        return Prepared(pixels=np.zeros((28, 28), np.uint8), normalized=True)

    monkeypatch.setattr(decoding, "prepare", keep)
    decode(data, NormalizeMode.AUTO)
    return seen[0]


@pytest.mark.parametrize(
    ("size", "decoded"),
    [
        ((2000, 1500), (1000, 750)),  # 1/2: 1/4 would be under 512 pixels a side
        ((1100, 1400), (550, 700)),
        ((4096, 3000), (512, 375)),  # 1/8, the smallest scale
        ((4095, 700), (1024, 175)),  # 1/4: ceil(size / 4)
        ((3000, 6), (750, 2)),  # 1/4, not 1/8: Pillow scales both sides alike
        ((800, 600), (800, 600)),  # under twice the working size: grey, not scaled
    ],
)
def test_a_large_jpeg_is_decoded_straight_to_grey_at_a_dct_scale(
    size: tuple[int, int], decoded: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = phone_photo(digit_pixels(seed=1), size, seed=0)

    image = _decoded_for_normalisation(photo, monkeypatch)

    assert (image.mode, image.size) == ("L", decoded)


def test_small_jpegs_are_decoded_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 28x28 (or any image up to the working size) keeps its colours: the strict path's."""
    for size in [(28, 28), (512, 300)]:
        photo = phone_photo(digit_pixels(seed=1), size, seed=0) if size[0] > 28 else b""
        photo = photo or encode(Image.fromarray(digit_pixels()).convert("RGB"), "JPEG")
        image = _decoded_for_normalisation(photo, monkeypatch)
        assert (image.mode, image.size) == ("RGB", size)


def _aligned_difference(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    """Mean absolute difference in grey levels, at the best shift of at most one pixel.

    Centring rounds the centre of mass to a whole pixel, so two equally good inputs can lie a
    pixel apart.
    """
    first, second = a.astype(int), b.astype(int)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return min(float(np.abs(np.roll(first, s, (0, 1)) - second).mean()) for s in shifts)


@pytest.mark.parametrize("size", [(2000, 1500), (1100, 1400), (4000, 3000)])
def test_a_photo_decoded_to_grey_at_a_dct_scale_gives_the_full_decodes_input(
    size: tuple[int, int],
) -> None:
    """Each photo's 28x28 is nearly the one a full-size colour decode gives, and nearer to it
    than to any other photo's. The bound: box-halving the full decode in 8 bits before
    normalising (an equally valid grid) differs from it by up to 7.8 (2000x1500) and 10.1
    (4000x3000) grey levels on average, the DCT-scaled decode by up to 7.8 and 9.6."""
    digits, _ = mnist_test_set(12)
    photos = [phone_photo(digit, size, seed) for seed, digit in enumerate(digits)]

    served = [decode(photo, NormalizeMode.AUTO).pixels for photo in photos]

    full = [prepare(Image.open(io.BytesIO(photo)), NormalizeMode.AUTO).pixels for photo in photos]
    for index, pixels in enumerate(served):
        differences = [_aligned_difference(pixels, other) for other in full]
        assert differences[index] <= 12.0
        assert int(np.argmin(differences)) == index


def test_a_large_jpeg_with_normalize_never_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photo = phone_photo(digit_pixels(seed=1), (2000, 1500), seed=0)
    monkeypatch.setattr(decoding, "load_image", lambda image: pytest.fail("decoded"))

    with pytest.raises(ApiError) as refused:
        decode(photo, NormalizeMode.NEVER)

    assert refused.value.code == "wrong_image_size"
    assert refused.value.details == {"received": [2000, 1500], "expected": [28, 28]}


@pytest.mark.parametrize("size", [(2000, 2000), (800, 800), (4096, 3000)])
def test_the_decoding_estimate_follows_the_grey_dct_scaled_decode(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admission budget's estimate is for the grey image at the scale it is decoded at:
    4 bytes a pixel of that (libjpeg's buffers, the grey image, its reduction) and the
    normalisation's working set, not 8 to 32 bytes a pixel of the full-size colour image."""
    photo = phone_photo(digit_pixels(seed=1), size, seed=0)
    width, height = _decoded_for_normalisation(photo, monkeypatch).size

    cost = decoding.decode_cost(read_header(photo, LIMITS))

    assert cost == 4 * width * height + 12 * 1024 * 1024
    as_png = decoding.decode_cost(read_header(encode(Image.new("RGB", size), "PNG"), LIMITS))
    assert cost < as_png
