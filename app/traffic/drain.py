"""Graceful drain: what SIGTERM starts, and the uvicorn server that runs it.

On SIGTERM, readiness answers 503 at once so that load balancers and Kubernetes stop sending
new requests; the server keeps serving everything that still arrives for ``drain_seconds``
(responses then carry ``Connection: close``, so keep-alive clients reconnect elsewhere), then
stops accepting connections, finishes every request already received (for at most
``shutdown_timeout_s``), unloads the models and exits 0. A second SIGTERM, or SIGINT (Ctrl+C),
skips what is left of the drain period; requests in flight are still finished.

uvicorn itself, on SIGTERM, closes its listening socket at once (new connections are refused
while the load balancer may still send them), waits for the requests in flight, then re-raises
the signal so the process dies of it (exit status 143 / -15): this server adds the period
before, and a clean exit after.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import uvicorn

logger = logging.getLogger("app.drain")


class Drain:
    """Whether the server is draining; shared by the server (which starts it) and the app."""

    def __init__(self) -> None:
        self.started_at: float | None = None

    @property
    def active(self) -> bool:
        return self.started_at is not None

    def start(self) -> None:
        if self.started_at is None:
            self.started_at = time.monotonic()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining for ``drain_seconds`` on SIGTERM and exiting 0 afterwards."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds
        self._drain_ends: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in uvicorn's captured signals: they would be re-raised after shutdown,
        # killing the process instead of letting it exit 0.
        if sig == signal.SIGTERM and not self.drain.active and self.drain_seconds > 0:
            self.drain.start()
            self._drain_ends = time.monotonic() + self.drain_seconds
            logger.warning(
                "SIGTERM: readiness is 503; serving for %g s more, then finishing what is in"
                " flight and exiting",
                self.drain_seconds,
            )
            return
        self.drain.start()
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self._drain_ends is not None and time.monotonic() >= self._drain_ends:
            self.should_exit = True
        return await super().on_tick(counter)
