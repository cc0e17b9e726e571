"""Training on the real MNIST in ../shared/data; skipped, with the reason, where it is absent."""

from pathlib import Path

import pytest

from mnist_lit.cli import run

CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "default.yaml")


@pytest.mark.slow
def test_one_epoch_of_the_default_config_reaches_75_percent_validation_accuracy(
    real_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cli = run([
        "fit", "--config", CONFIG, f"--data.data_dir={real_data}", "--trainer.max_epochs=1",
        "--trainer.enable_progress_bar=false",
    ])  # fmt: skip
    assert float(cli.trainer.callback_metrics["val/acc"]) >= 0.75


@pytest.mark.slow
def test_two_epochs_of_the_best_config_beat_two_of_the_default(
    real_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    def val_acc_after_two_epochs(config: str) -> float:
        cli = run([
            "fit", "--config", config, f"--data.data_dir={real_data}", "--trainer.max_epochs=2",
            "--trainer.enable_progress_bar=false",
        ])  # fmt: skip
        return float(cli.trainer.callback_metrics["val/acc"])

    best = val_acc_after_two_epochs(str(Path(CONFIG).with_name("best.yaml")))
    default = val_acc_after_two_epochs(CONFIG)
    assert best > default
