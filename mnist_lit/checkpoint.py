"""Checks a checkpoint file before Lightning touches it, so a bad one gets a plain message."""

import pickle
from pathlib import Path
from typing import Any

import torch

from mnist_lit.errors import UserError
from mnist_lit.system import DigitClassifier


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load ``path`` with ``weights_only=True`` and check it is a checkpoint of this project's model.

    Raises:
        UserError: the file is missing, is not a checkpoint, carries pickled Python objects, or
            holds the weights of another network.
    """
    if not path.is_file():
        raise UserError(f"checkpoint {str(path)!r} does not exist: pass --ckpt_path the .ckpt file a fit run wrote")
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
