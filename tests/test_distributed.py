"""Training and testing on two processes with Lightning's DDP strategy, on the CPU."""

import csv
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

from mnist_lit.data import MNISTDataModule
from tests.conftest import CONFIG, QUIET, TINY_TEST

ROOT = Path(__file__).resolve().parents[1]
TWO_PROCESSES = ["--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]


def rank_view(data_dir: Path, rank: int) -> MNISTDataModule:
    datamodule = MNISTDataModule(data_dir=data_dir, val_size=100, batches_per_step=1)
    datamodule.trainer = SimpleNamespace(
        world_size=2, global_rank=rank, strategy=SimpleNamespace(root_device=torch.device("cpu"))
    )
    datamodule.setup("test")
    datamodule.setup("fit")
    return datamodule


def image_ids(loader: torch.utils.data.DataLoader) -> list[int]:
    """Every image carries its index in its first two pixels (see conftest.write_idx)."""
    batches = [group if isinstance(group, list) else [group] for group in loader]
    return [int(image[0, 0]) * 256 + int(image[0, 1]) for group in batches for images, _ in group for image in images]


def test_each_rank_trains_on_a_disjoint_shard_that_changes_every_epoch(tiny_mnist: Path) -> None:
    shards = []
    for rank in (0, 1):
        loader = rank_view(tiny_mnist, rank).train_dataloader()
        loader.sampler.set_epoch(0)
        epoch_0 = image_ids(loader)
        loader.sampler.set_epoch(1)
        shards.append((set(epoch_0), epoch_0 != image_ids(loader)))
    (first, first_changes), (second, second_changes) = shards
    assert len(first) == len(second) == 150
    assert first.isdisjoint(second)
    assert first_changes and second_changes


def test_each_test_image_is_evaluated_by_exactly_one_rank(tiny_mnist: Path) -> None:
    first = image_ids(rank_view(tiny_mnist, 0).test_dataloader())
    second = image_ids(rank_view(tiny_mnist, 1).test_dataloader())
    assert sorted(first + second) == list(range(TINY_TEST))


def cli(workdir: Path, subcommand: str, *args: str) -> None:
    command = [sys.executable, "-m", "mnist_lit", subcommand, "--config", CONFIG, *QUIET, *args]
    result = subprocess.run(
        command, cwd=workdir, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def logged_test_acc(run_dir: Path) -> float:
    with (run_dir / "metrics.csv").open() as file:
        (row,) = [row for row in csv.DictReader(file) if row.get("test/acc")]
    return float(row["test/acc"])


def test_two_process_ddp_trains_and_tests_to_the_single_process_accuracy(tiny_mnist: Path, tmp_path: Path) -> None:
    data = f"--data.data_dir={tiny_mnist}"
    cli(tmp_path, "fit", data, "--data.val_size=100", "--trainer.max_epochs=2", "--model.lr=0.1", *TWO_PROCESSES)
    runs = tmp_path / "checkpoints" / "default"
    last = runs / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1

    cli(tmp_path, "test", data, f"--ckpt_path={last}")
    cli(tmp_path, "test", data, f"--ckpt_path={last}", *TWO_PROCESSES)
    assert logged_test_acc(runs / "version_2") == logged_test_acc(runs / "version_1")
    per_class = (runs / "version_2" / "per_class.csv").read_text()
    assert per_class == (runs / "version_1" / "per_class.csv").read_text()
    assert sum(int(row["support"]) for row in csv.DictReader(per_class.splitlines())) == TINY_TEST
