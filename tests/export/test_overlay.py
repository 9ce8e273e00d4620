"""Mask overlay of multi-step binary optics (issue 19): misaligned masks leave slivers of wrong levels
at level edges; a pixel transmits the area average of exp(iφ) over its slivers.

The masks are those of the default GDS, an etched plate (issue 27): a pixel of design level L is
etched to L' = (−L) mod 2^k, and etching removes material, so a region under the open masks b'_j has
the phase −Σ_j b'_j·(2π/2^j)·(1 + e_j)."""

import math

import numpy as np
import pytest
import torch

from quaton.export.gds import etched_levels, fabricated_regions, mask_bits
from quaton.export.simulate import AreaAveragedMask
from quaton.optics import PhaseMask


def _levels(seed: int = 0, n: int = 4, grid: int = 16) -> np.ndarray:
    """Blocks of 4 x 4 pixels at random levels: edges between blocks, interiors away from them."""
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, n, (grid // 4, grid // 4)), np.ones((4, 4), dtype=np.int64))


def _transmission(weights: np.ndarray, phases: np.ndarray) -> torch.Tensor:
    return (
        AreaAveragedMask(weights, phases).eval().transmission(torch.complex128)
        if len(weights) > 1
        else _phase_mask(phases[0])
    )


def _phase_mask(phase: np.ndarray) -> torch.Tensor:
    mask = PhaseMask(phase.shape, init="zeros").eval()
    with torch.no_grad():
        mask.raw.copy_(torch.from_numpy(np.mod(phase, 2 * math.pi).astype(np.float32)))
    return mask.transmission(torch.complex128)


@pytest.mark.parametrize("n", [4, 8])
def test_zero_overlay_is_the_design_exactly(n):
    levels = _levels(n=n)
    k = int(math.log2(n))
    weights, phases = fabricated_regions(levels, k, np.zeros((k, 2)))
    assert weights.tolist() == [1.0]
    # the etch of level (−L) mod n removes the phase 2π((−L) mod n)/n: what is left is 2πL/n modulo 2π
    etched = np.mod(-levels, n)
    assert np.allclose(phases[0], -etched * 2 * math.pi / n, rtol=0, atol=1e-12)
    assert np.allclose(np.exp(1j * phases[0]), np.exp(2j * math.pi * levels / n), atol=1e-12)
    assert torch.equal(_transmission(weights, phases), _phase_mask(levels * 2 * math.pi / n))
    # the relief master (its replica) adds the height map's phase itself
    _, relief = fabricated_regions(levels, k, np.zeros((k, 2)), polarity="relief")
    assert np.allclose(relief[0], levels * 2 * math.pi / n, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "offset, moved",
    [
        ((1.0, 0.0), lambda m: np.pad(m, ((0, 0), (1, 0)))[:, :-1]),  # +x: one column to the right
        ((0.0, 1.0), lambda m: np.pad(m, ((0, 1), (0, 0)))[1:, :]),  # +y: one row up (towards row 0)
        ((-1.0, -1.0), lambda m: np.pad(m, ((1, 0), (0, 1)))[:-1, 1:]),  # left and down
    ],
)
def test_a_whole_pixel_overlay_of_every_step_moves_the_level_map_by_one_pixel(offset, moved):
    levels = _levels(seed=1, n=8)
    weights, phases = fabricated_regions(levels, 3, np.tile(offset, (3, 1)))
    expected_weights, expected = fabricated_regions(moved(levels), 3)
    assert weights.tolist() == expected_weights.tolist() == [1.0]
    assert np.array_equal(phases, expected)  # vacated pixels are unetched: level 0


def test_a_small_overlay_changes_only_pixels_at_level_edges():
    levels = _levels(seed=2, n=4)
    offsets = np.array([[0.0, 0.0], [0.3, -0.2]])  # mask 2 off by 0.3 px along x, 0.2 px along −y
    weights, phases = fabricated_regions(levels, 2, offsets)
    assert len(weights) == 4 and math.isclose(weights.sum(), 1.0)
    perturbed = _transmission(weights, phases)
    nominal = _phase_mask(levels * 2 * math.pi / 4)
    # a pixel whose 3 x 3 neighbourhood holds one level of mask 2 cannot see the sub-pixel shift
    # (outside the array nothing is etched: the border is an edge of an open mask)
    bit = np.pad(mask_bits(etched_levels(levels, 2), 2)[1], 1, constant_values=False)
    windows = np.lib.stride_tricks.sliding_window_view(bit, (3, 3))
    interior = (windows == windows[..., 1:2, 1:2]).all(axis=(-1, -2))
    changed = (perturbed != nominal).numpy()
    assert changed.any() and not (changed & interior).any()
    # slivers of another phase make the pixel's transmission smaller than 1
    assert (perturbed.abs().numpy()[changed] < 1 - 1e-3).all()


def test_a_sliver_is_weighted_by_its_area():
    """A vertical edge of mask 2 (level 3 | level 0 of 4) moved 0.25 px to the right: a quarter of the
    first pixel right of the edge is now etched by mask 2, which removes the phase π/2."""
    levels = np.zeros((4, 8), dtype=np.int64)
    levels[:, :4] = 3  # level 3 (3π/2) is etched to level 1: mask 2 alone open on the left half
    assert not mask_bits(etched_levels(levels, 2), 2)[0].any()
    weights, phases = fabricated_regions(levels, 2, np.array([[0.0, 0.0], [0.25, 0.0]]))
    t = _transmission(weights, phases).numpy()
    # column 4 (level 0) gets a sliver 0.25 px wide etched by mask 2 (phase −π/2): t = 0.75 − 0.25 i
    assert np.allclose(t[:, 4], 0.75 - 0.25j, atol=1e-7)
    assert np.allclose(t[:, 3], -1j, atol=1e-7) and np.allclose(t[:, 5], 1.0, atol=1e-7)


def test_etch_errors_and_overlay_combine_per_sliver():
    levels = np.zeros((2, 4), dtype=np.int64)
    levels[:, :2] = 1  # level 1 is etched to level 3: both masks open on the left
    errors = np.array([0.1, -0.2])
    weights, phases = fabricated_regions(levels, 2, np.array([[0.0, 0.0], [0.5, 0.0]]), errors)
    assert weights.tolist() == [0.5, 0.5]
    mask_1, mask_2 = -math.pi * 1.1, -math.pi / 2 * 0.8  # each etch removes its phase
    # column 2: mask 1 closed; mask 2's opening reaches half of it
    assert sorted(phases[:, 0, 2]) == pytest.approx(sorted([0.0, mask_2]))
    assert phases[:, 0, 1] == pytest.approx([mask_1 + mask_2] * 2)
    # column 0: mask 2 now starts half a pixel in, and nothing etches outside the array
    assert sorted(phases[:, 0, 0]) == pytest.approx(sorted([mask_1, mask_1 + mask_2]))
