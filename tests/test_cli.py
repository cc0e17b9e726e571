"""The command line end to end, in-process, on the tiny MNIST the fixtures write."""

import csv
import shutil
from pathlib import Path

import pytest
import torch
from PIL import ImageOps

from mnist_lit.cli import main, run
from tests.conftest import CONFIG, QUIET, best_checkpoint, draw_digit, fit_args


def test_fit_writes_best_and_last_checkpoints_config_and_metrics(trained: Path) -> None:
    run_dir = trained / "checkpoints" / "default" / "version_0"
    assert best_checkpoint(run_dir).name.startswith("best-epoch=")
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 14  # the last of 15 epochs, whether or not it was the best
    assert (run_dir / "config.yaml").is_file()
    with (run_dir / "metrics.csv").open() as file:
        columns = set(next(csv.reader(file)))
    assert {"train/loss", "train/acc", "val/loss", "val/acc"} <= columns


def test_checkpoint_loads_with_weights_only_and_holds_only_plain_hyperparameters(trained: Path) -> None:
    checkpoint = torch.load(
        best_checkpoint(trained / "checkpoints" / "default" / "version_0"), weights_only=True, map_location="cpu"
    )
    assert checkpoint["hyper_parameters"] == {
        "lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0, "lr_schedule": "constant",
        "label_smoothing": 0.0, "dropout": 0.0, "normalize": False,
        "_instantiator": "lightning.pytorch.cli.instantiate_module",  # LightningCLI's own marker
    }  # fmt: skip


def test_fitting_twice_keeps_the_first_runs_checkpoints(
    trained: Path, tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "checkpoints" / "default"
    shutil.copytree(trained / "checkpoints" / "default" / "version_0", runs / "version_0")
    first_best = best_checkpoint(runs / "version_0")
    before = first_best.read_bytes()
    monkeypatch.chdir(tmp_path)
    run([*fit_args(tiny_mnist), "--trainer.max_epochs=1"])
    assert first_best.read_bytes() == before
    assert (runs / "version_1" / "checkpoints" / "last.ckpt").is_file()


def test_test_from_the_checkpoint_reports_the_same_accuracy_every_time(
    trained: Path, tiny_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(trained)
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    args = ["test", "--config", CONFIG, f"--data.data_dir={tiny_mnist}", f"--ckpt_path={ckpt}", *QUIET]
    accuracies = [float(run(args).trainer.callback_metrics["test/acc"]) for _ in range(2)]
    assert accuracies[0] == accuracies[1]
    assert accuracies[0] >= 0.9


def test_test_rebuilds_the_model_from_the_checkpoints_hyperparameters(
    trained: Path, tiny_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(trained)
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    cli = run(["test", "--config", CONFIG, f"--data.data_dir={tiny_mnist}", f"--ckpt_path={ckpt}", *QUIET])
    assert cli.model.hparams.lr == 0.1  # from the checkpoint, not the config's 0.01


def test_predict_writes_one_csv_row_per_image_in_path_order(
    trained: Path, tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    (photos / "nested").mkdir(parents=True)
    for digit in (3, 7):  # dark ink on white paper, as a photo would be
        ImageOps.invert(draw_digit(digit, 300)).save(photos / f"{digit}.png")
    draw_digit(1, 200).convert("RGB").save(photos / "nested" / "1.jpg")
    (photos / "notes.txt").write_text("not an image")
    output = tmp_path / "out" / "predictions.csv"

    monkeypatch.chdir(trained)
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    run([
        "predict", "--config", CONFIG, f"--ckpt_path={ckpt}", f"--data.predict_dir={photos}",
        f"--predictions.output={output}", *QUIET,
    ])  # fmt: skip

    with output.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["path", "digit", "confidence", *(f"prob_{d}" for d in range(10)), "error"]
    assert [row["path"] for row in rows] == ["3.png", "7.png", "nested/1.jpg"]
    assert [row["digit"] for row in rows] == ["3", "7", "1"]
    assert all(row["error"] == "" for row in rows)
    for row in rows:
        probs = [float(row[f"prob_{d}"]) for d in range(10)]
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert float(row["confidence"]) == max(probs)


def test_predict_without_output_writes_into_the_run_folder(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    ImageOps.invert(draw_digit(5, 100)).save(photos / "5.png")
    monkeypatch.chdir(trained)
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    cli = run(["predict", "--config", CONFIG, f"--ckpt_path={ckpt}", f"--data.predict_dir={photos}", *QUIET])
    output = Path(cli.trainer.log_dir) / "predictions.csv"
    assert output.is_file()
    assert f"written to {output}" in caplog.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["test", "--ckpt_path=missing.ckpt"], "checkpoint 'missing.ckpt' does not exist"),
        (["predict", "--ckpt_path={ckpt}"], "predict needs a folder of images"),
        (["predict", "--ckpt_path={ckpt}", "--data.predict_dir=nowhere"], "predict_dir 'nowhere' is not a folder"),
        (["predict", "--ckpt_path={ckpt}", "--data.predict_dir=empty"], "predict_dir 'empty' holds no image files"),
        (
            ["predict", "--ckpt_path={ckpt}", "--data.predict_dir=empty", "--predictions.output=empty"],
            "--predictions.output 'empty' must name a .csv file",
        ),
        (
            ["predict", "--ckpt_path={ckpt}", "--data.predict_dir=empty", "--predictions.output=model.ckpt"],
            "--predictions.output 'model.ckpt' must name a .csv file",
        ),
        (["test"], "test needs a trained model: pass --ckpt_path"),
        (["predict", "--data.predict_dir=empty"], "predict needs a trained model: pass --ckpt_path"),
        (["test", "--ckpt_path=checkpoints"], "checkpoint 'checkpoints' is a folder"),
    ],
)
def test_user_mistakes_end_in_one_line_and_status_2(
    trained: Path,
    tiny_mnist: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(trained)
    (trained / "empty").mkdir(exist_ok=True)
    (trained / "empty" / "notes.txt").write_text("not an image")
    ckpt = best_checkpoint(trained / "checkpoints" / "default" / "version_0")
    args = [arg.format(ckpt=ckpt) for arg in args]
    with pytest.raises(SystemExit) as exit_info:
        main([args[0], "--config", CONFIG, f"--data.data_dir={tiny_mnist}", *QUIET, *args[1:]])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {message}")
    assert "Traceback" not in error


@pytest.mark.parametrize(
    ("flags", "best_line", "last_line"),
    [
        ([], "Best checkpoint (val/acc ", "Last checkpoint: checkpoints/default/version_0/checkpoints/last.ckpt"),
        (["--checkpoint.monitor=val/loss", "--checkpoint.mode=min"], "Best checkpoint (val/loss ", "Last checkpoint:"),
        (["--checkpoint.save_last=false"], "Best checkpoint (val/acc ", None),
    ],
    ids=["default", "monitoring val/loss", "no last checkpoint"],
)
def test_fit_names_the_metric_its_best_checkpoint_was_chosen_by(
    tiny_mnist: Path, caplog: pytest.LogCaptureFixture, flags: list[str], best_line: str, last_line: str | None
) -> None:
    with caplog.at_level("INFO"):
        run([*fit_args(tiny_mnist), "--trainer.max_epochs=1", *flags])
    lines = caplog.messages
    assert next(line for line in lines if line.startswith("Best checkpoint (")).startswith(best_line)
    last = [line for line in lines if line.startswith("Last checkpoint:")]
    if last_line is None:
        assert last == []
    else:
        assert len(last) == 1 and last[0].startswith(last_line)
