"""The gunicorn arbiter behind MNIST_WORKERS > 1, as configured by app.supervisor."""

from __future__ import annotations

import pytest
from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer

from app.supervisor import Supervisor, Worker
from app.traffic.coalescing import HttpProtocol


def test_the_configuration_is_the_services() -> None:
    supervisor = Supervisor({"bind": "127.0.0.1:8123", "workers": 3})
    config = supervisor.cfg
    assert config.worker_class is Worker
    assert {"loop": "uvloop", "http": HttpProtocol} == Worker.CONFIG_KWARGS
    assert (config.workers, config.bind) == (3, ["127.0.0.1:8123"])
    assert config.preload_app is False  # each worker creates its metrics after the fork
    assert config.control_socket_disable is True


def test_a_second_boot_failure_during_the_halt_still_exits_3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gunicorn lets a second worker's boot failure escape its halt; the exit stays 3."""

    def run(self: Arbiter) -> None:
        raise HaltServer("Worker failed to boot.", 3)

    monkeypatch.setattr(Arbiter, "run", run)
    with pytest.raises(SystemExit) as exited:
        Supervisor({"bind": "127.0.0.1:0", "workers": 2}).run()
    assert exited.value.code == 3
