"""The query options of the prediction routes, validated by one pydantic model and documented."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from app.images.normalize import NormalizeMode


class PredictOptions(BaseModel):
    """The query parameters of ``POST /predict``."""

    model_config = ConfigDict(frozen=True)

    normalize: NormalizeMode = Field(
        default=NormalizeMode.AUTO,
        description=(
            "`auto`: pass 28x28 images that already look like MNIST through unchanged and"
            " bring every other image into MNIST form (polarity, background, 20x20 fit,"
            " centre of mass); `always`: normalise every image; `never`: the strict 28x28"
            " contract."
        ),
    )
    return_input: bool = Field(
        default=False, description="Also return the 28x28 image the model saw, as base64 PNG."
    )
    min_confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "Answer only when sure: a prediction whose confidence (calibrated probability of"
            " its digit) is below this gives `digit: null` and `reason: low_confidence`, with"
            " its probabilities. Default: the server's MNIST_MIN_CONFIDENCE (off unless set);"
            " 0 always answers."
        ),
    )
    explain: bool = Field(
        default=False,
        description=(
            "Also return, per image, a 28x28 evidence map for the predicted digit (`explanation`):"
            " exact per-pixel logit contributions for a linear model, occlusion (log-odds drop)"
            " for others; 422 `cannot_explain` for a model that can do neither."
        ),
    )

    @classmethod
    def from_request(cls, request: Request) -> PredictOptions:
        """The options in the query string; a 422 like FastAPI's for invalid ones."""
        if not request.scope["query_string"]:
            return DEFAULT_OPTIONS
        try:
            return cls.model_validate(request.query_params)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
            ) from exc


DEFAULT_OPTIONS = PredictOptions()  # no query string: the one instance, reused


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI ``parameters`` for the fields of ``model``, as FastAPI would write them."""
    parameters = []
    for name, info in model.model_fields.items():
        assert info.annotation is not None, f"{model.__name__}.{name} needs a type"
        # The field's constraints (ge, le, ...) are in its metadata, not its annotation.
        adapter: TypeAdapter[Any] = TypeAdapter(info.rebuild_annotation())
        schema = adapter.json_schema()
        schema.pop("description", None)  # an enum's docstring, meant for developers
        schema["default"] = adapter.dump_python(info.default, mode="json")
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": info.description,
                "schema": schema,
            }
        )
    return parameters
