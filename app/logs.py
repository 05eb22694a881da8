"""The service's log lines: one JSON object per line, request id included when there is one."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from app.context import current_request_id

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is logged.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


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
        entry.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str) -> None:
    """Send the ``app`` loggers to stderr as JSON lines at ``level`` (idempotent)."""
    logger = logging.getLogger("app")
    logger.setLevel(level.upper())
    logger.propagate = False
    for handler in list(logger.handlers):
        if getattr(handler, "_mnist_json", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler._mnist_json = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    # python-multipart warns about every malformed body a client sends; the 400 says it all.
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
