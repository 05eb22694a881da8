"""Uploaded bytes -> Pillow image -> the model's ``uint8 [28, 28]`` input, safely.

Safety first: the pixel dimensions are read from the header and checked against the limits
*before* anything is decoded (a 100-byte PNG can claim 50,000x50,000 pixels), only the formats
the API promises are opened (no EPS/PSD parsers reachable from the network), and truncated data
is an error rather than a half-grey image.

The commonest upload, an 8-bit greyscale PNG (what MNIST digits, scripts and our own page send),
is decoded by libspng through ``pyspng`` straight into a numpy array: ~6 µs against Pillow's
~45 µs of plugin machinery for a 28x28 digit. PNG is lossless, so both give the same pixels.
pyspng tells libspng to skip every checksum, and Pillow checks some (the CRCs of the chunks
before the image data, the zlib stream's adler32), so the fast path first checks those itself;
any PNG that fails a check, or that libspng refuses, goes to Pillow, which then decides (and
words the error). The fast path thus only ever answers for files Pillow decodes the same.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import pyspng
from PIL import Image, ImageOps, UnidentifiedImageError

from app.contract import IMAGE_SIZE, Pixels
from app.errors import (
    EmptyFileError,
    ImageTooLargeError,
    NoInkError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedImageModeError,
    WrongImageSizeError,
)
from app.images.luminance import UnsupportedModeError
from app.images.normalize import (
    WORKING_SIDE,
    BlankImageError,
    NormalizeMode,
    Prepared,
    WrongSizeError,
    prepare,
    strict_pixels,
)

ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
_FORMAT_NAMES = "PNG, JPEG, BMP, GIF, TIFF or WebP"

# Where Pillow keeps EXIF for the formats other than TIFF (whose tags are the EXIF themselves).
_EXIF_INFO_KEYS = frozenset({"exif", "Raw profile type exif"})

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunk type, width, height, bit depth, colour type, compression, filter, interlace method.
_PNG_IHDR = struct.Struct(">4sIIBBBBB")
_PNG_GREY = 0
_PNG_CHUNK_HEAD = struct.Struct(">I4s")  # data length, chunk type; the CRC follows the data
_PNG_CRC = struct.Struct(">I")
# The chunks the fast path takes, each with the least data Pillow's reader of it accepts (chunks
# Pillow has no reader for, it skips). Others (compressed text, ICC profiles, animation) go to
# Pillow: its readers of them fail on damage that libspng lets through.
_FAST_PNG_CHUNKS = {
    b"IHDR": 13,
    b"IDAT": 0,
    b"IEND": 0,
    b"tRNS": 2,
    b"gAMA": 4,
    b"cHRM": 32,
    b"sRGB": 1,
    b"pHYs": 9,
    b"tEXt": 0,
    b"bKGD": 0,
    b"tIME": 0,
    b"sBIT": 0,
}
# Text chunks Pillow reads EXIF from (ImageMagick writes the second). libspng ignores EXIF
# orientation, which Pillow applies, so such files go to Pillow; so do those with an eXIf chunk
# (not in _FAST_PNG_CHUNKS). Keywords are never compressed.
_PNG_EXIF_TEXTS = (b"exif\0", b"Raw profile type exif\0")


@dataclass(frozen=True, slots=True)
class GreyPng:
    """An 8-bit greyscale PNG whose header was read: the fast path's stand-in for an image."""

    data: bytes
    size: tuple[int, int]  # (width, height), as Pillow's ``Image.size``


Opened = Image.Image | GreyPng


@dataclass(frozen=True)
class ImageLimits:
    """The largest image accepted, checked from the header before decoding."""

    max_side: int
    max_pixels: int


def read_header(data: bytes, limits: ImageLimits) -> Opened:
    """Parse an image's header and check its size against the limits; nothing is decoded yet.

    Cheap enough for the event loop, and the size it reads decides where decoding runs.
    """
    png = _grey_png(data)
    if png is None:
        return _pillow_header(data, limits)
    _check_limits(png.size, limits)
    return png


def _pillow_header(data: bytes, limits: ImageLimits) -> Image.Image:
    if not data:
        raise EmptyFileError("the file is empty")
    image = _open_with_pillow(data)
    _check_limits(image.size, limits)
    return image


def _grey_png(data: bytes) -> GreyPng | None:
    """The PNG's size if it is 8-bit greyscale (its IHDR chunk comes first, at a fixed offset)."""
    if len(data) < 8 + 8 + 13 or not data.startswith(_PNG_SIGNATURE):
        return None
    chunk, width, height, depth, colour, _, _, interlace = _PNG_IHDR.unpack_from(data, 12)
    # Interlaced files are rare and their data size takes seven passes to work out: Pillow's.
    if chunk != b"IHDR" or depth != 8 or colour != _PNG_GREY or interlace != 0:
        return None
    return GreyPng(data, (width, height))


def _decode_grey_png(png: GreyPng) -> Pixels | None:
    """libspng's decoding of a greyscale PNG, or None if it refuses the file or a check fails."""
    if not _intact(png):
        return None
    try:
        pixels: Pixels = pyspng.load(png.data)
    except Exception:  # libspng reports every kind of damage as RuntimeError; Pillow words it
        return None
    if pixels.dtype != np.uint8 or pixels.shape != (png.size[1], png.size[0]):
        return None
    return pixels


def _intact(png: GreyPng) -> bool:
    """Whether the file passes Pillow's checks that libspng (as pyspng sets it up) skips.

    Those are the CRCs of the chunks before the image data (Pillow skips the later ones, and
    libspng decodes the same bytes it does), the adler32 at the end of the zlib stream, and the
    sizes of the chunks Pillow reads. The stream must also end after exactly the bytes the header
    calls for (a filter byte and ``width`` pixels per row), since anything longer could be a zlib
    bomb, and the chunks must run whole up to IEND. All that is stricter than Pillow, so whatever
    the fast path accepts, Pillow accepts with the same pixels; the rest is Pillow's to judge,
    as are files with EXIF, whose orientation only Pillow applies. For a 28x28 digit this costs
    ~5 µs, half of it inflating the data a second time.
    """
    data = png.data
    size = len(data)
    compressed = []
    in_header = True  # still before the first IDAT chunk
    position = len(_PNG_SIGNATURE)
    while position + 12 <= size:
        length, kind = _PNG_CHUNK_HEAD.unpack_from(data, position)
        end = position + 8 + length
        if end + 4 > size or length < _FAST_PNG_CHUNKS.get(kind, size):
            return False
        if kind == b"IDAT":
            in_header = False
            compressed.append(data[position + 8 : end])
        elif kind == b"IEND":
            break
        elif (kind == b"tEXt" and data.startswith(_PNG_EXIF_TEXTS, position + 8)) or (
            in_header and zlib.crc32(data[position + 4 : end]) != _PNG_CRC.unpack_from(data, end)[0]
        ):
            return False
        position = end + 4
    else:
        return False
    width, height = png.size
    expected = height * (width + 1)
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(b"".join(compressed), expected + 1)
    except zlib.error:  # a bad adler32, or a broken stream
        return False
    return stream.eof and len(raw) == expected


def _open_with_pillow(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"the image is too large to decode: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise NotAnImageError(f"the data is not a {_FORMAT_NAMES} image") from exc
    except Exception as exc:
        # Pillow's format plugins raise many types on hostile input; all mean a broken file.
        raise TruncatedImageError(f"the image header is corrupt: {exc}") from exc


def load_image(image: Image.Image) -> Image.Image:
    """Decode the first frame of an image whose header :func:`read_header` accepted."""
    try:
        # Multi-frame formats (animated GIF/WebP, multi-page TIFF) start on frame 0.
        image.load()
        # Show the picture the way the camera or editor meant it to be seen. Parsing EXIF costs
        # ~10 µs (a sixth of a small PNG's decode), so skip it when there is none to parse.
        if image.format == "TIFF" or not _EXIF_INFO_KEYS.isdisjoint(image.info):
            ImageOps.exif_transpose(image, in_place=True)
    except Exception as exc:
        raise TruncatedImageError(
            f"the {image.format} data is truncated or corrupt: {exc}"
        ) from exc
    return image


# Peak bytes per pixel of decoding and normalising an image, by how it is decoded: libspng's
# grey levels; a JPEG decoded straight to grey levels (at its DCT-scaled size, see
# :func:`_grey_draft`); another 8-bit Pillow image box-reduced before the float work (four bytes
# a pixel as Pillow stores it, and the reduced copy); any other one, worked on in floats at full
# size. Normalisation works on at most 512x512 floats: ~12 MB more for any image larger than
# that. Measured peaks (RSS, one image): 2590x2590 RGB PNG 41 MB (estimate 66), RGBA 52 (66),
# grey PNG 25 (39); 4096x4096 grey 56 (79); 700x700 RGB 20 (28). JPEG photos, decoded to grey
# (before, in colour at full size): 800x800 12.4 MB (estimate 15.1; before 17.6, estimate
# 28.9), 2000x2000 at 1000x1000 12.7 (16.6; 29.7, 40.4), 4096x4096 at 512x512 11.9 (13.6; 77,
# 143).
_GREY_PNG_BYTES, _GREY_JPEG_BYTES, _REDUCED_BYTES, _FULL_SIZE_BYTES = 4, 4, 8, 32
_REDUCED_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "I", "F"})
_REDUCED_FROM_SIDE = 2 * WORKING_SIDE  # normalisation box-reduces 8-bit images from 2x
_WORKING_SET = 12 * 1024 * 1024
# The scales at which libjpeg can decode (IDCT on fewer coefficients): 1/8, 1/4, 1/2, 1.
_DCT_SCALES = (8, 4, 2, 1)


def decode_cost(image: Opened) -> int:
    """An estimate of the most memory decoding and normalising ``image`` holds at once."""
    width, height = image.size
    if isinstance(image, GreyPng):
        per_pixel = _GREY_PNG_BYTES
    elif (draft := _grey_draft(image)) is not None:
        width, height = draft[1]
        per_pixel = _GREY_JPEG_BYTES
    elif image.mode in _REDUCED_MODES and max(width, height) >= _REDUCED_FROM_SIDE:
        per_pixel = _REDUCED_BYTES
    else:
        per_pixel = _FULL_SIZE_BYTES
    working = _WORKING_SET if max(image.size) > WORKING_SIDE else 0
    return width * height * per_pixel + working


def _grey_draft(image: Image.Image) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """How a JPEG larger than the working size is decoded: what to ask and what comes out.

    libjpeg can decode straight to grey levels (the luma channel it stores: no chroma IDCT, no
    upsampling, no colour conversion) and at 1/2, 1/4 or 1/8 of the size (DCT scaling, what
    ``Image.thumbnail`` uses). Normalisation wants grey levels at 512 pixels a side, so a
    photo is decoded at the largest of those scales that keeps it at least that large. The
    luma differs from Pillow's conversion of the decoded colours by rounding only. Pillow's
    ``draft`` picks the scale from the size asked, ``(width // scale, height // scale)``;
    the image then comes out ``ceil(size / scale)`` large. None: decoded as it is.
    """
    width, height = image.size
    longer = max(width, height)
    if image.format != "JPEG" or image.mode not in ("L", "RGB") or longer <= WORKING_SIDE:
        return None
    fits = min(longer // WORKING_SIDE, width, height)
    scale = next(scale for scale in _DCT_SCALES if scale <= fits)
    asked = (width // scale, height // scale)
    return asked, (-(-width // scale), -(-height // scale))


def _check_limits(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise NotAnImageError(f"the image header claims an empty {width}x{height} image")
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} pixels; at most {limits.max_side} pixels per side"
            f" and {limits.max_pixels} pixels in all are accepted",
            details={"received": [width, height], "max_side": limits.max_side},
        )


def prepare_image(opened: Opened, mode: NormalizeMode) -> Prepared:
    """Decode an image whose header was read and bring it into the model's input form."""
    image = _decode(opened, mode)
    try:
        return prepare(image, mode)
    except WrongSizeError as exc:
        raise _wrong_size(exc) from exc
    except BlankImageError as exc:
        raise NoInkError(str(exc)) from exc
    except UnsupportedModeError as exc:
        raise UnsupportedImageModeError(str(exc)) from exc


def pixels_as_sent(opened: Opened) -> Pixels:
    """A 28x28 image's grey levels as ``normalize=never`` reads them, before its ink check."""
    image = _decode(opened, NormalizeMode.NEVER)
    try:
        return strict_pixels(image)
    except UnsupportedModeError as exc:
        raise UnsupportedImageModeError(str(exc)) from exc


def _decode(opened: Opened, mode: NormalizeMode) -> Image.Image | Pixels:
    if isinstance(opened, GreyPng):
        pixels = _decode_grey_png(opened)
        return pixels if pixels is not None else load_image(_open_with_pillow(opened.data))
    draft = _grey_draft(opened)
    if draft is not None:
        if mode is NormalizeMode.NEVER:  # larger than the working size: never 28x28
            raise _wrong_size(WrongSizeError(opened.size, (IMAGE_SIZE, IMAGE_SIZE)))
        opened.draft("L", draft[0])
    return load_image(opened)


def _wrong_size(exc: WrongSizeError) -> WrongImageSizeError:
    return WrongImageSizeError(
        str(exc), details={"received": list(exc.received), "expected": list(exc.expected)}
    )
