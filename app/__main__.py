"""``python -m app``: serve the model repository, ``MNIST_WORKERS`` processes on one port.

The production command (Makefile ``serve``, the Docker image). One worker runs uvicorn in this
process, on uvloop and httptools, as ``uvicorn app.main:app`` would, with the ``MNIST_*``
settings for keep-alive, connection limit and shutdown passed to uvicorn's own options. Several
run under gunicorn's arbiter with uvicorn workers (:mod:`app.supervisor`): it shares the
listening socket, replaces a worker that dies or hangs, and stops with exit code 3 if a worker
cannot start at all (no model, a broken one). gunicorn measured ahead of uvicorn's own
``--workers`` supervisor here (docs/deploy.md). The workers share a fresh directory for their
metrics files and worker numbers, removed when the arbiter exits.

Either way each server drains on SIGTERM (:mod:`app.traffic.drain`): readiness turns 503, it
serves ``MNIST_DRAIN_SECONDS`` more, finishes what is in flight and exits 0. Plain ``uvicorn``
refuses new connections at once on SIGTERM and dies of the signal afterwards.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from typing import Any

import uvicorn

from app.config import Settings, settings_from_environment
from app.traffic.allocator import tune_allocator
from app.traffic.coalescing import HttpProtocol
from app.traffic.drain import DrainingServer
from app.workers import SHARED_DIR_VARIABLE


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Serve the model repository (settings: MNIST_* environment variables).",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (0.0.0.0)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="level of uvicorn's and gunicorn's own log lines (the service's: MNIST_LOG_LEVEL)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then drain and exit 0."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    tune_allocator()  # before any thread allocates; forked workers inherit it
    settings = settings_from_environment()  # invalid settings stop here, with one line
    if settings.workers == 1:
        serve_in_this_process(arguments, settings)
    else:
        supervise_workers(arguments, settings)


def serve_in_this_process(arguments: argparse.Namespace, settings: Settings) -> None:
    """One uvicorn server in this process, draining on SIGTERM."""
    # uvicorn's Config sets up logging, closing every handler there is: the app, whose logging
    # it must keep, is imported after it, as ``uvicorn app.main:app`` does.
    config = uvicorn.Config(
        "app.main:app",
        host=arguments.host,
        port=arguments.port,
        loop="uvloop",
        http=HttpProtocol,  # httptools, each response's writes sent together
        access_log=False,  # the service writes its own access lines (JSON, with request ids)
        log_level=arguments.log_level,
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        limit_concurrency=settings.max_connections,
    )
    from app.main import app  # the instance config.load() will serve

    DrainingServer(config, app.state.drain, settings.drain_seconds).run()


def supervise_workers(arguments: argparse.Namespace, settings: Settings) -> None:
    """gunicorn's arbiter over ``settings.workers`` uvicorn workers; exits with its status."""
    shared = tempfile.mkdtemp(prefix="mnist-workers-")
    # Set before anything imports prometheus_client: it picks its multiprocess mode on import,
    # and the workers are forked from this process.
    os.environ[SHARED_DIR_VARIABLE] = shared
    from app.supervisor import Supervisor

    host = f"[{arguments.host}]" if ":" in arguments.host else arguments.host
    options: dict[str, Any] = {
        "bind": f"{host}:{arguments.port}",
        "workers": settings.workers,
        "loglevel": arguments.log_level,
        "keepalive": settings.keep_alive_s,
        # A worker drains, then finishes its requests: the arbiter waits for both.
        "graceful_timeout": math.ceil(settings.drain_seconds + settings.shutdown_timeout_s),
    }
    arbiter = os.getpid()
    try:
        Supervisor(options).run()  # exits the process when the arbiter stops
    finally:
        # Workers are forked from here and leave through this block too: only the arbiter,
        # the last to go, removes the directory.
        if os.getpid() == arbiter:
            shutil.rmtree(shared, ignore_errors=True)


if __name__ == "__main__":
    main()
