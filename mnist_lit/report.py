"""What ``test`` leaves beside its metrics: a confusion matrix, per-class scores and the worst mistakes."""

import csv
from pathlib import Path

import torch
from jsonargparse.typing import restricted_number_type
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from mnist_lit.net import IMAGE_SIZE, NUM_CLASSES

Batch = tuple[Tensor, Tensor]
# Past about a hundred pictures the grid is too big to read, and matplotlib takes minutes to draw it.
MistakeCount = restricted_number_type("MistakeCount", int, [(">=", 0), ("<=", 100)])


class TestReport(Callback):
    """After ``test``, writes three files to the run's folder:

    - ``confusion_matrix.png``: counts of each true digit (rows) against each prediction (columns);
    - ``per_class.csv``: precision, recall, F1 and support of each digit;
    - ``mistakes.png``: the test images the model got wrong with the highest confidence.

    torchmetrics accumulates on the device during the epoch and gathers every process's counts,
    so the files describe the whole test set however many processes ran.

    Args:
        mistakes: How many of the most confident mistakes to draw, 0 to 100; 0 draws none.
    """

    def __init__(self, mistakes: MistakeCount = 25) -> None:
        self.mistakes = mistakes
        self.paths: list[Path] = []
        self.confusion_matrix: Tensor | None = None

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        device = pl_module.device
        self.confusion = MulticlassConfusionMatrix(NUM_CLASSES, validate_args=False).to(device)
        self.per_class = MetricCollection(
            {
                "precision": MulticlassPrecision(NUM_CLASSES, average=None, validate_args=False),
                "recall": MulticlassRecall(NUM_CLASSES, average=None, validate_args=False),
                "f1": MulticlassF1Score(NUM_CLASSES, average=None, validate_args=False),
            },
            compute_groups=True,  # the three share one set of per-class counts
        ).to(device)
        # The most confident mistakes so far, in buffers of fixed size, so that keeping them up to
        # date never asks the device how many mistakes a batch held. Empty slots score -inf.
        self.worst_confidence = torch.full((self.mistakes,), -torch.inf, device=device)
        self.worst_images = torch.zeros(self.mistakes, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8, device=device)
        self.worst_targets = torch.zeros(self.mistakes, dtype=torch.long, device=device)
        self.worst_digits = torch.zeros(self.mistakes, dtype=torch.long, device=device)
        self.paths = []

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Tensor,
        batch: Batch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        images, targets = batch
        confidence, digits = outputs.softmax(dim=-1).max(dim=-1)
        self.confusion.update(digits, targets)
        self.per_class.update(digits, targets)
        mistake_confidence = torch.where(digits != targets, confidence, -torch.inf)
        self._keep_worst(
            torch.cat([self.worst_confidence, mistake_confidence]),
            torch.cat([self.worst_images, images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)]),
            torch.cat([self.worst_targets, targets]),
            torch.cat([self.worst_digits, digits]),
        )

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Every process takes part in computing and gathering; only the first writes files.
        self.confusion_matrix = confusion = self.confusion.compute().cpu()
        per_class = {name: scores.cpu() for name, scores in self.per_class.compute().items()}
        gathered = [
            pl_module.all_gather(tensor).reshape(-1, *tensor.shape[1:])
            for tensor in (self.worst_confidence, self.worst_images, self.worst_targets, self.worst_digits)
        ]
        self._keep_worst(*gathered)
        folder = Path(trainer.log_dir or ".")  # a collective too: rank 0 broadcasts it
        if not trainer.is_global_zero:
            return

        from mnist_lit import plots  # matplotlib loads only when there is something to draw

        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / "confusion_matrix.png", folder / "per_class.csv"]
        plots.draw_confusion_matrix(confusion, self.paths[0])
        _write_per_class(confusion, per_class, self.paths[1])
        found = self.worst_confidence > -torch.inf
        if self.mistakes:
            self.paths.append(folder / "mistakes.png")
            plots.draw_mistakes(
                self.worst_images[found].cpu(),
                self.worst_targets[found].cpu(),
                self.worst_digits[found].cpu(),
                self.worst_confidence[found].cpu(),
                self.paths[-1],
            )

    def _keep_worst(self, confidence: Tensor, images: Tensor, targets: Tensor, digits: Tensor) -> None:
        """Keep the ``mistakes`` highest-confidence entries, most confident first."""
        kept = confidence.topk(self.mistakes).indices
        self.worst_confidence, self.worst_images = confidence[kept], images[kept]
        self.worst_targets, self.worst_digits = targets[kept], digits[kept]


def _write_per_class(confusion: Tensor, per_class: dict[str, Tensor], path: Path) -> None:
    support = confusion.sum(dim=1)
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["digit", "precision", "recall", "f1", "support"])
        for digit in range(NUM_CLASSES):
            scores = [f"{float(per_class[name][digit]):.4f}" for name in ("precision", "recall", "f1")]
            writer.writerow([digit, *scores, int(support[digit])])
