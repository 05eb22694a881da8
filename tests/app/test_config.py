"""Settings from MNIST_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings, settings_from_environment
from app.repository.policy import VersionPolicy


@pytest.mark.parametrize("value", ["off", "", "none"])
def test_the_cache_can_be_switched_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MNIST_CACHE_DIR", value)
    assert Settings().cache_dir is None


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MNIST_MODEL_DIR", "MNIST_MODELS", "MNIST_CORS_ORIGINS", "MNIST_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/x")
    settings = Settings()
    assert settings.model_dir == Path("model")
    assert settings.models is None
    assert settings.default_model == "mnist"
    assert settings.version_policy == VersionPolicy("latest")
    assert settings.poll_seconds == 2.0
    assert settings.cache_dir == Path("/var/cache/x/mnist-serving/compiled")
    assert settings.max_upload_bytes == 16 * 1024 * 1024
    assert settings.max_files == 64
    assert settings.cors_origins == []


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_MODEL_DIR", "/srv/models")
    monkeypatch.setenv("MNIST_MODELS", "digits, mnist-cnn")
    monkeypatch.setenv("MNIST_DEFAULT_MODEL", "digits")
    monkeypatch.setenv("MNIST_VERSION_POLICY", "specific:3,1")
    monkeypatch.setenv("MNIST_POLL_SECONDS", "0.5")
    monkeypatch.setenv("MNIST_CACHE_DIR", "/tmp/compiled")
    monkeypatch.setenv("MNIST_MAX_UPLOAD_BYTES", "1048576")
    monkeypatch.setenv("MNIST_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("MNIST_LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.model_dir == Path("/srv/models")
    assert settings.models == ["digits", "mnist-cnn"]
    assert settings.default_model == "digits"
    assert settings.version_policy == VersionPolicy("specific", versions=frozenset({1, 3}))
    assert settings.poll_seconds == 0.5
    assert settings.cache_dir == Path("/tmp/compiled")
    assert settings.max_upload_bytes == 1048576
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    assert settings.log_level == "debug"


def test_cors_origins_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_CORS_ORIGINS", '["*"]')
    assert Settings().cors_origins == ["*"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MNIST_MAX_FILES", "0"),
        ("MNIST_VERSION_POLICY", "newest"),
        ("MNIST_VERSION_POLICY", "latest:0"),
        ("MNIST_VERSION_POLICY", "specific:"),
        ("MNIST_DEFAULT_MODEL", "../etc"),
        ("MNIST_MODELS", "mnist,../etc"),
        ("MNIST_POLL_SECONDS", "-1"),
        ("MNIST_LOG_LEVEL", "loud"),
        ("MNIST_WORKERS", "0"),
        ("MNIST_WORKERS", "-2"),
        ("MNIST_WORKERS", "two"),
        ("MNIST_WORKERS", "1.5"),
        ("MNIST_WORKERS", ""),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("MNIST_").lower()):
        Settings()


@pytest.mark.parametrize(("value", "expected"), [("1", 1), (" 3 ", 3), ("16", 16)])
def test_workers_as_a_number(monkeypatch: pytest.MonkeyPatch, value: str, expected: int) -> None:
    monkeypatch.setenv("MNIST_WORKERS", value)
    assert Settings().workers == expected


def test_workers_default_to_one_and_auto_to_the_usable_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MNIST_WORKERS", raising=False)
    assert Settings().workers == 1
    monkeypatch.setenv("MNIST_WORKERS", "AUTO")
    monkeypatch.setattr("app.config.usable_cores", lambda: 7)
    assert Settings().workers == 7


def test_invalid_workers_stop_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_WORKERS", "many")
    with pytest.raises(SystemExit) as stopped:
        settings_from_environment()
    message = str(stopped.value)
    assert "\n" not in message
    assert message.startswith("invalid settings: MNIST_WORKERS:")
    assert "or auto" in message


def test_every_setting_is_documented() -> None:
    table = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for field in Settings.model_fields:
        assert f"| `MNIST_{field.upper()}` |" in table, field
