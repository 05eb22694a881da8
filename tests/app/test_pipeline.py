"""app.pipeline: which uploads are cheap enough to decode on the event loop."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.pipeline import is_quick
from app.preprocessing import NormalizeMode
from app.uploads import Upload
from tests.app.samples import digit_pixels, encode, png

LIMIT = 4096


def uploads(*blobs: bytes) -> list[Upload]:
    return [Upload(filename=None, data=blob) for blob in blobs]


def test_small_28x28_files_are_decoded_on_the_event_loop() -> None:
    assert is_quick(uploads(png(digit_pixels()), png(digit_pixels(1))), NormalizeMode.AUTO, LIMIT)


def test_a_small_file_holding_a_large_canvas_goes_to_a_thread() -> None:
    # A 1024x1024 canvas compresses to about a KiB, but normalising it takes far longer.
    canvas = encode(Image.new("L", (1024, 1024)), optimize=True)
    assert len(canvas) <= LIMIT
    assert not is_quick(uploads(canvas), NormalizeMode.AUTO, LIMIT)


def test_normalize_always_and_large_bodies_go_to_a_thread() -> None:
    assert not is_quick(uploads(png(digit_pixels())), NormalizeMode.ALWAYS, LIMIT)
    noisy = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    assert not is_quick(uploads(png(noisy)), NormalizeMode.AUTO, 100)


def test_unreadable_data_goes_to_the_thread_that_reports_it() -> None:
    assert not is_quick(uploads(b"not an image"), NormalizeMode.NEVER, LIMIT)
