"""The service's log lines: one JSON object per line, request id included when there is one.

Lines go to standard error through a buffer, like nginx's buffered ``access_log``: writing and
flushing each request's line separately cost a system call per request, ~6 % of a prediction's
time. Buffered lines leave when 64 KiB have gathered, at least once a second, at once with any
warning or error, and when the app shuts down (:func:`flush_logs`, called by the lifespan:
uvicorn ends by re-raising the stop signal, so exit handlers never run).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from app.observability.context import current_request_id

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is logged.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# This process's worker number when several workers share the port (see app.workers).
_worker: int | None = None


def set_worker(number: int | None) -> None:
    """Name the worker in every line from now on (None: a single server process)."""
    global _worker
    _worker = number


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", **extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        if _worker is not None:
            entry["worker"] = _worker
        entry.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class BufferedStderrHandler(logging.StreamHandler[TextIO]):
    """A stream handler on a buffered duplicate of stderr, flushed by a timer and by errors."""

    BUFFER_BYTES = 64 * 1024

    def __init__(self, flush_interval: float = 1.0) -> None:
        super().__init__(_buffered_stderr(self.BUFFER_BYTES))
        self._stopping = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_every, args=(flush_interval,), name="log-flush", daemon=True
        )
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.WARNING:
            self.flush_buffer()

    def flush(self) -> None:
        # StreamHandler.emit flushes after every line; leaving the line in the buffer is the point.
        pass

    def flush_buffer(self) -> None:
        """Write out whatever is buffered."""
        self.acquire()
        try:
            if not self.stream.closed:
                self.stream.flush()
        finally:
            self.release()

    def close(self) -> None:
        self._stopping.set()
        self.flush_buffer()
        super().close()
        if self.stream is not sys.stderr:
            self.stream.close()

    def _flush_every(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            self.flush_buffer()


def _buffered_stderr(size: int) -> TextIO:
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.stderr  # e.g. captured by a test runner: unbuffered, still correct
    # A duplicate descriptor, so closing this stream leaves the process's stderr open.
    return os.fdopen(
        os.dup(descriptor), "w", buffering=size, encoding="utf-8", errors="backslashreplace"
    )


def flush_logs() -> None:
    """Write out the ``app`` loggers' buffered lines now."""
    for handler in logging.getLogger("app").handlers:
        if isinstance(handler, BufferedStderrHandler):
            handler.flush_buffer()


def configure_logging(level: str) -> None:
    """Send the ``app`` loggers to stderr as JSON lines at ``level`` (idempotent)."""
    logger = logging.getLogger("app")
    logger.setLevel(level.upper())
    logger.propagate = False
    for handler in list(logger.handlers):
        if isinstance(handler, BufferedStderrHandler):
            logger.removeHandler(handler)
            handler.close()
    handler = BufferedStderrHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    # The lines never show the caller's thread or process; skip looking them up for each record
    # (the logging HOWTO's "Optimization" section).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
