"""The service's log lines: one JSON object per line, request id included when there is one.

Lines go to standard error through a buffer, like nginx's buffered ``access_log``: writing and
flushing each request's line separately cost a system call per request, ~6 % of a prediction's
time. A writer thread writes buffered lines when 64 KiB have gathered, at least once a second,
at once after any warning or error, and when the app shuts down (:func:`flush_logs`, called by
the lifespan). Requests never wait for the destination: if it blocks (a pipe nobody reads) or is
closed, only the writer waits or fails, and lines beyond a bounded backlog are dropped and
counted.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any

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
        extra = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        if record.exc_info:
            extra["exception"] = self.formatException(record.exc_info)
        return json_line(
            record.created, record.levelname.lower(), record.name, record.getMessage(), extra
        )


def json_line(created: float, level: str, logger: str, message: str, extra: dict[str, Any]) -> str:
    """One log line as :class:`JsonFormatter` writes it, from its parts."""
    entry: dict[str, Any] = {
        "time": iso_time(created),
        "level": level,
        "logger": logger,
        "message": message,
    }
    request_id = current_request_id()
    if request_id is not None:
        entry["request_id"] = request_id
    if _worker is not None:
        entry["worker"] = _worker
    entry.update(extra)
    return orjson.dumps(entry, default=str).decode()


# The date and time to the second of the last line, which the next lines mostly share.
_second: tuple[int, str] = (-1, "")


def iso_time(created: float) -> str:
    """``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``, ~4x cheaper.

    Rounded to the microsecond as ``datetime`` does, then cut to the millisecond; only the
    milliseconds are formatted for each line, the rest once a second.
    """
    global _second
    fraction, whole = math.modf(created)
    seconds, micros = int(whole), round(fraction * 1e6)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    elif micros < 0:
        seconds, micros = seconds - 1, micros + 1_000_000
    cached = _second
    if cached[0] != seconds:
        text = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")[:-6]
        _second = cached = (seconds, text)
    return f"{cached[1]}.{micros // 1000:03d}+00:00"


def sole_handler(logger: logging.Logger, level: int) -> BufferedStderrHandler | None:
    """The handler that alone would write ``logger``'s records of ``level``, if that is ours.

    None when anything else would see them (another handler, a filter, a formatter other than
    :class:`JsonFormatter`): then the record must go through logging. Otherwise a line can be
    handed straight to the handler (:meth:`BufferedStderrHandler.write_line`), as an access line
    is, skipping the record and logging's dispatch (~7 µs of a request's ~12 µs line).
    """
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        found.extend(handler for handler in current.handlers if level >= handler.level)
        current = current.parent if current.propagate else None
    if len(found) != 1:
        return None
    handler = found[0]
    if (
        not isinstance(handler, BufferedStderrHandler)
        or handler.filters
        or type(handler.formatter) is not JsonFormatter
    ):
        return None
    return handler


class BufferedStderrHandler(logging.Handler):
    """Formats lines on the caller's thread; one writer thread writes them to standard error.

    Logging never waits for the destination: a pipe nobody reads, a full disk, a closed
    terminal stall the writer thread only. Lines wait in memory up to ``MAX_PENDING_BYTES``;
    past that they are dropped and counted, and the writer says how many when it next writes.
    Lines that cannot be written (the destination is closed) are counted in :attr:`lost`.
    """

    BUFFER_BYTES = 64 * 1024
    MAX_PENDING_BYTES = 4 * 1024 * 1024

    def __init__(self, flush_interval: float = 1.0) -> None:
        super().__init__()
        self._descriptor = _duplicate_stderr()
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._dropped = 0
        self.lost = 0
        self._wake = threading.Condition(threading.Lock())
        self._urgent = False
        self._closing = False
        self._requested = 0  # flushes asked for, and flushes done: flush_buffer() waits on them
        self._completed = 0
        self._writer = threading.Thread(
            target=self._write_loop, args=(flush_interval,), name="log-writer", daemon=True
        )
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.write_line(line, urgent=record.levelno >= logging.WARNING)

    def write_line(self, line: str, *, urgent: bool = False) -> None:
        """Buffer one formatted line (``urgent``: have the writer write it out now)."""
        line += "\n"
        with self._wake:
            if self._pending_bytes + len(line) > self.MAX_PENDING_BYTES:
                self._dropped += 1
                return
            self._pending.append(line)
            self._pending_bytes += len(line)
            if urgent or self._pending_bytes >= self.BUFFER_BYTES:
                self._urgent = True
                self._wake.notify_all()

    def flush(self) -> None:
        # Called by logging after each line in some setups; writing is the writer's job.
        pass

    def flush_buffer(self, timeout: float = 1.0) -> bool:
        """Have what is buffered written now; wait for it at most ``timeout`` s (True: written)."""
        with self._wake:
            self._requested += 1
            goal = self._requested
            self._urgent = True
            self._wake.notify_all()
            return self._wake.wait_for(lambda: self._completed >= goal, timeout)

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        self._writer.join(timeout=2.0)  # a destination that never drains must not hang exit
        if self._descriptor is not None and not self._writer.is_alive():
            os.close(self._descriptor)
            self._descriptor = None
        super().close()

    def _write_loop(self, interval: float) -> None:
        while True:
            with self._wake:
                if not (self._urgent or self._closing):
                    self._wake.wait(interval)
                lines, self._pending, self._pending_bytes = self._pending, [], 0
                dropped, self._dropped = self._dropped, 0
                goal, closing, self._urgent = self._requested, self._closing, False
            if dropped:
                lines.insert(0, _dropped_line(dropped))
            if lines and not self._write("".join(lines)):
                with self._wake:
                    self.lost += len(lines)
            with self._wake:
                self._completed = goal
                self._wake.notify_all()
            if closing:
                return

    def _write(self, text: str) -> bool:
        try:
            if self._descriptor is None:
                sys.stderr.write(text)
                sys.stderr.flush()
                return True
            data = memoryview(text.encode("utf-8", "backslashreplace"))
            while data:
                data = data[os.write(self._descriptor, data) :]
        except (OSError, ValueError):  # closed pipe, full disk, closed stream
            return False
        return True


def _dropped_line(count: int) -> str:
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "warning",
        "logger": "app.logs",
        "message": f"{count} log lines dropped: the log destination did not keep up",
        "dropped": count,
    }
    return orjson.dumps(entry).decode() + "\n"


def _duplicate_stderr() -> int | None:
    """A duplicate of stderr's descriptor (closing it leaves stderr open), or None."""
    try:
        return os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return None  # e.g. captured by a test runner: written through sys.stderr instead


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
