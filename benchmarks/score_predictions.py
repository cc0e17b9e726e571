"""Score a predictions CSV written by ``mnist_lit predict`` against a labels CSV.

    python benchmarks/score_predictions.py PREDICTIONS.csv ../shared/data/digits-in-the-wild/labels.csv

Both files name images by their path relative to the predicted folder. Prints the accuracy over
the labelled images, per source folder and overall.
"""

import argparse
import csv
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path)
    parser.add_argument("labels", type=Path)
    args = parser.parse_args()
    for path in (args.predictions, args.labels):
        if not path.is_file():
            parser.error(f"{path} is not a file")

    with args.predictions.open(newline="", encoding="utf-8") as file:
        predicted = {row["path"]: row["digit"] for row in csv.DictReader(file)}
    with args.labels.open(newline="", encoding="utf-8") as file:
        labels = {row["path"]: row["label"] for row in csv.DictReader(file)}

    right, total = Counter(), Counter()
    for path, label in labels.items():
        for group in (path.split("/")[0], "all"):
            total[group] += 1
            right[group] += predicted.get(path) == label
    for group in sorted(total, key=lambda name: (name == "all", name)):
        print(f"{group:30s} {right[group]:4d}/{total[group]:<4d} {right[group] / total[group]:7.2%}")


if __name__ == "__main__":
    main()
