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

    predicted = read_columns(parser, args.predictions, "digit", "the predictions CSV that predict wrote")
    labels = read_columns(parser, args.labels, "label", "labels.csv")
    if not predicted.keys() & labels.keys():
        parser.error(f"no path in {args.predictions} is in {args.labels}: were they given the other way round?")

    right, total = Counter(), Counter()
    for path, label in labels.items():
        for group in (path.split("/")[0], "all"):
            total[group] += 1
            right[group] += predicted.get(path) == label
    for group in sorted(total, key=lambda name: (name == "all", name)):
        print(f"{group:30s} {right[group]:4d}/{total[group]:<4d} {right[group] / total[group]:7.2%}")


def read_columns(parser: argparse.ArgumentParser, path: Path, column: str, expected: str) -> dict[str, str]:
    """``path``'s rows as {path: column}, or one error line saying what the file should be."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            return {row["path"]: row[column] for row in csv.DictReader(file)}
    except (KeyError, UnicodeDecodeError, csv.Error):
        parser.error(f"{path} has no 'path' and '{column}' columns: expected {expected}")


if __name__ == "__main__":
    main()
