"""The compiler child's narrow TensorFlow import: the same artifacts as the full import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from app.runtime.compiler import compile_versions, export_for_serving
from app.runtime.tensorflow_core import import_core, tensorflow_api

REPO = Path(__file__).resolve().parents[3]
MODEL_DIR = REPO / "model" / "mnist" / "1"
# The full package's public API: the core import never loads it.
PUBLIC_API = ("tensorflow._api.v2", "keras", "tensorflow.compiler.xla.service.hlo_pb2")


def python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (this one has all of TensorFlow imported)."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-c", code]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=True)


def test_the_core_import_leaves_the_public_api_out() -> None:
    code = f"""
import sys
from app.runtime.tensorflow_core import import_core
api = import_core()
print(api.kind, [name for name in {PUBLIC_API!r} if name in sys.modules])
print(api.constant([1, 2]).numpy().sum())  # eager tensors, as TensorFlow 2 gives them
"""
    lines = python(code).stdout.splitlines()
    assert lines == ["core []", "3"]


def test_if_the_core_import_fails_the_child_starts_again_with_all_of_tensorflow(
    tmp_path: Path,
) -> None:
    # As if an upgrade had moved a module: the first start fails, the second has no patch.
    code = f"""
import importlib, runpy, sys
real = importlib.import_module
def moved(name, *args):
    if name == "tensorflow.lite.python.lite":
        raise ImportError("No module named 'tensorflow.lite.python.lite'")
    return real(name, *args)
importlib.import_module = moved
sys.argv = ["compiler", {str(tmp_path)!r}, {str(MODEL_DIR)!r}]
runpy.run_module("app.runtime.compiler", run_name="__main__")
"""
    result = python(code)
    assert "importing all of TensorFlow" in result.stderr
    assert "tensorflow.lite.python.lite" in result.stderr
    assert (tmp_path / "0.npz").exists()
    assert not (tmp_path / "0.error").exists()


def test_a_process_that_has_all_of_tensorflow_keeps_it() -> None:
    import tensorflow  # noqa: F401  (as the training job and these tests do)

    assert import_core().kind == "full"
    assert tensorflow_api().kind == "full"


def test_the_child_compiles_what_the_full_import_compiles(tmp_path: Path) -> None:
    (tmp_path / "child").mkdir()
    (from_child,) = compile_versions([MODEL_DIR], tmp_path / "child")
    assert isinstance(from_child, Path)
    in_process = tmp_path / "full.npz"
    export_for_serving(MODEL_DIR, in_process)  # this process imported all of TensorFlow
    child, full = np.load(from_child), np.load(in_process)
    assert sorted(child.files) == sorted(full.files)
    for name in full.files:
        if name == "description":  # JSON; the order of the outputs is not part of it
            assert json.loads(str(child[name])) == json.loads(str(full[name]))
        else:
            np.testing.assert_array_equal(child[name], full[name], err_msg=name)

    assert tensorflow_api().kind == "full"  # what the child's artifact was compared with
