"""Random affine distortions of whole training batches, per image, on the batch's own device."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mnist_lit.transform import MAX_PIXEL


def random_affine(images: Tensor, degrees: float, scale: float, shift: float) -> Tensor:
    """Rotate each uint8 image of shape (N, 28, 28) by up to ``degrees``, scale it by up to
    ``scale`` (a fraction) either way, and move it by up to ``shift`` of its width and height,
    with parameters drawn independently for every image. Returns uint8 images of the same shape.
    """
    return warp(images, random_affine_matrices(images.shape[0], degrees, scale, shift, images.device))


def random_affine_matrices(count: int, degrees: float, scale: float, shift: float, device: torch.device) -> Tensor:
    """``count`` random affine maps as :func:`random_affine` draws them, as the (count, 2, 3)
    matrices ``F.affine_grid`` takes."""

    def uniform(limit: float) -> Tensor:
        return (torch.rand(count, device=device) * 2 - 1) * limit

    angle = uniform(math.radians(degrees))
    zoom = 1 + uniform(scale)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps output coordinates in [-1, 1] to input coordinates, hence the inverse
    # rotation and scale; a shift of s image widths is 2s in those coordinates.
    return torch.stack(
        [torch.stack([cos, -sin, uniform(2 * shift)], dim=1), torch.stack([sin, cos, uniform(2 * shift)], dim=1)],
        dim=1,
    )


def warp(images: Tensor, theta: Tensor) -> Tensor:
    """Each uint8 image of shape (N, 28, 28) moved by its own matrix in ``theta`` (N, 2, 3), with
    bilinear sampling and black outside the frame. Returns uint8 images of the same shape."""
    pixels = images.unsqueeze(1).to(torch.float32)
    grid = sampling_grid(theta, images.shape[1], images.shape[2])
    moved = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved.squeeze(1).round().clamp(0, MAX_PIXEL).to(torch.uint8)


def random_stroke_width(images: Tensor, probability: float) -> Tensor:
    """With ``probability``, thicken (half the time) or thin (the other half) each uint8 image's
    strokes by one pixel, chosen independently for every image. Returns uint8 images."""
    pixels = images.unsqueeze(1).to(torch.float32)
    thicker = F.max_pool2d(pixels, kernel_size=3, stride=1, padding=1)
    thinner = -F.max_pool2d(-pixels, kernel_size=3, stride=1, padding=1)
    draw = torch.rand(images.shape[0], 1, 1, 1, device=images.device)
    changed = torch.where(draw < probability / 2, thicker, torch.where(draw < probability, thinner, pixels))
    return changed.squeeze(1).to(torch.uint8)


def sampling_grid(theta: Tensor, height: int, width: int) -> Tensor:
    """``F.affine_grid(theta, [N, 1, height, width], align_corners=False)``, computed faster.

    affine_grid multiplies the pixel coordinates by each image's 2x3 matrix in a batch of small
    products, which on a CPU takes longer than the grid_sample that follows; here the coordinates,
    taken from affine_grid's own identity grid, meet every matrix in one product.
    """
    identity = torch.eye(2, 3, device=theta.device, dtype=theta.dtype).unsqueeze(0)
    coordinates = F.affine_grid(identity, [1, 1, height, width], align_corners=False)[0]  # (H, W, 2): x, y
    homogeneous = torch.cat([coordinates, torch.ones_like(coordinates[..., :1])], dim=-1)  # (H, W, 3): x, y, 1
    return torch.einsum("hwk,njk->nhwj", homogeneous, theta)
