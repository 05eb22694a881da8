"""Fixtures for the training tests: synthetic data, one shared training run, no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.synthetic import write_dataset
from training import download
from training.cli import main


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach a mirror fails the test loudly instead of touching the network."""

    def refuse(url: str) -> bytes:
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(download, "fetch_url", refuse)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the four files of a small separable dataset (gzipped)."""
    return write_dataset(tmp_path_factory.mktemp("data"))


# Arguments for a quick training run on the synthetic data.
QUICK = ["--skip-checksums", "--no-download", "--no-progress", "--validation-size", "100"]


@pytest.fixture(scope="session")
def trained_version(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The version directory exported by one real run of the CLI on the synthetic data."""
    model_dir = tmp_path_factory.mktemp("model")
    argv = ["--data-dir", str(synthetic_dir), "--model-dir", str(model_dir), *QUICK]
    assert main([*argv, "--epochs", "3", "--batch-size", "50"]) == 0
    return model_dir / "mnist" / "1"
