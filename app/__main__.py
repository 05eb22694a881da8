"""``python -m app``: serve the model repository with uvicorn, draining gracefully on SIGTERM.

The production command (Makefile ``serve``, the Docker image). It runs the same ``app.main:app``
as ``uvicorn app.main:app`` would, on uvloop and httptools, with the ``MNIST_*`` settings for
keep-alive, connection limit and shutdown passed to uvicorn's own options, and adds the drain
(:mod:`app.traffic.drain`): plain ``uvicorn`` refuses new connections at once on SIGTERM and
dies of the signal afterwards.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from app.config import settings_from_environment
from app.traffic.allocator import tune_allocator
from app.traffic.drain import DrainingServer


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
        help="level of uvicorn's own log lines (the service's: MNIST_LOG_LEVEL)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then drain and exit 0."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    tune_allocator()  # before any thread allocates
    settings = settings_from_environment()  # invalid settings stop here, with one line
    # uvicorn's Config sets up logging, closing every handler there is: the app, whose logging
    # it must keep, is imported after it, as ``uvicorn app.main:app`` does.
    config = uvicorn.Config(
        "app.main:app",
        host=arguments.host,
        port=arguments.port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the service writes its own access lines (JSON, with request ids)
        log_level=arguments.log_level,
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        limit_concurrency=settings.max_connections,
    )
    from app.main import app  # the instance config.load() will serve

    DrainingServer(config, app.state.drain, settings.drain_seconds).run()


if __name__ == "__main__":
    main()
