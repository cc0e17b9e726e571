"""A callback the benchmark adds to ``fit``, ``test`` and ``predict`` to time their loops from inside."""

import json
import time
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer


class LoopTimer(Callback):
    """Appends the seconds each training epoch (validation excluded), test and predict loop took,
    and the test accuracy, as JSON lines, to ``output``."""

    def __init__(self, output: Path) -> None:
        self.output = Path(output)
        self._start = 0.0
        self._last_batch_end = 0.0

    def _record(self, kind: str, seconds: float, **values: float) -> None:
        with self.output.open("a") as file:
            file.write(json.dumps({"kind": kind, "seconds": seconds, **values}) + "\n")

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: object) -> None:
        self._last_batch_end = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record("train_epoch", self._last_batch_end - self._start)

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record("test", time.perf_counter() - self._start, test_acc=float(trainer.callback_metrics["test/acc"]))

    def on_predict_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record("predict", time.perf_counter() - self._start)
