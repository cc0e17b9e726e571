"""The ``export`` subcommand: a trained network in a file that runs without this project.

    python -m mnist_lit export --ckpt_path CKPT --output FILE

The suffix of FILE picks the format:

- ``.onnx``: an ONNX graph for onnxruntime and other ONNX runtimes;
- ``.pt2``: a ``torch.export`` program, loaded with ``torch.export.load``;
- ``.pth``: the network's bare state dict, under the tutorial's keys ``fc1.weight`` ... ``fc3.bias``.

The ONNX graph and the ``torch.export`` program take float32 pixels of shape (N, 1, 28, 28), scaled
to [0, 1], white digit on black as in MNIST, and return logits of shape (N, 10); a checkpoint
trained with ``normalize`` carries its standardisation inside them. The ``.pth`` holds weights
only: feed it what the checkpoint was trained on.
"""

import contextlib
import io
import os
from pathlib import Path

import torch
from jsonargparse import ArgumentParser
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn

from mnist_lit.checkpoint import read_checkpoint
from mnist_lit.errors import UserError
from mnist_lit.net import IMAGE_SIZE, MLP
from mnist_lit.transform import PixelTransform

FORMATS = (".onnx", ".pt2", ".pth")
EXAMPLE_BATCH = 2  # any size but 1 lets torch.export see the batch dimension as free


class PixelsToLogits(nn.Module):
    """The network, behind the standardising half of the shared transform.

    Args:
        net: The trained MLP.
        normalize: Whether the network was trained on pixels standardised with MNIST's mean and std.
    """

    def __init__(self, net: MLP, normalize: bool) -> None:
        super().__init__()
        self.transform = PixelTransform(normalize)
        self.net = net

    def forward(self, pixels: Tensor) -> Tensor:
        """Logits of shape (N, 10) for float32 ``pixels`` in [0, 1] of shape (N, 1, 28, 28)."""
        return self.net(self.transform.standardize(pixels))


def export(ckpt_path: Path, output: Path, overwrite: bool = False) -> None:
    """Write the network of a checkpoint to a file in the format its suffix names.

    Args:
        ckpt_path: A checkpoint that fit wrote, or a tutorial-format .pth state dict.
        output: The file to write: .onnx (ONNX), .pt2 (torch.export) or .pth (state dict).
        overwrite: Replace ``output`` if it exists already; otherwise an existing file is refused.
    """
    ckpt_path, output = Path(ckpt_path), Path(output)
    suffix = output.suffix.lower()
    if suffix not in FORMATS or output.is_dir():
        raise UserError(f"--output {str(output)!r} must be a file ending in {', '.join(FORMATS)}")
    if output.exists() and not overwrite:
        raise UserError(
            f"--output {str(output)!r} exists already: pass another file name, or --overwrite true to replace it"
        )
    checkpoint = read_checkpoint(ckpt_path)
    net = MLP()
    net.load_state_dict(checkpoint.net_state)
    normalize = bool(checkpoint.hyper_parameters.get("normalize", False))
    model = PixelsToLogits(net, normalize).eval()

    # Write beside the target and rename, so a failed export leaves any earlier file whole.
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")  # torch.export wants its suffix
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".onnx":
            _save_onnx(model, partial)
        else:
            # Serialised in memory first: torch's own file writers abort or raise a bare
            # RuntimeError on a full disk or a folder they cannot write, where Python's say why.
            buffer = io.BytesIO()
            if suffix == ".pth":
                torch.save(net.state_dict(), buffer)
            else:
                torch.export.save(_export_program(model), buffer)
            partial.write_bytes(buffer.getbuffer())
        os.replace(partial, output)
    except FileExistsError as error:  # mkdir found a file where a folder of the path should be
        raise UserError(f"cannot write {str(output)!r}: {error.filename!r} is a file") from error
    except OSError as error:
        raise UserError(f"cannot write {str(output)!r}: {error.strerror}") from error
    finally:
        with contextlib.suppress(OSError):  # its folder may not exist, or be a file
            partial.unlink(missing_ok=True)

    if suffix == ".pth":
        inputs = "MNIST-standardised pixels" if normalize else "float pixels in [0, 1]"
        rank_zero_info(f"Wrote {output}: a state dict for the tutorial's model, which takes {inputs}")
    else:
        standardised = ", standardised inside" if normalize else ""
        rank_zero_info(
            f"Wrote {output}: input 'pixels', float32 (N, 1, 28, 28) in [0, 1], white on black{standardised}; "
            "output 'logits' (N, 10)"
        )


def _example_pixels() -> Tensor:
    return torch.rand(EXAMPLE_BATCH, 1, IMAGE_SIZE, IMAGE_SIZE)


def _export_program(model: PixelsToLogits) -> torch.export.ExportedProgram:
    batch = torch.export.Dim("batch")
    return torch.export.export(model, (_example_pixels(),), dynamic_shapes={"pixels": {0: batch}})


def _save_onnx(model: PixelsToLogits, path: Path) -> None:
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it, and says so less plainly)
    except ImportError as error:
        raise UserError("exporting to .onnx needs the onnx extra: pip install -e '.[onnx]'") from error
    program = torch.onnx.export(
        model,
        (_example_pixels(),),
        input_names=["pixels"],
        output_names=["logits"],
        dynamic_shapes={"pixels": {0: torch.export.Dim("batch")}},
        dynamo=True,
        verbose=False,
    )
    program.save(str(path))


def main(args: list[str] | None = None) -> None:
    """Parse the export subcommand's arguments (``--ckpt_path`` and ``--output``) and run it."""
    parser = ArgumentParser(
        prog="mnist-lit export",
        description="Write a trained network to a file that runs without this project: .onnx, .pt2 or .pth.",
        exit_on_error=False,
    )
    parser.add_function_arguments(export)
    config = parser.parse_args(args)
    export(config.ckpt_path, config.output, config.overwrite)
