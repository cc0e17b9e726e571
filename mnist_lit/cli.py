"""The command line: LightningCLI with its fit, validate, test and predict subcommands, and export."""

import contextlib
import inspect
import itertools
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ArgumentError, Namespace
from lightning.fabric.utilities.seed import max_seed_value, min_seed_value
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from mnist_lit import export
from mnist_lit.checkpoint import BestAndLastCheckpoint, Checkpoint, read_checkpoint
from mnist_lit.data import MNISTDataModule
from mnist_lit.errors import UserError
from mnist_lit.report import TestReport
from mnist_lit.system import DigitClassifier
from mnist_lit.writer import CSVPredictionWriter

SEED = 42

TRAINER_DEFAULTS = {
    "accelerator": "auto",
    "plugins": [{"class_path": "mnist_lit.checkpoint.AtomicCheckpointIO"}],
    "logger": {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": "checkpoints", "name": "mnist"},
    },
}


class MNISTCLI(LightningCLI):
    """LightningCLI with a best-and-last checkpoint callback, a CSV prediction writer, a test
    report, checkpoints checked before use, and the tutorial's state dicts accepted as checkpoints."""

    checkpoint: Checkpoint | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(*args, **kwargs)  # parses the command line and runs the subcommand
        except BaseException:
            self._remove_empty_run_folder()
            raise

    def _remove_empty_run_folder(self) -> None:
        """A run that failed before it wrote anything but its settings leaves no folder behind."""
        trainer = getattr(self, "trainer", None)
        log_dir = getattr(trainer.logger, "log_dir", None) if trainer is not None else None
        if log_dir is None or not Path(log_dir).is_dir() or Path(log_dir).resolve() == Path.cwd().resolve():
            return
        run_folder = Path(log_dir)
        files = [path for path in run_folder.rglob("*") if not path.is_dir()]
        if all(path.name in RUN_SETTINGS_FILES for path in files):
            shutil.rmtree(run_folder, ignore_errors=True)
            with contextlib.suppress(OSError):  # the name folder, when this was its only run
                run_folder.parent.rmdir()

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(BestAndLastCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best-epoch={epoch:02d}-val_acc={val/acc:.4f}",
                "checkpoint.auto_insert_metric_name": False,
                "checkpoint.save_last": True,
            }
        )
        parser.add_lightning_class_args(CSVPredictionWriter, "predictions")
        parser.add_lightning_class_args(TestReport, "report")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        config = self.config.get(subcommand or "")
        if not isinstance(config, Namespace):
            return  # --help, --print_config and the like
        seed = config.get("seed_everything")
        if isinstance(seed, int) and not isinstance(seed, bool) and not min_seed_value <= seed <= max_seed_value:
            raise UserError(
                f"seed_everything must be a whole number from {min_seed_value} to {max_seed_value}, "
                f"or true for a random one; got {seed}"
            )
        if config.get("ckpt_path"):
            path = Path(config.ckpt_path)
            self.checkpoint = read_checkpoint(path, resume=subcommand == "fit")
            self._check_stored_settings(parser, path)

    def _check_stored_settings(self, parser: LightningArgumentParser, path: Path) -> None:
        """LightningCLI rebuilds the model from the settings a checkpoint stores, over the config's.
        Check those settings first, to name the checkpoint if they are bad, and say what they replace."""
        stored = {name: value for name, value in self.checkpoint.hyper_parameters.items() if name != "_instantiator"}
        if not stored:
            return
        subcommand = self.config.subcommand
        try:
            merged = parser.parse_object({subcommand: {"model": stored}}, self.config.clone())
        except ArgumentError as error:
            reason = " ".join(str(error).split())
            raise UserError(
                f"checkpoint {str(path)!r} stores model settings this version cannot use: {reason}"
            ) from error
        given, used = self.config[subcommand].model, merged[subcommand].model
        replaced = [
            f"{name}={value} (not {given.get(name)})" for name, value in used.items() if given.get(name) != value
        ]
        if replaced:
            rank_zero_info(f"Model settings from the checkpoint replace the config's: {', '.join(replaced)}")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        _check_sections(config)
        max_epochs = config.trainer.max_epochs
        monitor = config.checkpoint.monitor
        if self.subcommand == "fit" and monitor is not None and monitor not in MONITORABLE:
            raise UserError(
                f"checkpoint.monitor {monitor!r} is not a logged metric: use one of {', '.join(MONITORABLE)}"
            )
        precision = config.trainer.precision
        if precision is not None and str(precision) not in PRECISIONS:
            raise UserError(
                f"trainer.precision {precision!r} is not one this model runs in: use one of {', '.join(PRECISIONS)}"
            )
        every = config.trainer.check_val_every_n_epoch
        if isinstance(every, int) and every < 1:
            raise UserError(f"trainer.check_val_every_n_epoch must be at least 1, got {every}")
        if self.subcommand == "fit" and config.trainer.limit_train_batches == 0:
            raise UserError("trainer.limit_train_batches is 0, so fit would train nothing: leave it unset, or above 0")
        if max_epochs is not None and max_epochs < 1:
            raise UserError(f"trainer.max_epochs must be a whole number of at least 1, got {max_epochs}")
        if self.subcommand != "fit" and not config.ckpt_path:
            raise UserError(
                f"{self.subcommand} needs a trained model: pass --ckpt_path with a .ckpt file that fit wrote, "
                "or a .pth state dict saved the tutorial's way"
            )
        _refuse_existing_run_folder(config.trainer.logger)
        if self.subcommand == "fit":
            self._refuse_finished_checkpoint(max_epochs)
            _refuse_used_checkpoint_folder(config.checkpoint.dirpath, config.ckpt_path)
        root = Path(config.trainer.default_root_dir or ".")
        if config.trainer.logger is False and (root / "config.yaml").exists():
            raise UserError(
                f"with trainer.logger false, runs write straight into {str(root)!r}, which holds an earlier run's "
                "config.yaml: pass --trainer.default_root_dir with a new folder, or leave the logger on"
            )
        if self.subcommand != "fit":  # checkpoint-callback state in the checkpoint is of no use here
            warnings.filterwarnings("ignore", message="The dirpath has changed from")
        if self.checkpoint is not None and not self.checkpoint.lightning:
            config.ckpt_path = None  # the Trainer reads only its own format: the weights go in below
        if self.subcommand == "predict" and config.return_predictions is None:
            config.return_predictions = False  # the writer streams rows; holding them all would grow with the folder

    def _refuse_finished_checkpoint(self, max_epochs: int | None) -> None:
        """Resuming a checkpoint that has trained max_epochs already would train nothing."""
        if self.checkpoint is None or max_epochs is None or self.checkpoint.epochs_trained < max_epochs:
            return
        trained = self.checkpoint.epochs_trained
        raise UserError(
            f"checkpoint {self.config.fit.ckpt_path!r} has trained {trained} epochs already and "
            f"trainer.max_epochs is {max_epochs}: pass --trainer.max_epochs above {trained} to train it further"
        )

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, ImportError) as error:  # the Trainer refusing a setting, e.g. devices
            raise UserError(f"cannot set up the trainer: {' '.join(str(error).split())}") from error
        if self.checkpoint is not None and not self.checkpoint.lightning:
            self.model.net.load_state_dict(self.checkpoint.net_state)

    def before_predict(self) -> None:
        if self.trainer.world_size > 1:  # refused before Lightning starts the other processes
            raise UserError(
                "predict writes one CSV from one process: run it without --trainer.devices/--trainer.strategy"
            )

    def after_validate(self) -> None:
        self._say_where_metrics_went()

    def after_test(self) -> None:
        report = next(callback for callback in self.trainer.callbacks if isinstance(callback, TestReport))
        for path in report.paths:
            rank_zero_info(f"Wrote {path}")
        self._say_where_metrics_went()

    def _say_where_metrics_went(self) -> None:
        logger = self.trainer.logger
        if isinstance(logger, CSVLogger):  # the Trainer has saved its rows already, at its teardown
            rank_zero_info(f"Metrics: {logger.experiment.metrics_file_path}")

    def after_predict(self) -> None:
        writer = next(callback for callback in self.trainer.callbacks if isinstance(callback, CSVPredictionWriter))
        skipped = self.datamodule.predict_set.skipped
        summary = f"{writer.predicted} predicted, {writer.failed} failed, {skipped} non-image files skipped"
        if writer.failed:
            raise UserError(f"{summary}; the error column of {writer.output} says why each failed")
        rank_zero_info(summary)

    def after_fit(self) -> None:
        callback = self.trainer.checkpoint_callback
        if isinstance(callback, ModelCheckpoint) and callback.best_model_path and callback.best_model_score is not None:
            rank_zero_info(
                f"Best checkpoint ({callback.monitor} {float(callback.best_model_score):.4f}): "
                f"{callback.best_model_path}"
            )
        if isinstance(callback, ModelCheckpoint) and callback.last_model_path:
            rank_zero_info(f"Last checkpoint: {callback.last_model_path}")
        self._draw_curves()

    def _draw_curves(self) -> None:
        """Draw the per-epoch curves from the CSV logger's metrics, which the Trainer's teardown saved."""
        logger = self.trainer.logger
        if not self.trainer.is_global_zero or not isinstance(logger, CSVLogger):
            return  # other loggers have their own viewers, TensorBoard's among them
        metrics_csv = Path(logger.experiment.metrics_file_path)
        if not metrics_csv.is_file():
            return
        from mnist_lit.plots import draw_curves  # matplotlib loads only when there is something to draw

        path = metrics_csv.with_name("curves.png")
        draw_curves(metrics_csv, path)
        rank_zero_info(f"Loss and accuracy per epoch: {path}")


PRECISIONS = ("32", "32-true", "16-mixed", "bf16-mixed")
"""Precisions the model runs in: its transform hands the net float32 pixels, which autocast can lower."""

MONITORABLE = ("val/acc", "val/loss", "train/acc", "train/loss")
"""The metrics fit logs every epoch, which the checkpoint callback can select by."""

RUN_SETTINGS_FILES = ("config.yaml", "hparams.yaml")
"""What a run folder holds before the run has done anything."""

SECTIONS = ("trainer", "model", "data", "checkpoint", "predictions", "report")
"""The config's groups of settings, each a mapping from setting to value."""


def _check_sections(config: Namespace) -> None:
    """A section set to a plain value, or a setting of ours set to null, would fail deep inside a
    class's construction; name it instead."""
    for section in SECTIONS:
        value = config.get(section)
        if not isinstance(value, Namespace):
            raise UserError(f"{section} in the config must be a mapping of settings, not {value!r}: see --print_config")
    for section, cls in (("model", DigitClassifier), ("data", MNISTDataModule)):
        for name, parameter in inspect.signature(cls).parameters.items():
            if parameter.default is not None and config[section].get(name, parameter.default) is None:
                raise UserError(
                    f"{section}.{name} is null in the config, and it needs a value: "
                    f"remove the line to get its default, {parameter.default!r}"
                )


def _check_config_files(command: list[str]) -> None:
    """jsonargparse says only "Unexpected config" of a config file that is empty or not a mapping;
    name the file instead."""
    paths = [value for flag, value in itertools.pairwise(command) if flag == "--config"]
    paths += [argument.removeprefix("--config=") for argument in command if argument.startswith("--config=")]
    for path in map(Path, paths):
        if not path.is_file():
            continue  # jsonargparse names a missing file itself
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue  # and says what is wrong with its syntax or encoding
        if not isinstance(content, dict):
            kind = "is empty" if content is None else f"holds a {type(content).__name__}, not settings"
            raise UserError(f"config file {str(path)!r} {kind}: it should map settings to values, as configs/ does")


def _refuse_used_checkpoint_folder(dirpath: str | None, ckpt_path: str | None) -> None:
    """A checkpoint folder that holds an earlier run's checkpoints would have them replaced."""
    if dirpath is None or not Path(dirpath).is_dir():
        return
    resuming_here = ckpt_path is not None and Path(ckpt_path).resolve().parent == Path(dirpath).resolve()
    if any(Path(dirpath).glob("*.ckpt")) and not resuming_here:
        raise UserError(
            f"checkpoint.dirpath {dirpath!r} holds an earlier run's checkpoints, which this run would replace: "
            "pass a new folder, or leave checkpoint.dirpath unset for one inside the run's folder"
        )


def _refuse_existing_run_folder(logger: object) -> None:
    """A logger told to write into an earlier run's folder would replace that run's metrics."""
    init_args = logger.get("init_args") if isinstance(logger, Namespace) else None
    if init_args is None or init_args.get("version") is None:
        return  # each run then gets a new version_<n> folder
    version = init_args.version if isinstance(init_args.version, str) else f"version_{init_args.version}"
    folder = Path(init_args.get("save_dir") or ".") / (init_args.get("name") or "") / version
    if folder.exists():
        raise UserError(
            f"run folder {str(folder)!r} exists already: leave trainer.logger's version unset for a new one"
        )


def run(args: ArgsType = None) -> MNISTCLI:
    """Parse ``args`` (the command line when None), run the subcommand, and return the CLI."""
    return MNISTCLI(
        DigitClassifier,
        MNISTDataModule,
        seed_everything_default=SEED,
        trainer_defaults=TRAINER_DEFAULTS,
        parser_kwargs={
            "exit_on_error": False,  # main() prints the error alone, not the whole usage
            "prog": "mnist-lit",
            "description": "Train, evaluate and use a 784-128-64-10 MNIST digit classifier. "
            "Also: `mnist-lit export --help`, to write a trained network as .onnx, .pt2 or .pth.",
        },
        args=args,
    )


def main(args: ArgsType = None) -> None:
    """Run the CLI; a user's mistake ends in one line on stderr and exit status 2."""
    command = sys.argv[1:] if args is None else args
    try:
        if isinstance(command, list):
            _check_config_files(command)
        if isinstance(command, list) and command[:1] == ["export"]:
            export.main(command[1:])
        else:
            run(args)
            # Lightning leaves the process group of a several-process run open; a process that
            # exits with it open can abort in PyTorch's teardown.
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except ArgumentError as error:
        message = " ".join(str(error).split())
        # export is ours, outside LightningCLI, which lists only its own subcommands
        message = message.replace("'test', 'predict')", "'test', 'predict', 'export')")
        message = message.replace("{fit,validate,test,predict}", "{fit,validate,test,predict,export}")
        print(f"error: {message} (see --help for every setting and its allowed values)", file=sys.stderr)
        sys.exit(2)
    except MisconfigurationException as error:  # Lightning's word for a trainer setting it cannot honour
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        if error.filename is None:
            raise
        print(f"error: cannot use {str(error.filename)!r}: {error.strerror}", file=sys.stderr)
        sys.exit(2)
    except UnicodeDecodeError as error:  # jsonargparse reads config files as UTF-8
        print(f"error: a config file is not UTF-8 text ({error.reason} at byte {error.start}): save it as UTF-8",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
