"""Settings from MNIST_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MNIST_MODEL_DIR", "MNIST_MODEL_VERSION", "MNIST_CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.model_path == Path("model/mnist")
    assert settings.model_version is None
    assert settings.max_upload_bytes == 16 * 1024 * 1024
    assert settings.max_files == 64
    assert settings.cors_origins == []


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_MODEL_DIR", "/srv/models")
    monkeypatch.setenv("MNIST_MODEL_NAME", "digits")
    monkeypatch.setenv("MNIST_MODEL_VERSION", "3")
    monkeypatch.setenv("MNIST_MAX_UPLOAD_BYTES", "1048576")
    monkeypatch.setenv("MNIST_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("MNIST_LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.model_path == Path("/srv/models/digits")
    assert settings.model_version == 3
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
        ("MNIST_MODEL_VERSION", "latest"),
        ("MNIST_MODEL_NAME", "../etc"),
        ("MNIST_LOG_LEVEL", "loud"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("MNIST_").lower()):
        Settings()


def test_every_setting_is_documented() -> None:
    table = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for field in Settings.model_fields:
        assert f"| `MNIST_{field.upper()}` |" in table, field
