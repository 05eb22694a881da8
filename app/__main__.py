"""``python -m app``: serve the model repository with ``MNIST_WORKERS`` processes on one port.

One worker runs uvicorn in this process, exactly as ``uvicorn app.main:app --loop uvloop --http
httptools`` does. Several run under uvicorn's supervisor, which shares the listening socket,
restarts a worker that dies (and stops if a worker cannot start at all) and relays SIGTERM to
every worker. The workers share a fresh directory for their metrics files and worker numbers,
removed when the supervisor exits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from app.config import settings_from_environment
from app.workers import SHARED_DIR_VARIABLE


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Serve the model repository (settings: MNIST_* environment variables).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--access-log", action="store_true", help="also print uvicorn's own access lines"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    settings = settings_from_environment()  # an invalid setting stops here, with one line
    options = {
        "host": arguments.host,
        "port": arguments.port,
        "access_log": arguments.access_log,
        "loop": "uvloop",
        "http": "httptools",
        # A worker that does not answer its supervisor's ping (a thread of its own, so a busy
        # event loop still answers) for this long is hung: it is killed and replaced.
        "timeout_worker_healthcheck": 10,
    }
    if settings.workers == 1:
        uvicorn.run("app.main:app", **options)
        return
    shared = tempfile.mkdtemp(prefix="mnist-workers-")
    os.environ[SHARED_DIR_VARIABLE] = shared  # inherited by every worker, replacements too
    try:
        config = uvicorn.Config("app.main:app", workers=settings.workers, **options)
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.run()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    # uvicorn.run would exit 0 here even when the supervisor gave up because a worker could not
    # start (no model, a broken one): say so with the exit code, as a single process does.
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
