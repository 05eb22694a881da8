"""The part of TensorFlow that compiling needs, importable without TensorFlow's public API.

``import tensorflow`` runs the package's ``__init__``, which imports the whole public API, ~2,800
modules (Keras loaders, the wrappers of every op, XLA's protos): ~2.4 s here, the largest part
of a cold start. Compiling a SavedModel needs its loader, the TFLite converter and eager
tensors: ~1,270 modules, ~1.5 s, and the first conversion is quicker too (~0.25 s against
~0.42 s). So the compiler child calls :func:`import_core`: it imports those modules under a bare
``tensorflow`` package whose ``__init__`` does not run, and turns on TensorFlow 2 behaviour (eager
execution) as that ``__init__`` would.

These are TensorFlow's internal module paths. If an upgrade moves one, :func:`import_core`
raises and the compiler child starts again with all of TensorFlow (TensorFlow cannot be imported
twice in one process), saying so on stderr; either way every compile is checked against
TensorFlow's own answers on the probe batch, in the child and again in the server. Anywhere
else (tests, the training job) ``tensorflow`` is the full package, and :func:`tensorflow_api`
uses it as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TensorFlowApi:
    """What the compiler uses of TensorFlow, and how it was imported (``core`` or ``full``)."""

    version: str
    load_saved_model: Any  # tf.saved_model.load
    converter: Any  # tf.lite.TFLiteConverter (the TF2 one)
    constant: Any  # tf.constant
    kind: str


_api: TensorFlowApi | None = None


def tensorflow_api() -> TensorFlowApi:
    """The API as imported so far in this process: all of TensorFlow unless :func:`import_core`."""
    global _api
    if _api is None:
        _api = _full()
    return _api


class CoreImportError(ImportError):
    """TensorFlow's internals are not where this module expects them; import all of it."""


def import_core() -> TensorFlowApi:
    """Import only what compiling needs; call it before anything else imports TensorFlow.

    Raises :class:`CoreImportError` if that fails: the process must then start again and
    import all of TensorFlow, as what was imported so far cannot be undone.
    """
    global _api
    if _api is not None or "tensorflow" in sys.modules:
        return tensorflow_api()
    try:
        _api = _core()
    except (ImportError, AttributeError) as exc:
        raise CoreImportError(str(exc)) from exc
    return _api


def _core() -> TensorFlowApi:
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("TensorFlow is not installed")
    package = types.ModuleType("tensorflow")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["tensorflow"] = package  # submodules import; the package's __init__ does not run
    v2_compat = importlib.import_module("tensorflow.python.compat.v2_compat")
    v2_compat.enable_v2_behavior()
    load = importlib.import_module("tensorflow.python.saved_model.load")
    lite = importlib.import_module("tensorflow.lite.python.lite")
    constant_op = importlib.import_module("tensorflow.python.framework.constant_op")
    versions = importlib.import_module("tensorflow.python.framework.versions")
    return TensorFlowApi(
        versions.__version__, load.load, lite.TFLiteConverterV2, constant_op.constant, "core"
    )


def _full() -> TensorFlowApi:
    import tensorflow as tf

    return TensorFlowApi(
        tf.__version__, tf.saved_model.load, tf.lite.TFLiteConverter, tf.constant, "full"
    )
