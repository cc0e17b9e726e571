"""Checkpoint files: written atomically, and checked before Lightning reads one."""

import io
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from mnist_lit.errors import UserError
from mnist_lit.net import MLP


@dataclass
class Checkpoint:
    """The weights in a checkpoint file, checked against this project's network.

    Attributes:
        net_state: The MLP's state dict, keyed ``fc1.weight`` ... ``fc3.bias``.
        hyper_parameters: The LightningModule's arguments; empty for a tutorial-format file.
        lightning: True for a checkpoint that ``fit`` wrote; False for a bare state dict saved
            the tutorial's way, ``torch.save(model.state_dict(), "mnist_mlp_model.pth")``.
        epochs_trained: Training epochs the checkpoint has seen to their end; 0 when it does not say.
    """

    net_state: dict[str, Tensor]
    hyper_parameters: dict[str, Any]
    lightning: bool
    epochs_trained: int = 0


def read_checkpoint(path: Path, resume: bool = False) -> Checkpoint:
    """Load ``path`` with ``weights_only=True`` and check it holds this project's network: a
    Lightning checkpoint that ``fit`` wrote, or the tutorial's state dict. To ``resume`` training,
    it must be a Lightning checkpoint with the training state too.

    Raises:
        UserError: the file is missing, is not a checkpoint, carries pickled Python objects,
            holds the weights of another network, or lacks what resuming needs.
    """
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "is not a regular file" if path.exists() else "does not exist"
        wanted = "a last.ckpt that fit wrote" if resume else "the .ckpt file a fit run wrote, or a tutorial .pth"
        raise UserError(f"checkpoint {str(path)!r} {problem}: pass --ckpt_path {wanted}")
    try:
        with warnings.catch_warnings():  # torch warns about pickled files; the error below says it once
            warnings.simplefilter("ignore", UserWarning)
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" not in str(error):  # not a pickle of objects, but no checkpoint either
            raise UserError(
                f"{str(path)!r} is not a PyTorch checkpoint: pass --ckpt_path the .ckpt file a fit run wrote, "
                "or a .pth state dict saved the tutorial's way"
            ) from error
        raise UserError(
            f"checkpoint {str(path)!r} holds pickled Python objects, not just weights; "
            "refusing to load it, since unpickling can run arbitrary code"
        ) from error
    except Exception as error:  # torch.load raises many types for files that are not checkpoints
        raise UserError(
            f"{str(path)!r} is not a PyTorch checkpoint (it could not be read: {type(error).__name__}): "
            "pass --ckpt_path the .ckpt file a fit run wrote"
        ) from error

    if isinstance(checkpoint, dict) and "pytorch-lightning_version" not in checkpoint:
        # a training script's own {"model_state_dict": ..., "epoch": ...}
        wrapped = [checkpoint[key] for key in WRAPPER_KEYS if _is_state_dict(checkpoint.get(key))]
        checkpoint = wrapped[0] if wrapped else checkpoint
    if _is_state_dict(checkpoint):
        _check_network(path, checkpoint, prefix="")
        if resume:
            raise UserError(
                f"checkpoint {str(path)!r} holds the tutorial's weights only, not the training state "
                "fit needs to resume; use it with test or predict"
            )
        return Checkpoint(dict(checkpoint), {}, lightning=False)

    lightning_keys = ("state_dict", "pytorch-lightning_version")
    if not isinstance(checkpoint, dict) or not all(key in checkpoint for key in lightning_keys):
        raise UserError(
            f"{str(path)!r} is neither a Lightning checkpoint nor a state dict: pass a .ckpt file that fit wrote, "
            "or the weights saved with torch.save(model.state_dict(), path)"
        )
    hyper_parameters = checkpoint.get("hyper_parameters", {})
    if not isinstance(checkpoint["state_dict"], dict) or not isinstance(hyper_parameters, dict):
        raise UserError(f"checkpoint {str(path)!r} is malformed: its state_dict or hyper_parameters is not a mapping")
    _check_network(path, checkpoint["state_dict"], prefix="net.")
    if resume and "optimizer_states" not in checkpoint:
        raise UserError(
            f"checkpoint {str(path)!r} holds weights only, not the training state fit needs to resume; "
            "use it with test or predict, or resume from a last.ckpt"
        )
    net_state = {name.removeprefix("net."): tensor for name, tensor in checkpoint["state_dict"].items()}
    return Checkpoint(net_state, hyper_parameters, lightning=True, epochs_trained=_epochs_trained(checkpoint))


WRAPPER_KEYS = ("model_state_dict", "state_dict", "model")
"""Keys under which training scripts commonly save a model's state dict beside other things."""


def _epochs_trained(checkpoint: dict[str, Any]) -> int:
    """How many training epochs a Lightning checkpoint saw to their end, from its fit loop's progress."""
    progress: object = checkpoint.get("loops")
    for key in ("fit_loop", "epoch_progress", "current", "processed"):
        progress = progress.get(key) if isinstance(progress, dict) else None
    return progress if isinstance(progress, int) else 0


def _is_state_dict(checkpoint: object) -> bool:
    """A bare state dict, as ``torch.save(model.state_dict(), ...)`` writes: names to tensors only."""
    return (
        isinstance(checkpoint, dict)
        and len(checkpoint) > 0
        and all(isinstance(tensor, Tensor) for tensor in checkpoint.values())
    )


def _check_network(path: Path, state_dict: dict[str, object], prefix: str) -> None:
    """Refuse weights whose names or shapes differ from the bare MLP's, under ``prefix``."""
    # Checking against the bare MLP spares building a whole LightningModule, metrics and all.
    expected = {f"{prefix}{name}": tuple(tensor.shape) for name, tensor in MLP().state_dict().items()}
    found = {name: tuple(tensor.shape) if isinstance(tensor, Tensor) else None for name, tensor in state_dict.items()}
    if found != expected:
        raise UserError(
            f"checkpoint {str(path)!r} holds a different network; this project's has the layers "
            f"{prefix}fc1 (784->128), {prefix}fc2 (128->64) and {prefix}fc3 (64->10), each with weight and bias"
        )
    for name, tensor in state_dict.items():
        if not torch.isfinite(tensor).all():
            raise UserError(
                f"checkpoint {str(path)!r} holds weights that are not finite numbers ({name} has NaN or "
                "infinity): the training that wrote it diverged; use an earlier checkpoint, or train with a lower lr"
            )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside its target, then renames it into place.

    A rename within one folder is atomic, so a run killed at any moment, SIGKILL included,
    leaves either the previous checkpoint or the new one under the name, never half of one.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        # Serialised in memory first: a full disk then fails in Python's own write, with an error
        # that names the problem, rather than deep inside torch's writer.
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        try:
            with partial.open("wb") as file:
                file.write(buffer.getbuffer())
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise UserError(
                f"cannot write checkpoint {str(path)!r}: {error.strerror}; earlier checkpoints are kept"
            ) from error


class BestAndLastCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, with a ``last.ckpt`` written at the end of every epoch.

    Since Lightning 2.6, ``save_last`` writes ``last.ckpt`` only when a best checkpoint is saved at
    the same step, so after an epoch that did not improve, ``last.ckpt`` would be stale and a
    resumed run would repeat epochs. Here it is rewritten at the end of every training epoch.

    When Ctrl-C stops ``fit``, ``last.ckpt`` is left at the last complete epoch rather than
    overwritten with the state in the middle of one: a plain DataLoader cannot resume mid-epoch,
    so only an epoch boundary lets the resumed run see the batches an unbroken run would.
    """

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self.save_last and self.dirpath and not trainer.fast_dev_run:
            path = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
            trainer.save_checkpoint(path, weights_only=False)  # the whole training state, to resume from
            self.last_model_path = str(path)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        if not isinstance(exception, KeyboardInterrupt) or trainer.state.fn != TrainerFn.FITTING:
            return
        if self.last_model_path:
            rank_zero_info(
                f"Interrupted: {self.last_model_path} holds the last complete epoch; continue with "
                f"--ckpt_path {self.last_model_path} (the interrupted epoch runs again from its start)"
            )
        else:
            rank_zero_info("Interrupted during the first epoch: no checkpoint to continue from")
