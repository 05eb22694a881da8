"""The learned weight maps, as pictures or numbers: ``/weights*`` for the default model and
``/models/{name}/weights*`` for any model that exports a linear layer on the pixels."""

# No ``from __future__ import annotations``: the routes are built in a function, and FastAPI
# must see their dependency annotations as objects, not as names it cannot resolve.
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from app import errors
from app.contract import IMAGE_SIZE, NUM_CLASSES
from app.protocols.native.error_docs import error_responses
from app.protocols.native.schemas import DigitWeights, ModelRef, ValueRange, WeightsInfo
from app.repository.registry import ModelRegistry
from app.runtime.servable import LinearWeights, Servable
from app.web.weight_maps import WeightMaps

_PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
}
DIGITS = [str(digit) for digit in range(NUM_CLASSES)]

Scale = Annotated[
    int, Query(ge=1, le=16, description="Each weight is drawn as a scale x scale square.")
]
# One renderer per loaded version, dropped with it.
_RENDERERS: weakref.WeakKeyDictionary[Servable, WeightMaps] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class ModelWeights:
    """The served version whose weights a request asked for, and their renderer."""

    servable: Servable
    weights: LinearWeights
    maps: WeightMaps


def _weights_of(registry: ModelRegistry, name: str | None) -> ModelWeights:
    served = registry.lease(name)
    served.release()  # the arrays outlive the version's interpreters: no need to hold it
    servable = served.servable
    assert servable is not None
    if servable.weights is None:
        raise errors.NoWeightMapsError(
            f"model {servable.name!r} (version {servable.version}) exports no linear layer on"
            " the pixels (a 'weights' signature with W [784, 10]), so it has no weight maps",
            details={"model": servable.name, "version": servable.version},
        )
    maps = _RENDERERS.get(servable)
    if maps is None:
        maps = _RENDERERS[servable] = WeightMaps(servable.weights.W)
    return ModelWeights(servable, servable.weights, maps)


async def _default_weights(request: Request) -> ModelWeights:
    return _weights_of(request.app.state.registry, None)


async def _named_weights(
    request: Request,
    name: Annotated[str, Path(description="A model in the repository.", examples=["mnist"])],
) -> ModelWeights:
    return _weights_of(request.app.state.registry, name)


def _weights_router(prefix: str, resolve: Callable[..., Awaitable[ModelWeights]]) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["weights"])
    chosen = Annotated[ModelWeights, Depends(resolve)]
    failures = error_responses(
        errors.InvalidRequestError,
        errors.NoWeightMapsError,
        errors.UnknownModelError,
        errors.ModelNotReadyError,
    )

    @router.get(".png", response_class=Response, responses={**_PNG, **failures})
    async def weights_png(model: chosen, scale: Scale = 4) -> Response:
        """The ten weight maps side by side, labelled 0-9: red lowers a score, blue raises it."""
        png = await anyio.to_thread.run_sync(model.maps.grid_png, scale)
        return Response(content=png, media_type="image/png")

    digit_failures = {**failures, **error_responses(errors.UnknownDigitError)}

    @router.get("/{digit}.png", response_class=Response, responses={**_PNG, **digit_failures})
    async def digit_png(
        model: chosen,
        digit: Annotated[
            str,
            Path(description="A digit 0-9.", json_schema_extra={"enum": DIGITS}, examples=["7"]),
        ],
        scale: Scale = 8,
    ) -> Response:
        """One digit's weight map in the same colours and scale as the ten-map picture."""
        if digit not in DIGITS:
            raise errors.UnknownDigitError(
                f"no weight map for digit {digit!r}: the digits are 0-9", details={"digit": digit}
            )
        png = await anyio.to_thread.run_sync(model.maps.digit_png, int(digit), scale)
        return Response(content=png, media_type="image/png")

    @router.get("", response_model=WeightsInfo, responses=failures)
    async def weights_json(
        model: chosen,
        values: Annotated[bool, Query(description="Include the raw values of W and b.")] = False,
    ) -> WeightsInfo:
        """Shape and value range of W [784, 10] and b [10]; their raw values on request."""
        weights, bias = model.weights.W, model.weights.b
        return WeightsInfo(
            model=ModelRef(name=model.servable.name, version=model.servable.version),
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
                for digit in range(NUM_CLASSES)
            ],
            W=weights.tolist() if values else None,
            b=bias.tolist() if values else None,
        )

    return router


default_router = _weights_router("/weights", _default_weights)
model_router = _weights_router("/models/{name}/weights", _named_weights)
