"""Service settings, read once from ``MNIST_*`` environment variables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.repository.layout import MODEL_NAME
from app.repository.policy import PolicyError, VersionPolicy
from app.workers import usable_cores

MIB = 1024 * 1024
_OFF = frozenset({"", "off", "none", "false", "0"})


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mnist-serving/compiled``, by default under ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist-serving" / "compiled"


class Settings(BaseSettings):
    """Everything an operator can tune; each field is the env var ``MNIST_<FIELD NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="MNIST_",
        extra="ignore",
        frozen=True,
    )

    model_dir: Path = Field(
        default=Path("model"),
        description="Model repository: versions live in <model_dir>/<model name>/<version>/.",
    )
    models: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description=(
            "Models to serve, comma-separated (folders under model_dir); by default every model"
            " folder, including ones added while the service runs. Readiness waits for these"
            " (by default, for the models found at start-up)."
        ),
    )
    default_model: str = Field(
        default="mnist",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The model POST /predict, /model and /weights use.",
    )
    version_policy: Annotated[VersionPolicy, NoDecode] = Field(
        default=VersionPolicy("latest"),
        description=(
            "Versions to serve of each model: latest (the newest loadable one), latest:N, all,"
            " or specific:1,3. A version that fails to load leaves the previous one served."
        ),
    )
    poll_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How often the repository is re-read for new and removed versions; 0: once.",
    )
    cache_dir: Annotated[Path | None, NoDecode] = Field(
        default_factory=default_cache_dir,
        description=(
            "Compile cache: verified compiled models keyed by their SavedModel's checksum, so a"
            " restart skips TensorFlow. off disables it; a read-only one is only read."
        ),
    )
    compile_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="Longest a compiler child may take for one batch of versions.",
    )
    max_upload_bytes: int = Field(
        default=16 * MIB,
        ge=1,
        description="Largest request body accepted by POST /predict, enforced while streaming.",
    )
    max_files: int = Field(default=64, ge=1, description="Most images in one POST /predict.")
    max_image_side: int = Field(
        default=4096,
        ge=28,
        description="Widest or tallest image accepted, checked from the header before decoding.",
    )
    max_image_pixels: int = Field(
        default=4096 * 4096,
        ge=28 * 28,
        # Pillow itself refuses more than ~179 million pixels as a decompression bomb.
        le=89_478_485,
        description="Most pixels (width x height) in one image, checked before decoding.",
    )
    batching_enabled: bool = Field(
        default=False,
        description=(
            "Coalesce concurrent POST /predict requests into one model call (adaptive: the"
            " requests that reach the model in the same event-loop pass share a call). Off by"
            " default: with this ~10 µs model it showed no consistent gain over direct calls."
        ),
    )
    batch_max_size: int = Field(
        default=64, ge=1, le=1024, description="Most images in one batched model call."
    )
    batch_max_wait_us: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description=(
            "How long a batch that is not full waits for more requests (0: it leaves right after"
            " the event-loop pass in which its first request arrived)."
        ),
    )
    inline_work_max_bytes: int = Field(
        default=4096,
        ge=0,
        description=(
            "Uploads up to this many bytes in all are decoded on the event loop (a thread"
            " hand-off costs more than decoding a few tiny images); larger ones in a thread."
        ),
    )
    min_confidence: Annotated[float | None, NoDecode] = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "Default of POST /predict's min_confidence: a prediction whose confidence is below"
            " it answers digit null with reason low_confidence (keeping its probabilities)."
            " off (the default) always answers a digit."
        ),
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        default="info", description="Level of the service's JSON log lines."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser, comma-separated; * for any.",
    )
    # Scale-out (python -m app): several server processes on one port.
    workers: Annotated[int, NoDecode] = Field(
        default=1,
        ge=1,
        le=512,
        description=(
            "Server processes sharing the port, each with its own copy of the models (compiled"
            " once, through the compile cache); auto: one per usable core. Read by python -m app."
        ),
    )

    # Staying up under load, slow clients and shutdown (admission control, timeouts, drain).
    max_inflight_bytes: int = Field(
        default=256 * MIB,
        ge=2 * MIB,
        description=(
            "Memory budget for the work in flight: request bodies being held (about twice their"
            " size) and images being decoded (from their pixel count), half each. Work that does"
            " not fit waits up to queue_timeout_s, then gets 503 overloaded with Retry-After."
        ),
    )
    queue_timeout_s: float = Field(
        default=10.0,
        ge=0,
        description="Longest a request waits for room in the memory budget before a 503.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Longest a request body may take to arrive once the server reads it; past it, 408"
            " body_timeout and the connection is closed."
        ),
    )
    keep_alive_s: int = Field(
        default=5,
        ge=1,
        description="Idle keep-alive connections are closed after this long (uvicorn's).",
    )
    max_connections: int = Field(
        default=4096,
        ge=1,
        description=(
            "Connections (or requests in flight) above which uvicorn answers new requests 503"
            " at once; a guard for the file-descriptor limit (uvicorn's limit_concurrency)."
        ),
    )
    drain_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "On SIGTERM, readiness answers 503 at once and the server keeps serving this long"
            " before it stops accepting connections; 0 skips the drain (python -m app only)."
        ),
    )
    shutdown_timeout_s: int = Field(
        default=30,
        ge=1,
        description=(
            "After the drain, longest the server waits for requests in flight before it"
            " cancels them (uvicorn's timeout_graceful_shutdown)."
        ),
    )

    @field_validator("workers", mode="before")
    @classmethod
    def _parse_workers(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "auto":
                return usable_cores()
            if not text.lstrip("+-").isdigit():
                raise ValueError("must be a whole number of processes (1 or more) or auto")
            return int(text)
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # A comma-separated list is what people type in an env var; JSON lists work too.
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            names = [name.strip() for name in value.split(",") if name.strip()]
            for name in names:
                if not MODEL_NAME.fullmatch(name):
                    raise ValueError(f"{name!r} is not a model folder name")
            return names or None
        return value

    @field_validator("version_policy", mode="before")
    @classmethod
    def _parse_policy(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return VersionPolicy.parse(value)
            except PolicyError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("cache_dir", "min_confidence", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in _OFF:
            return None
        return value


# Replaced by the repository settings; a leftover would silently change nothing.
_RETIRED_SETTINGS = {
    "MNIST_MODEL_NAME": "MNIST_DEFAULT_MODEL (and MNIST_MODELS to restrict what is served)",
    "MNIST_MODEL_VERSION": "MNIST_VERSION_POLICY=specific:<version>",
}


def settings_from_environment() -> Settings:
    """The settings from ``MNIST_*`` variables; invalid ones stop the process with one line."""
    retired = [
        f"{name} is replaced by {new}"
        for name, new in _RETIRED_SETTINGS.items()
        if name in os.environ
    ]
    if retired:
        raise SystemExit(f"invalid settings: {'; '.join(retired)}")
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MNIST_{'_'.join(map(str, error['loc'])).upper()}: {error['msg']}"
            f" (received {error['input']!r})"
            for error in exc.errors()
        )
        raise SystemExit(f"invalid settings: {problems}") from None
