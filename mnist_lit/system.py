"""The LightningModule: the MLP with its transform, loss, optimiser and metrics."""

import math
import os
from typing import Literal

import torch
import torch.nn.functional as F
from jsonargparse.typing import ClosedUnitInterval, restricted_number_type
from lightning.pytorch import LightningModule
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch import Tensor
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from mnist_lit.errors import UserError
from mnist_lit.net import MLP, NUM_CLASSES
from mnist_lit.transform import PixelTransform

Batch = tuple[Tensor, Tensor]

# Types that LightningCLI checks while parsing, so a bad value is named before any work starts.
FinitePositiveFloat = restricted_number_type("FinitePositiveFloat", float, [(">", 0), ("<", math.inf)])
FiniteNonNegativeFloat = restricted_number_type("FiniteNonNegativeFloat", float, [(">=", 0), ("<", math.inf)])
# Momentum of 1 or more never settles; dropout of 1 would zero every activation.
ZeroToBelowOne = restricted_number_type("ZeroToBelowOne", float, [(">=", 0), ("<", 1)])


class DigitClassifier(LightningModule):
    """Classifies 28x28 uint8 MNIST-style images into the digits 0-9.

    Training takes one SGD step per mini-batch. The data module hands each training step a list
    of consecutive mini-batches (``--data.batches_per_step``), and this module steps through them
    with manual optimization, so the trainer's fixed cost per step is spread over several SGD
    steps while the SGD trajectory stays exactly that of one step per mini-batch.

    Args:
        lr: SGD learning rate.
        momentum: SGD momentum, from 0 up to but not including 1; 0 is plain SGD, as in the tutorial.
        nesterov: Use Nesterov momentum (needs momentum above 0).
        weight_decay: L2 penalty added by SGD.
        lr_schedule: ``constant`` keeps ``lr``; ``onecycle`` warms up to ``lr`` over the first 30%
            of SGD steps and anneals to nearly 0 by the last (PyTorch's OneCycleLR), stepping once
            per mini-batch.
        label_smoothing: Share of each target's probability spread over all ten digits.
        dropout: Dropout after each hidden ReLU, from 0 (off) up to but not including 1.
        normalize: Standardise pixels with MNIST's mean and std; off means raw [0, 1] pixels.
    """

    def __init__(
        self,
        lr: FinitePositiveFloat = 0.01,
        momentum: ZeroToBelowOne = 0.0,
        nesterov: bool = False,
        weight_decay: FiniteNonNegativeFloat = 0.0,
        lr_schedule: Literal["constant", "onecycle"] = "constant",
        label_smoothing: ClosedUnitInterval = 0.0,
        dropout: ZeroToBelowOne = 0.0,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        if nesterov and momentum <= 0:
            raise UserError("model.nesterov needs model.momentum above 0")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.transform = PixelTransform(normalize)
        self.net = MLP(dropout)
        # Metrics only accumulate during an epoch and compute at its end. Without their input
        # checks, an update never waits for the device to hand a value back to the host.
        self.train_loss, self.val_loss, self.test_loss = (MeanMetric(nan_strategy="disable") for _ in range(3))
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(NUM_CLASSES, average="micro", validate_args=False) for _ in range(3)
        )

    def setup(self, stage: str) -> None:
        # predict decodes images in reader processes that hold the other cores, and a second
        # intra-op thread would only wait on them (README, "Speed"). Training and evaluation keep
        # PyTorch's own thread count. OMP_NUM_THREADS, when set, still decides.
        cpu = self.trainer.strategy.root_device.type == "cpu"
        if stage == "predict" and cpu and "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(1)

    def forward(self, images: Tensor) -> Tensor:
        """Logits of shape (N, 10) for uint8 images of shape (N, 28, 28)."""
        return self.net(self.transform(images))

    def training_step(self, batch: list[Batch], batch_idx: int) -> None:
        optimizer = self.optimizers()
        schedule = self.lr_schedulers()
        # The transform runs once over the step's images rather than once per mini-batch: for
        # a net this small, each operation's fixed cost outweighs its arithmetic.
        targets = [targets for _, targets in batch]
        pixels = self.transform(torch.cat([images for images, _ in batch])).split([len(t) for t in targets])
        losses, logits_seen = [], []
        for step_pixels, step_targets in zip(pixels, targets, strict=True):
            logits = self.net(step_pixels)
            image_losses = F.cross_entropy(
                logits, step_targets, reduction="none", label_smoothing=self.hparams.label_smoothing
            )
            optimizer.zero_grad()
            self.manual_backward(image_losses.mean())
            optimizer.step()
            if schedule is not None and schedule.last_epoch < schedule.total_steps:
                schedule.step()  # past its end (a resumed epoch replayed, more epochs): stays at its last lr
            losses.append(image_losses.detach())
            logits_seen.append(logits.detach())

        # One metric update per training step, with values that stay on the device; the
        # metrics are computed and logged once, at the end of the epoch.
        self.train_loss.update(torch.cat(losses))
        self.train_acc.update(torch.cat(logits_seen).argmax(dim=-1), torch.cat(targets))

    def on_train_epoch_end(self) -> None:
        # compute() already gathers every process's counts; sync_dist only tells Lightning so.
        self.log_dict({"train/loss": self.train_loss.compute(), "train/acc": self.train_acc.compute()}, sync_dist=True)
        self.train_loss.reset()
        self.train_acc.reset()

    def on_validation_epoch_end(self) -> None:
        # Once a weight is NaN or infinite every later step is too; stop before a checkpoint saves it.
        # Once an epoch, this is the only time training waits for a value from the device.
        fitting = self.trainer.state.fn == TrainerFn.FITTING and not self.trainer.sanity_checking
        if fitting and not torch.stack([torch.isfinite(weights).all() for weights in self.net.parameters()]).all():
            raise UserError(
                f"training diverged in epoch {self.current_epoch}: the weights are no longer finite numbers. "
                f"Lower --model.lr (now {self.hparams.lr}); any checkpoints of earlier epochs are kept"
            )

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_loss, self.val_acc, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Returns the logits, for the callbacks that report on the test set."""
        return self._evaluate(batch, self.test_loss, self.test_acc, "test")

    def _evaluate(self, batch: Batch, loss_metric: MeanMetric, acc_metric: MulticlassAccuracy, stage: str) -> Tensor:
        images, targets = batch
        logits = self(images)
        loss_metric.update(F.cross_entropy(logits, targets, reduction="none"))
        acc_metric.update(logits.argmax(dim=-1), targets)
        self.log(f"{stage}/loss", loss_metric, prog_bar=True)
        self.log(f"{stage}/acc", acc_metric, prog_bar=True)
        return logits

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """For each image: the predicted ``digit``, its probability ``confidence``, and ``probs``."""
        probs = self(batch["image"]).softmax(dim=-1)
        confidence, digit = probs.max(dim=-1)
        return {"digit": digit, "confidence": confidence, "probs": probs}

    def on_train_start(self) -> None:
        # A resumed run keeps the checkpoint's one-cycle schedule, which ends where that run was
        # to end; more epochs than it planned run on at the schedule's final, tiny rate.
        schedule = self.lr_schedulers()
        if not isinstance(schedule, torch.optim.lr_scheduler.OneCycleLR):
            return
        wanted = self._sgd_steps()
        if schedule.total_steps < wanted:
            rank_zero_warn(
                f"model.lr_schedule onecycle: the checkpoint's cycle spans {schedule.total_steps} SGD steps, fewer "
                f"than trainer.max_epochs now asks for ({wanted}); the steps past its end train at its "
                f"final lr, {schedule.get_last_lr()[0]:.2g}. For a longer cycle, start a new fit"
            )

    def configure_optimizers(self) -> OptimizerLRScheduler:
        optimizer = torch.optim.SGD(
            self.parameters(),
            lr=self.hparams.lr,
            momentum=self.hparams.momentum,
            nesterov=self.hparams.nesterov,
            weight_decay=self.hparams.weight_decay,
        )
        if self.hparams.lr_schedule == "constant":
            return optimizer
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, self.hparams.lr, total_steps=self._sgd_steps())
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def _sgd_steps(self) -> int:
        """SGD steps in the whole of fit: mini-batches per epoch on this process, times epochs."""
        if self.trainer.max_epochs is None or self.trainer.max_epochs < 1:
            raise UserError("model.lr_schedule onecycle needs trainer.max_epochs, to know how long the cycle is")
        loader = self.trainer.datamodule.train_dataloader()
        per_epoch = math.ceil(len(loader.sampler) / self.trainer.datamodule.batch_size)
        if isinstance(self.trainer.limit_train_batches, int):
            per_epoch = min(per_epoch, self.trainer.limit_train_batches * self.trainer.datamodule.batches_per_step)
        return per_epoch * self.trainer.max_epochs
