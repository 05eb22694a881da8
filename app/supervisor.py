"""gunicorn's arbiter running the app in uvicorn workers: what ``python -m app`` starts for N > 1.

Imported only once ``PROMETHEUS_MULTIPROC_DIR`` is set (see ``app.__main__``). The app is not
preloaded: each worker imports it after the fork, so its metrics are created in multiprocess
mode and it loads its own models (through the shared compile cache).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer
from prometheus_client.multiprocess import mark_process_dead
from uvicorn_worker import UvicornWorker

from app.traffic.coalescing import HttpProtocol
from app.traffic.drain import DrainingServer
from app.workers import shared_dir


class Worker(UvicornWorker):
    """uvicorn's server in a gunicorn worker, on uvloop and httptools like a single process."""

    # httptools, each response's writes sent together (app.traffic.coalescing).
    CONFIG_KWARGS = {"loop": "uvloop", "http": HttpProtocol}  # noqa: RUF012 - gunicorn's name

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # The app's logging skips looking up the process id of each record; gunicorn's own lines
        # (which uvicorn's go through here) print it.
        logging.logProcesses = True

    async def _serve(self) -> None:
        # UvicornWorker's own, with the draining server and the app's connection settings: the
        # arbiter passes SIGTERM on to each worker, which then drains as a single process does.
        self.config.app = self.wsgi
        settings = self.wsgi.state.settings
        self.config.limit_concurrency = settings.max_connections
        self.config.timeout_graceful_shutdown = settings.shutdown_timeout_s
        server = DrainingServer(self.config, self.wsgi.state.drain, settings.drain_seconds)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


def worker_exited(_arbiter: object, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: the dead worker's live gauges leave the merged metrics."""
    directory = shared_dir()
    if directory is not None:
        mark_process_dead(worker.pid, str(directory))


DEFAULTS: dict[str, Any] = {
    "worker_class": Worker,
    "child_exit": worker_exited,
    # A worker whose event loop does not tick for this long is hung: killed and replaced.
    "timeout": 30,
    # SIGTERM: each worker stops accepting, drains and finishes its requests within this time.
    "graceful_timeout": 30,
    # As a single uvicorn process: a load balancer's idle keep-alive connections stay open 5 s.
    "keepalive": 5,
    "accesslog": None,  # the app writes its own access lines
    "errorlog": "-",
    "loglevel": "info",
    "proc_name": "mnist-serving",
    # No runtime-control socket: nothing uses it, and it would need a writable home directory.
    "control_socket_disable": True,
}


class Supervisor(BaseApplication):
    """The arbiter, configured in code (no gunicorn.conf.py, no command line of its own)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = {**DEFAULTS, **options}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def run(self) -> None:
        """Run the arbiter until it stops; exits the process with the arbiter's status."""
        arbiter = Arbiter(self)
        try:
            arbiter.run()
        except HaltServer as halt:
            # When two workers fail to boot at once, gunicorn's halt meets the second failure
            # while it stops the workers and lets it escape (exit 1 and a traceback). Finish
            # the stop here and exit as gunicorn meant to: "Worker failed to boot.", status 3.
            for pid in list(arbiter.WORKERS):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            print(f"[gunicorn] {halt.reason}", file=sys.stderr)
            sys.exit(halt.exit_status)

    def load(self) -> Any:
        """Runs in each worker after the fork."""
        from app.main import app

        return app
