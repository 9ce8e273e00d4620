"""Won-back figures over training seeds (issue 27 item 6) from the runs.csv of the seeded sweeps.

For every twin (one ``physical.options`` set) and training seed s: the error-free accuracy E_s and
the ideal deployment D_s come from the ideal sweep (the ideal model's test accuracy and the same
design measured on the twin); a strategy's accuracy on the twin A_s wins back
(A_s − D_s) / (E_s − D_s) of what ideal deployment loses. Prints, and writes as CSV and markdown,
mean ± sample std over the seeds of each.

    python scripts/won_back.py [--sweeps runs/sweeps] [--out docs/results/dat-d2nn-seeds]
"""

from __future__ import annotations

import argparse
import csv
import statistics
from collections import defaultdict
from pathlib import Path

STRATEGY_SWEEPS = {
    "calibrated twin + PAT, wrapped": ("dat_d2nn_seeds_calpat_wrap", {"model.phase_mapping": "wrap"}),
    "calibrated twin + PAT, reflected": ("dat_d2nn_seeds_calpat_reflect", {"model.phase_mapping": "reflect"}),
}


def read(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def spread(values: list[float]) -> str:
    """'mean ± std (n)' in percent."""
    if not values:
        return ""
    mean = statistics.fmean(values) * 100
    std = statistics.stdev(values) * 100 if len(values) > 1 else float("nan")
    return f"{mean:.1f} ± {std:.1f} ({len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=Path, default=Path("runs/sweeps"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/dat-d2nn-seeds"))
    args = parser.parse_args()
    ideal = read(args.sweeps / "dat_d2nn_seeds_ideal" / "runs.csv")
    reference = {(r["physical.options"], r["seed"]): r for r in ideal}
    twins = list(dict.fromkeys(r["physical.options"] for r in ideal))
    rows: list[dict[str, str]] = []
    for twin in twins:
        seeds = [s for (t, s) in reference if t == twin]
        errorfree = [float(reference[(twin, s)]["test_accuracy"]) for s in seeds]
        deployed = [float(reference[(twin, s)]["physical_test_accuracy"]) for s in seeds]
        row = {"twin": twin, "error-free": spread(errorfree), "ideal deployment": spread(deployed)}
        for label, (sweep, match) in STRATEGY_SWEEPS.items():
            path = args.sweeps / sweep / "runs.csv"
            if not path.exists():
                continue
            accuracy: dict[str, float] = {}
            for run in read(path):
                if run["physical.options"] == twin and all(run.get(k) == v for k, v in match.items()):
                    if run.get("physical_test_accuracy"):
                        accuracy[run["seed"]] = float(run["physical_test_accuracy"])
            if not accuracy:
                continue
            won = defaultdict(list)
            for s, value in accuracy.items():
                e, d = (
                    float(reference[(twin, s)]["test_accuracy"]),
                    float(reference[(twin, s)]["physical_test_accuracy"]),
                )
                won["accuracy"].append(value)
                if e - d > 0.02:  # nothing lost, nothing to win back
                    won["won back"].append((value - d) / (e - d))
            row[label] = spread(won["accuracy"])
            row[f"{label}: won back"] = spread(won["won back"])
        rows.append(row)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "won-back.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row.get(c, "") for c in columns) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    (args.out / "won-back.md").write_text(
        "Accuracy on the twin and share of the ideal deployment's loss won back, % (mean ± std over training "
        "seeds, n in brackets); `python scripts/won_back.py`.\n\n" + text
    )
    print(text)


if __name__ == "__main__":
    main()
