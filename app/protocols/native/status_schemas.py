"""Response bodies of the model-repository routes (``GET /models...``), as pydantic models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.protocols.native.schemas import SignatureInfo

State = Literal["loading", "available", "unloading", "error"]


class VersionStatus(BaseModel):
    """One version's state, like TF Serving's model status."""

    version: int = Field(examples=[2])
    state: State = Field(examples=["available"])
    reason: str | None = Field(
        default=None, description="Why the version is in state error.", examples=[None]
    )
    load_seconds: float | None = Field(
        default=None, description="How long loading took (cache lookup, compile, verify, warm-up)."
    )
    cache: Literal["hit", "miss", "rejected"] | None = Field(
        default=None, description="What the compile cache had for this version when it loaded."
    )


class IgnoredEntry(BaseModel):
    """An entry of the model folder that is not a version (and why)."""

    entry: str = Field(examples=["v2"])
    reason: str


class ModelStatus(BaseModel):
    """One model of the repository and its versions."""

    name: str = Field(examples=["mnist"])
    default: bool = Field(description="Whether POST /predict uses this model.")
    ready: bool = Field(description="Whether a version is available for requests.")
    served_version: int | None = Field(
        description="The version requests without a version get: the newest available."
    )
    versions: list[VersionStatus]
    required: bool = Field(description="Whether /health/ready waits for this model.")
    problem: str | None = Field(
        default=None, description="What is wrong with the model folder, e.g. it vanished."
    )
    ignored: list[IgnoredEntry] = Field(default_factory=list)


class RepositoryStatus(BaseModel):
    """Every model in the repository."""

    default_model: str = Field(examples=["mnist"])
    version_policy: str = Field(examples=["latest"])
    models: list[ModelStatus]


class VersionInfo(BaseModel):
    """One version: its state, serving signature and training record (when it is loaded)."""

    name: str = Field(examples=["mnist"])
    version: int = Field(examples=[1])
    state: State
    reason: str | None = None
    signature: SignatureInfo | None = Field(
        default=None, description="The serving signature (null until the version is loaded)."
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="metadata.json as written by training (null until loaded)."
    )
    weight_maps: bool = Field(
        default=False, description="Whether the model exports W [784, 10] for weight maps."
    )


class ModelDetail(ModelStatus):
    """A model's status, plus the signature and metadata of the version requests get."""

    served: VersionInfo | None = Field(
        default=None, description="The served version's signature and metadata."
    )
