from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from mnist_lit.data import MNISTDataModule
from mnist_lit.system import DigitClassifier
from tests.conftest import draw_digit


def weights_after_one_epoch(data_dir: Path, batches_per_step: int) -> dict[str, torch.Tensor]:
    seed_everything(7)
    model = DigitClassifier(lr=0.1, momentum=0.5)
    datamodule = MNISTDataModule(data_dir=data_dir, val_size=100, batch_size=32, batches_per_step=batches_per_step)
    trainer = Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, datamodule)
    assert trainer.global_step == 10  # one per SGD step: ceil(300 / 32), whatever the grouping
    return model.net.state_dict()


def test_grouped_mini_batches_follow_the_sgd_trajectory_of_single_ones(tiny_mnist: Path) -> None:
    grouped = weights_after_one_epoch(tiny_mnist, batches_per_step=4)
    single = weights_after_one_epoch(tiny_mnist, batches_per_step=1)
    for name, tensor in single.items():
        torch.testing.assert_close(grouped[name], tensor, rtol=0, atol=1e-6)


def threads_after(stage: str, data_dir: Path, num_workers: int) -> int:
    """The intra-op thread count left after running ``stage`` on a CPU, starting from 2."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = DigitClassifier()
        datamodule = MNISTDataModule(data_dir=data_dir, val_size=100, predict_dir=data_dir, num_workers=num_workers)
        trainer = Trainer(
            max_epochs=1, limit_train_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        )  # fmt: skip
        getattr(trainer, stage)(model, datamodule)
        return torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("stage", "num_workers", "omp_num_threads", "threads"),
    [("fit", 0, None, 2), ("predict", 0, None, 2), ("predict", 1, None, 1), ("predict", 1, "2", 2)],
    ids=["fit keeps them", "predict without workers keeps them", "predict beside workers: one", "OMP_NUM_THREADS"],
)
def test_only_predict_beside_reader_processes_drops_to_one_intra_op_thread(
    tmp_path: Path, tiny_mnist: Path, monkeypatch: pytest.MonkeyPatch,
    stage: str, num_workers: int, omp_num_threads: str | None, threads: int,
) -> None:  # fmt: skip
    if omp_num_threads is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp_num_threads)
    draw_digit(4, 56).save(tmp_path / "four.png")
    data_dir = tiny_mnist if stage == "fit" else tmp_path
    assert threads_after(stage, data_dir, num_workers) == threads
