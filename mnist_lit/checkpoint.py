"""Checkpoint files: written atomically, and checked before Lightning reads one."""

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info

from mnist_lit.errors import UserError
from mnist_lit.system import DigitClassifier


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load ``path`` with ``weights_only=True`` and check it is a checkpoint of this project's model.

    Raises:
        UserError: the file is missing, is not a checkpoint, carries pickled Python objects, or
            holds the weights of another network.
    """
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise UserError(f"checkpoint {str(path)!r} {problem}: pass --ckpt_path the .ckpt file a fit run wrote")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UserError(
            f"checkpoint {str(path)!r} holds pickled Python objects, not just weights; "
            "refusing to load it, since unpickling can run arbitrary code"
        ) from error
    except Exception as error:  # torch.load raises many types for files that are not checkpoints
        raise UserError(f"{str(path)!r} is not a PyTorch checkpoint ({type(error).__name__})") from error

    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"{str(path)!r} is not a Lightning checkpoint: it has no state_dict")
    expected = {name: tuple(tensor.shape) for name, tensor in DigitClassifier().state_dict().items()}
    found = {
        name: tuple(tensor.shape)
        for name, tensor in checkpoint["state_dict"].items()
        if isinstance(tensor, torch.Tensor)
    }
    if any(found.get(name) != shape for name, shape in expected.items() if name.startswith("net.")):
        raise UserError(
            f"checkpoint {str(path)!r} holds a different network; this project's has layers "
            "net.fc1 (784->128), net.fc2 (128->64), net.fc3 (64->10)"
        )
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside its target, then renames it into place.

    A rename within one folder is atomic, so a run killed at any moment, SIGKILL included,
    leaves either the previous checkpoint or the new one under the name, never half of one.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        with partial.open("wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)


class BestAndLastCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, with a ``last.ckpt`` that follows every epoch and Ctrl-C.

    Since Lightning 2.6, ``save_last`` writes ``last.ckpt`` only when a best checkpoint is saved at
    the same step, so after an epoch that did not improve, ``last.ckpt`` would be stale and a
    resumed run would repeat epochs. Here it is rewritten at the end of every training epoch, and
    when Ctrl-C stops ``fit``.
    """

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self.save_last and self.dirpath and not trainer.fast_dev_run:
            self._save_last(trainer)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        if isinstance(exception, KeyboardInterrupt) and self.save_last and self.dirpath and not trainer.sanity_checking:
            path = self._save_last(trainer)
            rank_zero_info(f"Interrupted: saved {path}; continue with --ckpt_path {path}")

    def _save_last(self, trainer: Trainer) -> Path:
        path = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
        trainer.save_checkpoint(path, weights_only=False)  # the whole training state, to resume from
        self.last_model_path = str(path)
        return path
