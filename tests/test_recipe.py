"""The options behind configs/best.yaml: each changes what it claims to, and only that."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from lightning.pytorch import Trainer, seed_everything

from mnist_lit.augment import random_affine, random_stroke_width, sampling_grid
from mnist_lit.data import MNISTDataModule
from mnist_lit.errors import UserError
from mnist_lit.system import DigitClassifier

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def augmenting(data_dir: Path) -> MNISTDataModule:
    datamodule = MNISTDataModule(
        data_dir=data_dir, val_size=100, augment_degrees=15, augment_scale=0.1, augment_shift=0.1
    )
    datamodule.setup("fit")
    return datamodule


def stage(datamodule: MNISTDataModule, training: bool) -> None:
    datamodule.trainer = SimpleNamespace(training=training, world_size=1, global_rank=0)


def test_augmentation_changes_training_batches(tiny_mnist: Path) -> None:
    datamodule = augmenting(tiny_mnist)
    stage(datamodule, training=True)
    batch = next(iter(datamodule.train_dataloader()))
    augmented = datamodule.on_after_batch_transfer(batch, 0)
    changed = [not torch.equal(a, b) for (a, _), (b, _) in zip(augmented, batch, strict=True)]
    assert all(changed)
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(augmented, batch, strict=True))  # labels kept


def test_a_step_distorts_its_mini_batches_as_one_at_a_time_would(tiny_mnist: Path) -> None:
    datamodule = augmenting(tiny_mnist)
    stage(datamodule, training=True)
    batch = next(iter(datamodule.train_dataloader()))
    torch.manual_seed(3)
    augmented = datamodule.on_after_batch_transfer(batch, 0)
    torch.manual_seed(3)
    one_at_a_time = [random_affine(images, 15, 0.1, 0.1) for images, _ in batch]
    assert len(augmented) == len(one_at_a_time) == 5  # 300 images in mini-batches of 64
    assert all(torch.equal(a, b) for (a, _), b in zip(augmented, one_at_a_time, strict=True))


def test_the_sampling_grid_is_the_one_affine_grid_builds() -> None:
    theta = torch.tensor([[[0.9, -0.2, 0.1], [0.3, 1.1, -0.2]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    grid = sampling_grid(theta, 28, 28)
    torch.testing.assert_close(grid, torch.nn.functional.affine_grid(theta, [2, 1, 28, 28], align_corners=False))
    # the second matrix is the identity: each output pixel samples its own centre, the first one
    # at x = y = -1 + 1/28 in grid_sample's [-1, 1] coordinates
    torch.testing.assert_close(grid[1, 0, 0], torch.tensor([-27 / 28, -27 / 28]))


def test_augmentation_never_touches_evaluation_batches(tiny_mnist: Path) -> None:
    datamodule = augmenting(tiny_mnist)
    stage(datamodule, training=False)
    batch = next(iter(datamodule.val_dataloader()))
    assert datamodule.on_after_batch_transfer(batch, 0) is batch


def test_each_image_gets_its_own_distortion() -> None:
    torch.manual_seed(0)
    images = torch.zeros(8, 28, 28, dtype=torch.uint8)
    images[:, 8:20, 12:16] = 255  # the same bar eight times
    moved = random_affine(images, degrees=20, scale=0.1, shift=0.1)
    assert len({image.numpy().tobytes() for image in moved}) == 8


def test_no_distortion_leaves_images_unchanged() -> None:
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    assert torch.equal(random_affine(images, degrees=0, scale=0, shift=0), images)


def test_the_default_config_neither_augments_nor_normalizes() -> None:
    config = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    assert MNISTDataModule(**config["data"]).augment_degrees == 0
    assert MNISTDataModule(**config["data"]).augment_shift == 0
    model = DigitClassifier(**config["model"])
    assert (model.hparams.normalize, model.hparams.lr_schedule, model.hparams.label_smoothing) == (False, "constant", 0)


def fitted_model(data_dir: Path, **hparams: object) -> tuple[DigitClassifier, Trainer]:
    seed_everything(3)
    model = DigitClassifier(lr=0.05, momentum=0.9, **hparams)
    trainer = Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, MNISTDataModule(data_dir=data_dir, val_size=100, batch_size=32))
    return model, trainer


def test_onecycle_spans_every_sgd_step_of_fit_and_peaks_at_lr(tiny_mnist: Path) -> None:
    _, trainer = fitted_model(tiny_mnist, lr_schedule="onecycle")
    schedule = trainer.lr_scheduler_configs[0].scheduler
    assert schedule.total_steps == 20  # ceil(300 / 32) mini-batches a epoch, 2 epochs
    assert schedule.last_epoch == 20  # stepped after each of them
    assert trainer.optimizers[0].param_groups[0]["max_lr"] == 0.05


def test_label_smoothing_and_nesterov_each_change_the_trained_weights(tiny_mnist: Path) -> None:
    plain = fitted_model(tiny_mnist)[0].net.fc3.weight
    smoothed = fitted_model(tiny_mnist, label_smoothing=0.1)[0].net.fc3.weight
    nesterov = fitted_model(tiny_mnist, nesterov=True)[0].net.fc3.weight
    assert not torch.allclose(plain, smoothed)
    assert not torch.allclose(plain, nesterov)


def test_nesterov_without_momentum_is_refused() -> None:
    with pytest.raises(UserError, match=r"nesterov needs model\.momentum above 0"):
        DigitClassifier(nesterov=True)


def test_stroke_jitter_thickens_or_thins_each_image_by_one_pixel() -> None:
    torch.manual_seed(0)
    images = torch.zeros(64, 28, 28, dtype=torch.uint8)
    images[:, 4:24, 12:15] = 255  # a bar three pixels wide
    widths = {int((image[14] > 0).sum()) for image in random_stroke_width(images, probability=1.0)}
    assert widths == {1, 5}


def test_no_stroke_jitter_leaves_images_unchanged() -> None:
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    assert torch.equal(random_stroke_width(images, probability=0.0), images)


def test_onecycle_resumed_for_more_epochs_holds_its_last_rate(tiny_mnist: Path, tmp_path: Path) -> None:
    _, trainer = fitted_model(tiny_mnist, lr_schedule="onecycle")
    trainer.save_checkpoint(tmp_path / "two_epochs.ckpt")
    final_lr = trainer.optimizers[0].param_groups[0]["lr"]

    longer = Trainer(
        max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    datamodule = MNISTDataModule(data_dir=tiny_mnist, val_size=100, batch_size=32)
    with pytest.warns(UserWarning, match=r"the checkpoint's cycle spans 20 SGD steps, fewer than .* asks for \(30\)"):
        longer.fit(
            DigitClassifier(lr=0.05, momentum=0.9, lr_schedule="onecycle"),
            datamodule,
            ckpt_path=tmp_path / "two_epochs.ckpt",
        )

    assert longer.current_epoch == 3
    assert longer.optimizers[0].param_groups[0]["lr"] == final_lr
