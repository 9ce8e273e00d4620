"""Export a trained 4-level design in every fabrication format and simulate it as fabricated.

    python examples/fabrication_tolerance.py [--smoke] [--out runs/fab-example]

The design directory holds design.json, one layer_XX.npy of phases per mask, height maps as TIFF,
STL and GDSII binary-optics masks (docs/fabrication.md); the simulation re-reads the design file
(no training code) and evaluates it with printed heights off by 5 %, phase noise and a shift.
"""

import argparse
from pathlib import Path

import quaton
from quaton.export.design import export_run
from quaton.export.simulate import result_line, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds' run (CI)")
    parser.add_argument("--out", type=Path, default=Path("runs/fab-example"))
    args = parser.parse_args()
    size = ["train.epochs=1", "data.train_size=200", "data.test_size=100"] if args.smoke else ["train.epochs=5"]
    config = quaton.load_config(
        "smoke", [*size, "quantization.method=psq", "quantization.levels=4", "train.progress=false"]
    )
    quaton.train_run(config, args.out / "run")
    design = export_run(args.out / "run", args.out / "design", formats=("npy", "tiff", "stl", "gds"))
    print("design files:", ", ".join(sorted(p.name for p in design.iterdir() if p.is_file())))
    result = simulate(design, ["height_error=0.05", "phase_noise=0.3", "shift=1"], draws=2 if args.smoke else 10)
    for row in result["results"]:
        print(result_line(row, result["primary_metric"]))


if __name__ == "__main__":
    main()
