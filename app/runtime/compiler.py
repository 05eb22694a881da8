"""Load a SavedModel version with TensorFlow and compile it for serving, in a child process.

Importing TensorFlow maps ~460 MB into a process for good, while the compiled model needs
LiteRT (~30 MB) and the weights are 31 KB. So the service runs this module once at start-up as
``python -m app.runtime.compiler <version dir> <output.npz>``: the child loads the SavedModel,
compiles its serving signature to TFLite, checks the result against TensorFlow on a probe batch,
extracts the weights and signature description, writes them to one ``.npz`` file and exits,
taking TensorFlow's memory with it. The server then re-checks the interpreter it builds against
TensorFlow's probe answers, so the model it serves is verified in its own process too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.runtime.litert import (
    INPUT,
    OUTPUT,
    SIGNATURE,
    CompilationError,
    CompiledModel,
    check_agreement,
    compile_serving_signature,
    probe_images,
)


@dataclass(frozen=True)
class CompiledSavedModel:
    """Everything the service needs from a SavedModel version, without TensorFlow.

    ``model`` is None when the serving signature does not take ``images`` ``uint8 [N, 28, 28]``
    and give ``probabilities`` (nothing to compile); ``weights``/``bias`` are None without a
    ``weights`` signature. The runtime turns those cases into its own clear errors.
    """

    signature_names: list[str]
    inputs: dict[str, dict[str, Any]]  # serving signature: name -> {"dtype", "shape"}
    outputs: dict[str, dict[str, Any]]
    model: CompiledModel | None
    weights: npt.NDArray[np.float32] | None  # W [784, 10]
    bias: npt.NDArray[np.float32] | None  # b [10]
    tensorflow_version: str


COMPILABLE_INPUT = {INPUT: {"dtype": "uint8", "shape": [None, 28, 28]}}


def _describe(specs: Any) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "dtype": spec.dtype.name,
            "shape": [None if d is None else int(d) for d in spec.shape],
        }
        for name, spec in specs.items()
    }


def export_for_serving(version_dir: Path, output: Path) -> None:
    """The child's work: SavedModel -> verified flatbuffer, weights, signature, probe answers."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    loaded = tf.saved_model.load(str(version_dir))
    signatures = dict(loaded.signatures)
    description: dict[str, Any] = {"names": sorted(signatures), "inputs": {}, "outputs": {}}
    arrays: dict[str, Any] = {"tensorflow_version": np.array(tf.__version__)}
    if "weights" in signatures:
        weights = signatures["weights"]()
        arrays["weights"], arrays["bias"] = weights["W"].numpy(), weights["b"].numpy()
    if SIGNATURE in signatures:
        signature = signatures[SIGNATURE]
        description["inputs"] = _describe(signature.structured_input_signature[1])
        description["outputs"] = _describe(signature.structured_outputs)
        if description["inputs"] == COMPILABLE_INPUT and OUTPUT in description["outputs"]:
            compiled = compile_serving_signature(loaded)  # CompilationError on disagreement
            probe = tf.constant(probe_images())
            arrays["flatbuffer"] = np.frombuffer(compiled.flatbuffer, dtype=np.uint8)
            arrays["probe_expected"] = signature(**{INPUT: probe})[OUTPUT].numpy()
    arrays["description"] = np.array(json.dumps(description))
    np.savez(output, **arrays)


def compile_saved_model(version_dir: Path, *, timeout: float = 300.0) -> CompiledSavedModel:
    """Compile ``version_dir`` in a child process; raise :class:`CompilationError` on failure.

    The error message is the child's last line of output (its own one-line explanation, or the
    last line of a traceback), so that start-up failures stay readable.
    """
    with tempfile.TemporaryDirectory(prefix="mnist-compile-") as tmp:
        output = Path(tmp) / "compiled.npz"
        try:
            child = subprocess.run(
                [sys.executable, "-m", "app.runtime.compiler", str(version_dir), str(output)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CompilationError(f"compiling {version_dir} took over {timeout:.0f} s") from exc
        if child.returncode != 0 or not output.exists():
            lines = [line for line in child.stderr.splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit status {child.returncode}"
            raise CompilationError(f"could not load {version_dir}: {reason}")
        with np.load(output) as files:
            arrays = {name: files[name] for name in files.files}

    model = None
    if "flatbuffer" in arrays:
        model = CompiledModel(arrays["flatbuffer"].tobytes())
        disagreement = check_agreement(model.predict(probe_images()), arrays["probe_expected"])
        if disagreement is not None:
            raise CompilationError(f"the compiled model disagrees with TensorFlow: {disagreement}")
    description = json.loads(str(arrays["description"]))
    return CompiledSavedModel(
        signature_names=description["names"],
        inputs=description["inputs"],
        outputs=description["outputs"],
        model=model,
        weights=arrays["weights"].astype(np.float32) if "weights" in arrays else None,
        bias=arrays["bias"].astype(np.float32) if "bias" in arrays else None,
        tensorflow_version=str(arrays["tensorflow_version"]),
    )


def main(argv: list[str]) -> int:
    """Entry point of the child process; prints one line to stderr on failure."""
    if len(argv) != 2:
        print("usage: python -m app.runtime.compiler <version dir> <output.npz>", file=sys.stderr)
        return 2
    try:
        export_for_serving(Path(argv[0]), Path(argv[1]))
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
