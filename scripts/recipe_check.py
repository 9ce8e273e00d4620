"""The headline recipes checked on validation (issue 27 item 4): for each choice, the validation
accuracy of every candidate, read from the runs' histories (metrics.jsonl), never the test set.

    python scripts/recipe_check.py [--out docs/results/recipes-on-validation]

Each check names the run directories it compares (committed under docs/results) and the history
key it reads: ``val_physical_accuracy`` (runs with a physical system: measured on the twin) or
``val_accuracy`` (direct training). The choice is the candidate with the highest value at the
epoch it names (``None``: the best epoch of the run).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

RESULTS = Path("docs/results")
CHECKS = [
    # (choice, candidate label, run directory, history key, epoch)
    (
        "everything design: softmax temperature (3 epochs)",
        "T = 10",
        "everything-mnist/calibrated_pat_v3",
        "val_physical_accuracy",
        3,
    ),
    (
        "everything design: softmax temperature (3 epochs)",
        "T = 30",
        "everything-mnist/T30_calibrated_pat",
        "val_physical_accuracy",
        3,
    ),
    (
        "everything design: epochs (T = 30)",
        "3 epochs",
        "everything-mnist/T30_10ep_calibrated_pat",
        "val_physical_accuracy",
        3,
    ),
    (
        "everything design: epochs (T = 30)",
        "10 epochs",
        "everything-mnist/T30_10ep_calibrated_pat",
        "val_physical_accuracy",
        10,
    ),
    (
        "default D2NN, full MNIST: softmax temperature (3 epochs)",
        "T = 10",
        "recipes-on-validation/mnist-T10",
        "val_accuracy",
        3,
    ),
    (
        "default D2NN, full MNIST: softmax temperature (3 epochs)",
        "T = 30",
        "recipes-on-validation/mnist-T30",
        "val_accuracy",
        3,
    ),
]


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "recipes-on-validation")
    args = parser.parse_args()
    rows = []
    for choice, label, run, key, epoch in CHECKS:
        path = RESULTS / run
        if not (path / "metrics.jsonl").exists():
            print(f"missing: {path}")
            continue
        records = history(path)
        record = next((r for r in records if r["epoch"] == epoch), None)
        if record is None:
            print(f"{path}: no epoch {epoch}")
            continue
        rows.append(
            {"choice": choice, "candidate": label, "run": str(path), "key": key, "epoch": epoch, "value": record[key]}
        )
    chosen = {}
    for row in rows:
        best = chosen.get(row["choice"])
        if best is None or row["value"] > best["value"]:
            chosen[row["choice"]] = row
    for row in rows:
        row["chosen"] = chosen[row["choice"]] is row
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "checks.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| choice | candidate | validation accuracy (%) | chosen |", "|---|---|---|---|"]
    lines += [
        f"| {r['choice']} | {r['candidate']} | {100 * r['value']:.2f} | {'yes' if r['chosen'] else ''} |" for r in rows
    ]
    text = "\n".join(lines) + "\n"
    (args.out / "checks.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
