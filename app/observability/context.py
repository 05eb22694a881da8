"""Per-request context shared by the middleware, the error handlers and the log lines."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"

# Set by the request middleware for the duration of one request (threads inherit it).
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# A client may pass its own id (e.g. from a proxy) as long as it is short and printable.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


def choose_request_id(incoming: str | None) -> str:
    """The client's ``X-Request-ID`` when it is sane, otherwise a fresh random id."""
    if incoming is not None and _CLIENT_ID.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)  # 32 hex digits, like uuid4().hex at a third of the cost


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return request_id_var.get()
