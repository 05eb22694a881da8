#!/bin/sh
# Slims the serving virtualenv in the Dockerfile's builder stage: removes what only matters for
# building C++ extensions or running a package's own tests, drops TensorFlow's static symbol
# tables, proves TensorFlow still imports and round-trips a SavedModel, then byte-compiles
# what is shipped. Needs `strip` (binutils) in the builder; nothing of it reaches the final image.
set -eu
VENV=${1:-/opt/venv}
PY="$VENV/bin/python"
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
before=$(du -sm "$VENV" | cut -f1)

# libclang is a build-time dependency of TensorFlow (it generates op wrappers); nothing imports it
# at run time. Uninstalling through pip keeps the venv's metadata honest.
"$PY" -m pip uninstall --yes --quiet libclang

# ~290 MB of C++ headers, only used to compile custom ops against TensorFlow.
rm -rf "$SITE/tensorflow/include"

# TensorFlow's libraries ship their full static symbol table (~200 MB in libtensorflow_cc alone).
# The dynamic linker only uses .dynsym, which --strip-unneeded keeps (Debian's dh_strip does the
# same). Only TensorFlow's own libraries: the auditwheel-patched *.libs of other wheels are left
# alone, since strip can break patchelf-edited binaries.
find "$SITE/tensorflow" -type f -name '*.so*' -exec strip --strip-unneeded {} +

# The test suites numpy and h5py ship (~9 MB); TensorFlow and Keras ship none worth the risk.
find "$SITE/numpy" "$SITE/h5py" -depth -type d -name tests -exec rm -rf {} +

# The installer is not needed to serve; a rebuild reinstalls from requirements/runtime.txt.
"$PY" -m pip uninstall --yes --quiet pip

find "$VENV" -depth -type d -name __pycache__ -exec rm -rf {} +

# A stripped file TensorFlow needs would only show up at run time: fail the build instead.
# The check saves and reloads a SavedModel with a signature, as training and serving do.
"$PY" -B -c '
import tempfile
import fastapi, keras, numpy, PIL, uvicorn
import tensorflow as tf

class M(tf.Module):
    def __init__(self):
        self.w = tf.Variable(2.0)
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": x * self.w}

with tempfile.TemporaryDirectory() as d:
    m = M()
    tf.saved_model.save(m, d, signatures={"serving_default": m.serve})
    y = tf.saved_model.load(d).signatures["serving_default"](x=tf.constant([1.5]))["y"]
    assert float(y[0]) == 3.0, y
print("slim-venv: tensorflow", tf.__version__, "imports and round-trips a SavedModel")
'

# Byte-compile once here: the service may run on a read-only root filesystem, where Python
# could not cache bytecode and would recompile TensorFlow's modules (3x slower start) each time.
# unchecked-hash: the venv is immutable, so skip source mtime checks on import.
"$PY" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$VENV/lib" >/dev/null

after=$(du -sm "$VENV" | cut -f1)
echo "slim-venv: ${before} MB -> ${after} MB"
