"""Training on the real MNIST in ../shared/data; skipped, with the reason, where it is absent."""

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
