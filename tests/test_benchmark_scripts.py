"""The measurement scripts in benchmarks/ refuse bad arguments in one line and delete nothing of the user's."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True)


def test_the_benchmark_leaves_a_folder_it_did_not_write_alone(tiny_mnist: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("important")
    result = run("run.py", "--data-dir", str(tiny_mnist), "--out", str(tmp_path / "mine"))
    assert result.returncode == 2
    assert "exists and is not an earlier benchmark's output: pass a new folder" in result.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "important"


def test_the_benchmark_names_a_data_folder_without_mnist(tmp_path: Path) -> None:
    result = run("run.py", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "lacks MNIST/raw/ (train-images-idx3-ubyte," in result.stderr
    assert not (tmp_path / "out").exists()


def test_scoring_swapped_files_says_which_file_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("path,label\na/1.png,1\n")
    (tmp_path / "predictions.csv").write_text("path,digit,confidence\na/1.png,1,0.9\n")
    result = run("score_predictions.py", str(tmp_path / "labels.csv"), str(tmp_path / "predictions.csv"))
    assert result.returncode == 2
    assert f"{tmp_path / 'labels.csv'} has no 'path' and 'digit' columns" in result.stderr
    right = run("score_predictions.py", str(tmp_path / "predictions.csv"), str(tmp_path / "labels.csv"))
    assert right.stdout.splitlines()[-1].split() == ["all", "1/1", "100.00%"]
