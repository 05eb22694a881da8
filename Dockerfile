# The MNIST digit service: FastAPI + TensorFlow (CPU) serving the committed model, and the same
# image runs the training job (`python -m training`). Legacy-builder compatible on purpose.
#   docker build -t mnist-serving .
#   docker build --build-arg BASE_IMAGE=registry.example/python:3.11-slim -t mnist-serving .
ARG BASE_IMAGE=python:3.11-slim

# ---- builder: the pinned dependencies in a venv, stripped of what serving never touches -------
FROM ${BASE_IMAGE} AS builder
# binutils for `strip`, used by slim-venv.sh; the builder stage is never shipped.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
# Only the lock file first: source edits never invalidate the (slow, ~600 MB) install layer.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN /opt/venv/bin/python -m pip install --no-compile -r /tmp/runtime.txt
COPY docker/slim-venv.sh /tmp/slim-venv.sh
RUN sh /tmp/slim-venv.sh /opt/venv

# ---- runtime -------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} app \
    && useradd --system --uid ${APP_UID} --gid app --home-dir /srv --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
# HOME and KERAS_HOME point at /tmp so that the container also runs with a read-only root
# filesystem (Keras writes a config file on first import).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    HOME=/tmp \
    KERAS_HOME=/tmp/.keras \
    MNIST_MODEL_DIR=/srv/model \
    MNIST_CACHE_DIR=/srv/cache \
    MNIST_DATA_DIR=/data/mnist
WORKDIR /srv
COPY training/ /srv/training/
COPY app/ /srv/app/
# The model repository belongs to the app user: a named volume mounted here is seeded from this
# content with this ownership, so the training job (same uid) can add versions to it.
COPY --chown=app:app model/ /srv/model/
RUN install -d -o app -g app /srv/cache
USER app
# A warm compile cache for the committed models: a container is ready in about a second instead
# of importing TensorFlow to compile them. A volume mounted on /srv/cache is seeded with it.
RUN python -m app.repository.warm_cache
EXPOSE 8000
# Slim images have no curl; urlopen raises (exit 1) on a refused connection or a 503.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"]
# python -m app: uvicorn (uvloop, httptools); MNIST_WORKERS > 1: gunicorn over that many uvicorn
# workers (auto: one per core the container may use; their shared metrics files go to /tmp).
# On SIGTERM (docker stop) readiness turns 503, the server serves MNIST_DRAIN_SECONDS more,
# finishes what is in flight and exits 0. Allow it the time: `docker stop -t 40`, compose's
# stop_grace_period, Kubernetes' terminationGracePeriodSeconds.
CMD ["python", "-m", "app", "--host", "0.0.0.0", "--port", "8000"]
