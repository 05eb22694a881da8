"""``POST /v2/models/{name}[/versions/{version}]/infer``: the Open Inference Protocol's predict.

A thin adapter over the data plane: the ``images`` input is either numeric pixels (UINT8, or
FP32/FP64 in [0, 1]; ``[N, 28, 28]``, ``[N, 28, 28, 1]`` or ``[N, 784]``), which go straight to
the model, or encoded image files as a BYTES tensor ``[N]``, which go through the same decoding,
limits and normalisation as ``POST /predict`` (request parameter ``normalize``). Outputs are
``probabilities`` FP32 ``[N, 10]`` and ``digit`` INT64 ``[N]``, as asked: in JSON or binary, and
with the classification extension as ``"score:index:label"`` strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from app.batch import InferOptions, Upload
from app.contract import INPUT, OUTPUT, Probabilities
from app.dataplane import infer_files, infer_pixels
from app.images.normalize import NormalizeMode
from app.protocols.native.predict import PredictLimits, path_version
from app.protocols.native.uploads import read_body
from app.protocols.standard_errors import ProtocolError, StandardRoute, documented
from app.protocols.tensors import to_pixels
from app.protocols.v2.codec import (
    HEADER_LENGTH,
    InferRequest,
    OutputTensor,
    RequestedOutput,
    Tensor,
    decoded,
    encode_response,
    parse_request,
)
from app.protocols.v2.docs import INFER_OPENAPI
from app.repository.registry import ModelRegistry

DIGIT = "digit"
OUTPUTS = (OUTPUT, DIGIT)
LABELS = [str(digit) for digit in range(10)]

router = APIRouter(tags=["open inference protocol v2"], route_class=StandardRoute)
# What a request naming no outputs gets (most do): built once, only ever read.
_EVERY_OUTPUT_IN_JSON = [RequestedOutput(name, binary=False) for name in OUTPUTS]


async def _infer(request: Request, name: str, version: int | None) -> Response:
    state = request.app.state
    limits: PredictLimits = state.predict_limits
    registry: ModelRegistry = state.registry
    served = registry.lease(name, version)  # an unknown model is refused before the body is read
    try:
        body = decoded(
            await read_body(request, limits.uploads), request.headers, limits.uploads.max_bytes
        )
        parsed = parse_request(body, request.headers.get(HEADER_LENGTH))
        images = _images(parsed)
        requested = _requested(parsed.outputs)  # refused before the model runs, not after
        max_batch = limits.uploads.max_files
        if images.datatype == "BYTES":
            assert isinstance(images.data, list)
            count = images.shape[0] if images.shape else 0
            if images.shape not in ([count], [count, 1]) or not 1 <= count <= max_batch:
                raise ProtocolError(
                    f"input {INPUT!r} as BYTES holds one encoded image per element, shape [N]"
                    f" (or [N, 1]) with N from 1 to {max_batch}; got shape {images.shape}"
                )
            options = _options(parsed, limits.default_options)
            uploads = [Upload(data) for data in images.data]
            _, probabilities = await infer_files(
                served, state.metrics, uploads, limits.images, options, state.admission.decoding
            )
        else:
            assert isinstance(images.data, np.ndarray)
            pixels = to_pixels(images.data, images.shape, INPUT, max_batch)
            probabilities = await infer_pixels(served, state.metrics, pixels)
        header: dict[str, Any] = {"model_name": served.model, "model_version": str(served.version)}
        if parsed.id is not None:
            header["id"] = parsed.id
        content, json_length = encode_response(header, _outputs(requested, probabilities))
    finally:
        served.release()
    if json_length is None:
        return Response(content, media_type="application/json")
    return Response(
        content,
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(json_length)},
    )


def _images(parsed: InferRequest) -> Tensor:
    names = [tensor.name for tensor in parsed.inputs]
    if names != [INPUT]:
        raise ProtocolError(f"the model takes one input, {INPUT!r}; the request has {names}")
    return parsed.inputs[0]


def _options(parsed: InferRequest, default: InferOptions) -> InferOptions:
    normalize = parsed.parameters.get("normalize")
    if normalize is None:
        return default  # the commonest request: nothing to build
    try:
        mode = NormalizeMode(normalize)
    except ValueError:
        choices = ", ".join(mode.value for mode in NormalizeMode)
        raise ProtocolError(f"parameter 'normalize' must be one of {choices}") from None
    return InferOptions(normalize=mode, inline_max_bytes=default.inline_max_bytes)


def _requested(requested: list[RequestedOutput] | None) -> list[RequestedOutput]:
    """The outputs to answer, each checked against the model's."""
    if requested is None:
        return _EVERY_OUTPUT_IN_JSON
    if requested[0].name == "*":  # binary_data_output without a list
        return [RequestedOutput(name, binary=True) for name in OUTPUTS]
    for output in requested:
        if output.name not in OUTPUTS:
            raise ProtocolError(f"unknown output {output.name!r}; the model has {list(OUTPUTS)}")
        if output.classification and output.name != OUTPUT:
            raise ProtocolError(f"classification applies to {OUTPUT!r}, not to {output.name!r}")
        if output.classification > len(LABELS):
            raise ProtocolError(
                f"classification asks for {output.classification} classes;"
                f" the model has {len(LABELS)}"
            )
    return requested


def _outputs(requested: list[RequestedOutput], probabilities: Probabilities) -> list[OutputTensor]:
    count = len(probabilities)
    tensors = []
    for output in requested:
        if output.classification:
            tensors.append(_classification(probabilities, output))
        elif output.name == OUTPUT:
            tensors.append(OutputTensor(OUTPUT, "FP32", [count, 10], probabilities, output.binary))
        else:
            digits = probabilities.argmax(axis=1).astype(np.int64)
            tensors.append(OutputTensor(DIGIT, "INT64", [count], digits, output.binary))
    return tensors


def _classification(probabilities: Probabilities, output: RequestedOutput) -> OutputTensor:
    """The classification extension: the top k classes of each image, best first."""
    k = output.classification
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    elements = [
        f"{float(row[index]):f}:{index}:{LABELS[index]}".encode()
        for row, indices in zip(probabilities, top, strict=True)
        for index in indices
    ]
    return OutputTensor(OUTPUT, "BYTES", [len(probabilities), k], elements, output.binary)


@router.post(
    "/v2/models/{name}/infer",
    openapi_extra=INFER_OPENAPI,
    responses=documented(400, 404, 408, 413, 503),
)
async def infer(request: Request) -> Response:
    """Predict with the newest available version: Open Inference Protocol v2, JSON or binary."""
    return await _infer(request, request.path_params["name"], None)


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    openapi_extra=INFER_OPENAPI,
    responses=documented(400, 404, 408, 413, 503),
)
async def infer_version(request: Request) -> Response:
    """Predict with one version: Open Inference Protocol v2, JSON or binary tensors."""
    return await _infer(request, request.path_params["name"], path_version(request))
