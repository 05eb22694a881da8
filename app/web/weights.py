"""``/weights``: the learned weight maps, as pictures or numbers."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from app import errors
from app.dependencies import RuntimeDep, WeightMapsDep
from app.protocols.native.error_docs import error_responses
from app.protocols.native.schemas import DigitWeights, ModelRef, ValueRange, WeightsInfo
from app.web.weight_maps import IMAGE_SIZE, NUM_DIGITS

router = APIRouter(prefix="/weights", tags=["weights"])

_PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
}
DIGITS = [str(digit) for digit in range(NUM_DIGITS)]

Scale = Annotated[
    int, Query(ge=1, le=16, description="Each weight is drawn as a scale x scale square.")
]


@router.get(
    ".png",
    response_class=Response,
    responses={
        **_PNG,
        **error_responses(errors.InvalidRequestError, errors.ModelNotReadyError),
    },
)
async def weights_png(maps: WeightMapsDep, scale: Scale = 4) -> Response:
    """The ten weight maps side by side, labelled 0-9: red lowers a digit's score, blue raises."""
    png = await anyio.to_thread.run_sync(maps.grid_png, scale)
    return Response(content=png, media_type="image/png")


@router.get(
    "/{digit}.png",
    response_class=Response,
    responses={
        **_PNG,
        **error_responses(
            errors.UnknownDigitError, errors.InvalidRequestError, errors.ModelNotReadyError
        ),
    },
)
async def digit_png(
    maps: WeightMapsDep,
    digit: Annotated[
        str, Path(description="A digit 0-9.", json_schema_extra={"enum": DIGITS}, examples=["7"])
    ],
    scale: Scale = 8,
) -> Response:
    """One digit's weight map in the same colours and scale as /weights.png."""
    if digit not in DIGITS:
        raise errors.UnknownDigitError(
            f"no weight map for digit {digit!r}: the digits are 0-9", details={"digit": digit}
        )
    png = await anyio.to_thread.run_sync(maps.digit_png, int(digit), scale)
    return Response(content=png, media_type="image/png")


@router.get(
    "",
    response_model=WeightsInfo,
    responses=error_responses(errors.InvalidRequestError, errors.ModelNotReadyError),
)
async def weights_json(
    runtime: RuntimeDep,
    values: Annotated[bool, Query(description="Include the raw values of W and b.")] = False,
) -> WeightsInfo:
    """Shape and value range of the weights W [784, 10] and biases b [10]; raw values on request."""
    weights, bias = runtime.weights, runtime.bias
    return WeightsInfo(
        model=ModelRef(name=runtime.name, version=runtime.version),
        shape={"W": list(weights.shape), "b": list(bias.shape)},
        image_shape=[IMAGE_SIZE, IMAGE_SIZE],
        range=ValueRange(min=float(weights.min()), max=float(weights.max())),
        digits=[
            DigitWeights(
                digit=digit,
                range=ValueRange(
                    min=float(weights[:, digit].min()), max=float(weights[:, digit].max())
                ),
                bias=float(bias[digit]),
            )
            for digit in range(NUM_DIGITS)
        ],
        W=weights.tolist() if values else None,
        b=bias.tolist() if values else None,
    )
