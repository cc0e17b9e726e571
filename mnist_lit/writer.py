"""A prediction writer that streams one CSV row per image file as each batch finishes."""

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from mnist_lit.errors import UserError
from mnist_lit.net import NUM_CLASSES

COLUMNS = ["path", "digit", "confidence", *(f"prob_{digit}" for digit in range(NUM_CLASSES)), "error"]


class CSVPredictionWriter(BasePredictionWriter):
    """Writes ``predict``'s results to a CSV file with the columns
    ``path, digit, confidence, prob_0 ... prob_9, error``.

    Rows go to a temporary file beside ``output`` as batches finish, and it takes the final name
    only when every image is done, so an interrupted run never leaves a half-written CSV behind.

    Args:
        output: The CSV file to write; by default ``predictions.csv`` in the run's log folder.
    """

    def __init__(self, output: Path | None = None) -> None:
        super().__init__(write_interval="batch")
        if output is not None and (Path(output).suffix.lower() != ".csv" or Path(output).is_dir()):
            raise UserError(f"--predictions.output {str(output)!r} must name a .csv file, not a folder or other file")
        self.output = output
        self.predicted = 0
        self.failed = 0
        self._partial: Path | None = None
        self._file: IO[str] | None = None
        self._csv: Any = None

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.world_size > 1:
            raise UserError(
                "predict writes one CSV from one process: run it without --trainer.devices/--trainer.strategy"
            )
        self.output = Path(self.output or Path(trainer.log_dir or ".") / "predictions.csv")
        self._partial = self.output.with_name(self.output.name + ".partial")
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            # File names that are not valid UTF-8 are written back as the bytes they were.
            self._file = self._partial.open("w", newline="", encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            raise UserError(f"cannot write predictions to {str(self.output)!r}: {error.strerror}") from error
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._csv.writerow(COLUMNS)
        self.predicted = self.failed = 0

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: dict[str, Tensor],
        batch_indices: Sequence[int] | None,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        digits = prediction["digit"].tolist()
        confidences = prediction["confidence"].tolist()
        probs = prediction["probs"].tolist()
        for path, error, digit, confidence, image_probs in zip(
            batch["path"], batch["error"], digits, confidences, probs, strict=True
        ):
            if error:
                self._csv.writerow([path, "", "", *([""] * NUM_CLASSES), error])
                self.failed += 1
            else:
                self._csv.writerow([path, digit, f"{confidence:.6f}", *(f"{p:.6f}" for p in image_probs), ""])
                self.predicted += 1

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
            assert self._partial is not None
            self._partial.unlink(missing_ok=True)  # a run that stopped part-way leaves nothing half-written

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        assert self._file is not None and self._partial is not None and self.output is not None
        self._file.close()
        self._partial.replace(self.output)
        rank_zero_info(f"Predictions for {self.predicted + self.failed} images written to {self.output}")
