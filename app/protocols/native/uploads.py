"""Reading the images out of a ``POST /predict`` request, streaming, with the limits enforced.

Two body forms are accepted: ``multipart/form-data`` with parts named ``files``, parsed chunk by
chunk with the ``multipart`` package's sans-io parser (no temporary files, no whole-body
buffering; for a small upload it costs ~8 µs where python-multipart's callback parser costs ~40),
or one image as the raw body with ``Content-Type: image/*``. The byte limit is checked against
the declared Content-Length up front and against the bytes actually received while reading, so
an oversized or lying upload is cut off at the limit with a 413.
"""

from __future__ import annotations

from dataclasses import dataclass

from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.batch import Upload
from app.errors import (
    BadRequestError,
    BodyTooLargeError,
    EmptyBodyError,
    MalformedMultipartError,
    MissingContentTypeError,
    MissingFilesError,
    TooManyFilesError,
    UnsupportedContentTypeError,
)

FILES_FIELD = "files"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Per-request limits: total body bytes and number of images."""

    max_bytes: int
    max_files: int


async def read_uploads(request: Request, limits: UploadLimits) -> list[Upload]:
    """The images in the request, in order; raises the matching API error otherwise."""
    headers = request.headers
    header = headers.get("content-type")
    if not header:
        raise MissingContentTypeError(
            "the request has no Content-Type: send multipart/form-data with 'files' parts,"
            " or one image as the body with Content-Type image/png (or another image/* type)"
        )
    _check_declared_length(request, limits)
    media_type, params = parse_options_header(header)
    if media_type == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary:
            raise MalformedMultipartError("the multipart/form-data Content-Type has no boundary")
        return await _read_multipart(request, boundary, limits)
    if media_type.startswith("image/"):
        data = await _read_raw(request, limits)
        if not data:
            raise EmptyBodyError("the request body is empty: send the image's bytes as the body")
        return [Upload(data=data)]
    raise UnsupportedContentTypeError(
        f"Content-Type {media_type} is not supported: send multipart/form-data with 'files'"
        " parts, or one image with Content-Type image/*"
    )


async def read_body(request: Request, limits: UploadLimits) -> bytes:
    """The whole body of any request, held to the byte limit (declared and received)."""
    _check_declared_length(request, limits)
    return await _read_raw(request, limits)


def _check_declared_length(request: Request, limits: UploadLimits) -> None:
    """A 413 before reading when the Content-Length already says the body is too large."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(limits)


def _too_large(limits: UploadLimits) -> BodyTooLargeError:
    return BodyTooLargeError(
        f"the request body exceeds the limit of {limits.max_bytes} bytes",
        details={"max_bytes": limits.max_bytes},
    )


def _disconnected() -> BadRequestError:
    return BadRequestError("the client disconnected before sending the whole body")


def _count(received: int, chunk: bytes, limits: UploadLimits) -> int:
    """Bytes received so far including ``chunk``; a 413 as soon as the limit is passed."""
    received += len(chunk)
    if received > limits.max_bytes:
        raise _too_large(limits)
    return received


async def _read_raw(request: Request, limits: UploadLimits) -> bytes:
    """The whole body, stopping with a 413 as soon as the limit is passed."""
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received = _count(received, chunk, limits)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise _disconnected() from exc
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _FilesCollector:
    """Keeps the ``files`` parts from the parser's events and enforces the file count."""

    def __init__(self, max_files: int) -> None:
        self.max_files = max_files
        self.uploads: list[Upload] = []
        self.other_fields: list[str] = []
        self._filename: str | None = None
        self._data: list[bytes] | None = None  # None while skipping a part that is not a file

    def on_event(self, event: MultipartSegment | bytes | bytearray | None) -> None:
        if isinstance(event, MultipartSegment):
            self._begin(event)
        elif event is None:
            if self._data is not None:
                self.uploads.append(Upload(data=b"".join(self._data), filename=self._filename))
                self._data = None
        elif self._data is not None:
            self._data.append(bytes(event))

    def _begin(self, segment: MultipartSegment) -> None:
        if segment.name != FILES_FIELD:
            self.other_fields.append(segment.name or "")
            return
        if len(self.uploads) >= self.max_files:
            raise TooManyFilesError(
                f"too many files: at most {self.max_files} images per request",
                details={"max_files": self.max_files},
            )
        self._filename = segment.filename
        self._data = []


async def _read_multipart(request: Request, boundary: str, limits: UploadLimits) -> list[Upload]:
    parser = PushMultipartParser(boundary)
    collector = _FilesCollector(limits.max_files)
    received = 0
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            received = _count(received, chunk, limits)
            for event in parser.parse(chunk):
                collector.on_event(event)
        if not received:
            raise EmptyBodyError(
                "the request body is empty: send multipart/form-data with 'files' parts"
            )
        parser.close()
    except ClientDisconnect as exc:
        raise _disconnected() from exc
    except MultipartError as exc:
        raise MalformedMultipartError(f"the multipart body is malformed: {exc}") from exc
    if not collector.uploads:
        seen = ", ".join(repr(name) for name in collector.other_fields) or "no parts"
        raise MissingFilesError(
            f"the form has no part named 'files' (it has {seen}): upload images as 'files'",
            details={"fields": collector.other_fields},
        )
    return collector.uploads
