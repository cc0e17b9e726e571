"""PNG pictures of a run, drawn with matplotlib's object API (no pyplot, no display needed).

matplotlib takes a second to import, so the CLI imports this module only when it draws.
"""

import csv
import math
from pathlib import Path

from matplotlib.figure import Figure
from torch import Tensor

from mnist_lit.net import NUM_CLASSES

MISTAKES_PER_ROW = 5
CURVES = (("loss", "cross-entropy loss"), ("acc", "accuracy"))


def draw_confusion_matrix(confusion: Tensor, path: Path) -> None:
    """A heat map of ``confusion`` (true digits down, predictions across), each cell's count written in it."""
    accuracy = float(confusion.diagonal().sum() / confusion.sum().clamp(min=1))
    figure = Figure(figsize=(6.4, 5.6), layout="constrained")
    axes = figure.subplots()
    shown = axes.imshow(confusion.numpy(), cmap="Blues")
    figure.colorbar(shown, ax=axes, label="images")
    darkest = float(confusion.max())
    for true_digit in range(NUM_CLASSES):
        for digit in range(NUM_CLASSES):
            count = int(confusion[true_digit, digit])
            colour = "white" if count > darkest / 2 else "black"
            axes.text(digit, true_digit, str(count), ha="center", va="center", fontsize=7, color=colour)
    axes.set_xticks(range(NUM_CLASSES))
    axes.set_yticks(range(NUM_CLASSES))
    axes.set_xlabel("predicted digit")
    axes.set_ylabel("true digit")
    axes.set_title(f"Confusion matrix: {int(confusion.sum())} test images, accuracy {accuracy:.2%}")
    figure.savefig(path, dpi=100)


def draw_mistakes(images: Tensor, targets: Tensor, digits: Tensor, confidence: Tensor, path: Path) -> None:
    """A grid of uint8 ``images`` of shape (N, 28, 28), each titled with its true digit, the
    predicted digit and the model's confidence in it."""
    rows = max(1, math.ceil(len(images) / MISTAKES_PER_ROW))
    figure = Figure(figsize=(1.6 * MISTAKES_PER_ROW, 1.8 * rows + 0.4), layout="constrained")
    figure.suptitle(f"The {len(images)} most confident mistakes" if len(images) else "No mistakes")
    for index, axes in enumerate(figure.subplots(rows, MISTAKES_PER_ROW, squeeze=False).flat):
        axes.set_axis_off()
        if index < len(images):
            axes.imshow(images[index].numpy(), cmap="gray", vmin=0, vmax=255)
            axes.set_title(
                f"true {int(targets[index])}, read {int(digits[index])}\n{float(confidence[index]):.0%} sure",
                fontsize=9,
            )
    figure.savefig(path, dpi=100)


def draw_curves(metrics_csv: Path, path: Path) -> None:
    """Loss and accuracy per epoch, train and val, from the rows of a CSV logger's ``metrics.csv``."""
    per_epoch: dict[str, dict[int, float]] = {}
    with metrics_csv.open(newline="") as file:
        for row in csv.DictReader(file):
            if not row.get("epoch"):
                continue
            for name, value in row.items():
                if value and name.startswith(("train/", "val/")):
                    per_epoch.setdefault(name, {})[int(row["epoch"]) + 1] = float(value)

    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, (metric, label) in zip(figure.subplots(1, len(CURVES)), CURVES, strict=True):
        for stage in ("train", "val"):
            values = per_epoch.get(f"{stage}/{metric}", {})
            axes.plot(list(values), list(values.values()), marker="o", label=stage)
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.savefig(path, dpi=100)
