"""The speed and memory benchmark: mnist_lit against the tutorial's loop and a bare tensor loop.

    python benchmarks/run.py --data-dir ../shared/data

Everything runs in one go, each measurement in a process of its own, on real MNIST:

1. the tutorial's loop (baseline) and a plain PyTorch loop over tensors (floor), from loops.py;
2. ``python -m mnist_lit fit --config configs/default.yaml``, as a whole process;
3. a process that only imports lightning, torchvision and torchmetrics, for peak memory;
4. the same fit for ``configs/best.yaml``, whose whole-process time is compared with the default's;
5. ``test`` on the 10k test images and ``predict`` over a folder of MNIST test digits saved as
   PNG files, beside a bare Pillow open-and-decode loop over the same files.

The first three run ``--repeats`` times (default 3), interleaved, every other repeat in reverse
order: on a shared machine a slow spell then slows every kind of run alike instead of deciding
one of them, and each figure is the median over the repeats. It prints seconds per epoch (the
median over the epochs), whole-process wall time, peak memory (RSS) and test accuracy of each,
the fit/tutorial ratio of each repeat, and the ratios the project targets, from the medians; the
figures also go to ``benchmarks/out/results.json``. Absolute times vary with the machine and its
load; the ratios, taken within one run, are the figures to compare.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image
from torchvision.datasets import MNIST

from mnist_lit.data import MNIST_FILES

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "default.yaml"
BEST_CONFIG = ROOT / "configs" / "best.yaml"
PREDICT_IMAGES = 10_000  # the whole test set: enough that the reader processes' start-up does not decide
PILLOW_PASSES = 3
PREDICT_PASSES = 3  # predict's loop lasts under a second: the median of three is steadier
MARKER = "BENCHMARK_OUTPUT"
TARGETS = {
    "fit process / tutorial process": "at most 0.25",
    "fit epoch / tensor-loop epoch": "at most 1.5",
    "predict / Pillow decode (images/s)": "at least 0.7",
    "fit peak RSS / imports-only peak RSS": "at most 1.5",
    "fit best.yaml process / fit default.yaml process": "at most 3",
    "fit test acc - tutorial test acc (points)": "within 0.5",
}


def measure(command: list[str], cwd: Path, log: Path) -> dict[str, float]:
    """Run ``command`` to completion; return its wall time and peak resident memory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed; see {log}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}


def timer_records(path: Path, kind: str) -> list[dict[str, float]]:
    return [record for line in path.read_text().splitlines() if (record := json.loads(line))["kind"] == kind]


def mnist_lit(subcommand: str, out: Path, timer: Path, *args: str, config: Path = CONFIG) -> dict[str, float]:
    callback = json.dumps({"class_path": "benchmarks.epoch_timer.LoopTimer", "init_args": {"output": str(timer)}})
    command = [sys.executable, "-m", "mnist_lit", subcommand, f"--config={config}", f"--trainer.callbacks+={callback}"]
    return measure([*command, *args], cwd=out, log=out / f"{subcommand}_{config.stem}.log")


def pillow_rate(folder: Path) -> float:
    """Images per second of a bare Pillow loop that opens and decodes every file in ``folder``."""
    paths = sorted(folder.iterdir())
    start = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            image.load()
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding MNIST/raw/")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each of the first four (1 or more)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be 1 or more, got {args.repeats}")
    data_dir = args.data_dir.resolve()
    missing = [name for name in MNIST_FILES if not (data_dir / "MNIST" / "raw" / name).is_file()]
    if missing:
        names = ", ".join(missing)
        parser.error(f"--data-dir {args.data_dir} lacks MNIST/raw/ ({names}): point it at the folder above MNIST/")
    out = args.out.resolve()
    # Only a folder an earlier benchmark run wrote is replaced; anything else is left alone.
    if out.exists() and not (out / MARKER).is_file() and (not out.is_dir() or any(out.iterdir())):
        parser.error(f"--out {args.out} exists and is not an earlier benchmark's output: pass a new folder")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by benchmarks/run.py, which replaces this folder on its next run\n")
    timer = out / "timer.jsonl"
    repeats: dict[str, list[dict[str, float]]] = {name: [] for name in ("tutorial", "tensor", "imports", "fit")}
    for repeat in range(args.repeats):
        # Every other repeat runs in reverse order, so no kind of run always follows the long tutorial loop.
        order = list(repeats) if repeat % 2 == 0 else list(reversed(repeats))
        for name in order:
            if name in ("tutorial", "tensor"):
                result = out / f"{name}.json"
                run = measure(
                    [sys.executable, str(ROOT / "benchmarks" / "loops.py"), name, str(data_dir), str(result)],
                    out,
                    out / f"{name}.log",
                )
                loop_result = json.loads(result.read_text())
                run |= {"epoch_s": statistics.median(loop_result["epoch_seconds"]), "test_acc": loop_result["test_acc"]}
            elif name == "imports":
                imports = [sys.executable, "-c", "import lightning, torchvision, torchmetrics"]
                run = measure(imports, out, out / "imports.log")
            else:
                timer.unlink(missing_ok=True)
                run = mnist_lit("fit", out, timer, f"--data.data_dir={data_dir}")
                run["epoch_s"] = statistics.median(record["seconds"] for record in timer_records(timer, "train_epoch"))
            repeats[name].append(run)
        walls = ", ".join(f"{name} {runs[-1]['wall_s']:.1f} s" for name, runs in repeats.items())
        print(f"repeat {repeat + 1}: {walls}", flush=True)

    results: dict[str, dict[str, float]] = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]} for name, runs in repeats.items()
    }
    # Every fit trains the same seeded run; the first one's checkpoint is tested and predicts.
    timer.unlink()
    checkpoint = out / "checkpoints" / "default" / "version_0" / "checkpoints" / "last.ckpt"
    results["test"] = mnist_lit("test", out, timer, f"--data.data_dir={data_dir}", f"--ckpt_path={checkpoint}")
    (test_record,) = timer_records(timer, "test")
    results["test"] |= {"loop_s": test_record["seconds"], "test_acc": test_record["test_acc"]}
    results["fit"]["test_acc"] = test_record["test_acc"]
    print(f"fit: {results['fit']}\ntest: {results['test']}", flush=True)

    results["fit_best"] = mnist_lit("fit", out, timer, f"--data.data_dir={data_dir}", config=BEST_CONFIG)
    print(f"fit_best: {results['fit_best']}", flush=True)

    folder = out / "predict_png"
    folder.mkdir()
    test_set = MNIST(data_dir, train=False)
    for index in range(PREDICT_IMAGES):
        Image.fromarray(test_set.data[index].numpy()).save(folder / f"{index:05d}.png")
    results["pillow"] = {"images_per_s": statistics.median(pillow_rate(folder) for _ in range(PILLOW_PASSES))}
    predictions = out / "predictions.csv"
    for _ in range(PREDICT_PASSES):
        results["predict"] = mnist_lit(
            "predict",
            out,
            timer,
            f"--ckpt_path={checkpoint}",
            f"--data.predict_dir={folder}",
            f"--predictions.output={predictions}",
            "--predictions.overwrite=true",
        )
    predict_seconds = statistics.median(record["seconds"] for record in timer_records(timer, "predict"))
    results["predict"]["images_per_s"] = PREDICT_IMAGES / predict_seconds

    pairs = zip(repeats["fit"], repeats["tutorial"], strict=True)
    per_repeat = [fit["wall_s"] / tutorial["wall_s"] for fit, tutorial in pairs]
    ratios = {
        "fit process / tutorial process": results["fit"]["wall_s"] / results["tutorial"]["wall_s"],
        "fit epoch / tensor-loop epoch": results["fit"]["epoch_s"] / results["tensor"]["epoch_s"],
        "predict / Pillow decode (images/s)": results["predict"]["images_per_s"] / results["pillow"]["images_per_s"],
        "fit peak RSS / imports-only peak RSS": results["fit"]["peak_rss_mb"] / results["imports"]["peak_rss_mb"],
        "fit best.yaml process / fit default.yaml process": results["fit_best"]["wall_s"] / results["fit"]["wall_s"],
        "fit test acc - tutorial test acc (points)": 100
        * (results["fit"]["test_acc"] - results["tutorial"]["test_acc"]),
    }
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    report = {"machine": machine, "results": results, "ratios": ratios, "repeats": repeats, "fit/tutorial": per_repeat}
    (out / "results.json").write_text(json.dumps(report, indent=2))

    print(f"\nmachine: {machine}\n")
    print("| run | s/epoch | whole process (s) | peak RSS (MB) | test acc |")
    print("|---|---|---|---|---|")
    for name in ("tutorial", "tensor", "fit", "fit_best", "imports"):
        row = results[name]
        epoch = f"{row['epoch_s']:.2f}" if "epoch_s" in row else ""
        accuracy = f"{100 * row['test_acc']:.2f}%" if "test_acc" in row else ""
        print(f"| {name} | {epoch} | {row['wall_s']:.1f} | {row['peak_rss_mb']:.0f} | {accuracy} |")
    test = results["test"]
    print(f"\ntest: {test['loop_s']:.2f} s over 10,000 images ({test['wall_s']:.1f} s whole process)")
    print(
        f"predict: {results['predict']['images_per_s']:.0f} images/s over {PREDICT_IMAGES} PNG files; "
        f"bare Pillow decode: {results['pillow']['images_per_s']:.0f} images/s"
    )
    print(f"\nfit process / tutorial process in each repeat: {', '.join(f'{ratio:.2f}' for ratio in per_repeat)}")
    for name, value in ratios.items():
        print(f"{name}: {value:.2f} (target: {TARGETS[name]})")


if __name__ == "__main__":
    main()
