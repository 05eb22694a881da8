"""Reading the images out of a ``POST /predict`` request, streaming, with the limits enforced.

Two body forms are accepted: ``multipart/form-data`` with parts named ``files``, parsed chunk by
chunk with python-multipart's parser (no temporary files, no whole-body buffering), or one image
as the raw body with ``Content-Type: image/*``. The byte limit is checked against the declared
Content-Length up front and against the bytes actually received while reading, so an oversized
or lying upload is cut off at the limit with a 413.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

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


@dataclass(frozen=True)
class Upload:
    """One uploaded image: its bytes and, for a multipart part, its file name."""

    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class UploadLimits:
    """Per-request limits: total body bytes and number of images."""

    max_bytes: int
    max_files: int


async def read_uploads(request: Request, limits: UploadLimits) -> list[Upload]:
    """The images in the request, in order; raises the matching API error otherwise."""
    header = request.headers.get("content-type")
    if not header:
        raise MissingContentTypeError(
            "the request has no Content-Type: send multipart/form-data with 'files' parts,"
            " or one image as the body with Content-Type image/png (or another image/* type)"
        )
    media_type, params = parse_options_header(header)
    _check_declared_length(request, limits)
    if media_type == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise MalformedMultipartError("the multipart/form-data Content-Type has no boundary")
        async with aclosing(_limited(request, limits)) as chunks:
            return await _read_multipart(chunks, boundary, limits)
    if media_type.startswith(b"image/"):
        async with aclosing(_limited(request, limits)) as chunks:
            data = b"".join([chunk async for chunk in chunks])
        if not data:
            raise EmptyBodyError("the request body is empty: send the image's bytes as the body")
        return [Upload(data=data)]
    raise UnsupportedContentTypeError(
        f"Content-Type {media_type.decode('latin-1')} is not supported: send"
        " multipart/form-data with 'files' parts, or one image with Content-Type image/*"
    )


def _check_declared_length(request: Request, limits: UploadLimits) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(limits)


def _too_large(limits: UploadLimits) -> BodyTooLargeError:
    return BodyTooLargeError(
        f"the request body exceeds the limit of {limits.max_bytes} bytes",
        details={"max_bytes": limits.max_bytes},
    )


async def _limited(request: Request, limits: UploadLimits) -> AsyncGenerator[bytes]:
    """The body's chunks, stopping with a 413 as soon as the limit is passed."""
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limits.max_bytes:
                raise _too_large(limits)
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        raise BadRequestError("the client disconnected before sending the whole body") from exc


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


class _MultipartCollector:
    """Callbacks for python-multipart that keep the ``files`` parts and enforce the count."""

    def __init__(self, max_files: int) -> None:
        self.max_files = max_files
        self.uploads: list[Upload] = []
        self.other_fields: list[str] = []
        self.finished = False
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._keep = False

    def on_part_begin(self) -> None:
        self._part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._part.headers[name] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._part.headers.get("content-disposition"))
        field_name = params.get(b"name", b"").decode("utf-8", "replace")
        self._keep = field_name == FILES_FIELD
        if not self._keep:
            self.other_fields.append(field_name)
        elif len(self.uploads) >= self.max_files:
            raise TooManyFilesError(
                f"too many files: at most {self.max_files} images per request",
                details={"max_files": self.max_files},
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._keep:
            self._part.data += data[start:end]

    def on_part_end(self) -> None:
        if self._keep:
            _, params = parse_options_header(self._part.headers.get("content-disposition"))
            filename = params.get(b"filename")
            self.uploads.append(
                Upload(
                    data=bytes(self._part.data),
                    # Browsers send UTF-8 file names in the raw header.
                    filename=filename.decode("utf-8", "replace") if filename is not None else None,
                )
            )

    def on_end(self) -> None:
        self.finished = True


async def _read_multipart(
    chunks: AsyncIterator[bytes], boundary: bytes, limits: UploadLimits
) -> list[Upload]:
    collector = _MultipartCollector(limits.max_files)
    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": collector.on_part_begin,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_end": collector.on_end,
        },
    )
    received = False
    try:
        async for chunk in chunks:
            received = True
            parser.write(chunk)
    except MultipartParseError as exc:
        raise MalformedMultipartError(f"the multipart body is malformed: {exc}") from exc
    if not received:
        raise EmptyBodyError(
            "the request body is empty: send multipart/form-data with 'files' parts"
        )
    if not collector.finished:
        raise MalformedMultipartError(
            "the multipart body is malformed: it ends before its boundary"
        )
    if not collector.uploads:
        seen = ", ".join(repr(name) for name in collector.other_fields) or "no parts"
        raise MissingFilesError(
            f"the form has no part named 'files' (it has {seen}): upload images as 'files'",
            details={"fields": collector.other_fields},
        )
    return collector.uploads
