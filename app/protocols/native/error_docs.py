"""OpenAPI documentation of the errors a route can answer, generated from the error classes."""

from __future__ import annotations

from typing import Any

from app.errors import ApiError
from app.protocols.native.schemas import ErrorResponse

# Any id will do: it only shows readers where the request id appears.
_EXAMPLE_REQUEST_ID = "4f1c2b0e9a7d4e5f8a6b3c2d1e0f9a8b"


def error_responses(*errors: type[ApiError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the given errors, grouped by status."""
    documented: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = documented.setdefault(
            error.status,
            {"model": ErrorResponse, "description": "", "content": {"application/json": {}}},
        )
        examples = entry["content"]["application/json"].setdefault("examples", {})
        examples[error.code] = {
            "summary": (error.__doc__ or error.code).replace("``", ""),
            "value": {
                "error": {
                    "status": error.status,
                    "code": error.code,
                    "message": error.example,
                    "request_id": _EXAMPLE_REQUEST_ID,
                }
            },
        }
        codes = ", ".join(f"`{code}`" for code in examples)
        entry["description"] = f"Error ({codes})"
    return documented
