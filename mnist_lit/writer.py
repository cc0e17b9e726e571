"""A prediction writer that streams one CSV row per image file as each batch finishes."""

import contextlib
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
        overwrite: Replace ``output`` if it exists already; otherwise an existing file is refused.
    """

    def __init__(self, output: Path | None = None, overwrite: bool = False) -> None:
        super().__init__(write_interval="batch")
        if output is not None and (Path(output).suffix.lower() != ".csv" or Path(output).is_dir()):
            raise UserError(f"--predictions.output {str(output)!r} must name a .csv file, not a folder or other file")
        if output is not None and Path(output).exists() and not overwrite:
            raise UserError(
                f"--predictions.output {str(output)!r} exists already: pass another file name, "
                "or --predictions.overwrite true to replace it"
            )
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
        except FileExistsError as error:  # mkdir found a file where a folder of the path should be
            raise UserError(
                f"cannot write predictions to {str(self.output)!r}: {error.filename!r} is a file"
            ) from error
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
        rows, failed = [], 0
        for path, error, digit, confidence, image_probs in zip(
            batch["path"], batch["error"], digits, confidences, probs, strict=True
        ):
            if error:
                rows.append([path, "", "", *([""] * NUM_CLASSES), error])
                failed += 1
            else:
                rows.append([path, digit, f"{confidence:.6f}", *(f"{p:.6f}" for p in image_probs), ""])
        try:
            self._csv.writerows(rows)
        except OSError as error:  # a full disk, most likely
            raise UserError(f"cannot write predictions to {str(self.output)!r}: {error.strerror}") from error
        self.failed += failed
        self.predicted += len(rows) - failed

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if self._file is not None and not self._file.closed:
            with contextlib.suppress(OSError):  # on a full disk, closing fails too
                self._file.close()
            assert self._partial is not None
            self._partial.unlink(missing_ok=True)  # a run that stopped part-way leaves nothing half-written
            if isinstance(exception, KeyboardInterrupt):
                rank_zero_info(f"Interrupted: no predictions written; {self.output} is as it was before")

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        assert self._file is not None and self._partial is not None and self.output is not None
        try:
            self._file.close()  # the last rows reach the disk here
            self._partial.replace(self.output)
        except OSError as error:
            self._partial.unlink(missing_ok=True)
            raise UserError(f"cannot write predictions to {str(self.output)!r}: {error.strerror}") from error
        rank_zero_info(f"Predictions for {self.predicted + self.failed} images written to {self.output}")
