"""Time a D2NN training step against the bare FFTs it cannot avoid, in the same run.

A step (forward, backward, optimizer) of an L-layer D2NN has L + 1 propagations; each needs one
forward and one inverse FFT of the padded complex field going forward. Going backward, each
propagation after a mask needs the same two again; the first one (input -> layer 1) needs none,
because the input field requires no gradient. That is 2·(L + 1) + 2·L = 4L + 2 FFTs (22 for five
layers; ``step_ffts``, checked against the profiler's count by tests/benchmarks/test_step.py). The
"FFT bound" times exactly those batched FFTs (out of place, see ``fft_bound_ms``), so the ratio
step / bound says how much time goes anywhere else.

Each grid is measured in a fresh child process, so that its peak memory (the child's maximum
resident set size) is its own. Run with stable allocator settings (see benchmarks/README.md):

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \
        python benchmarks/step.py [--grids 64 128 200 256] [--layers 5] [--batch 32] [--method psq] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from quaton.builder import build_model, build_task, encode_batch
from quaton.config import load_config
from quaton.optics import padded_shape

ROOT = Path(__file__).resolve().parents[1]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter  # set by --clock: cpu is the process's CPU time, robust on a loaded machine


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return 1e3 * statistics.median(times)


def step_ffts(layers: int) -> int:
    """FFTs of one training step of an ``layers``-layer D2NN: a forward and an inverse FFT per
    propagation going forward (layers + 1 propagations), the same per propagation going backward
    except the first, whose input (the encoded image) needs no gradient."""
    return 2 * (layers + 1) + 2 * layers


def fft_bound_ms(batch: int, padded: tuple[int, int], ffts: int, repeats: int) -> float:
    """``ffts`` FFTs (even: forward and inverse in pairs) of [batch, P, Q] complex64, out of place:
    with ``out=`` torch computes into a new tensor and copies it over, one more pass over the
    buffer per FFT, which made the bound up to 1.5x slower than the FFTs themselves."""
    a = torch.randn(batch, *padded, dtype=torch.complex64)

    def work() -> None:
        for _ in range(ffts // 2):
            torch.fft.ifft2(torch.fft.fft2(a))

    return median_ms(work, repeats)


def build_step(config_path: Path, grid: int | None, layers: int | None, batch: int, method: str, levels: int):
    """The timed work: (config, model, step, infer), step a full training step (forward, backward,
    Adam) and infer a no-grad forward pass, both on one fixed random batch."""
    overrides = ["train.progress=false", f"quantization.method={method}", f"quantization.levels={levels}"]
    if grid is not None:
        overrides += [f"model.grid={grid}", f"detector.size={max(1, grid // 8)}", f"input.object_size={min(28, grid)}"]
    if layers is not None:
        overrides += [f"model.layers={layers}"]
    config = load_config(config_path, overrides)
    torch.manual_seed(0)
    model = build_model(config)
    task = build_task(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    size = config.input.object_size
    images = torch.rand(batch, size, size)
    labels = torch.randint(0, 10, (batch,))

    def step() -> None:
        model.train()
        loss = task.loss(model.intensity(encode_batch(config, images)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            task.predict(model.intensity(encode_batch(config, images)))

    return config, model, step, infer


def measure(
    config_path: Path, grid: int | None, layers: int | None, batch: int, repeats: int, method: str, levels: int
) -> dict:
    config, model, step, infer = build_step(config_path, grid, layers, batch, method, levels)
    step_ms = median_ms(step, repeats)
    infer_ms = median_ms(infer, repeats)
    n = config.model.grid
    padded = padded_shape((n, n), config.optics.pad_factor)
    ffts = step_ffts(model.num_layers)
    bound = fft_bound_ms(batch, padded, ffts, repeats)
    return {
        "grid": n,
        "padded": list(padded),
        "layers": model.num_layers,
        "batch": batch,
        "step_ms": round(step_ms, 3),
        "infer_ms": round(infer_ms, 3),
        "ffts": ffts,
        "fft_bound_ms": round(bound, 3),
        "ratio": round(step_ms / bound, 3),
        "peak_mem_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "images_per_s": round(1e3 * batch / step_ms, 1),
        "method": method,
        "clock": "cpu" if clock is time.process_time else "wall",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    parser.add_argument("--grids", type=int, nargs="*", default=[64, 128, 200, 256])
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--method", default="psq", help="quantization method of the timed D2NN (none, pq, ste, gs, psq, psq-lt)"
    )
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="cpu: the process's CPU time (set OMP_WAIT_POLICY=PASSIVE so that waiting threads do not spin)",
    )
    parser.add_argument(
        "--note",
        default=None,
        help="conditions of the measurement, stored with every row (e.g. 'shared machine, load 4.4')",
    )
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    if args.child is not None:  # one grid, in this fresh process
        print(
            json.dumps(
                measure(args.config, args.child, args.layers, args.batch, args.repeats, args.method, args.levels)
            )
        )
        return
    rows = []
    for grid in args.grids:
        command = [
            sys.executable,
            __file__,
            "--child",
            str(grid),
            "--config",
            str(args.config),
            "--layers",
            str(args.layers),
            "--batch",
            str(args.batch),
            "--method",
            args.method,
            "--levels",
            str(args.levels),
            "--repeats",
            str(args.repeats),
            "--clock",
            args.clock,
        ]
        row = json.loads(
            subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        )
        rows.append({**row, "note": args.note} if args.note else row)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.method} quantizer at {args.levels} levels, {args.clock} clock"
    )
    print(
        f"{'grid':>5} {'padded':>9} {'L':>3} {'batch':>5} {'step ms':>9} "
        f"{'infer ms':>9} {'FFT ms':>9} {'ratio':>6} {'img/s':>8} {'peak MB':>8}"
    )
    for r in rows:
        print(
            f"{r['grid']:>5} {'x'.join(map(str, r['padded'])):>9} {r['layers']:>3} {r['batch']:>5} "
            f"{r['step_ms']:>9.2f} {r['infer_ms']:>9.2f} {r['fft_bound_ms']:>9.2f} {r['ratio']:>6.2f} "
            f"{r['images_per_s']:>8.1f} {r['peak_mem_mb']:>8.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
