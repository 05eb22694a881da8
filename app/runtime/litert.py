"""The fast inference path: a SavedModel's serving signature compiled to TFLite, run by LiteRT.

One call of a SavedModel's signature through TensorFlow's eager runtime costs 0.3-7 ms of
dispatch, while the softmax model's arithmetic is a few microseconds. The same graph converted
with ``tf.lite.TFLiteConverter`` (:mod:`app.runtime.compiler`, in a child process) and run by
LiteRT (``ai-edge-litert``, the maintained successor of ``tf.lite.Interpreter``) answers in
about 10 µs. A compiled model is only served after it agreed with TensorFlow on
:func:`probe_images`, in the compiling child and again in the server (:func:`check_agreement`).
"""

from __future__ import annotations

import threading

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from app.contract import INPUT, OUTPUT, SERVING_SIGNATURE, Pixels, Probabilities

# Batches are padded up to a power of two so that a handful of interpreters, each allocated
# once, serve every batch size; larger inputs are cut into chunks of the largest size.
LARGEST_BUCKET = 256
# Documented agreement of the fast path with TensorFlow (float32 round-off only).
PROBABILITY_TOLERANCE = 1e-5


class CompilationError(RuntimeError):
    """The SavedModel could not be compiled, or the result disagrees with TensorFlow."""


class VersionRejectedError(CompilationError):
    """The compiler ran to the end and refused the version: the same files would fail again."""


class _Bucket:
    """One interpreter sized for exactly ``rows`` images."""

    def __init__(self, flatbuffer: bytes, rows: int, threads: int) -> None:
        self.interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
        runner = self.interpreter.get_signature_runner(SERVING_SIGNATURE)
        details = runner.get_input_details()[INPUT]
        self.input_index: int = details["index"]
        # -1 (or a missing signature) is a batch dimension of any size; a number is fixed.
        self.dynamic_batch = int(details.get("shape_signature", [-1])[0]) == -1
        self.output_index: int = runner.get_output_details()[OUTPUT]["index"]
        del runner  # it holds the interpreter, and LiteRT refuses to resize while it lives
        self.interpreter.resize_tensor_input(self.input_index, [rows, 28, 28], strict=True)
        self.interpreter.allocate_tensors()
        self.rows = rows

    def run(self, pixels: Pixels) -> Probabilities:
        if len(pixels) < self.rows:
            padded = np.zeros((self.rows, 28, 28), dtype=np.uint8)
            padded[: len(pixels)] = pixels
            pixels = padded
        self.interpreter.set_tensor(self.input_index, pixels)
        self.interpreter.invoke()
        out: Probabilities = self.interpreter.get_tensor(self.output_index)
        return out


class CompiledModel:
    """The serving signature as a TFLite flatbuffer: ``uint8 [N, 28, 28]`` -> probabilities.

    ``dynamic_batch`` says whether the flatbuffer's input takes batches of any size, which
    occlusion explanations need (hundreds of occluded copies in one call).

    Safe to call from several threads: LiteRT interpreters are not, so calls are serialised by
    a lock (uncontended, it costs well under a microsecond; the micro-batcher already funnels
    concurrent work into one call at a time).
    """

    def __init__(self, flatbuffer: bytes, *, threads: int = 1) -> None:
        self.flatbuffer = flatbuffer
        self._threads = threads
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()
        self._closed = False
        # Built now to fail now, not on the first request, if LiteRT rejects the model.
        self.dynamic_batch = self._bucket(1).dynamic_batch

    def predict(self, pixels: Pixels) -> Probabilities:
        """Probabilities ``float32 [N, 10]`` for ``uint8 [N, 28, 28]`` images (MNIST polarity)."""
        if pixels.ndim != 3 or pixels.shape[1:] != (28, 28) or pixels.dtype != np.uint8:
            raise ValueError(f"expected uint8 [N, 28, 28], got {pixels.dtype} {pixels.shape}")
        rows = len(pixels)
        if rows == 0:
            return np.zeros((0, 10), dtype=np.float32)
        pixels = np.ascontiguousarray(pixels)
        with self._lock:
            if self._closed:
                raise RuntimeError("the model was unloaded")
            if rows <= LARGEST_BUCKET:
                return self._bucket(_bucket_size(rows)).run(pixels)[:rows]
            chunks = [
                self._bucket(_bucket_size(len(chunk))).run(chunk)[: len(chunk)]
                for chunk in np.split(pixels, range(LARGEST_BUCKET, rows, LARGEST_BUCKET))
            ]
        return np.concatenate(chunks)

    def close(self) -> None:
        """Release the interpreters; the model answers no more calls."""
        with self._lock:
            self._buckets.clear()
            self._closed = True

    def _bucket(self, size: int) -> _Bucket:
        bucket = self._buckets.get(size)
        if bucket is None:
            bucket = self._buckets[size] = _Bucket(self.flatbuffer, size, self._threads)
        return bucket


def _bucket_size(rows: int) -> int:
    return min(LARGEST_BUCKET, 1 << (rows - 1).bit_length())


def probe_images() -> Pixels:
    """A fixed batch that exercises the whole input range: blanks, saturation and noise."""
    rng = np.random.default_rng(20_241_128)
    noise = rng.integers(0, 256, size=(61, 28, 28), dtype=np.uint8)
    sparse = np.where(rng.random((2, 28, 28)) < 0.2, 255, 0).astype(np.uint8)
    blank = np.zeros((1, 28, 28), dtype=np.uint8)
    return np.concatenate([blank, np.full_like(blank, 255), sparse, noise])


def check_agreement(actual: Probabilities, expected: Probabilities) -> str | None:
    """Why ``actual`` does not match ``expected`` (argmax and tolerance), or None if it does."""
    if actual.shape != expected.shape:
        return f"shape {actual.shape} != {expected.shape}"
    differing = np.flatnonzero(actual.argmax(axis=1) != expected.argmax(axis=1))
    if differing.size:
        return f"argmax differs for {differing.size} images, first at index {differing[0]}"
    error = float(np.max(np.abs(actual - expected), initial=0.0))
    if error > PROBABILITY_TOLERANCE:
        return f"largest probability difference {error:.2e} > {PROBABILITY_TOLERANCE:.0e}"
    return None
