"""The JSON log lines and their buffered way to standard error."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from app.observability.logs import (
    BufferedStderrHandler,
    JsonFormatter,
    iso_time,
    json_line,
    sole_handler,
)

GUARD_SECONDS = 10  # only so that a broken flusher fails the test instead of hanging it


def handler_writing_to(folder: Path, flush_interval: float) -> tuple[Path, BufferedStderrHandler]:
    """A handler created while ``sys.stderr`` is a file in ``folder``, and that file.

    Done in the test's body: pytest re-installs its capture of ``sys.stderr`` when a test's call
    phase starts, which would undo a fixture's replacement.
    """
    path = folder / "stderr.log"
    saved = sys.stderr
    with path.open("w") as stream:
        sys.stderr = stream
        try:
            handler = BufferedStderrHandler(flush_interval=flush_interval)
        finally:
            sys.stderr = saved
    return path, handler


def handler_logger(handler: logging.Handler) -> logging.Logger:
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test.logs.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


def messages(path: Path) -> list[str]:
    return [json.loads(line)["message"] for line in path.read_text().splitlines()]


def wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + GUARD_SECONDS
    while len(messages(path)) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_lines_wait_in_the_buffer_until_a_warning_flushes_them(tmp_path: Path) -> None:
    stderr_file, handler = handler_writing_to(tmp_path, flush_interval=3600)
    logger = handler_logger(handler)
    try:
        logger.info("first")
        logger.info("second")
        assert messages(stderr_file) == []
        time.sleep(0.2)
        assert messages(stderr_file) == []
        logger.warning("third")  # wakes the writer at once, not after the interval
        wait_for_lines(stderr_file, 3)
        assert messages(stderr_file) == ["first", "second", "third"]
    finally:
        handler.close()


def test_buffered_lines_leave_within_the_flush_interval(tmp_path: Path) -> None:
    stderr_file, handler = handler_writing_to(tmp_path, flush_interval=0.05)
    logger = handler_logger(handler)
    try:
        logger.info("request")
        deadline = time.monotonic() + GUARD_SECONDS
        while not messages(stderr_file) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert messages(stderr_file) == ["request"]
    finally:
        handler.close()


def test_closing_writes_out_the_buffer(tmp_path: Path) -> None:
    stderr_file, handler = handler_writing_to(tmp_path, flush_interval=3600)
    handler_logger(handler).info("last words")
    handler.close()
    assert messages(stderr_file) == ["last words"]
    assert not sys.stderr.closed  # only the handler's duplicate of it was closed


def handler_writing_to_pipe() -> tuple[int, BufferedStderrHandler]:
    """A handler whose standard error is a pipe; the read end is returned, and nobody reads it."""
    read_end, write_end = os.pipe()
    saved = sys.stderr
    with os.fdopen(write_end, "w") as stream:
        sys.stderr = stream
        try:
            handler = BufferedStderrHandler(flush_interval=0.01)
        finally:
            sys.stderr = saved
    return read_end, handler


def log_from_a_thread(logger: logging.Logger, lines: int) -> bool:
    """Whether ``lines`` lines (warnings among them) are logged without waiting on the pipe."""

    def work() -> None:
        for index in range(lines):
            if index % 100 == 0:
                logger.warning("a warning, flushed at once: %d", index)
            logger.info("request %d %s", index, "x" * 200)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout=GUARD_SECONDS)
    return not thread.is_alive()


def test_a_destination_that_blocks_never_stalls_the_callers() -> None:
    read_end, handler = handler_writing_to_pipe()
    logger = handler_logger(handler)
    handler.MAX_PENDING_BYTES = 256 * 1024
    try:
        # ~2.5 MB: far beyond the pipe's 64 KiB, which nobody reads.
        assert log_from_a_thread(logger, 10_000)
        assert not handler.flush_buffer(timeout=0.1)  # the writer is stuck, the callers are not
        # Once the destination reads again, the writer catches up and says what it dropped.
        received = b""
        os.set_blocking(read_end, False)
        deadline = time.monotonic() + GUARD_SECONDS
        while b"log lines dropped" not in received and time.monotonic() < deadline:
            try:
                received += os.read(read_end, 1 << 20)
            except BlockingIOError:
                time.sleep(0.01)
        assert b"log lines dropped: the log destination did not keep up" in received
    finally:
        os.close(read_end)  # the writer's pending write fails at once: close() need not wait
        handler.close()


def test_a_closed_destination_never_stalls_or_fails_the_callers() -> None:
    read_end, handler = handler_writing_to_pipe()
    os.close(read_end)  # writes now fail with EPIPE
    logger = handler_logger(handler)
    try:
        assert log_from_a_thread(logger, 2_000)
        assert handler.flush_buffer(timeout=GUARD_SECONDS)
        assert handler.lost > 0
    finally:
        handler.close()


def test_a_line_handed_straight_to_the_handler_is_the_line_logging_writes(tmp_path: Path) -> None:
    stderr_file, handler = handler_writing_to(tmp_path, flush_interval=3600)
    logger = handler_logger(handler)
    extra = {"method": "GET", "path": "/health/live", "status": 200, "duration_ms": 0.25}
    try:
        logger.info("request", extra=extra)
        assert stderr_file.read_text() == ""  # buffered
        assert sole_handler(logger, logging.INFO) is handler
        before = time.time()
        handler.write_line(json_line(before, "info", logger.name, "request", extra))
        assert handler.flush_buffer(timeout=GUARD_SECONDS)
        lines = stderr_file.read_text().splitlines()
        through_logging, straight = (json.loads(line) for line in lines)
        assert through_logging.keys() == straight.keys()
        assert {**through_logging, "time": None} == {**straight, "time": None}
    finally:
        handler.close()


def test_records_go_through_logging_when_anything_else_would_see_them(tmp_path: Path) -> None:
    _, handler = handler_writing_to(tmp_path, flush_interval=3600)
    logger = handler_logger(handler)
    try:
        assert sole_handler(logger, logging.INFO) is handler
        handler.setLevel(logging.INFO)
        assert sole_handler(logger, logging.DEBUG) is None
        child = logger.getChild("access")
        assert sole_handler(child, logging.INFO) is handler
        other = logging.StreamHandler(io.StringIO())
        child.addHandler(other)
        assert sole_handler(child, logging.INFO) is None
        child.removeHandler(other)
        child.addFilter(lambda record: True)
        assert sole_handler(child, logging.INFO) is None
        child.filters.clear()
        handler.setFormatter(logging.Formatter())
        assert sole_handler(child, logging.INFO) is None
    finally:
        handler.close()


def test_line_times_are_what_datetime_writes() -> None:
    rng = random.Random(16)
    moments = [rng.uniform(0, 4e9) for _ in range(20_000)]
    # Around the rounding edges: microseconds rounding up into the next second or millisecond.
    moments += [1_765_000_000 + fraction for fraction in (0.0, 0.0005, 0.0009995, 0.9999995, 0.999)]
    moments += [int(m) + micros / 1e6 for m in moments[:500] for micros in (999, 1000, 999_999)]
    for moment in moments:
        expected = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
        assert iso_time(moment) == expected, moment
