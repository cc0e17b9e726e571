"""The pictures and tables test and fit leave in the run folder, and the loggers they work with."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from mnist_lit.cli import run
from mnist_lit.report import TestReport
from tests.conftest import CONFIG, QUIET, fit_args
from tests.test_export import save_the_tutorials_way


@pytest.fixture(scope="module")
def always_3(tiny_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TestReport]:
    """The run folder and report of ``test`` with a model that reads every image as a 3."""
    workdir = tmp_path_factory.mktemp("always_3")
    save_the_tutorials_way(workdir / "always_3.pth", always=3)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        cli = run(["test", "--config", CONFIG, f"--data.data_dir={tiny_mnist}", "--ckpt_path=always_3.pth", *QUIET])
    report = next(callback for callback in cli.trainer.callbacks if isinstance(callback, TestReport))
    return workdir / cli.trainer.log_dir, report


def test_test_writes_its_report_into_the_run_folder(always_3: tuple[Path, TestReport]) -> None:
    run_dir, report = always_3
    assert [str(path) for path in report.paths] == [
        "checkpoints/default/version_0/confusion_matrix.png",
        "checkpoints/default/version_0/per_class.csv",
        "checkpoints/default/version_0/mistakes.png",
    ]
    for picture in ("confusion_matrix.png", "mistakes.png"):
        with Image.open(run_dir / picture) as image:
            assert image.format == "PNG"


def test_the_confusion_matrix_counts_true_digits_against_predictions(always_3: tuple[Path, TestReport]) -> None:
    _, report = always_3
    expected = torch.zeros(10, 10, dtype=torch.long)
    expected[:, 3] = 10  # each digit's 10 test images, all read as 3
    assert torch.equal(report.confusion_matrix, expected)


def test_per_class_csv_has_precision_recall_f1_and_support_for_each_digit(
    always_3: tuple[Path, TestReport],
) -> None:
    run_dir, _ = always_3
    with (run_dir / "per_class.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["digit"] for row in rows] == [str(digit) for digit in range(10)]
    assert rows[3] == {"digit": "3", "precision": "0.1000", "recall": "1.0000", "f1": "0.1818", "support": "10"}
    assert rows[0] == {"digit": "0", "precision": "0.0000", "recall": "0.0000", "f1": "0.0000", "support": "10"}


def test_the_mistakes_kept_are_25_wrong_readings(always_3: tuple[Path, TestReport]) -> None:
    _, report = always_3
    assert report.worst_digits.tolist() == [3] * 25
    assert 3 not in report.worst_targets.tolist()
    assert report.worst_images.shape == (25, 28, 28)


def test_report_mistakes_caps_how_many_mistakes_are_kept(
    trained: Path, tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ckpt,) = (trained / "checkpoints" / "default" / "version_0" / "checkpoints").glob("best*.ckpt")
    monkeypatch.chdir(tmp_path)
    data, mistakes = f"--data.data_dir={tiny_mnist}", "--report.mistakes=3"
    cli = run(["test", "--config", CONFIG, data, f"--ckpt_path={ckpt}", mistakes, *QUIET])
    report = next(callback for callback in cli.trainer.callbacks if isinstance(callback, TestReport))
    wrong = int(report.confusion_matrix.sum() - report.confusion_matrix.trace())
    assert len(report.worst_confidence[report.worst_confidence > -torch.inf]) == min(wrong, 3)
    assert (tmp_path / cli.trainer.log_dir / "mistakes.png").is_file()


def test_fit_draws_loss_and_accuracy_curves_beside_its_metrics(trained: Path) -> None:
    with Image.open(trained / "checkpoints" / "default" / "version_0" / "curves.png") as image:
        assert image.format == "PNG"
        assert image.size == (1000, 400)


def test_fit_logs_to_tensorboard_when_asked(tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    logger = ["--trainer.logger=TensorBoardLogger", "--trainer.logger.save_dir=checkpoints"]
    run([*fit_args(tiny_mnist), "--trainer.max_epochs=1", *logger])
    run_dir = tmp_path / "checkpoints" / "default" / "version_0"  # the config's logger name carries over
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def test_starting_the_cli_loads_neither_our_plotting_nor_the_onnx_exporter() -> None:
    # torchmetrics itself imports matplotlib whenever it is installed (torchmetrics issue #3457),
    # so what is checked here is that this project adds no plotting or export import of its own.
    code = "import sys, mnist_lit.cli; print(sorted({'mnist_lit.plots', 'onnx', 'onnxscript'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
