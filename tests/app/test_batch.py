"""app.batch: which uploads are cheap enough to decode on the event loop."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.batch import Upload, quick_inputs, read_headers
from app.errors import NotAnImageError
from app.images.decoding import ImageLimits
from app.images.normalize import NormalizeMode
from tests.app.samples import digit_pixels, encode, png

LIMIT = 4096


def quick(mode: NormalizeMode, max_bytes: int, *blobs: bytes) -> bool:
    uploads = [Upload(filename=None, data=blob) for blob in blobs]
    images = read_headers(uploads, ImageLimits(max_side=4096, max_pixels=4096 * 4096))
    return quick_inputs(uploads, images, mode, max_bytes) is not None


def test_small_28x28_files_are_decoded_on_the_event_loop() -> None:
    assert quick(NormalizeMode.AUTO, LIMIT, png(digit_pixels()), png(digit_pixels(1)))


def test_a_small_file_holding_a_large_canvas_goes_to_a_thread() -> None:
    # A 1024x1024 canvas compresses to about a KiB, but normalising it takes far longer.
    canvas = encode(Image.new("L", (1024, 1024)), optimize=True)
    assert len(canvas) <= LIMIT
    assert not quick(NormalizeMode.AUTO, LIMIT, canvas)


def test_small_28x28_files_that_need_normalising_go_to_a_thread() -> None:
    """Dark digits on light ground, small enough in bytes, are still normalised: ~1 ms each."""
    inverted = [png(255 - digit_pixels(seed)) for seed in range(13)]
    assert sum(map(len, inverted)) <= LIMIT
    assert not quick(NormalizeMode.AUTO, LIMIT, *inverted)
    assert not quick(NormalizeMode.AUTO, LIMIT, png(digit_pixels()), inverted[0])
    # The strict contract never normalises, so the same files decode on the event loop.
    assert quick(NormalizeMode.NEVER, LIMIT, *inverted)


def test_a_28x28_file_refused_as_sent_goes_to_a_thread() -> None:
    # Black strokes on a transparent canvas are blank as sent (composited on black), but
    # normalisation composites them on white and finds the digit.
    strokes = np.zeros((28, 28, 4), np.uint8)
    strokes[..., 3] = digit_pixels()
    assert not quick(NormalizeMode.AUTO, LIMIT, encode(Image.fromarray(strokes)))


def test_normalize_always_and_large_bodies_go_to_a_thread() -> None:
    assert not quick(NormalizeMode.ALWAYS, LIMIT, png(digit_pixels()))
    noisy = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    assert not quick(NormalizeMode.AUTO, 100, png(noisy))


def test_unreadable_data_is_refused_from_its_header() -> None:
    with pytest.raises(NotAnImageError):
        quick(NormalizeMode.NEVER, LIMIT, b"not an image")
