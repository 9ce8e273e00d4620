"""The benchmark's FFT bound counts the FFTs a training step really runs."""

import importlib.util
from pathlib import Path

import pytest
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).parents[2]
spec = importlib.util.spec_from_file_location("benchmark_step", ROOT / "benchmarks" / "step.py")
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


@pytest.mark.parametrize("layers", [1, 2, 5])
def test_the_bound_counts_the_ffts_of_the_timed_step(layers):
    """2 FFTs per propagation forward (L + 1 of them), 2 per propagation backward except the first,
    whose input needs no gradient: 4L + 2, i.e. 22 for five layers (not 4(L + 1) = 24)."""
    _, model, step, _ = benchmark.build_step(ROOT / "configs" / "default.yaml", 32, layers, 4, "psq", 4)
    step()  # builds and caches the transfer functions
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    counted = sum(event.count for event in prof.key_averages() if event.key == "aten::_fft_c2c")
    assert counted == benchmark.step_ffts(model.num_layers) == 4 * layers + 2
