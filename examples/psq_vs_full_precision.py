"""Train one D2NN at full precision, rounded afterwards (PQ) and with 4-level PSQ, and compare the
hard-quantized devices: what quantization-aware training is for.

    python examples/psq_vs_full_precision.py [--smoke] [--out runs/psq-example]
"""

import argparse
from pathlib import Path

import quaton


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds' run (CI)")
    parser.add_argument("--out", type=Path, default=Path("runs/psq-example"))
    args = parser.parse_args()
    size = ["train.epochs=1", "data.train_size=200", "data.test_size=100"] if args.smoke else ["train.epochs=5"]
    results = {}
    for label, method in (("full precision", "none"), ("PQ, 4 levels", "pq"), ("PSQ, 4 levels", "psq")):
        levels = [] if method == "none" else ["quantization.levels=4"]
        config = quaton.load_config("smoke", [*size, f"quantization.method={method}", *levels, "train.progress=false"])
        metrics = quaton.train_run(config, args.out / method)
        results[label] = metrics["test_accuracy"]
    for label, accuracy in results.items():
        print(f"{label:>16}: test accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
