"""Ray Serve replicas: both answer, one is killed under load, how many requests are lost.

Runs with the Ray venv (``make ray``): ``.venv-ray/bin/python -m benchmarks.ray_failover``.
It starts a local Ray instance, deploys app.ray_serve with deploy/ray/serve.yaml's options
(2 replicas), sends real MNIST digits from 8 threads and checks which replica answered each one,
then kills one replica's actor (``ray.kill``: its process dies, like a crash) while 4 threads keep
predicting, until the replacement Serve starts answers too. A prediction is idempotent, so the
client retries one that failed (connection error or 5xx), up to 5 times: the figures are the
attempts that failed and the requests lost after retrying. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import io
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from benchmarks.loadgen import process_tree_rss_mb

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "deploy" / "ray" / "serve.yaml"
HOST = "127.0.0.1"
RETRIES = 5


def mnist_pngs(folder: Path, count: int) -> tuple[list[bytes], list[int]]:
    images = gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    pixels = np.frombuffer(images, np.uint8, count * 784, offset=16).reshape(count, 28, 28)
    pngs = []
    for image in pixels:
        out = io.BytesIO()
        Image.fromarray(image).save(out, format="PNG")
        pngs.append(out.getvalue())
    return pngs, list(np.frombuffer(labels, np.uint8, count, offset=8).tolist())


@dataclass
class Client:
    """One keep-alive connection that retries a failed prediction on a fresh one."""

    port: int
    attempts_failed: int = 0
    lost: int = 0
    answered: int = 0
    connection: http.client.HTTPConnection | None = None
    errors: list[str] = field(default_factory=list)

    def predict(self, png: bytes) -> tuple[int, str] | None:
        for attempt in range(RETRIES):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
                self.connection.request(
                    "POST", "/predict", body=png, headers={"Content-Type": "image/png"}
                )
                response = self.connection.getresponse()
                body = response.read()
                if response.status == 200:
                    self.answered += 1
                    digit = json.loads(body)["predictions"][0]["digit"]
                    return digit, response.getheader("X-Ray-Replica", "")
                self.errors.append(f"{response.status} {body[:120]!r}")
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                if self.connection is not None:
                    self.connection.close()
                self.connection = None
            self.attempts_failed += 1
            time.sleep(0.1 * (attempt + 1))
        self.lost += 1
        return None


def deploy(port: int) -> None:
    import ray
    from ray import serve

    from app.ray_serve import MnistDeployment

    config = yaml.safe_load(CONFIG.read_text())
    (application,) = config["applications"]
    (options,) = application["deployments"]
    options = {key: value for key, value in options.items() if key != "name"}
    env_vars = {
        **application["runtime_env"]["env_vars"],
        "MNIST_CACHE_DIR": os.environ["MNIST_CACHE_DIR"],
    }
    ray.init(
        num_cpus=4,  # logical: two replicas, their replacement, the proxy and the controller
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": env_vars},
    )
    serve.start(http_options={"host": HOST, "port": port})
    serve.run(
        MnistDeployment.options(**options).bind(),
        name=application["name"],
        route_prefix=application["route_prefix"],
    )


def kill_replica(replica: str) -> None:
    import ray

    ray.kill(ray.get_actor(replica, namespace="serve"), no_restart=True)


def configs_valid() -> list[str]:
    """Serve's own schema accepts every config file in deploy/ray/."""
    from ray.serve.schema import ServeDeploySchema

    names = []
    for path in sorted(CONFIG.parent.glob("*.yaml")):
        ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))
        names.append(path.name)
    return names


def health_check_refuses_a_replica_without_models() -> bool:
    """The replica's check_health (what Serve calls) fails while no version is available."""
    from app.main import create_app
    from app.ray_serve import MnistReplica

    replica = MnistReplica()
    replica.app = create_app()  # built, its lifespan not run: no model loaded
    try:
        replica.check_health()
    except RuntimeError:
        return True
    return False


def run(port: int, mnist: Path, timeout: float) -> dict[str, Any]:
    configs = configs_valid()
    refuses = health_check_refuses_a_replica_without_models()
    started = time.perf_counter()
    deploy(port)
    ready = time.perf_counter() - started
    memory = process_tree_rss_mb(os.getpid())
    pngs, labels = mnist_pngs(mnist, 32)

    # Concurrent requests: which replica answered which digit.
    clients = [Client(port) for _ in range(8)]  # one per thread: a connection is not shared

    def predict_all(client: Client, indexes: list[int]) -> list[tuple[int, Any]]:
        return [(index, client.predict(pngs[index])) for index in indexes]

    jobs = [list(range(32))[k::8] * 4 for k in range(8)]
    with ThreadPoolExecutor(len(clients)) as pool:
        answers = [pair for part in pool.map(predict_all, clients, jobs) for pair in part]
    digits: dict[int, set[int]] = {}
    replicas: set[str] = set()
    for index, answer in answers:
        if answer is not None:
            digits.setdefault(index, set()).add(answer[0])
            replicas.add(answer[1])
    consistent = all(len(found) == 1 for found in digits.values()) and len(digits) == 32
    correct = sum(digits.get(i) == {labels[i]} for i in range(32))

    # Kill one replica under load; keep predicting until its replacement answers.
    victim = sorted(replicas)[0]
    stop = threading.Event()
    seen_after: set[str] = set()
    load = [Client(port) for _ in range(4)]

    def keep_predicting(client: Client, offset: int) -> None:
        n = offset
        while not stop.is_set():
            answer = client.predict(pngs[n % 32])
            if answer is not None:
                seen_after.add(answer[1])
            n += 1

    threads = [threading.Thread(target=keep_predicting, args=(c, i)) for i, c in enumerate(load)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    killed_at = time.perf_counter()
    kill_replica(victim)
    seen_after.clear()
    replaced_after = None
    while time.perf_counter() - killed_at < timeout:
        if seen_after - replicas:
            replaced_after = time.perf_counter() - killed_at
            time.sleep(1.0)  # a little load on the new replica too
            break
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    return {
        "configs_valid": configs,
        "health_check_refuses_without_models": refuses,
        "start_to_ready_seconds": round(ready, 2),
        "ray_and_replicas_rss_mb": round(memory),
        "replicas_answering": len(replicas),
        "answers_consistent": consistent,
        "correct_of_32": correct,
        "phase1_lost": sum(c.lost for c in clients),
        "killed": victim,
        "replacement_answered_after_seconds": None
        if replaced_after is None
        else round(replaced_after, 2),
        "requests_during_failover": sum(c.answered + c.lost for c in load),
        "attempts_failed_during_failover": sum(c.attempts_failed for c in load),
        "lost_after_retries": sum(c.lost for c in load),
        "error_samples": sorted({e for c in load for e in c.errors})[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18700)
    parser.add_argument("--mnist-dir", type=Path, default=REPO.parent / "shared" / "mnist")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="longest wait for a replacement"
    )
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    os.environ.setdefault("MNIST_CACHE_DIR", tempfile.mkdtemp(prefix="ray-cache-"))
    try:
        result = run(args.port, args.mnist_dir, args.timeout)
    finally:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    text = json.dumps(result)
    print(text)  # Ray's own processes may print to the same stream, before or after it
    if args.output is not None:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
