"""A callback that slows training down, so a test can interrupt a real run in the middle of an epoch."""

import time

from lightning.pytorch import Callback, LightningModule, Trainer


class PauseEachBatch(Callback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: object) -> None:
        time.sleep(self.seconds)
