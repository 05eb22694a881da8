"""The API's errors: one class per failure, named for its HTTP status and a stable code.

Raised anywhere below the protocols; each protocol renders them in its own shape in one place
(the native one: :mod:`app.protocols.native.errors`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class ApiError(Exception):
    """Base of all errors the API reports; subclasses fix ``status`` and ``code``."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    example: ClassVar[str] = "the server failed to handle the request"

    def __init__(
        self,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})  # e.g. Retry-After, on the response

    def about_file(self, index: int, filename: str | None) -> ApiError:
        """Prefix the message with the upload it concerns, for multi-file requests."""
        name = f"files[{index}]" + (f" ({filename!r})" if filename else "")
        self.message = f"{name}: {self.message}"
        self.details.update({"index": index, "filename": filename})
        return self


# Families, one per status.
class BadRequestError(ApiError):
    """The request cannot be understood."""

    status, code, example = 400, "bad_request", "the request could not be understood"


class NotFoundError(ApiError):
    """The resource does not exist."""

    status, code, example = 404, "not_found", "no such resource"


class RequestTimeoutError(ApiError):
    """The request did not arrive in time."""

    status, code, example = 408, "request_timeout", "the request did not arrive in time"


class PayloadTooLargeError(ApiError):
    """The request is larger than the service accepts."""

    status, code, example = 413, "payload_too_large", "the request body is too large"


class UnsupportedMediaTypeError(ApiError):
    """The request's Content-Type is not one the endpoint reads."""

    status, code, example = 415, "unsupported_media_type", "unsupported Content-Type"


class UnprocessableContentError(ApiError):
    """The request is well-formed but its content cannot be used."""

    status, code, example = 422, "unprocessable", "the request is well-formed but unusable"


class ServiceUnavailableError(ApiError):
    """The service cannot answer right now; retry later."""

    status, code, example = 503, "unavailable", "the service cannot answer right now"


# Concrete failures.
class MalformedMultipartError(BadRequestError):
    """The multipart/form-data body is malformed."""

    code, example = "malformed_multipart", "the multipart body is malformed: it ends early"


class EmptyBodyError(BadRequestError):
    """The request body is empty."""

    code, example = "empty_body", "the request body is empty: send an image"


class BodyTimeoutError(RequestTimeoutError):
    """The request body did not arrive within ``body_timeout_s``; the connection is closed."""

    code, example = "body_timeout", "the request body did not arrive within 30 seconds"


class BodyTooLargeError(PayloadTooLargeError):
    """The body exceeds ``max_upload_bytes`` (detected while streaming)."""

    code, example = "body_too_large", "the request body exceeds the limit of 16777216 bytes"


class MissingContentTypeError(UnsupportedMediaTypeError):
    """The request has no Content-Type header."""

    code, example = "missing_content_type", "the request has no Content-Type header"


class UnsupportedContentTypeError(UnsupportedMediaTypeError):
    """The Content-Type is neither multipart/form-data nor image/*."""

    code, example = "unsupported_content_type", "Content-Type text/plain is not supported"


class InvalidRequestError(UnprocessableContentError):
    """A path or query parameter is invalid."""

    code, example = "invalid_request", "query parameter 'scale': must be at most 16"


class MissingFilesError(UnprocessableContentError):
    """The form has no file part named ``files``."""

    code, example = "missing_files", "the form has no part named 'files'"


class TooManyFilesError(UnprocessableContentError):
    """More files than ``max_files`` in one request."""

    code, example = "too_many_files", "too many files: at most 64 images per request"


class EmptyFileError(UnprocessableContentError):
    """An uploaded file has no bytes."""

    code, example = "empty_file", "files[0] ('a.png'): the file is empty"


class NotAnImageError(UnprocessableContentError):
    """The bytes are not an image in an accepted format."""

    code, example = "not_an_image", "the data is not a PNG, JPEG, BMP, GIF, TIFF or WebP image"


class TruncatedImageError(UnprocessableContentError):
    """The image data ends early or is corrupt."""

    code, example = "truncated_image", "the image data is truncated or corrupt"


class ImageTooLargeError(UnprocessableContentError):
    """The image header claims more pixels than allowed (decompression bomb)."""

    code, example = "image_too_large", "the image is 50000x50000 pixels; at most 4096x4096"


class WrongImageSizeError(UnprocessableContentError):
    """The image is not 28x28 pixels."""

    code, example = "wrong_image_size", "the image is 32x32 pixels; expected 28x28"


class NoInkError(UnprocessableContentError):
    """The image holds no digit: an empty canvas, a flat colour, paper without a mark."""

    code, example = "no_ink", "the image has no ink: nothing stands out from the background"


class UnsupportedImageModeError(UnprocessableContentError):
    """The image's pixel format cannot be turned into grey levels."""

    code, example = "unsupported_image_mode", "images with 32-bit float pixels are not supported"


class CannotExplainError(UnprocessableContentError):
    """``explain=true`` for a model with neither linear weights nor batch-capable compiled model."""

    code, example = (
        "cannot_explain",
        "model 'mnist-x' version 1 cannot explain its predictions: it exports no weights"
        " signature and its compiled model takes a fixed batch of 1 image",
    )


class UnknownDigitError(NotFoundError):
    """There is no weight map for that digit."""

    code, example = "unknown_digit", "no weight map for digit '12': the digits are 0-9"


class UnknownModelError(NotFoundError):
    """No model of that name is in the repository."""

    code, example = "unknown_model", "no model named 'mnist-xl'; models: mnist"


class UnknownVersionError(NotFoundError):
    """The model has no version of that number."""

    code, example = "unknown_version", "model 'mnist' has no version 7; versions: 1, 2"


class NoWeightMapsError(NotFoundError):
    """The model has no linear layer on the pixels to draw."""

    code, example = "no_weight_maps", "model 'mnist-cnn' exports no weights signature"


class ModelNotReadyError(ServiceUnavailableError):
    """The model, or the version asked for, is not available (yet)."""

    code, example = "model_not_ready", "model 'mnist' has no version available yet"


class OverloadedError(ServiceUnavailableError):
    """The work in flight is at its memory budget and this request waited its longest for room."""

    code, example = "overloaded", "the server is at capacity; retry after 1 second"


class DrainingError(ServiceUnavailableError):
    """The server is shutting down (SIGTERM): it finishes its requests but takes no new traffic."""

    code, example = "draining", "the server is shutting down: send new requests elsewhere"
