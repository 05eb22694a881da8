"""Tests that need the real MNIST files: a clear failure in CI, a clear skip elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mnist_files import MnistNotFoundError, mnist_dir, require_mnist


@pytest.fixture
def no_mnist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "nowhere"))


@pytest.mark.usefixtures("no_mnist")
def test_without_the_files_a_test_needing_them_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide them"):
        require_mnist()


@pytest.mark.usefixtures("no_mnist")
def test_without_the_files_a_test_needing_them_is_skipped_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="skipped outside CI"):
        require_mnist()


def test_the_message_names_the_variable_and_the_shared_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(MnistNotFoundError) as caught:
        mnist_dir()
    assert "MNIST_DATA_DIR" in str(caught.value)
    assert str(tmp_path / "nowhere") in str(caught.value)
    assert "shared/mnist" in str(caught.value)
    monkeypatch.delenv("MNIST_DATA_DIR")
    monkeypatch.setattr("tests.mnist_files._REPO", tmp_path / "root" / "clone")
    with pytest.raises(MnistNotFoundError) as caught:
        mnist_dir()
    assert "MNIST_DATA_DIR is not set" in str(caught.value)
    assert str(tmp_path / "root" / "shared" / "mnist") in str(caught.value)
    assert str(tmp_path / "shared" / "mnist") in str(caught.value)
