"""MNIST as whole-batch tensors, and folders of people's own digit images, for the Trainer."""

import math
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jsonargparse.typing import ClosedUnitInterval, NonNegativeInt, PositiveInt, restricted_number_type
from lightning.fabric.utilities.seed import max_seed_value, min_seed_value
from lightning.pytorch import LightningDataModule
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.datasets import MNIST

from mnist_lit.augment import random_affine_matrices, random_stroke_width, warp
from mnist_lit.errors import UserError
from mnist_lit.net import IMAGE_SIZE
from mnist_lit.preprocess import UNREADABLE, read_digit, refusing_large_images

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# The range Lightning's seed_everything accepts, for the split's seed too.
Seed = restricted_number_type("Seed", int, [(">=", min_seed_value), ("<=", max_seed_value)])
Degrees = restricted_number_type("Degrees", float, [(">=", 0), ("<=", 180)])


class TensorImages(Dataset[tuple[Tensor, Tensor]]):
    """Images and labels held as two tensors, served a whole batch at a time.

    The DataLoader hands ``__getitems__`` a batch of indices, so a batch costs one indexing
    operation instead of one decode and one collate per image.
    """

    def __init__(self, images: Tensor, targets: Tensor) -> None:
        self.images = images
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.targets[index]

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        index = torch.tensor(indices)
        if self.targets.is_cuda:  # pinned, the copy to the GPU does not make the host wait
            index = index.pin_memory().to(self.targets.device, non_blocking=True)
        return self.images[index], self.targets[index]

    def to(self, device: torch.device) -> "TensorImages":
        """The same images, held on ``device``: on a GPU, batches are then cut without a host copy."""
        return TensorImages(self.images.to(device), self.targets.to(device))


def _batch_as_is(batch: Any) -> Any:
    return batch


def _split_into_mini_batches(batch: tuple[Tensor, Tensor], size: int) -> list[tuple[Tensor, Tensor]]:
    images, targets = batch
    return list(zip(images.split(size), targets.split(size), strict=True))


class ImageFolder(Dataset[dict[str, Tensor | str]]):
    """Every image file under ``root``, subfolders included, sorted by path.

    Each item is ``{"image": uint8 (28, 28), "path": path relative to root, "error": ""}``, and a
    batch is the same keys with an image tensor of shape (N, 28, 28) and lists of paths and
    errors. A file that cannot be read gives a blank image and says why in ``error``, so one bad
    file never stops a folder.
    """

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise UserError(
                f"predict_dir {str(root)!r} is not a folder: point --data.predict_dir at a folder of images"
            )
        self.root = root
        self.paths, self.skipped = list_image_files(root)
        if not self.paths:
            raise UserError(
                f"predict_dir {str(root)!r} holds no image files ({self.skipped} other files skipped): "
                "point --data.predict_dir at a folder of PNG, JPEG or other images"
            )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Tensor | str]:
        with refusing_large_images():
            frame, error = self._read(index)
        return {"image": torch.from_numpy(frame), "path": self.paths[index], "error": error}

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Tensor | list[str]]:
        with refusing_large_images():
            frames, errors = zip(*(self._read(index) for index in indices), strict=True)
        return {
            "image": torch.from_numpy(np.stack(frames)),  # one tensor a batch, not one an image
            "path": [self.paths[index] for index in indices],
            "error": list(errors),
        }

    def _read(self, index: int) -> tuple[np.ndarray, str]:
        """The image at ``index`` as an MNIST-style frame and an empty error, or a blank frame and
        why the file could not be read."""
        try:
            return read_digit(os.path.join(self.root, self.paths[index])), ""
        except UNREADABLE as error:
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            return np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8), reason


def list_image_files(root: Path) -> tuple[list[str], int]:
    """The paths, relative to ``root``, of the image files under it in a stable order, and how
    many other files were skipped.

    An image file is one whose extension Pillow can open. Links to folders are not followed,
    so a link back to a parent folder cannot loop; pipes and devices are skipped.
    """
    Image.init()
    readable = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    paths, skipped = [], 0
    for folder, _, names in os.walk(root):
        relative = Path(folder).relative_to(root)
        for name in names:
            full = os.path.join(folder, name)
            special = os.path.exists(full) and not os.path.isfile(full)  # a pipe or device: reading could hang
            if os.path.splitext(name)[1].lower() in readable and not special:
                paths.append((relative / name).as_posix())
            else:
                skipped += 1
    return sorted(paths), skipped


class MNISTDataModule(LightningDataModule):
    """MNIST's 60k training images split into train and validation, its official 10k test set,
    and a folder of your own images for prediction.

    Args:
        data_dir: Folder holding ``MNIST/raw/`` with the four original IDX files; they are
            downloaded there when missing.
        batch_size: Images per SGD step (the mini-batch), in every stage.
        batches_per_step: Consecutive mini-batches handed to each training step, which takes one
            SGD step per mini-batch: the trajectory of batch_size SGD, with the trainer's fixed
            cost per step shared among them. The progress bar and ``limit_*_batches`` count these
            groups; ``global_step`` and checkpoint step intervals count SGD steps. Evaluation
            and predict batches hold ``batch_size * batches_per_step`` images.
        val_size: Training images held out for validation; the split is fixed by ``split_seed``.
        split_seed: Seed of the train/validation split, independent of the training seed.
        augment_degrees: Training images are rotated by a random angle up to this many degrees
            either way, drawn for each image; 0 turns rotation off.
        augment_scale: ... and scaled by a random factor within this fraction of 1 (0.1: 0.9-1.1).
        augment_shift: ... and moved by up to this fraction of their width and height.
        augment_stroke: Chance that an image's strokes are made a pixel thicker or thinner (half
            each), as pens differ. All four act on training batches only, per image, as tensors
            on the batch's device; validation, test and predict batches are never changed.
        predict_dir: Folder of digit images for ``predict``, subfolders included.
        num_workers: Worker processes that read images for ``predict``; MNIST itself needs none.
    """

    def __init__(
        self,
        data_dir: Path = Path("data"),
        batch_size: PositiveInt = 64,
        batches_per_step: PositiveInt = 32,
        val_size: PositiveInt = 5000,
        split_seed: Seed = 42,
        augment_degrees: Degrees = 0.0,
        augment_scale: ClosedUnitInterval = 0.0,
        augment_shift: ClosedUnitInterval = 0.0,
        augment_stroke: ClosedUnitInterval = 0.0,
        predict_dir: Path | None = None,
        num_workers: NonNegativeInt = 2,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.batches_per_step = batches_per_step
        self.val_size = val_size
        self.split_seed = split_seed
        self.augment_degrees = augment_degrees
        self.augment_scale = augment_scale
        self.augment_shift = augment_shift
        self.augment_stroke = augment_stroke
        self.predict_dir = predict_dir
        self.num_workers = num_workers
        self.train_set: TensorImages | None = None
        self.val_set: TensorImages | None = None
        self.test_set: TensorImages | None = None
        self.predict_set: ImageFolder | None = None

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "MNIST" / "raw"

    def prepare_data(self) -> None:
        if self.trainer is not None and self.trainer.predicting:
            return
        missing = [name for name in MNIST_FILES if not (self.raw_dir / name).is_file()]
        if not missing:
            return
        created = [folder for folder in (self.raw_dir, self.raw_dir.parent, self.data_dir) if not folder.exists()]
        try:
            MNIST(self.data_dir, train=True, download=True)
            MNIST(self.data_dir, train=False, download=True)
        except Exception as error:  # torchvision raises bare RuntimeError/URLError on any failed mirror
            for folder in created:  # a mistyped data_dir should not leave empty MNIST/raw folders behind
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            raise UserError(
                f"MNIST is not in {str(self.raw_dir)!r} (missing: {', '.join(missing)}) and could not be "
                f"downloaded ({type(error).__name__}). Put the four files {', '.join(MNIST_FILES)} there, "
                "or point --data.data_dir at the folder that holds MNIST/raw/."
            ) from error

    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate") and self.train_set is None:
            images, targets = self._read(train=True)
            if self.val_size >= len(targets):
                raise UserError(
                    f"val_size={self.val_size} leaves no training images: MNIST has {len(targets)}; "
                    f"set --data.val_size between 1 and {len(targets) - 1}"
                )
            order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(self.split_seed))
            val_index, train_index = order[: self.val_size], order[self.val_size :]
            self.train_set = TensorImages(images[train_index], targets[train_index]).to(self._device)
            self.val_set = TensorImages(images[val_index], targets[val_index]).to(self._device)
        if stage == "test" and self.test_set is None:
            self.test_set = TensorImages(*self._read(train=False)).to(self._device)
        if stage == "predict":
            if self.predict_dir is None:
                raise UserError("predict needs a folder of images: pass --data.predict_dir DIR")
            self.predict_set = ImageFolder(Path(self.predict_dir))

    @property
    def _device(self) -> torch.device:
        """Where the data sets live: on the GPU when training runs on one (MNIST is 55 MB), else on the CPU."""
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        return device if device.type == "cuda" else torch.device("cpu")

    def _read(self, train: bool) -> tuple[Tensor, Tensor]:
        try:
            mnist = MNIST(self.data_dir, train=train, download=False)
        except (RuntimeError, OSError, ValueError, TypeError, AssertionError) as error:  # torchvision's checks
            raise UserError(
                f"MNIST in {str(self.raw_dir)!r} could not be read ({str(error) or type(error).__name__}). "
                f"It should hold the four original files {', '.join(MNIST_FILES)}."
            ) from error
        if len(mnist.data) != len(mnist.targets):
            split = "t10k" if not train else "train"
            raise UserError(
                f"MNIST in {str(self.raw_dir)!r} is inconsistent: {split}-images-idx3-ubyte holds {len(mnist.data)} "
                f"images but {split}-labels-idx1-ubyte {len(mnist.targets)} labels. Put the original files back."
            )
        return mnist.data, mnist.targets

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, dict):  # a predict batch: its paths and errors are strings, which stay put
            return {**batch, "image": batch["image"].to(device)}
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        affine = self.augment_degrees or self.augment_scale or self.augment_shift
        if not (affine or self.augment_stroke) or self.trainer is None or not self.trainer.training:
            return batch
        # Each mini-batch draws its images' random distortions in turn, as one at a time always
        # has, so a seed trains the same run; the warp then runs once over the step's images.
        pieces, matrices = [], []
        for images, _ in batch:
            if self.augment_stroke:
                images = random_stroke_width(images, self.augment_stroke)
            if affine:
                matrices.append(
                    random_affine_matrices(
                        len(images), self.augment_degrees, self.augment_scale, self.augment_shift, images.device
                    )
                )
            pieces.append(images)
        images = torch.cat(pieces)
        if affine:
            images = warp(images, torch.cat(matrices))
        targets = [targets for _, targets in batch]
        return list(zip(images.split([len(piece) for piece in pieces]), targets, strict=True))

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None
        split = partial(_split_into_mini_batches, size=self.batch_size)
        return self._tensor_loader(self.train_set, shuffle=True, collate_fn=split)

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None
        return self._tensor_loader(self.val_set, shuffle=False, collate_fn=_batch_as_is)

    def test_dataloader(self) -> DataLoader:
        assert self.test_set is not None
        return self._tensor_loader(self.test_set, shuffle=False, collate_fn=_batch_as_is)

    def predict_dataloader(self) -> DataLoader:
        assert self.predict_set is not None
        # Large batches, since each costs the reader processes a fixed hand-over; and as many for
        # each reader process, since the readers take batches in turn and the last one decides.
        largest = self.batch_size * self.batches_per_step
        readers = max(self.num_workers, 1)
        batches = readers * math.ceil(len(self.predict_set) / (readers * largest))
        batch_size = math.ceil(len(self.predict_set) / batches)
        return DataLoader(
            self.predict_set, batch_size=batch_size, num_workers=self.num_workers, collate_fn=_batch_as_is
        )

    def _tensor_loader(self, dataset: TensorImages, shuffle: bool, collate_fn: Callable) -> DataLoader:
        # The order of each epoch is a function of the seed and the epoch number alone (the trainer
        # calls set_epoch), so a run resumed from a checkpoint sees the batches an unbroken run would.
        world_size, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        # Evaluation shards are uneven rather than padded with repeats, so metrics gathered across
        # processes count each image exactly once.
        sampler_class = DistributedSampler if shuffle else UnrepeatedDistributedSampler
        sampler = sampler_class(
            dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=int(os.environ.get("PL_GLOBAL_SEED", 0))
        )
        batch_size = self.batch_size * self.batches_per_step
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn)
