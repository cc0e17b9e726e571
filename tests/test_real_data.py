"""Training on the real MNIST in ../shared/data, and reading the real photos beside it; skipped,
with the reason, where they are absent."""

import csv
from pathlib import Path

import pytest

from mnist_lit.cli import MNISTCLI, run
from mnist_lit.export import export
from tests.test_export import mnist_test_images, onnx_logits, torch_logits

CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "default.yaml")


@pytest.fixture(scope="module")
def one_epoch(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> MNISTCLI:
    """A fit of one epoch of the default config on the real MNIST."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("one_epoch"))
        return run([
            "fit", "--config", CONFIG, f"--data.data_dir={real_data}", "--trainer.max_epochs=1",
            "--trainer.enable_progress_bar=false",
        ])  # fmt: skip


@pytest.mark.slow
def test_one_epoch_of_the_default_config_reaches_75_percent_validation_accuracy(one_epoch: MNISTCLI) -> None:
    assert float(one_epoch.trainer.callback_metrics["val/acc"]) >= 0.75


@pytest.mark.slow
def test_the_onnx_export_agrees_with_torch_on_the_10k_test_images(
    one_epoch: MNISTCLI, real_data: Path, tmp_path: Path
) -> None:
    ckpt = Path(one_epoch.trainer.checkpoint_callback.best_model_path)
    if not ckpt.is_absolute():
        ckpt = Path(one_epoch.trainer.default_root_dir) / ckpt
    export(ckpt, tmp_path / "model.onnx")
    images, pixels = mnist_test_images(real_data)
    expected = torch_logits(ckpt, images)
    logits = onnx_logits(tmp_path / "model.onnx", pixels)
    assert logits.shape == (10_000, 10)
    assert (logits.argmax(dim=1) == expected.argmax(dim=1)).float().mean() >= 0.999
    assert (logits - expected).abs().max() <= 1e-4


@pytest.fixture(scope="module")
def wild_photos(real_data: Path) -> Path:
    """The 123 labelled photos and drawings of handwritten digits, or a skip saying they are missing."""
    folder = real_data / "digits-in-the-wild"
    if not (folder / "labels.csv").is_file():
        pytest.skip(f"digits-in-the-wild not found in {real_data}")
    return folder


@pytest.mark.slow
def test_one_epoch_reads_more_than_half_the_real_photos(
    one_epoch: MNISTCLI, wild_photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tutorial read fewer than 10% of these right: worse than chance.
    monkeypatch.chdir(tmp_path)  # the predict run's folder goes here
    ckpt = Path(one_epoch.trainer.default_root_dir) / one_epoch.trainer.checkpoint_callback.best_model_path
    output = tmp_path / "predictions.csv"
    run([
        "predict", "--config", CONFIG, f"--ckpt_path={ckpt}", f"--data.predict_dir={wild_photos}",
        f"--predictions.output={output}", "--trainer.enable_progress_bar=false",
    ])  # fmt: skip
    with (wild_photos / "labels.csv").open(newline="") as file:
        labels = {row["path"]: row["label"] for row in csv.DictReader(file)}
    with output.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 123
    assert [row["error"] for row in rows] == [""] * 123
    right = sum(row["digit"] == labels[row["path"]] for row in rows)
    assert right >= 62


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
