"""Seeding a model repository volume: missing versions arrive whole, present ones stay."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.repository.seed import main, seed_cache, seed_models
from tests.app.server_process import REPO

COMMITTED = REPO / "model"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_an_empty_volume_gets_every_committed_version(tmp_path: Path) -> None:
    copied = seed_models(COMMITTED, tmp_path)
    assert copied == [f"{m.parent.name}/{m.name}" for m in sorted(COMMITTED.glob("*/[0-9]*"))]
    assert tree(tmp_path) == tree(COMMITTED)
    assert not list(tmp_path.rglob(".tmp-*"))  # staged, then renamed into place


def test_versions_already_there_are_left_alone(tmp_path: Path) -> None:
    version = next(COMMITTED.glob("*/[0-9]*"))
    mine = tmp_path / version.parent.name / version.name
    mine.mkdir(parents=True)
    (mine / "saved_model.pb").write_bytes(b"a version someone else published")
    others = [f"{m.parent.name}/{m.name}" for m in sorted(COMMITTED.glob("*/[0-9]*"))]
    others.remove(f"{version.parent.name}/{version.name}")
    assert others, "the committed repository has more than one version to seed"
    assert seed_models(COMMITTED, tmp_path) == others
    assert (mine / "saved_model.pb").read_bytes() == b"a version someone else published"


def test_cache_entries_are_copied_when_missing(tmp_path: Path) -> None:
    source, target = tmp_path / "image-cache", tmp_path / "volume-cache"
    source.mkdir()
    for key in ("aaa", "bbb"):
        (source / f"{key}.npz").write_bytes(key.encode())
        (source / f"{key}.json").write_text("{}")
    (source / "ccc.npz").write_bytes(b"no manifest: an entry being written")
    target.mkdir()
    (target / "aaa.json").write_text('{"kept": true}')
    assert seed_cache(source, target) == 1
    assert (target / "aaa.json").read_text() == '{"kept": true}'
    assert (target / "bbb.npz").read_bytes() == b"bbb"
    assert not (target / "ccc.npz").exists()


def test_the_command_line(tmp_path: Path) -> None:
    shutil.copytree(COMMITTED, tmp_path / "image")
    assert main(["--from", str(tmp_path / "image"), "--to", str(tmp_path / "volume")]) == 0
    assert main(["--from", str(tmp_path / "image"), "--to", str(tmp_path / "volume")]) == 0
    assert tree(tmp_path / "volume") == tree(COMMITTED)
