"""The one input transform, shared by training, evaluation and prediction.

Every image reaches the model as MNIST stores it: uint8 pixels, white ink on black, 28x28.
The model itself turns those into floats with :class:`PixelTransform`, so a checkpoint carries
the transform it was trained with, and prediction cannot scale pixels differently.
"""

import torch
from torch import Tensor, nn

from mnist_lit.net import IMAGE_SIZE

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
MAX_PIXEL = 255.0


class PixelTransform(nn.Module):
    """uint8 images of shape (N, 28, 28) to float32 of shape (N, 1, 28, 28).

    Args:
        normalize: Standardise with MNIST's mean and std after scaling to [0, 1]; when off, the
            model sees raw [0, 1] pixels, as in the tutorial.
    """

    def __init__(self, normalize: bool = False) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, images: Tensor) -> Tensor:
        return self.standardize(images.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE).to(torch.float32) / MAX_PIXEL)

    def standardize(self, pixels: Tensor) -> Tensor:
        """The second half of the transform, for float pixels already scaled to [0, 1]."""
        if self.normalize:
            return (pixels - MNIST_MEAN) / MNIST_STD
        return pixels
