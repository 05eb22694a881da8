#!/usr/bin/env bash
# One virtualenv per peer server, from its pinned lock (they cannot share one: kserve 0.21 needs
# starlette >= 1.3.1, mlserver 1.7.1 needs fastapi < 0.116). Installs with uv when it is on PATH or
# in the project venv, else with each venv's own pip (slower, same pins).
# Byte-compiled once, as the project's venv is: with PYTHONDONTWRITEBYTECODE set, a peer would
# otherwise recompile TensorFlow at every start and look seconds slower than it is.
set -euo pipefail
cd "$(dirname "$0")/../.."
uv=$(command -v uv || true)
test -n "$uv" || ! test -x .venv/bin/uv || uv=.venv/bin/uv
for peer in kserve mlserver bentoml; do
    test -x ".venv-peers/$peer/bin/python" || python3.11 -m venv ".venv-peers/$peer"
    if test -n "$uv"; then
        "$uv" pip install -q --python ".venv-peers/$peer/bin/python" -r "benchmarks/peers/$peer.txt"
    else
        ".venv-peers/$peer/bin/python" -m pip install -q --disable-pip-version-check -r "benchmarks/peers/$peer.txt"
    fi
    ".venv-peers/$peer/bin/python" -m compileall -q -j 0 ".venv-peers/$peer/lib" > /dev/null
done
