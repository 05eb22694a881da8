"""``python -m app``: serve the model repository with ``MNIST_WORKERS`` processes on one port.

One worker runs uvicorn in this process, exactly as ``uvicorn app.main:app --loop uvloop --http
httptools`` does. Several run under gunicorn's arbiter with uvicorn workers (the same server,
uvloop and httptools, in each): it shares the listening socket, replaces a worker that dies or
hangs, stops with exit code 3 if a worker cannot start at all (no model, a broken one), and on
SIGTERM lets every worker finish its requests. gunicorn measured ahead of uvicorn's own
``--workers`` supervisor here (docs/deploy.md). The workers share a fresh directory for their
metrics files and worker numbers, removed when the arbiter exits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import Any

import uvicorn

from app.config import settings_from_environment
from app.workers import SHARED_DIR_VARIABLE


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Serve the model repository (settings: MNIST_* environment variables).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    settings = settings_from_environment()  # an invalid setting stops here, with one line
    if settings.workers == 1:
        uvicorn.run(
            "app.main:app",
            host=arguments.host,
            port=arguments.port,
            access_log=False,  # the app writes its own access lines
            loop="uvloop",
            http="httptools",
        )
        return
    shared = tempfile.mkdtemp(prefix="mnist-workers-")
    # Set before anything imports prometheus_client: it picks its multiprocess mode on import,
    # and the workers are forked from this process.
    os.environ[SHARED_DIR_VARIABLE] = shared
    from app.supervisor import Supervisor

    host = f"[{arguments.host}]" if ":" in arguments.host else arguments.host
    options: dict[str, Any] = {"bind": f"{host}:{arguments.port}", "workers": settings.workers}
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
