"""Shared fixtures: a tiny MNIST written in the original IDX format, and the real data when present."""

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from mnist_lit.cli import run
from mnist_lit.preprocess import ink_map, to_mnist_frame

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TINY_TRAIN = 400
TINY_TEST = 100


def draw_digit(digit: int, size: int, rng: np.random.Generator | None = None) -> Image.Image:
    """White ``digit`` rendered with Pillow's built-in font on a black ``size`` x ``size`` square."""
    rng = rng or np.random.default_rng(0)
    font = ImageFont.load_default(size=size * 0.75 + rng.uniform(-1, 1) * size / 20)
    image = Image.new("L", (size, size))
    centre = (size / 2 + rng.uniform(-1, 1) * size / 28, size / 2 + rng.uniform(-1, 1) * size / 28)
    ImageDraw.Draw(image).text(centre, str(digit), fill=255, font=font, anchor="mm", stroke_width=max(1, size // 28))
    return image


def write_idx(folder: Path, prefix: str, count: int, seed: int) -> np.ndarray:
    """Write ``count`` drawn digits as ``{prefix}-images-idx3-ubyte`` and ``-labels-idx1-ubyte``.

    Each digit is drawn at 112 pixels and framed the way MNIST frames its digits, so that photos
    drawn the same way at any size read as the same digits in predict.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(count, dtype=np.uint8) % 10
    images = np.stack([to_mnist_frame(ink_map(draw_digit(int(label), 112, rng))) for label in labels])
    images[:, 0, 0], images[:, 0, 1] = np.arange(count) // 256, np.arange(count) % 256  # every image unique
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, count, 28, 28) + images.tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, count) + labels.tobytes())
    return images


@pytest.fixture(autouse=True)
def bare_command_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts in a folder of its own, with a bare sys.argv.

    Runs write their folders under the working directory, which must never be the project's own;
    and LightningCLI warns when it is given args while sys.argv holds pytest's.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["mnist-lit"])


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data_dir holding MNIST/raw/ with 400 training and 100 test images of drawn digits."""
    data_dir = tmp_path_factory.mktemp("tiny_mnist")
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw, "train", TINY_TRAIN, seed=1)
    write_idx(raw, "t10k", TINY_TEST, seed=2)
    return data_dir


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real MNIST in ../shared/data, or a skip saying it is missing."""
    if not (REAL_DATA / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip(f"real MNIST not found in {REAL_DATA}")
    return REAL_DATA


CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "default.yaml")
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


def fit_args(data_dir: Path) -> list[str]:
    return [
        "fit", "--config", CONFIG, f"--data.data_dir={data_dir}", "--data.val_size=100",
        "--trainer.max_epochs=15", "--model.lr=0.1", "--model.momentum=0.9", *QUIET,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def trained(tiny_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder in which one fit run has written checkpoints/default/version_0."""
    workdir = tmp_path_factory.mktemp("workdir")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        run(fit_args(tiny_mnist))
    return workdir


def best_checkpoint(run_dir: Path) -> Path:
    (best,) = (run_dir / "checkpoints").glob("best*.ckpt")
    return best
