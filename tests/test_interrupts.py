"""Runs of fit killed or interrupted part-way: checkpoints stay loadable, and training resumes."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.conftest import CONFIG, QUIET

ROOT = Path(__file__).resolve().parents[1]
PAUSE = json.dumps({"class_path": "tests.pause.PauseEachBatch", "init_args": {"seconds": 0.05}})


def fit_command(data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "mnist_lit", "fit", "--config", CONFIG, f"--data.data_dir={data_dir}",
        "--data.val_size=100", "--data.batch_size=16", "--data.batches_per_step=1", "--trainer.max_epochs=4",
        "--model.lr=0.1", "--model.momentum=0.9", f"--trainer.callbacks+={PAUSE}", *QUIET, *extra,
    ]  # fmt: skip


def start(command: list[str], workdir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def final_val_acc(run_dir: Path) -> tuple[int, float]:
    with (run_dir / "metrics.csv").open() as file:
        rows = [row for row in csv.DictReader(file) if row["val/acc"]]
    return int(rows[-1]["epoch"]), float(rows[-1]["val/acc"])


def test_a_killed_fit_leaves_loadable_checkpoints_and_resumes_to_the_same_result(
    tiny_mnist: Path, tmp_path: Path
) -> None:
    unbroken, broken = tmp_path / "unbroken", tmp_path / "broken"
    unbroken.mkdir()
    broken.mkdir()
    assert (
        subprocess.run(fit_command(tiny_mnist), cwd=unbroken, env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode
        == 0
    )

    process = start(fit_command(tiny_mnist), broken)
    last = broken / "checkpoints" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    wait_for(last, process)
    time.sleep(0.4)  # an epoch takes about a second: this lands in the middle of the second
    process.send_signal(signal.SIGKILL)
    process.wait()
    for checkpoint in broken.rglob("*.ckpt"):
        assert "state_dict" in torch.load(checkpoint, weights_only=True, map_location="cpu")

    resumed = start(fit_command(tiny_mnist, f"--ckpt_path={last}"), broken)
    assert resumed.wait() == 0, resumed.stderr.read()

    unbroken_epoch, unbroken_acc = final_val_acc(unbroken / "checkpoints" / "default" / "version_0")
    resumed_epoch, resumed_acc = final_val_acc(broken / "checkpoints" / "default" / "version_1")
    assert (resumed_epoch, unbroken_epoch) == (3, 3)
    assert abs(resumed_acc - unbroken_acc) <= 0.001


def test_ctrl_c_stops_fit_leaving_last_ckpt_at_the_last_complete_epoch(tiny_mnist: Path, tmp_path: Path) -> None:
    process = start(fit_command(tiny_mnist), tmp_path)
    last = tmp_path / "checkpoints" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    wait_for(last, process)
    time.sleep(0.5)  # into the second epoch
    epoch_end = torch.load(last, weights_only=True)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=60)[1]

    assert "Traceback" not in stderr
    assert f"continue with --ckpt_path {last.relative_to(tmp_path)}" in stderr
    checkpoint = torch.load(last, weights_only=True, map_location="cpu")
    assert (checkpoint["epoch"], checkpoint["global_step"]) == (epoch_end["epoch"], epoch_end["global_step"])
