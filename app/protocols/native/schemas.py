"""Response bodies of the API, as pydantic models (they are also the OpenAPI schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_EXAMPLE_PROBABILITIES: list[JsonValue] = [0.0, 0.0, 0.001, 0.002, 0.0, 0.0, 0.0, 0.986, 0.0, 0.011]


class ErrorDetail(BaseModel):
    """What went wrong, for people (``message``) and programs (``status``, ``code``)."""

    status: int = Field(description="The HTTP status, repeated for convenience.", examples=[422])
    code: str = Field(description="Stable machine-readable error code.", examples=["not_an_image"])
    message: str = Field(description="A sentence saying what went wrong and how to fix it.")
    request_id: str | None = Field(description="The request's id, also in X-Request-ID.")
    details: dict[str, Any] | None = Field(
        default=None, description="Extra facts, e.g. the received and expected image size."
    )


class ErrorResponse(BaseModel):
    """The one error shape of the whole API."""

    error: ErrorDetail


class ModelRef(BaseModel):
    """Which model answered."""

    name: str = Field(examples=["mnist"])
    version: int = Field(examples=[1])


class Explanation(BaseModel):
    """Where the evidence for the predicted digit is, pixel by pixel (with ``explain=true``).

    Positive values are evidence for the digit (drawn blue), negative ones against it (red);
    background pixels hold 0 in both methods.
    """

    method: Literal["linear", "occlusion"] = Field(
        description=(
            "`linear`: the exact share of each pixel in the digit's logit, x[i]·W[i,k] with x the"
            " pixel scaled to [0, 1], for models that export W and b; `occlusion`: for any other"
            " model, the mean drop of the digit's log-odds when a patch x patch window covering"
            " the (inked) pixel is blanked, all windows run as one batch."
        )
    )
    digit: int = Field(ge=0, le=9, description="The digit explained: the predicted one.")
    unit: Literal["logit", "log_odds"] = Field(
        description="Unit of `evidence`, `score` and `scale`: logits, or natural log-odds."
    )
    score: float = Field(
        description=(
            "What the evidence explains: the digit's logit (linear; it equals the sum of"
            " `evidence` plus `bias`) or its log-odds log(p/(1-p)) for the whole image"
            " (occlusion)."
        )
    )
    bias: float | None = Field(description="Linear: b[digit], the logit of a blank image.")
    scale: float = Field(
        ge=0.0, description="max |evidence|: the value drawn at full opacity in the picture."
    )
    patch: int | None = Field(description="Occlusion: the side of the blanked square windows.")
    stride: int | None = Field(description="Occlusion: the step between windows.")
    evidence: list[list[float]] = Field(
        description="The raw values: 28 rows of 28, in `unit`; 0 on background pixels."
    )
    evidence_image: str = Field(
        description=(
            "The values as a base64 RGBA PNG of 28x28 pixels to lay over the input: blue for the"
            " digit, red against it, opacity |value| / scale, transparent at 0."
        )
    )


class Prediction(BaseModel):
    """The model's answer for one image."""

    filename: str | None = Field(
        description="The uploaded file's name; null for a raw image body.", examples=["seven.png"]
    )
    digit: int | None = Field(
        ge=0,
        le=9,
        description=(
            "The most probable digit; null when its confidence is below min_confidence"
            " (see reason)."
        ),
        examples=[7],
    )
    confidence: float = Field(
        ge=0.0,
        le=1.0,
        description=(
            "The probability of the most probable digit, calibrated (temperature scaling fitted"
            " at training time): of the answers given with confidence 0.9, about 90 % are right"
            " on MNIST-like digits."
        ),
        examples=[0.986],
    )
    probabilities: list[float] = Field(
        min_length=10,
        max_length=10,
        description="Probability of each digit 0-9; they sum to 1.",
        examples=[_EXAMPLE_PROBABILITIES],
    )
    normalized: bool = Field(
        description="Whether the image was transformed into MNIST form before prediction.",
        examples=[False],
    )
    input_image: str | None = Field(
        default=None,
        description="With return_input=true: base64 PNG of the 28x28 image the model saw.",
    )
    reason: Literal["low_confidence"] | None = Field(
        default=None,
        description="Why digit is null: low_confidence (below min_confidence); else null.",
    )
    explanation: Explanation | None = Field(
        default=None, description="Only with explain=true (the key is absent otherwise)."
    )


class PredictResponse(BaseModel):
    """Predictions for every uploaded image, in request order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": {"name": "mnist", "version": 1},
                    "predictions": [
                        {
                            "filename": "seven.png",
                            "digit": 7,
                            "confidence": 0.986,
                            "probabilities": _EXAMPLE_PROBABILITIES,
                            "normalized": False,
                            "input_image": None,
                            "reason": None,
                        }
                    ],
                }
            ]
        }
    )

    model: ModelRef
    predictions: list[Prediction]


class LiveResponse(BaseModel):
    """The process is up."""

    status: Literal["live"] = "live"


class ReadyResponse(BaseModel):
    """Every required model has a version loaded and warmed up."""

    status: Literal["ready"] = "ready"
    model: ModelRef = Field(description="The default model's served version.")
    models: list[ModelRef] = Field(description="The served version of every model.")


class TensorInfo(BaseModel):
    """One tensor of a signature; ``null`` in a shape is the batch dimension."""

    dtype: str = Field(examples=["uint8"])
    shape: list[int | None] = Field(examples=[[None, 28, 28]])


class SignatureInfo(BaseModel):
    """A SavedModel signature: its input and output tensors by name."""

    name: str = Field(examples=["serving_default"])
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


class ModelInfo(BaseModel):
    """The served model: identity, signature and its training record (metadata.json)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "mnist",
                    "version": 1,
                    "signature": {
                        "name": "serving_default",
                        "inputs": {"images": {"dtype": "uint8", "shape": [None, 28, 28]}},
                        "outputs": {
                            "digit": {"dtype": "int64", "shape": [None]},
                            "logits": {"dtype": "float32", "shape": [None, 10]},
                            "probabilities": {"dtype": "float32", "shape": [None, 10]},
                        },
                    },
                    "metadata": {"test_accuracy": 0.9241, "created_at": "2025-01-01T00:00:00Z"},
                }
            ]
        }
    )

    name: str
    version: int
    signature: SignatureInfo
    metadata: dict[str, Any] = Field(
        description="metadata.json as written by training: test_accuracy, hyperparameters, ..."
    )


class ValueRange(BaseModel):
    """Smallest and largest value."""

    min: float
    max: float


class DigitWeights(BaseModel):
    """Summary of one digit's weight map."""

    digit: int = Field(ge=0, le=9)
    range: ValueRange
    bias: float


class WeightsInfo(BaseModel):
    """The learned parameters of y = softmax(xW + b)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": {"name": "mnist", "version": 1},
                    "shape": {"W": [784, 10], "b": [10]},
                    "image_shape": [28, 28],
                    "range": {"min": -0.61, "max": 0.47},
                    "digits": [{"digit": 0, "range": {"min": -0.4, "max": 0.3}, "bias": -0.2}],
                    "W": None,
                    "b": None,
                }
            ]
        }
    )

    model: ModelRef
    shape: dict[str, list[int]] = Field(description="Shapes of W and b.")
    image_shape: list[int] = Field(description="Row i of W is pixel (i // 28, i % 28).")
    range: ValueRange = Field(description="Range of all of W.")
    digits: list[DigitWeights] = Field(description="Range of column d of W, and b[d].")
    W: list[list[float]] | None = Field(
        default=None, description="With values=true: W as 784 rows of 10 floats."
    )
    b: list[float] | None = Field(default=None, description="With values=true: b, 10 floats.")
