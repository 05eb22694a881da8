"""Scanning the repository: models, versions, what is not a version, and what changed."""

from __future__ import annotations

import os
from pathlib import Path

from app.repository.layout import model_names, scan_model


def make_version(root: Path, name: str, *, complete: bool = True) -> Path:
    folder = root / name
    (folder / "variables").mkdir(parents=True)
    if complete:
        (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "variables.index").write_bytes(b"index")
    return folder


def test_model_names_are_the_valid_folder_names(tmp_path: Path) -> None:
    for name in ("mnist", "mnist-cnn", "mnist.v2", ".hidden", "-dash"):
        (tmp_path / name).mkdir()
    (tmp_path / "README.md").write_text("not a model")
    assert model_names(tmp_path) == ["mnist", "mnist-cnn", "mnist.v2"]
    assert model_names(tmp_path / "absent") == []


def test_versions_problems_and_ignored_entries(tmp_path: Path) -> None:
    model = tmp_path / "mnist"
    make_version(model, "1")
    make_version(model, "2", complete=False)
    make_version(model, "10")
    make_version(model, ".tmp-export-3")  # training's export in progress: not looked at
    make_version(model, "v4")
    make_version(model, "0")
    make_version(model, "010")  # would claim version 10 a second time
    (model / "notes.txt").write_text("files are not versions")

    folder = scan_model(model, "mnist")
    assert folder.problem is None
    assert sorted(folder.versions) == [1, 2, 10]
    assert folder.complete_versions == [1, 10]
    assert folder.versions[2].problem is not None
    assert "no saved_model.pb" in folder.versions[2].problem
    assert set(folder.ignored) == {"v4", "0", "010"}
    assert "positive integers" in folder.ignored["v4"]
    assert "without leading zeros" in folder.ignored["010"]


def test_the_signature_changes_with_any_file(tmp_path: Path) -> None:
    model = tmp_path / "mnist"
    version = make_version(model, "1")
    before = scan_model(model, "mnist").versions[1].signature
    assert scan_model(model, "mnist").versions[1].signature == before
    index = version / "variables" / "variables.index"
    index.write_bytes(b"index, now longer")
    grown = scan_model(model, "mnist").versions[1].signature
    assert grown != before
    stat = index.stat()
    os.utime(index, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert scan_model(model, "mnist").versions[1].signature != grown


def test_a_vanished_model_folder_is_a_problem_not_an_error(tmp_path: Path) -> None:
    folder = scan_model(tmp_path / "gone", "gone")
    assert folder.versions == {}
    assert folder.problem is not None
    assert "does not exist" in folder.problem
