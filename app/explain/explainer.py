"""Which explanation a served model gets, and the ``explanation`` object of each prediction.

A model that exports its linear weights (``W`` [784, 10], ``b`` [10]) is explained exactly
(:mod:`.linear`, values in logits); any other model by occlusion (:mod:`.occlusion`, values in
log-odds), which needs its compiled model to take batches of any size. A model with neither
cannot explain: ``explain=true`` is then a 422 ``cannot_explain``, refused before any work.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import numpy as np

from app.contract import Pixels, Probabilities
from app.errors import CannotExplainError
from app.explain.linear import linear_contributions
from app.explain.occlusion import OcclusionGrid, occlusion_evidence
from app.explain.render import evidence_png_base64
from app.runtime.servable import Servable

# Chosen by measurement (benchmarks/explain_latency.py, docs/explanations.md): 2x2 blocks keep
# ~96 % of the 1x1 grid's deletion score at a third of its copies; at most 196, one model call.
GRID = OcclusionGrid(patch=2, stride=2)


class Method(StrEnum):
    """How the evidence is computed, and so what its values mean."""

    LINEAR = "linear"  # x[i] * W[i, k]: the pixel's share of the logit, exact
    OCCLUSION = "occlusion"  # the log-odds drop when windows covering the pixel are blanked


UNITS = {Method.LINEAR: "logit", Method.OCCLUSION: "log_odds"}


def method_for(servable: Servable) -> Method | None:
    """The method that explains this model's predictions, or None if none can."""
    if servable.weights is not None:
        return Method.LINEAR
    if servable.batchable:
        return Method.OCCLUSION
    return None


def check_explainable(servable: Servable) -> Method:
    """The model's method; a 422 ``cannot_explain`` if it has none."""
    method = method_for(servable)
    if method is None:
        raise CannotExplainError(
            f"model {servable.name!r} version {servable.version} cannot explain its predictions:"
            " it exports no weights signature (W, b) for the exact linear method, and its"
            " compiled model takes a fixed batch size, so the occluded copies of an image"
            " cannot run as one batch",
            details={"model": servable.name, "version": servable.version},
        )
    return method


def explanations(
    servable: Servable, pixels: Pixels, probabilities: Probabilities
) -> list[dict[str, Any]]:
    """One ``explanation`` object per image (shaped like :class:`Explanation`), as plain data.

    Blocking: occlusion runs the model on hundreds of copies, so call it from a worker thread.
    """
    method = check_explainable(servable)
    digits = probabilities.argmax(axis=1)
    bias: list[float | None]
    if method is Method.LINEAR:
        assert servable.weights is not None
        evidence = linear_contributions(servable.weights, pixels, digits)
        biases = servable.weights.b.astype(np.float64)[digits]
        scores = evidence.sum(axis=(1, 2)) + biases
        bias = biases.tolist()
    else:
        evidence, scores = occlusion_evidence(servable.probabilities, pixels, digits, GRID)
        bias = [None] * len(pixels)
    results = []
    for index, digit in enumerate(digits.tolist()):
        scale = float(np.abs(evidence[index]).max())
        results.append(
            {
                "method": method.value,
                "digit": digit,
                "unit": UNITS[method],
                "score": float(scores[index]),
                "bias": bias[index],
                "scale": scale,
                "patch": GRID.patch if method is Method.OCCLUSION else None,
                "stride": GRID.stride if method is Method.OCCLUSION else None,
                "evidence": evidence[index].tolist(),
                "evidence_image": evidence_png_base64(evidence[index], scale),
            }
        )
    return results
