"""The JSON log lines and their buffered way to standard error."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from app.observability.logs import BufferedStderrHandler, JsonFormatter

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


def test_lines_wait_in_the_buffer_until_a_warning_flushes_them(tmp_path: Path) -> None:
    stderr_file, handler = handler_writing_to(tmp_path, flush_interval=3600)
    logger = handler_logger(handler)
    try:
        logger.info("first")
        logger.info("second")
        assert messages(stderr_file) == []
        logger.warning("third")
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
