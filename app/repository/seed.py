"""Seed a model repository volume with the image's committed models, and its compile cache.

``python -m app.repository.seed --to /seed/model --cache-to /seed/cache`` runs as the init
container of the Kubernetes Deployment (deploy/kubernetes/) before the server starts: a fresh
volume gets the image's versions, and a volume that already holds models gets only the versions
it lacks. Versions already there are never touched, so it is safe while other pods serve from
the same volume. Each version is copied into a hidden ``.tmp-*`` folder first (the repository
scan skips those) and renamed into place, as training publishes versions, so a running server
never sees half a version. Compile-cache entries are copied when missing (a warm start).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from app.repository.layout import model_names, scan_models


def seed_models(source: Path, target: Path) -> list[str]:
    """Copy every complete version of ``source`` that ``target`` lacks; the ones copied."""
    copied = []
    for name, folder in scan_models(source, model_names(source)).items():
        for number in folder.complete_versions:
            destination = target / name / str(number)
            if destination.exists():
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".tmp-seed-", dir=destination.parent))
            shutil.copytree(folder.versions[number].path, staging, dirs_exist_ok=True)
            try:
                staging.rename(destination)
            except OSError:  # another pod seeded it first
                shutil.rmtree(staging, ignore_errors=True)
                continue
            copied.append(f"{name}/{number}")
    return copied


def seed_cache(source: Path, target: Path) -> int:
    """Copy the cache entries ``target`` lacks (manifest last: an entry is whole or absent)."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for artifact in sorted(source.glob("*.npz")):
        manifest = artifact.with_suffix(".json")
        if not manifest.is_file() or (target / manifest.name).exists():
            continue
        shutil.copyfile(artifact, target / artifact.name)
        shutil.copyfile(manifest, target / manifest.name)
        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, default=Path("model"))
    parser.add_argument("--to", dest="target", type=Path, required=True)
    parser.add_argument("--cache-from", type=Path, default=None)
    parser.add_argument("--cache-to", type=Path, default=None)
    args = parser.parse_args(argv)
    copied = seed_models(args.source, args.target)
    print(f"model versions seeded: {', '.join(copied) or 'none (all present)'}")
    if args.cache_from is not None and args.cache_to is not None:
        print(f"compile-cache entries seeded: {seed_cache(args.cache_from, args.cache_to)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
