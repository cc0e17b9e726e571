from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from mnist_lit.data import MNISTDataModule
from mnist_lit.system import DigitClassifier
from mnist_lit.transform import PixelTransform


def test_pixels_are_scaled_to_zero_one_without_normalization() -> None:
    images = torch.zeros(1, 28, 28, dtype=torch.uint8)
    images[0, 0, :3] = torch.tensor([0, 51, 255])
    pixels = PixelTransform()(images)
    assert pixels.shape == (1, 1, 28, 28)
    assert pixels.dtype == torch.float32
    assert pixels[0, 0, 0, :3].tolist() == pytest.approx([0.0, 0.2, 1.0])


def test_normalization_uses_mnist_mean_and_std() -> None:
    images = torch.full((1, 28, 28), 255, dtype=torch.uint8)
    pixels = PixelTransform(normalize=True)(images)
    torch.testing.assert_close(pixels, torch.full((1, 1, 28, 28), (1.0 - 0.1307) / 0.3081))


def test_training_and_prediction_feed_the_network_identical_pixels(tiny_mnist: Path, tmp_path: Path) -> None:
    model = DigitClassifier(normalize=True)
    seen: list[torch.Tensor] = []
    model.net.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].clone()))
    datamodule = MNISTDataModule(data_dir=tiny_mnist, val_size=100, batches_per_step=1)
    trainer = Trainer(fast_dev_run=1, accelerator="cpu", enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule)
    datamodule.train_dataloader().sampler.set_epoch(0)
    ((trained_images, _),) = next(iter(datamodule.train_dataloader()))
    trained_pixels = seen[0]

    model.predict_step({"image": trained_images}, 0)

    assert torch.equal(seen[-1], trained_pixels)
