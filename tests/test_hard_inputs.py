"""Bad input from users: broken image files, foreign checkpoints and impossible settings."""

import csv
import errno
import io
import os
import urllib.error
import warnings
import zipfile
from contextlib import redirect_stderr
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image, ImageOps

from benchmarks.loops import TutorialMLP
from mnist_lit.checkpoint import AtomicCheckpointIO, read_checkpoint
from mnist_lit.cli import main, run
from mnist_lit.errors import UserError
from tests.conftest import CONFIG, QUIET, best_checkpoint, draw_digit, fit_args

Rows = tuple[list[dict[str, str]], str, int]
ODD_NAMES = ["with space.png", "comma,name.png", 'quote"name.png', "ünïcødé.png", "new\nline.png"]


def photo(digit: int, size: int = 120) -> Image.Image:
    return ImageOps.invert(draw_digit(digit, size))


@pytest.fixture(scope="module")
def hard_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of everything a phone or shared drive might hand ``predict``."""
    root = tmp_path_factory.mktemp("hard")
    photo(3).save(root / "good.png")
    (root / "empty.png").write_bytes(b"")
    (root / "truncated.png").write_bytes((root / "good.png").read_bytes()[:200])
    (root / "text.jpg").write_text("this is not a picture")
    Image.new("RGB", (50, 50), (200, 200, 200)).save(root / "blank.png")
    (root / "folder.png").mkdir()
    photo(7).save(root / "folder.png" / "inside.png")
    Image.new("1", (10_000, 10_000)).save(root / "bomb.png")  # 100 megapixels: over Pillow's limit
    photo(4).convert("CMYK").save(root / "cmyk.jpg")
    photo(1).convert("1").save(root / "one_bit.png")
    palette = photo(5).convert("RGBA")
    palette.putalpha(ImageOps.invert(draw_digit(5, 120)).point(lambda v: 255 - v))
    palette.convert("P").save(root / "palette.png", transparency=0)
    frames = [photo(2).convert("P"), photo(8).convert("P")]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:])
    frames[0].save(root / "first_frame.png")
    for name in ODD_NAMES:
        photo(6).save(root / name)
    (root / "a" / "b").mkdir(parents=True)
    photo(9).save(root / "a" / "b" / "deep.png")
    os.symlink("..", root / "a" / "loop")  # points back at its parent: must not be walked forever
    (root / "notes.txt").write_text("skipped")
    os.mkfifo(root / "pipe.png")  # opening it would wait forever for a writer
    (root / "README").write_text("skipped")
    return root


@pytest.fixture(scope="module")
def hard_rows(
    hard_folder: Path, trained: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[dict], str, int]:
    output = tmp_path_factory.mktemp("out") / "predictions.csv"
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    args = ["predict", "--config", CONFIG, f"--ckpt_path={ckpt}", f"--data.predict_dir={hard_folder}"]
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        patch.chdir(trained)
        patch.setattr("sys.argv", ["mnist-lit"])
        main([*args, f"--predictions.output={output}", *QUIET])
    with output.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return rows, stderr.getvalue(), exit_info.value.code


def test_every_image_file_gets_exactly_one_row_in_path_order(hard_rows: Rows) -> None:
    rows, _, _ = hard_rows
    assert [row["path"] for row in rows] == sorted([
        "a/b/deep.png", "animated.gif", "blank.png", "bomb.png", "cmyk.jpg", "empty.png", "first_frame.png",
        "folder.png/inside.png", "good.png", "one_bit.png", "palette.png", "text.jpg", "truncated.png", *ODD_NAMES,
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("empty.png", "UnidentifiedImageError"),
        ("truncated.png", "OSError"),
        ("text.jpg", "UnidentifiedImageError"),
        ("bomb.png", "DecompressionBomb"),
        ("blank.png", "BlankImageError: no ink found"),
    ],
)
def test_unreadable_files_get_an_empty_digit_and_say_why(hard_rows: Rows, path: str, error: str) -> None:
    (row,) = [row for row in hard_rows[0] if row["path"] == path]
    assert row["digit"] == "" and row["confidence"] == ""
    assert row["error"].startswith(error)


@pytest.mark.parametrize(
    "path", ["cmyk.jpg", "one_bit.png", "palette.png", "animated.gif", "folder.png/inside.png", *ODD_NAMES]
)
def test_every_readable_file_is_predicted(hard_rows: Rows, path: str) -> None:
    (row,) = [row for row in hard_rows[0] if row["path"] == path]
    assert row["error"] == ""
    assert row["digit"] in list("0123456789")


def test_an_animated_gif_is_read_from_its_first_frame(hard_rows: Rows) -> None:
    by_path = {row["path"]: row for row in hard_rows[0]}
    probs = [f"prob_{digit}" for digit in range(10)]
    assert [by_path["animated.gif"][p] for p in probs] == [by_path["first_frame.png"][p] for p in probs]


def test_failures_end_in_a_summary_and_a_non_zero_status(hard_rows: Rows) -> None:
    _, stderr, code = hard_rows
    assert code == 2
    assert "13 predicted, 5 failed, 3 non-image files skipped" in stderr
    assert "Traceback" not in stderr


def test_a_pickled_payload_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple:
            return (Path.touch, (marker,))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(UserError, match="pickled Python objects"):
        read_checkpoint(path)
    assert not marker.exists()


def test_a_checkpoint_of_another_network_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.ckpt"
    torch.save({"state_dict": {"net.fc1.weight": torch.zeros(256, 784)}, "pytorch-lightning_version": "2.6"}, path)
    with pytest.raises(UserError, match="holds a different network"):
        read_checkpoint(path)


def test_a_checkpoint_with_extra_weights_is_refused(trained: Path, tmp_path: Path) -> None:
    checkpoint = torch.load(best_checkpoint(trained / "checkpoints" / "default" / "version_0"), weights_only=True)
    checkpoint["state_dict"]["extra.weight"] = torch.zeros(3)
    torch.save(checkpoint, tmp_path / "extra.ckpt")
    with pytest.raises(UserError, match="holds a different network"):
        read_checkpoint(tmp_path / "extra.ckpt")


def test_a_dict_with_no_lightning_keys_and_no_tensors_is_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "bare.ckpt")
    with pytest.raises(UserError, match="is neither a Lightning checkpoint nor a state dict"):
        read_checkpoint(tmp_path / "bare.ckpt")


def test_resuming_from_a_weights_only_checkpoint_is_refused(trained: Path, tmp_path: Path) -> None:
    checkpoint = torch.load(best_checkpoint(trained / "checkpoints" / "default" / "version_0"), weights_only=True)
    del checkpoint["optimizer_states"]
    torch.save(checkpoint, tmp_path / "weights.ckpt")
    assert read_checkpoint(tmp_path / "weights.ckpt").lightning  # fine for test and predict
    with pytest.raises(UserError, match="holds weights only"):
        read_checkpoint(tmp_path / "weights.ckpt", resume=True)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.ckpt"
    path.write_text("hello")
    with pytest.raises(UserError, match="is not a PyTorch checkpoint"):
        read_checkpoint(path)


def test_a_checkpoint_saved_on_a_gpu_loads_on_a_cpu(trained: Path, tiny_mnist: Path, tmp_path: Path) -> None:
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    # Mark every tensor as stored on cuda:0, as a checkpoint written on a GPU machine is.
    gpu_ckpt = tmp_path / "gpu.ckpt"
    with zipfile.ZipFile(ckpt) as source, zipfile.ZipFile(gpu_ckpt, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("data.pkl"):
                assert b"X\x03\x00\x00\x00cpu" in data  # pickle protocol 2: BINUNICODE, 4-byte length
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            target.writestr(item, data)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(gpu_ckpt, weights_only=True)  # as saved: needs a GPU without a map_location

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(trained)
        args = ["test", "--config", CONFIG, f"--data.data_dir={tiny_mnist}", *QUIET]
        on_cpu = run([*args, f"--ckpt_path={gpu_ckpt}"]).trainer.callback_metrics["test/acc"]
        original = run([*args, f"--ckpt_path={ckpt}"]).trainer.callback_metrics["test/acc"]
    assert float(on_cpu) == float(original)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "--model.lr=-0.1",
            'Parser key "model.lr": Not of type FinitePositiveFloat: -0.1 does not conform to restriction v>0',
        ),
        ("--model.lr=0", 'Parser key "model.lr": Not of type FinitePositiveFloat: 0 does not conform to restriction'),
        ("--model.lr=inf", 'Parser key "model.lr": Not of type FinitePositiveFloat: inf does not conform'),
        ("--model.lr=nan", 'Parser key "model.lr": Not of type FinitePositiveFloat: nan does not conform'),
        ("--model.momentum=5", 'Parser key "model.momentum": Not of type ZeroToBelowOne: 5 does not conform'),
        ("--seed_everything=99999999999", "seed_everything must be a whole number from 0 to 4294967295"),
        ("--seed_everything=-1", "seed_everything must be a whole number from 0 to 4294967295"),
        ("--data.split_seed=-1", 'Parser key "data.split_seed": Not of type Seed: -1 does not conform'),
        ("--data.augment_degrees=1000", 'Parser key "data.augment_degrees": Not of type Degrees: 1000 does not'),
        ("--data.batch_size=0", 'Parser key "data.batch_size": Not of type PositiveInt: 0 does not conform'),
        ("--data.batch_size=-64", 'Parser key "data.batch_size": Not of type PositiveInt: -64 does not conform'),
        ("--trainer.max_epochs=0", "trainer.max_epochs must be a whole number of at least 1, got 0"),
        ("--trainer.max_epochs=-3", "trainer.max_epochs must be a whole number of at least 1, got -3"),
        ("--data.val_size=400", "val_size=400 leaves no training images: MNIST has 400; set --data.val_size between 1"),
        ("--model.colour=blue", "unrecognized arguments: --model.colour=blue"),
        ("--model.dropout=1.5", 'Parser key "model.dropout": Not of type ZeroToBelowOne: 1.5 does not conform'),
        ("--model.dropout=1", 'Parser key "model.dropout": Not of type ZeroToBelowOne: 1 does not conform'),
        ("--checkpoint.monitor=val/nope", "checkpoint.monitor 'val/nope' is not a logged metric: use one of val/acc,"),
        ("--trainer.precision=16-true", "trainer.precision '16-true' is not one this model runs in: use one of 32,"),
        ("--trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch must be at least 1, got 0"),
        ("--trainer.devices=-2", "cannot set up the trainer: `devices` selected with `CPUAccelerator` should be an"),
        ("--data.val_size=0", 'Parser key "data.val_size": Not of type PositiveInt: 0 does not conform'),
        ("--report.mistakes=10000", 'Parser key "report.mistakes": Not of type MistakeCount: 10000 does not conform'),
        ("--trainer.accelerator=gpu", "No supported gpu backend found!"),
        ("--trainer.logger.init_args.version=0", "run folder 'checkpoints/default/version_0' exists already"),
    ],
)
def test_impossible_settings_fail_before_any_work_with_one_line(
    tiny_mnist: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints" / "default" / "version_0").mkdir(parents=True)  # an earlier run's folder
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", CONFIG, f"--data.data_dir={tiny_mnist}", *QUIET, setting])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 or "Seed set" in error[0]
    assert error[-1].startswith(f"error: {message}")
    assert not list(tmp_path.rglob("*.ckpt"))


def test_a_second_run_with_the_logger_off_is_refused_before_it_overwrites_the_first(
    tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", CONFIG, f"--data.data_dir={tiny_mnist}", "--data.val_size=100", *QUIET]
    main([*args, "--trainer.max_epochs=1", "--trainer.logger=false"])
    first_last = (tmp_path / "checkpoints" / "last.ckpt").read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--trainer.max_epochs=2", "--trainer.logger=false"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(
        "error: with trainer.logger false, runs write straight into '.', which holds an earlier run's config.yaml"
    )
    assert (tmp_path / "checkpoints" / "last.ckpt").read_bytes() == first_last


def test_predict_on_two_processes_is_refused_before_they_start(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    draw_digit(4, 28).save(tmp_path / "4.png")
    monkeypatch.chdir(tmp_path)
    two_processes = ["--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--config", CONFIG, f"--ckpt_path={ckpt}", f"--data.predict_dir={tmp_path}", *two_processes])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: predict writes one CSV from one process")


def test_bad_settings_stored_in_a_checkpoint_are_blamed_on_the_checkpoint(
    trained: Path, tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = torch.load(best_checkpoint(trained / "checkpoints" / "default" / "version_0"), weights_only=True)
    checkpoint["hyper_parameters"]["lr"] = -1.0
    torch.save(checkpoint, tmp_path / "edited.ckpt")
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--config", CONFIG, f"--data.data_dir={tiny_mnist}", f"--ckpt_path={tmp_path / 'edited.ckpt'}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(
        f"error: checkpoint {str(tmp_path / 'edited.ckpt')!r} stores model settings this version cannot use: "
        'Parser key "model.lr"'
    )


def test_settings_a_checkpoint_replaces_are_named(
    trained: Path, tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints" / "default" / "version_0").mkdir(parents=True)  # not the checkpoint's own folder
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(["test", "--config", CONFIG, f"--data.data_dir={tiny_mnist}", f"--ckpt_path={ckpt}", *QUIET])
    assert "Model settings from the checkpoint replace the config's: lr=0.1 (not 0.01), momentum=0.9 (not 0.0)" in (
        caplog.text
    )
    assert not [warning for warning in caught if "dirpath has changed" in str(warning.message)]


def test_a_failed_download_leaves_no_empty_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", offline)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", CONFIG, "--data.data_dir=typo", *QUIET])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(
        "error: MNIST is not in 'typo/MNIST/raw' (missing: train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) and could not be downloaded"
    )
    assert not (tmp_path / "typo").exists()


def one_error_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run the command line ``args``, which must fail with status 2, and return its one error line."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    return errors[0]


def test_resuming_a_run_that_has_trained_max_epochs_says_to_raise_them(
    trained: Path, tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    last = trained / "checkpoints" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    monkeypatch.chdir(tmp_path)
    error = one_error_line(capsys, [*fit_args(tiny_mnist), f"--ckpt_path={last}"])
    assert error == (
        f"error: checkpoint '{last}' has trained 15 epochs already and trainer.max_epochs is 15: "
        "pass --trainer.max_epochs above 15 to train it further"
    )
    assert not (tmp_path / "checkpoints").exists()  # no empty run folder left behind


def test_a_checkpoint_folder_holding_an_earlier_runs_checkpoints_is_refused(
    tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "last.ckpt").write_bytes(b"an earlier run's checkpoint")
    error = one_error_line(capsys, [*fit_args(tiny_mnist), "--checkpoint.dirpath=kept"])
    assert error.startswith("error: checkpoint.dirpath 'kept' holds an earlier run's checkpoints")
    assert (tmp_path / "kept" / "last.ckpt").read_bytes() == b"an earlier run's checkpoint"


def full_disk(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullDiskCSV:
    """A CSV writer on a disk that fills up after the header row."""

    def __init__(self, file: object, **kwargs: object) -> None:
        pass

    def writerow(self, row: list[object]) -> None:
        pass

    def writerows(self, rows: list[list[object]]) -> None:
        full_disk()


def test_a_full_disk_while_predicting_keeps_the_earlier_csv_and_says_so(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "photos").mkdir()
    photo(7).save(tmp_path / "photos" / "seven.png")
    output = tmp_path / "predictions.csv"
    output.write_text("an earlier run's predictions")
    monkeypatch.chdir(tmp_path)  # the run's folder goes here
    monkeypatch.setattr(csv, "writer", FullDiskCSV)
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    args = ["predict", "--config", CONFIG, f"--ckpt_path={ckpt}", f"--data.predict_dir={tmp_path / 'photos'}"]
    error = one_error_line(
        capsys,
        [*args, f"--predictions.output={output}", "--predictions.overwrite=true", "--data.num_workers=0", *QUIET],
    )
    assert error == f"error: cannot write predictions to '{output}': No space left on device"
    assert output.read_text() == "an earlier run's predictions"
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("suffix", [".pth", ".pt2"])
def test_a_full_disk_while_exporting_keeps_the_earlier_file_and_says_so(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    output = tmp_path / f"model{suffix}"
    output.write_bytes(b"an earlier export")
    monkeypatch.setattr(Path, "write_bytes", full_disk)
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    error = one_error_line(capsys, ["export", f"--ckpt_path={ckpt}", f"--output={output}", "--overwrite=true"])
    assert error == f"error: cannot write '{output}': No space left on device"
    assert output.read_bytes() == b"an earlier export"
    assert sorted(path.name for path in tmp_path.iterdir()) == [output.name]


def test_exporting_under_a_file_says_the_file_is_in_the_way(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    error = one_error_line(capsys, ["export", f"--ckpt_path={ckpt}", f"--output={tmp_path / 'notes.txt' / 'm.pth'}"])
    assert error.startswith(f"error: cannot write '{tmp_path / 'notes.txt' / 'm.pth'}': ")
    assert ".partial" not in error


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_earlier_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "last.ckpt"
    target.write_bytes(b"the last complete epoch")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(UserError, match=r"cannot write checkpoint .*last\.ckpt.*: No space left on device"):
        AtomicCheckpointIO().save_checkpoint({"epoch": 3}, target)
    assert target.read_bytes() == b"the last complete epoch"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_config_file_that_is_not_utf8_gets_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("model:\n  lr: 0.01  # caf\u00e9\n".encode("latin-1"))
    error = one_error_line(capsys, ["fit", "--config", str(config)])
    assert error.startswith("error: a config file is not UTF-8 text (invalid")


def test_mnist_files_whose_image_and_label_counts_differ_are_named(
    tiny_mnist: Path, trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "mixed" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (raw / name).write_bytes((tiny_mnist / "MNIST" / "raw" / name).read_bytes())
    (raw / "t10k-labels-idx1-ubyte").write_bytes(
        (tiny_mnist / "MNIST" / "raw" / "train-labels-idx1-ubyte").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    error = one_error_line(
        capsys, ["test", "--config", CONFIG, f"--data.data_dir={tmp_path / 'mixed'}", f"--ckpt_path={ckpt}", *QUIET]
    )
    assert error.endswith(
        "is inconsistent: t10k-images-idx3-ubyte holds 100 images but t10k-labels-idx1-ubyte 400 labels. "
        "Put the original files back."
    )


def test_a_checkpoint_path_that_is_a_pipe_is_named_as_one(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.ckpt")
    with pytest.raises(UserError, match=r"'.*pipe\.ckpt' is not a regular file"):
        read_checkpoint(tmp_path / "pipe.ckpt")


def test_a_pickled_checkpoint_is_refused_without_a_warning_first(tmp_path: Path) -> None:
    torch.save({"state_dict": {}, "pytorch-lightning_version": "2.6", "note": Path("x")}, tmp_path / "pickled.ckpt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UserError, match="holds pickled Python objects"):
            read_checkpoint(tmp_path / "pickled.ckpt")
    assert [str(warning.message) for warning in caught] == []


def test_ctrl_c_outside_the_trainer_ends_in_one_line_and_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("mnist_lit.cli.run", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", CONFIG])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "error: interrupted\n"


def test_predicting_over_an_existing_csv_is_refused_unless_told_to_overwrite(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "photos").mkdir()
    photo(7).save(tmp_path / "photos" / "seven.png")
    output = tmp_path / "predictions.csv"
    output.write_text("an earlier run's predictions")
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    args = ["predict", "--config", CONFIG, f"--ckpt_path={ckpt}", f"--data.predict_dir={tmp_path / 'photos'}", *QUIET]
    error = one_error_line(capsys, [*args, f"--predictions.output={output}"])
    assert error == (
        f"error: --predictions.output '{output}' exists already: pass another file name, "
        "or --predictions.overwrite true to replace it"
    )
    assert output.read_text() == "an earlier run's predictions"
    main([*args, f"--predictions.output={output}", "--predictions.overwrite=true"])
    assert output.read_text().splitlines()[1].startswith("seven.png,7,")


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ("model: 5\n", "error: model in the config must be a mapping of settings, not 5: see --print_config"),
        ("trainer: 5\n", "error: trainer in the config must be a mapping of settings, not 5: see --print_config"),
        ("model: null\n", "error: model in the config must be a mapping of settings, not None: see --print_config"),
        (
            "model:\n  lr: null\n",
            "error: model.lr is null in the config, and it needs a value: remove the line to get its default, 0.01",
        ),
        (
            "trainer:\n  limit_train_batches: 0\n",
            "error: trainer.limit_train_batches is 0, so fit would train nothing: leave it unset, or above 0",
        ),
    ],
    ids=["section a number", "trainer a number", "null section", "null lr", "no training batches"],
)
def test_a_config_file_with_impossible_values_gets_one_line(
    tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, error: str
) -> None:
    (tmp_path / "bad.yaml").write_text(config)
    args = ["fit", "--config", CONFIG, *QUIET, f"--data.data_dir={tiny_mnist}", "--data.val_size=100"]
    assert one_error_line(capsys, [*args, "--config", str(tmp_path / "bad.yaml")]) == error
    assert not (tmp_path / "checkpoints").exists()


def test_an_unknown_accelerator_gets_lightnings_one_line(tiny_mnist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    error = one_error_line(capsys, [*fit_args(tiny_mnist), "--trainer.accelerator=tpuz"])
    assert error.startswith("error: cannot set up the trainer: You selected an invalid accelerator name: `accelerator=")


def test_a_diverging_fit_stops_with_one_line_and_saves_no_checkpoint(
    tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = one_error_line(capsys, [*fit_args(tiny_mnist), "--model.lr=1e6"])
    assert error == (
        "error: training diverged in epoch 0: the weights are no longer finite numbers. "
        "Lower --model.lr (now 1000000.0); any checkpoints of earlier epochs are kept"
    )
    assert not (tmp_path / "checkpoints" / "default").exists()  # the run folder held nothing else: removed


def test_a_checkpoint_with_weights_that_are_not_finite_is_refused(tmp_path: Path) -> None:
    state = TutorialMLP().state_dict()
    state["fc2.bias"][3] = float("nan")
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(UserError, match=r"'.*nan\.pth' holds weights that are not finite numbers \(fc2\.bias has NaN"):
        read_checkpoint(tmp_path / "nan.pth")


@pytest.mark.parametrize("name", ["a.npy", "model.onnx"])
def test_a_file_that_is_no_checkpoint_is_not_called_pickled(tmp_path: Path, name: str) -> None:
    content = {"a.npy": b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'}", "model.onnx": b"\x08\x07\x12\x07pytorch"}[name]
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError, match=rf"'.*{name}' is not a PyTorch checkpoint: pass --ckpt_path"):
        read_checkpoint(tmp_path / name)


def test_a_training_scripts_model_state_dict_wrapper_is_taken(tmp_path: Path) -> None:
    state = TutorialMLP().state_dict()
    torch.save({"model_state_dict": state, "epoch": 3}, tmp_path / "wrapped.pth")
    checkpoint = read_checkpoint(tmp_path / "wrapped.pth")
    assert not checkpoint.lightning
    assert torch.equal(checkpoint.net_state["fc1.weight"], state["fc1.weight"])


@pytest.mark.parametrize(
    ("content", "problem"), [("", "is empty"), ("- 1\n- 2\n", "holds a list, not settings")], ids=["empty", "list"]
)
def test_a_config_file_that_holds_no_settings_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, problem: str
) -> None:
    (tmp_path / "odd.yaml").write_text(content)
    error = one_error_line(capsys, ["fit", "--config", "odd.yaml"])
    assert error == f"error: config file 'odd.yaml' {problem}: it should map settings to values, as configs/ does"


def test_an_unknown_subcommand_lists_export_among_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    error = one_error_line(capsys, ["bogus"])
    assert "invalid choice: 'bogus' (choose from 'fit', 'validate', 'test', 'predict', 'export')" in error


def test_no_subcommand_lists_export_among_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    error = one_error_line(capsys, [])
    assert 'expected "subcommand" to be one of {fit,validate,test,predict,export}' in error
