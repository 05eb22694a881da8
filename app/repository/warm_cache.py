"""Fill the compile cache for every complete version of every model in the repository.

``python -m app.repository.warm_cache`` reads ``MNIST_MODEL_DIR`` and ``MNIST_CACHE_DIR`` as the
server does. The Docker image runs it at build time, so a container starts warm. It compiles
what the cache lacks in one TensorFlow child, checks every version as the server would, and
exits 1 naming each version that cannot be served.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.config import Settings
from app.repository.layout import model_names, scan_models
from app.runtime.cache import CompileCache
from app.runtime.loader import LoadRequest, ModelLoader


def warm(model_dir: Path, cache_dir: Path) -> list[str]:
    """Load every complete version through the cache; one line per version that failed."""
    folders = scan_models(model_dir, model_names(model_dir))
    requests = [
        LoadRequest(folder.name, number, folder.versions[number].path)
        for folder in folders.values()
        for number in folder.complete_versions
    ]
    outcomes = ModelLoader(CompileCache(cache_dir)).load(requests)
    for outcome in outcomes:
        name, version = outcome.request.name, outcome.request.version
        status = outcome.error or "ready"
        print(f"{name}/{version}: cache {outcome.cache.value}, {status}")
        if outcome.servable is not None:
            outcome.servable.close()
    return [f"{o.request.name}/{o.request.version}: {o.error}" for o in outcomes if o.error]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    settings = Settings()
    parser.add_argument("--model-dir", type=Path, default=settings.model_dir)
    parser.add_argument("--cache-dir", type=Path, default=settings.cache_dir)
    args = parser.parse_args(argv)
    if args.cache_dir is None:
        parser.error("the compile cache is off (MNIST_CACHE_DIR=off): nothing to warm")
    failed = warm(args.model_dir, args.cache_dir)
    for line in failed:
        print(f"cannot serve {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
