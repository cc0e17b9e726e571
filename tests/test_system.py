from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from mnist_lit.data import MNISTDataModule
from mnist_lit.system import DigitClassifier


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


@pytest.mark.parametrize(
    ("stage", "omp_num_threads", "threads"),
    [("fit", None, 2), ("test", None, 2), ("predict", None, 1), ("predict", "2", 2)],
    ids=["fit", "test", "predict", "predict, OMP_NUM_THREADS=2"],
)
def test_only_predict_on_a_cpu_drops_to_one_intra_op_thread_unless_omp_num_threads_says(
    monkeypatch: pytest.MonkeyPatch, stage: str, omp_num_threads: str | None, threads: int
) -> None:
    if omp_num_threads is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp_num_threads)
    model = DigitClassifier()
    model.trainer = Trainer(accelerator="cpu", logger=False, enable_checkpointing=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model.setup(stage)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
