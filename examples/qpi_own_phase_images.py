"""Quantitative phase imaging on your own phase maps: a D2NN trained to turn a transparent object's
phase into an intensity image on the camera (task.kind phase_imaging, docs/qpi.md).

    python examples/qpi_own_phase_images.py [--smoke] [--phases my_maps.npy] [--out runs/qpi-example]

``--phases`` is a float array [N, h, w] of phase maps in radians, 0 to π (resized to
input.object_size); without it the script makes smooth random cells to stand in for yours. They are
written as an .npz the data loader reads (``data.dataset: path.npz``: x = φ / π in [0, 1], no labels
needed) and split 80 / 20 into training and test maps.
"""

import argparse
import math
from pathlib import Path

import numpy as np

import quaton


def stand_in_cells(count: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth phase objects [count, size, size] (rad, 0..π): a few Gaussian cells each."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    maps = np.zeros((count, size, size))
    for image in maps:
        for _ in range(rng.integers(1, 4)):
            cy, cx, radius = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), rng.uniform(0.08, 0.18)
            image += rng.uniform(0.4, 1.0) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2))
    return np.clip(maps, 0, 1) * math.pi


def write_dataset(phases: np.ndarray, path: Path) -> Path:
    """The phase maps as the .npz the loader reads: x = φ / π as uint8, labels all 0."""
    x = np.round(np.clip(phases / math.pi, 0, 1) * 255).astype(np.uint8)
    split = int(0.8 * len(x))
    labels = np.zeros(len(x), dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=x[:split], y_train=labels[:split], x_test=x[split:], y_test=labels[split:])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds' run (CI)")
    parser.add_argument("--phases", type=Path, help="your phase maps: float .npy [N, h, w], rad, 0..π")
    parser.add_argument("--out", type=Path, default=Path("runs/qpi-example"))
    args = parser.parse_args()
    phases = np.load(args.phases) if args.phases else stand_in_cells(100 if args.smoke else 1000, 32)
    dataset = write_dataset(phases, args.out / "phases.npz")
    size = ["train.epochs=1", "model.grid=32", "model.layers=2"] if args.smoke else ["train.epochs=10"]
    config = quaton.load_config(
        "qpi",
        [f"data.dataset={dataset}", "data.train_size=null", "data.test_size=null", *size, "train.progress=false"],
    )
    metrics = quaton.train_run(config, args.out / "run")
    print(
        f"test SSIM {metrics['test_ssim']:.3f} (a dark camera scores {metrics['test_ssim_dark_baseline']:.3f}), "
        f"Pearson correlation {metrics['test_pcc']:.3f}, phase error {metrics['test_phase_error']:.3f} rad"
    )
    print(f"pictures: {args.out / 'run' / 'figures' / 'phase_images.png'}")


if __name__ == "__main__":
    main()
