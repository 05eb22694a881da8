"""Compile SavedModel versions for serving with TensorFlow, in one child process for them all.

Importing TensorFlow maps ~460 MB into a process for good and takes seconds, while a compiled
model needs LiteRT (~30 MB). So the service runs this module as
``python -m app.runtime.compiler <output dir> <version dir>...``: the child imports TensorFlow
once (only the part compiling needs: :mod:`.tensorflow_core`), and for each version loads the
SavedModel, compiles its serving signature to TFLite, checks the result against TensorFlow on a
probe batch, and writes one ``.npz`` *artifact* (flatbuffer, TensorFlow's probe answers,
signature description, weights) or a one-line error.
A broken version fails alone; the others still compile. The server then checks the interpreter
it builds against the probe answers (:mod:`app.runtime.artifact`), so what it serves is verified
in its own process too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.contract import INPUT, OUTPUT, SERVING_SIGNATURE, WEIGHTS_SIGNATURE
from app.runtime.litert import (
    CompilationError,
    CompiledModel,
    VersionRejectedError,
    check_agreement,
    probe_images,
)
from app.runtime.tensorflow_core import CoreImportError, import_core, tensorflow_api

COMPILABLE_INPUT = {INPUT: {"dtype": "uint8", "shape": [None, 28, 28]}}
# Set when the child starts again to import all of TensorFlow (see .tensorflow_core).
FULL_TENSORFLOW = "MNIST_COMPILER_FULL_TENSORFLOW"


def compile_versions(
    version_dirs: Sequence[Path],
    output_dir: Path,
    *,
    timeout: float = 300.0,
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
) -> list[Path | CompilationError]:
    """One artifact path (in ``output_dir``) or error per version, from a single child process.

    A child that crashes, is killed or overruns ``timeout`` fails every version it had not
    finished, with that reason; its error lines stay short enough to show in ``GET /models``.
    ``on_start`` is handed the child as soon as it runs (so that a stopping server can kill it).
    """
    if not version_dirs:
        return []
    argv = [sys.executable, "-m", "app.runtime.compiler", str(output_dir)]
    argv += [str(path) for path in version_dirs]
    failure: str | None = None
    child = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    if on_start is not None:
        on_start(child)
    try:
        _, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        failure = f"compiling took over {timeout:.0f} s"
    else:
        if child.returncode < 0:
            failure = f"the compiler was stopped by signal {-child.returncode}"
        elif child.returncode != 0:
            lines = [line for line in stderr.splitlines() if line.strip()]
            failure = lines[-1] if lines else f"exit status {child.returncode}"
    results: list[Path | CompilationError] = []
    for index, version_dir in enumerate(version_dirs):
        artifact, error = output_dir / f"{index}.npz", output_dir / f"{index}.error"
        if error.exists():
            reason = error.read_text(encoding="utf-8", errors="replace").strip()
            results.append(VersionRejectedError(f"could not load {version_dir}: {reason}"))
        elif artifact.exists() and failure is None:
            results.append(artifact)
        else:
            reason = failure or "the compiler wrote nothing"
            results.append(CompilationError(f"could not load {version_dir}: {reason}"))
    return results


def compile_serving_signature(loaded: Any, *, threads: int = 1) -> bytes:
    """The ``serving_default`` signature of a loaded SavedModel as a verified TFLite flatbuffer.

    Raises :class:`CompilationError` if conversion fails or the compiled model disagrees with
    TensorFlow on :func:`probe_images` (argmax, or probabilities beyond the tolerance).
    """
    return _compile_and_check(loaded, threads=threads)[0]


def _compile_and_check(loaded: Any, *, threads: int = 1) -> tuple[bytes, np.ndarray[Any, Any]]:
    """The verified flatbuffer, and TensorFlow's answers on the probe batch it was checked on."""
    tf = tensorflow_api()
    try:
        signature = loaded.signatures[SERVING_SIGNATURE]
        converter = tf.converter.from_concrete_functions([signature], loaded)
        flatbuffer: bytes = converter.convert()
        model = CompiledModel(flatbuffer, threads=threads)
    except Exception as exc:
        raise CompilationError(
            f"could not compile the {SERVING_SIGNATURE!r} signature: {exc}"
        ) from exc
    probe = probe_images()
    expected = signature(**{INPUT: tf.constant(probe)})[OUTPUT].numpy()
    disagreement = check_agreement(model.predict(probe), expected)
    if disagreement is not None:
        raise CompilationError(f"the compiled model disagrees with TensorFlow: {disagreement}")
    return flatbuffer, expected


def _describe(specs: Any) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "dtype": spec.dtype.name,
            "shape": [None if d is None else int(d) for d in spec.shape],
        }
        for name, spec in specs.items()
    }


def export_for_serving(version_dir: Path, output: Path) -> None:
    """The child's work for one version: SavedModel -> artifact ``.npz`` at ``output``."""
    tf = tensorflow_api()
    loaded = tf.load_saved_model(str(version_dir))
    signatures = dict(loaded.signatures)
    description: dict[str, Any] = {"names": sorted(signatures), "inputs": {}, "outputs": {}}
    arrays: dict[str, Any] = {"tensorflow_version": np.array(tf.version)}
    if WEIGHTS_SIGNATURE in signatures:
        weights = signatures[WEIGHTS_SIGNATURE]()
        if {"W", "b"} <= set(weights):
            arrays["weights"], arrays["bias"] = weights["W"].numpy(), weights["b"].numpy()
    if SERVING_SIGNATURE in signatures:
        signature = signatures[SERVING_SIGNATURE]
        description["inputs"] = _describe(signature.structured_input_signature[1])
        description["outputs"] = _describe(signature.structured_outputs)
        if description["inputs"] == COMPILABLE_INPUT and OUTPUT in description["outputs"]:
            flatbuffer, expected = _compile_and_check(loaded)
            arrays["flatbuffer"] = np.frombuffer(flatbuffer, np.uint8)
            arrays["probe_expected"] = expected
    arrays["description"] = np.array(json.dumps(description))
    partial = output.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(output)


def main(argv: list[str]) -> int:
    """Entry point of the child process: one artifact or one ``.error`` line per version."""
    if len(argv) < 2:
        print(
            "usage: python -m app.runtime.compiler <output dir> <version dir>...", file=sys.stderr
        )
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if FULL_TENSORFLOW not in os.environ:
        try:
            import_core()  # a third of TensorFlow's import time is its public API, unused here
        except CoreImportError as exc:
            print(f"importing all of TensorFlow (its core alone failed: {exc})", file=sys.stderr)
            again = [sys.executable, "-m", "app.runtime.compiler", *argv]
            os.execve(sys.executable, again, {**os.environ, FULL_TENSORFLOW: "1"})
    output_dir = Path(argv[0])
    for index, version_dir in enumerate(argv[1:]):
        try:
            export_for_serving(Path(version_dir), output_dir / f"{index}.npz")
        except Exception as exc:
            line = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
            (output_dir / f"{index}.error").write_text(line[:500], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
