"""Versioned, atomic export: a version appears whole or not at all, and is never overwritten."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from training.errors import ExportError
from training.export import existing_versions, export_model, next_version, read_metadata
from training.models import SoftmaxRegression


@pytest.fixture(scope="module")
def model() -> SoftmaxRegression:
    trained = SoftmaxRegression()
    trained.W.assign(tf.random.stateless_normal([784, 10], seed=[5, 6]))
    trained.b.assign(tf.linspace(-1.0, 1.0, 10))
    return trained


def test_next_version_follows_the_newest_integer_directory(tmp_path: Path) -> None:
    assert next_version(tmp_path / "absent") == 1
    for name in ("1", "2", "10", ".tmp-11-abc", "notes", "latest"):
        (tmp_path / name).mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert existing_versions(tmp_path) == [1, 2, 10]
    assert next_version(tmp_path) == 11


def test_export_writes_a_loadable_version_with_metadata(
    tmp_path: Path, model: SoftmaxRegression
) -> None:
    target = export_model(model, tmp_path, "digits", {"test_accuracy": 0.5})
    assert target == tmp_path / "digits" / "1"
    assert read_metadata(target) == {"name": "digits", "version": 1, "test_accuracy": 0.5}
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["1"]  # no temp left

    loaded = tf.saved_model.load(str(target))
    images = np.random.default_rng(1).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out["digit"].numpy(), out["logits"].numpy().argmax(axis=1))
    np.testing.assert_array_equal(loaded.W.numpy(), model.W.numpy())

    second = export_model(model, tmp_path, "digits", {})
    assert second.name == "2"


def test_an_existing_version_is_never_overwritten(tmp_path: Path, model: SoftmaxRegression) -> None:
    first = export_model(model, tmp_path, "mnist", {"run": "first"}, version=3)
    with pytest.raises(ExportError, match="already exists"):
        export_model(model, tmp_path, "mnist", {"run": "second"}, version=3)
    assert read_metadata(first)["run"] == "first"


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", ".."])
def test_unsafe_model_names_are_refused(
    tmp_path: Path, model: SoftmaxRegression, name: str
) -> None:
    with pytest.raises(ExportError, match="invalid model name"):
        export_model(model, tmp_path, name, {})


def assert_no_version(name_dir: Path) -> None:
    """Nothing a server would load: no version directory, no SavedModel outside a temp folder."""
    assert existing_versions(name_dir) == []
    assert [p for p in name_dir.rglob("saved_model.pb") if ".tmp-" not in str(p)] == []


def test_a_failure_while_saving_leaves_no_version_and_no_temp(
    tmp_path: Path, model: SoftmaxRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = tf.saved_model.save

    def save_then_crash(obj: Any, export_dir: str, **kwargs: Any) -> None:
        real_save(obj, export_dir, **kwargs)  # the files are there, half-way through the export
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(tf.saved_model, "save", save_then_crash)
    with pytest.raises(RuntimeError, match="killed mid-export"):
        export_model(model, tmp_path, "mnist", {})
    assert_no_version(tmp_path / "mnist")
    assert list((tmp_path / "mnist").iterdir()) == []


def test_tensorflow_save_errors_become_export_errors(
    tmp_path: Path, model: SoftmaxRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(obj: Any, export_dir: str, **kwargs: Any) -> None:
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", disk_full)
    with pytest.raises(ExportError, match=r"could not export .*No space left on device"):
        export_model(model, tmp_path, "mnist", {})
    assert list((tmp_path / "mnist").iterdir()) == []


def test_an_unwritable_repository_is_an_export_error(
    tmp_path: Path, model: SoftmaxRegression
) -> None:
    not_a_directory = tmp_path / "model"
    not_a_directory.write_text("")
    with pytest.raises(ExportError, match="cannot write to the model repository"):
        export_model(model, not_a_directory, "mnist", {})


def test_a_failed_rename_leaves_no_version(
    tmp_path: Path, model: SoftmaxRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: Path, target: Path) -> None:
        raise OSError(39, "Directory not empty")

    monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(ExportError, match=r"could not export .*Directory not empty"):
        export_model(model, tmp_path, "mnist", {})
    assert list((tmp_path / "mnist").iterdir()) == []


def test_a_hard_kill_leaves_only_a_hidden_temp_that_is_not_a_version(
    tmp_path: Path, model: SoftmaxRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILL runs no cleanup: the temp folder stays, but it is never taken for a version."""

    def killed(source: Path, target: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", killed)
    monkeypatch.setattr(shutil, "rmtree", lambda path: None)  # cleanup never ran
    with pytest.raises(KeyboardInterrupt):
        export_model(model, tmp_path, "mnist", {})
    leftovers = list((tmp_path / "mnist").iterdir())
    assert [p.name.startswith(".tmp-1-") for p in leftovers] == [True]
    assert (leftovers[0] / "saved_model.pb").exists()
    assert_no_version(tmp_path / "mnist")

    monkeypatch.undo()
    assert export_model(model, tmp_path, "mnist", {}).name == "1"
