"""Test inputs: images encoded in every way the API accepts, and real MNIST test digits."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from tests.mnist_files import mnist_dir

Pixels = npt.NDArray[np.uint8]


def digit_pixels(seed: int = 0) -> Pixels:
    """A 28x28 MNIST-like image: a bright stroke on black, with some grey anti-aliasing."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((28, 28), np.uint8)
    pixels[6:22, 12:16] = 255
    pixels[6:22, 11] = rng.integers(40, 200, 16)
    pixels[6:22, 16] = rng.integers(40, 200, 16)
    return pixels


def encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    """The image encoded in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png(pixels: Pixels) -> bytes:
    """A greyscale 8-bit PNG of the pixels."""
    return encode(Image.fromarray(pixels))


@cache
def mnist_test_set(count: int = 20) -> tuple[Pixels, npt.NDArray[np.uint8]]:
    """The first ``count`` MNIST test images ``[count, 28, 28]`` and their labels.

    Without the files this raises, naming the places it looked: the tests that use it are core
    ones, so they stop rather than skip, in CI and elsewhere.
    """
    folder = mnist_dir()
    images = gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    pixels = np.frombuffer(images, np.uint8, count * 784, offset=16).reshape(count, 28, 28)
    return pixels, np.frombuffer(labels, np.uint8, count, offset=8)


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels but holds almost no data.

    Decoding it would fail as truncated; only a check of the header reports it as too large.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
