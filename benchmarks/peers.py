"""quaton against its peers: one D2NN training step, side by side, in one run.

Every row trains the same network: 5 phase layers of N x N, free space before, between and after
them (6 propagations over a window padded to 2N), batch 32, complex64, loss mean((|E|² − target)²),
Adam. Rows:

- ``quaton``: ``quaton.models.D2NN`` (FreeSpace + PhaseMask, the fused propagation);
- ``quaton (autograd)``: the same model through the autograd composition the fused path replaced
  (pad inside fft2, kernel, ifft2, crop copy, mask product apart): the "before" figure;
- ``naive torch``: the loop anyone would write: F.pad, fft2, x H, ifft2, crop, x exp(iφ);
- ``LightRidge`` (``lightridge.layers.DiffractLayer_Raw``, Fresnel, cast to complex64) and
  ``torchoptics`` (``System`` of ``PhaseModulator``, ``asm_pad`` = N/2 so its window is 2N too,
  default dtype float32): optional, a row is skipped when the package does not import. Install
  them beside torch with ``pip install --no-deps lightridge torchoptics``.

Times are medians of ``--repeats`` rounds; in each round the FFT bound (the 4L + 2 = 22 batched
complex64 FFTs of a step, out of place; see step.py) and every row are timed one after another, so
that a change of machine load hits all of them alike; ``ratio`` = row / bound of the same run.
Peak memory: each (row, grid) runs two steps in a fresh child process, without the allocator
thresholds, and reports its maximum resident set size. On a loaded machine wall time with two
threads mostly measures waiting for the CPU; ``--clock cpu`` times the process's CPU time instead.
Run with the allocator settings of benchmarks/README.md:

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \\
        python benchmarks/peers.py [--grids 64 100 128 200] [--repeats 7] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

LAYERS = 5
WAVELENGTH = 532e-9  # m
PITCH = 1e-6  # m
DISTANCE = 200e-6  # m, every gap
ROWS = ("quaton", "quaton (autograd)", "naive torch", "LightRidge", "torchoptics")


def fft_bound(batch: int, padded: int, layers: int = LAYERS) -> Callable[[], None]:
    """The 4L + 2 FFTs of a step, forward and inverse in pairs, out of place (``out=`` would add a copy)."""
    a = torch.randn(batch, padded, padded, dtype=torch.complex64)

    def work() -> None:
        for _ in range((4 * layers + 2) // 2):
            torch.fft.ifft2(torch.fft.fft2(a))

    return work


def _trainer(
    parameters, forward: Callable[[torch.Tensor], torch.Tensor], field: torch.Tensor, target: torch.Tensor
) -> Callable[[], None]:
    optimizer = torch.optim.Adam(parameters, lr=1e-2)

    def step() -> None:
        loss = (forward(field).abs().square() - target).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def build(row: str, n: int, batch: int) -> Callable[[], None] | None:
    """The training step of ``row`` at grid ``n``; None when its package is missing."""
    generator = torch.Generator().manual_seed(0)
    field = torch.rand(batch, n, n, generator=generator).to(torch.complex64)
    target = torch.rand(batch, n, n, generator=generator) * 1e-2
    if row in ("quaton", "quaton (autograd)"):
        from quaton.models import D2NN
        from quaton.optics.propagation import kernel_propagate

        model = D2NN(grid=n, pitch=PITCH, wavelength=WAVELENGTH, distances=[DISTANCE] * (LAYERS + 1))
        model.train()
        if row == "quaton":
            return _trainer(model.parameters(), model, field, target)

        def composition(x: torch.Tensor) -> torch.Tensor:
            spaces = model.propagations
            x = kernel_propagate(x, spaces[0].kernel((n, n), x.dtype, x.device))
            for mask, space in zip(model.masks, spaces[1:]):
                x = kernel_propagate(mask(x), space.kernel((n, n), x.dtype, x.device))
            return x

        return _trainer(model.parameters(), composition, field, target)
    if row == "naive torch":
        from quaton.optics import transfer_function

        kernels = [
            transfer_function((2 * n, 2 * n), wavelength=WAVELENGTH, pitch=PITCH, distance=DISTANCE)
            for _ in range(LAYERS + 1)
        ]
        phases = [torch.nn.Parameter(torch.rand(n, n, generator=generator) * 2 * math.pi) for _ in range(LAYERS)]
        half = n // 2

        def naive(x: torch.Tensor) -> torch.Tensor:
            for k, kernel in enumerate(kernels):
                if k:
                    x = x * torch.exp(1j * phases[k - 1])
                padded = F.pad(x, (half, n - half, half, n - half))
                x = torch.fft.ifft2(torch.fft.fft2(padded) * kernel)[..., half : half + n, half : half + n]
            return x

        return _trainer(phases, naive, field, target)
    if row == "LightRidge":
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per layer
                from lightridge.layers import DiffractLayer_Raw

                layers = [
                    DiffractLayer_Raw(
                        wavelength=WAVELENGTH,
                        pixel_size=PITCH,
                        size=n,
                        pad=n // 2,
                        distance=DISTANCE,
                        approx="Fresnel",
                        phase_mod=k < LAYERS,
                    )
                    for k in range(LAYERS + 1)
                ]
        except ImportError:
            return None
        for layer in layers:  # cast to complex64 / float32: its Fresnel kernel comes out complex128
            layer.h.data = layer.h.data.to(torch.complex64)
            layer.phase.data = layer.phase.data.to(torch.float32)
        network = torch.nn.Sequential(*layers)
        return _trainer([layer.phase for layer in layers[:LAYERS]], network, field, target)
    if row == "torchoptics":
        try:
            import torchoptics
            from torchoptics import Field, System
            from torchoptics.elements import PhaseModulator
        except ImportError:
            return None
        torchoptics.set_default_dtype(torch.float32)
        phases = [torch.nn.Parameter(torch.rand(n, n, generator=generator) * 2 * math.pi) for _ in range(LAYERS)]
        system = System(*(PhaseModulator(phases[k], z=(k + 1) * DISTANCE, spacing=PITCH) for k in range(LAYERS)))

        def optics(x: torch.Tensor) -> torch.Tensor:
            source = Field(x, wavelength=WAVELENGTH, z=0, spacing=PITCH)
            return system.measure(
                source,
                (n, n),
                (LAYERS + 1) * DISTANCE,
                spacing=PITCH,
                propagation_method="ASM",
                asm_pad=(n // 2, n // 2),
            ).data

        return _trainer(list(system.parameters()), optics, field, target)
    raise ValueError(f"unknown row {row!r}; choose one of {ROWS}")


def time_grid(
    n: int, batch: int, rows: list[str], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> dict:
    """Median ms of the bound and of every available row, timed round-robin in this process."""
    steps = {"FFT bound": fft_bound(batch, 2 * n)}
    for row in rows:
        step = build(row, n, batch)
        if step is not None:
            steps[row] = step
    for step in steps.values():  # warm-up: kernels, workspaces, allocator
        step()
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = clock()
            step()
            times[name].append(1e3 * (clock() - start))
    return {name: statistics.median(values) for name, values in times.items()}


def peak_mb(n: int, batch: int, row: str) -> float | None:
    """Maximum resident set size (MB) of a fresh process that builds ``row`` and runs two steps."""
    step = build(row, n, batch) if row != "FFT bound" else fft_bound(batch, 2 * n)
    if step is None:
        return None
    step()
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(arguments: list[str], environment: dict[str, str] | None = None) -> dict:
    command = [sys.executable, __file__, *arguments]
    run = subprocess.run(command, check=True, capture_output=True, text=True, env=environment)
    return json.loads(run.stdout.strip().splitlines()[-1])


def without_allocator_thresholds() -> dict[str, str]:
    """This environment without the MALLOC_* thresholds: with them glibc keeps every freed buffer,
    so the maximum resident set measures the heap's high-water mark and its fragmentation; without
    them large buffers are mapped and unmapped one by one and the peak is that of live tensors."""
    return {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grids", type=int, nargs="*", default=[64, 100, 128, 200])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=ROWS)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: perf_counter; cpu: the process's CPU time, all threads (robust on a loaded machine; "
        "set OMP_WAIT_POLICY=PASSIVE so that waiting threads do not spin)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--note", default=None, help="conditions of the measurement, stored with the results")
    parser.add_argument("--time-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.time_child is not None:
        clock = time.perf_counter if args.clock == "wall" else time.process_time
        print(json.dumps(time_grid(args.time_child, args.batch, args.rows, args.repeats, clock)))
        return
    if args.memory_child is not None:
        print(json.dumps({"peak_mb": peak_mb(int(args.memory_child[0]), args.batch, args.memory_child[1])}))
        return
    common = ["--batch", str(args.batch), "--threads", str(args.threads)]
    results = []
    started = time.perf_counter()
    for n in args.grids:
        times = child(
            [
                "--time-child",
                str(n),
                "--repeats",
                str(args.repeats),
                "--clock",
                args.clock,
                "--rows",
                *args.rows,
                *common,
            ]
        )
        bound = times["FFT bound"]
        for name, ms in times.items():
            peak = (
                None
                if args.no_memory
                else child(["--memory-child", str(n), name, *common], without_allocator_thresholds())["peak_mb"]
            )
            results.append(
                {
                    "grid": n,
                    "padded": 2 * n,
                    "row": name,
                    "clock": args.clock,
                    "threads": args.threads,
                    "step_ms": round(ms, 2),
                    "ratio": round(ms / bound, 3),
                    "peak_mb": None if peak is None else round(peak, 1),
                    **({"note": args.note} if args.note else {}),
                }
            )
    print(
        f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {LAYERS} layers, {args.clock} clock, "
        f"{args.repeats} rounds, {time.perf_counter() - started:.0f} s"
    )
    print(f"{'grid':>5} {'padded':>7}  {'row':<18} {'step ms':>9} {'ratio':>6} {'peak MB':>8}")
    for r in results:
        peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
        print(f"{r['grid']:>5} {r['padded']:>7}  {r['row']:<18} {r['step_ms']:>9.1f} {r['ratio']:>6.2f} {peak:>8}")
    if args.json:
        temporary = args.json.with_suffix(args.json.suffix + ".tmp")
        temporary.write_text(json.dumps(results, indent=2) + "\n")
        temporary.replace(args.json)


if __name__ == "__main__":
    main()
