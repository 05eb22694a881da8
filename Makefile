# Everything a developer or CI needs, from a fresh clone with only Python 3.11 and the package registries.
#   make serve   install what is needed, then serve the committed model on http://localhost:8000
#   make test    install what is needed, then lint, type-check and run the whole test suite

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 0.0.0.0
PORT   ?= 8000
MNIST_DATA_DIR ?= ../shared/mnist

KSERVE_VENV ?= .venv-kserve
RAY_VENV    ?= .venv-ray

.PHONY: serve test lint typecheck pytest train bench lock docker-smoke clean kserve-client ray

# The stamp is rebuilt whenever a lock file changes, so `make` keeps the venv in step with the pins.
$(VENV)/.installed: requirements/runtime.txt requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@# Byte-compile once: with PYTHONDONTWRITEBYTECODE set (as on CI machines) Python never caches
	@# bytecode, and every process that imports TensorFlow spends ~8 s recompiling it (12 s -> 3.5 s).
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null
	@touch $@

# KServe's SDK conflicts with the service's pins (protobuf), so its client runs from its own venv.
$(KSERVE_VENV)/.installed: requirements/kserve-client.txt
	@test -x $(KSERVE_VENV)/bin/python || $(PYTHON) -m venv $(KSERVE_VENV) || python3 -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/kserve-client.txt
	@touch $@

kserve-client: $(KSERVE_VENV)/.installed

# Ray Serve (pip install ".[ray]"): the service's runtime pins plus Ray, in a venv of its own so
# the default install stays small (~85 s, 2 GB with TensorFlow). The Ray test runs from it.
$(RAY_VENV)/.installed: requirements/ray.txt
	@test -x $(RAY_VENV)/bin/python || $(PYTHON) -m venv $(RAY_VENV) || python3 -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/ray.txt
	$(RAY_VENV)/bin/python -m compileall -q -j 0 $(RAY_VENV)/lib > /dev/null
	@touch $@

ray: $(RAY_VENV)/.installed

# python -m app runs uvicorn (uvloop, httptools) with MNIST_WORKERS processes on one port.
serve: $(VENV)/.installed
	$(BIN)/python -m app --host $(HOST) --port $(PORT)

test: lint typecheck pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy training app tests benchmarks scripts

pytest: $(VENV)/.installed $(KSERVE_VENV)/.installed $(RAY_VENV)/.installed
	KSERVE_PYTHON=$(KSERVE_VENV)/bin/python RAY_PYTHON=$(RAY_VENV)/bin/python $(BIN)/pytest

train: $(VENV)/.installed
	$(BIN)/python -m training --data-dir $(MNIST_DATA_DIR)

# Recompile the pinned lock files from the *.in lists (needs uv: `pip install uv`).
lock:
	uv pip compile --universal --python-version 3.11 -q requirements/runtime.in -o requirements/runtime.txt
	uv pip compile --universal --python-version 3.11 -q requirements/dev.in -o requirements/dev.txt
	uv pip compile --universal --python-version 3.11 -q requirements/kserve-client.in -o requirements/kserve-client.txt
	uv pip compile --universal --python-version 3.11 -q requirements/ray.in -o requirements/ray.txt
	for peer in kserve mlserver bentoml; do \
		uv pip compile --python-version 3.11 -q benchmarks/peers/$$peer.in -o benchmarks/peers/$$peer.txt; \
	done

docker-smoke:
	bash scripts/docker-smoke.sh

clean:
	rm -rf $(VENV) $(KSERVE_VENV) $(RAY_VENV) .mypy_cache .ruff_cache .pytest_cache
