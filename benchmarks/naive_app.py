"""The reference naive service every benchmark compares against.

What a first FastAPI wrapper around a SavedModel usually looks like: Starlette's ``request.form()``,
Pillow to decode, the SavedModel's signature called per request through TensorFlow, and FastAPI's
default JSON encoding. It answers POST /predict (multipart ``files`` parts) like the real service.

    MNIST_MODEL_PATH=model/mnist/1 uvicorn benchmarks.naive_app:app --port 18390
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from PIL import Image
from starlette.datastructures import UploadFile

DEFAULT_MODEL_PATH = "model/mnist/1"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the SavedModel once, like any service would."""
    import tensorflow as tf

    path = os.environ.get("MNIST_MODEL_PATH", DEFAULT_MODEL_PATH)
    app.state.tf = tf
    app.state.model = tf.saved_model.load(path)
    yield


app = FastAPI(title="naive MNIST service", lifespan=lifespan)


@app.get("/health/live")
async def live() -> dict[str, str]:
    """Liveness."""
    return {"status": "alive"}


@app.post("/predict")
async def predict(request: Request) -> dict[str, Any]:
    """Classify every uploaded ``files`` part, one signature call per image."""
    tf = request.app.state.tf
    signature = request.app.state.model.signatures["serving_default"]
    form = await request.form()
    predictions = []
    for upload in form.getlist("files"):
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "files must be file parts")
        image = Image.open(io.BytesIO(await upload.read())).convert("L")
        pixels = np.asarray(image, dtype=np.uint8)[np.newaxis]
        outputs = signature(images=tf.constant(pixels))
        probabilities = outputs["probabilities"].numpy()[0]
        predictions.append(
            {
                "filename": upload.filename,
                "digit": int(outputs["digit"].numpy()[0]),
                "confidence": float(probabilities.max()),
                "probabilities": probabilities.tolist(),
            }
        )
    return {"model": {"name": "mnist", "version": 1}, "predictions": predictions}
