import pytest
import torch

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


def test_training_and_prediction_feed_the_network_identical_pixels() -> None:
    model = DigitClassifier(normalize=True)
    seen: list[torch.Tensor] = []
    model.net.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].clone()))
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)

    model.training_step((images, torch.tensor([0, 1, 2, 3])), 0)
    model.predict_step({"image": images}, 0)

    assert len(seen) == 2
    assert torch.equal(seen[0], seen[1])
