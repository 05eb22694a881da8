"""The Docker smoke test's stdlib client: IDX reading, PNG encoding and multipart bodies."""

from __future__ import annotations

import gzip
import io
import struct
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scripts.docker_smoke_check import encode_png, multipart, read_digit


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A three-image test set in the gz IDX format (random pixels, known labels)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, 3, 28, 28) + images.tobytes())
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, 3) + bytes([4, 0, 9]))
    np.save(tmp_path / "images.npy", images)
    return tmp_path


def test_read_digit_returns_the_indexed_image_and_label(mnist_dir: Path) -> None:
    images = np.load(mnist_dir / "images.npy")
    pixels, label = read_digit(mnist_dir, 2)
    assert label == 9
    assert pixels == images[2].tobytes()


def test_read_digit_rejects_an_index_past_the_end(mnist_dir: Path) -> None:
    with pytest.raises(ValueError, match="index 3"):
        read_digit(mnist_dir, 3)


def test_encode_png_decodes_to_the_same_greyscale_pixels(mnist_dir: Path) -> None:
    pixels, _ = read_digit(mnist_dir, 1)
    image = Image.open(io.BytesIO(encode_png(pixels)))
    assert (image.mode, image.size) == ("L", (28, 28))
    assert np.array_equal(np.asarray(image), np.frombuffer(pixels, np.uint8).reshape(28, 28))


def test_multipart_body_has_one_files_part_per_image() -> None:
    body, content_type = multipart([("a.png", b"\x89PNG-a"), ("b.png", b"\x89PNG-b")])
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["files"] * 2
    assert [p.get_filename() for p in parts] == ["a.png", "b.png"]
    assert [p.get_payload(decode=True) for p in parts] == [b"\x89PNG-a", b"\x89PNG-b"]
