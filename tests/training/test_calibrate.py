"""Temperature scaling: the fit finds the temperature that generated the labels, ECE measures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import QUICK
from training.calibrate import (
    calibrate,
    expected_calibration_error,
    fit_temperature,
    main,
    negative_log_likelihood,
    softmax,
)


def sampled(
    temperature: float, count: int = 20_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Logits, and labels drawn from softmax(logits / temperature)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, size=(count, 10))
    probabilities = softmax(logits, temperature)
    labels = (probabilities.cumsum(axis=1) > rng.random((count, 1))).argmax(axis=1)
    return logits, labels


@pytest.mark.parametrize("truth", [0.5, 1.0, 2.5])
def test_the_fit_recovers_the_temperature_that_generated_the_labels(truth: float) -> None:
    logits, labels = sampled(truth)
    assert fit_temperature(logits, labels) == pytest.approx(truth, rel=0.05)


def test_the_fitted_temperature_minimises_the_likelihood() -> None:
    logits, labels = sampled(1.7, seed=1)
    fitted = fit_temperature(logits, labels)
    best = negative_log_likelihood(logits, labels, fitted)
    for other in (fitted * 0.9, fitted * 1.1):
        assert negative_log_likelihood(logits, labels, other) > best


def test_ece_is_near_zero_when_calibrated_and_large_when_over_confident() -> None:
    logits, labels = sampled(1.0, seed=2)
    assert expected_calibration_error(softmax(logits), labels) < 0.02
    assert expected_calibration_error(softmax(logits, 0.25), labels) > 0.1
    always_wrong = np.tile(np.eye(10)[0], (100, 1))
    assert expected_calibration_error(always_wrong, np.ones(100, int)) == pytest.approx(1.0)


def test_calibrating_an_over_confident_model_lowers_its_test_ece() -> None:
    validation, test = sampled(3.0, seed=3), sampled(3.0, seed=4)
    result = calibrate(*validation, *test)
    assert result.temperature == pytest.approx(3.0, rel=0.05)
    assert result.test_ece_before > 0.1
    assert result.test_ece_after < 0.02
    assert result.test_nll_after < result.test_nll_before
    assert math.isfinite(result.test_nll_after)


def test_the_job_records_its_calibration(trained_version: Path) -> None:
    metadata = json.loads((trained_version / "metadata.json").read_text())
    calibration = metadata["calibration"]
    assert set(calibration) == {
        "temperature", "fitted_on", "test_ece_before", "test_ece_after",
        "test_nll_before", "test_nll_after",
    }  # fmt: skip
    assert 0.1 <= calibration["temperature"] <= 10
    assert calibration["fitted_on"] == "100 validation images"


def test_an_exported_version_can_be_calibrated_afterwards(
    trained_version: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    version = tmp_path / "1"
    shutil.copytree(trained_version, version)
    metadata = json.loads((version / "metadata.json").read_text())
    del metadata["calibration"]
    (version / "metadata.json").write_text(json.dumps(metadata))
    assert QUICK[0] == "--skip-checksums"
    assert main([str(version), "--data-dir", str(synthetic_dir), "--skip-checksums"]) == 0
    again = json.loads((version / "metadata.json").read_text())
    assert (
        again["calibration"]
        == json.loads((trained_version / "metadata.json").read_text())["calibration"]
    )  # the same split, the same logits, the same fit
    assert {key: value for key, value in again.items() if key != "calibration"} == metadata
    assert "temperature=" in capsys.readouterr().out
