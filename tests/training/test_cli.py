"""``python -m training`` end to end on synthetic data, and its command-line interface."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.training.conftest import QUICK
from training import download
from training.cli import build_parser, main
from training.data import FILES, load_mnist

REPO = Path(__file__).parents[2]
CONTRACT_KEYS = {
    "name", "version", "architecture", "description", "parameters", "test_accuracy",
    "per_class_accuracy", "confusion_matrix", "calibration",
    "hyperparameters", "data_checksums", "tensorflow_version", "training_seconds", "created_at",
    "train_examples", "validation_examples", "test_examples", "validation_accuracy",
}  # fmt: skip


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    options = [a for a in build_parser()._actions if a.option_strings]
    assert len(options) >= 15
    for action in options:
        assert action.help, f"{action.option_strings} has no help text"
        assert action.option_strings[-1] in text
    for option in ("--data-dir", "--model-dir", "--version", "--optimizer", "--l2", "--seed"):
        assert option in text


def test_data_dir_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_DATA_DIR", "/srv/mnist")
    assert build_parser().parse_args([]).data_dir == Path("/srv/mnist")
    monkeypatch.delenv("MNIST_DATA_DIR")
    assert build_parser().parse_args([]).data_dir == Path("data/mnist")


@pytest.mark.parametrize(
    "argv",
    [
        ["--batch-size", "0"],
        ["--l2", "-1"],
        ["--optimizer", "lbfgs"],
        ["--version", "0"],
        ["--rotate", "-5"],
        ["--schedule", "step"],
    ],
)
def test_invalid_options_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_an_unknown_model_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--model", "resnet"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --model: invalid choice: 'resnet'" in err
    assert "'softmax', 'mlp', 'cnn'" in err


def test_each_model_takes_its_own_defaults_and_options_override_them() -> None:
    from training.cli import config_from

    parser = build_parser()
    softmax = config_from(parser.parse_args([]))
    assert (softmax.model, softmax.epochs, softmax.schedule, softmax.rotate_degrees) == (
        "softmax",
        10,
        "constant",
        0.0,
    )
    cnn = config_from(parser.parse_args(["--model", "cnn"]))
    assert (cnn.model, cnn.schedule) == ("cnn", "cosine")
    assert cnn.rotate_degrees > 0
    assert cnn.thickness > 0
    tuned = config_from(parser.parse_args(["--model", "cnn", "--epochs", "3", "--rotate", "0"]))
    assert (tuned.epochs, tuned.rotate_degrees, tuned.scale) == (3, 0.0, cnn.scale)
    # An optimizer picked by hand brings its own default rate, not the model's.
    sgd = config_from(parser.parse_args(["--model", "mlp", "--optimizer", "sgd"]))
    assert sgd.effective_learning_rate == 0.5


def test_mlp_is_exported_under_its_own_name_with_its_architecture(
    synthetic_dir: Path, tmp_path: Path
) -> None:
    argv = ["--data-dir", str(synthetic_dir), "--model-dir", str(tmp_path), *QUICK]
    assert main([*argv, "--model", "mlp", "--epochs", "1"]) == 0
    metadata = json.loads((tmp_path / "mnist-mlp" / "1" / "metadata.json").read_text())
    assert set(metadata) == CONTRACT_KEYS
    assert (metadata["name"], metadata["architecture"]) == ("mnist-mlp", "mlp")
    assert metadata["parameters"] == (784 + 1) * 256 + (256 + 1) * 128 + (128 + 1) * 10
    assert metadata["hyperparameters"]["model"] == "mlp"
    assert metadata["hyperparameters"]["rotate_degrees"] > 0
    assert not (tmp_path / "mnist").exists()


def test_a_diverging_run_stops_with_a_clear_error_and_exports_nothing(
    synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--data-dir", str(synthetic_dir), "--model-dir", str(tmp_path), *QUICK]
    # Plain gradient descent with a huge step overflows the logits within an epoch.
    argv += ["--optimizer", "sgd", "--learning-rate", "1e30", "--epochs", "3"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: training diverged in epoch 1 (loss nan)")
    assert "nothing was exported" in err
    assert not list(tmp_path.glob("mnist/*"))


def test_the_job_exports_a_working_model_with_its_metadata(
    trained_version: Path, synthetic_dir: Path
) -> None:
    metadata = json.loads((trained_version / "metadata.json").read_text())
    assert set(metadata) == CONTRACT_KEYS
    assert (metadata["name"], metadata["version"]) == ("mnist", 1)
    assert (metadata["architecture"], metadata["parameters"]) == ("softmax", 7850)
    assert metadata["hyperparameters"]["optimizer"] == "adam"
    assert metadata["hyperparameters"]["learning_rate"] == 0.002
    assert (metadata["train_examples"], metadata["validation_examples"]) == (500, 100)
    data = load_mnist(synthetic_dir, check_checksums=False)
    assert metadata["data_checksums"] == data.checksums
    assert metadata["tensorflow_version"] == tf.__version__

    loaded = tf.saved_model.load(str(trained_version))
    out = loaded.signatures["serving_default"](images=tf.constant(data.test_images))
    digits = out["digit"].numpy()
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(digits, out["probabilities"].numpy().argmax(axis=1))
    accuracy = float(np.mean(digits == data.test_labels))
    assert metadata["test_accuracy"] == pytest.approx(accuracy)
    assert accuracy >= 0.95  # it learned the separable synthetic digits
    matrix = np.array(metadata["confusion_matrix"])
    assert matrix.sum() == metadata["test_examples"] == len(data.test_labels)
    assert loaded.signatures["weights"]()["W"].shape == (784, 10)


def test_each_run_adds_the_next_version(
    synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--data-dir", str(synthetic_dir), "--model-dir", str(tmp_path), *QUICK]
    argv += ["--epochs", "0"]  # export only: versioning does not need a trained model
    assert main(argv) == 0
    assert main(argv) == 0
    assert main([*argv, "--version", "7"]) == 0
    assert main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == ["1", "2", "7", "8"]
    assert main([*argv, "--version", "2"]) == 1
    out, err = capsys.readouterr()
    assert "already exists; versions are never overwritten" in err
    assert "validation images (100, 28, 28)" in out  # the dataset statistics


def test_non_canonical_data_is_refused_by_default(
    synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(synthetic_dir), "--model-dir", str(tmp_path)]) == 1
    assert "does not hold the canonical MNIST files" in capsys.readouterr().err
    assert not tmp_path.joinpath("mnist").exists()


def test_offline_without_data_gives_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(url: str) -> bytes:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download, "fetch_url", offline)
    data_dir = tmp_path / "data"
    assert main(["--data-dir", str(data_dir), "--model-dir", str(tmp_path / "model")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: MNIST files missing in {data_dir}")
    assert all(f"{name}.gz" in err for name in FILES)
    assert "Traceback" not in err
    assert not (tmp_path / "model").exists()


def run_without_tensorflow(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter and report whether it imported TensorFlow."""
    code = (
        "import sys\nfrom training.cli import main\n"
        "try:\n    status = main(sys.argv[1:])\nexcept SystemExit as exc:\n    status = exc.code\n"
        "print('tensorflow imported' if 'tensorflow' in sys.modules else 'no tensorflow')\n"
        "sys.exit(status)\n"
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_help_and_missing_data_answer_without_loading_tensorflow(tmp_path: Path) -> None:
    shown = run_without_tensorflow("--help", cwd=tmp_path)
    assert shown.returncode == 0
    assert "--learning-rate" in shown.stdout
    assert shown.stdout.endswith("no tensorflow\n")

    missing = run_without_tensorflow("--no-download", cwd=tmp_path)
    assert missing.returncode == 1
    assert f"MNIST files missing in {tmp_path / 'data' / 'mnist'}" in missing.stderr
    assert all(name in missing.stderr for name in FILES)
    assert missing.stdout.endswith("no tensorflow\n")


def test_python_dash_m_training_is_the_entry_point() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "training", "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: python -m training")
