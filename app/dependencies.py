"""Request dependencies: the settings and the ready model runtime, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.errors import ModelNotReadyError
from app.runtime.servable import ModelRuntime
from app.web.weight_maps import WeightMaps


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def ready_runtime(request: Request) -> ModelRuntime:
    """The model runtime, or a 503 while it is not ready (also called directly by /predict)."""
    runtime: ModelRuntime = request.app.state.runtime
    if not runtime.ready:
        raise ModelNotReadyError("the model is not loaded yet; retry when /health/ready says ready")
    return runtime


async def get_runtime(request: Request) -> ModelRuntime:
    """The model runtime, or a 503 while it is not ready."""
    return ready_runtime(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[ModelRuntime, Depends(get_runtime)]


async def get_weight_maps(request: Request, runtime: RuntimeDep) -> WeightMaps:
    """Renderer of the loaded model's weight maps (built once per model)."""
    maps: WeightMaps | None = getattr(request.app.state, "weight_maps", None)
    if maps is None or maps.weights is not runtime.weights:
        maps = WeightMaps(runtime.weights)
        request.app.state.weight_maps = maps
    return maps


WeightMapsDep = Annotated[WeightMaps, Depends(get_weight_maps)]
