"""The fused propagation (one autograd node, hand-written backward) equals the autograd composition."""

import copy
from pathlib import Path

import pytest
import torch

from quaton.builder import build_model
from quaton.config import load_config
from quaton.models import D2NN
from quaton.optics import FreeSpace, PhaseMask, intensity
from quaton.optics.propagation import fast_propagate, kernel_propagate, transfer_function

ROOT = Path(__file__).parents[2]

WAVELENGTH = 0.75e-3


def random_complex(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.complex128, generator=generator)


@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck_of_the_fused_propagation(masked):
    """The hand-written reverse is the adjoint pad→FFT→×conj(H)→IFFT→crop, for any kernel H: a
    random complex kernel (not unitary, not symmetric) on a non-square padded grid, complex128."""
    field = random_complex(2, 5, 6, seed=0).requires_grad_()
    kernel = random_complex(10, 12, seed=1)
    transmission = random_complex(5, 6, seed=2).requires_grad_() if masked else None
    adjoint = kernel.conj().resolve_conj()
    assert torch.autograd.gradcheck(
        lambda x, t: fast_propagate(x, kernel, adjoint, t), (field, transmission), eps=1e-6, atol=1e-8
    )


def test_the_adjoint_identity_holds_for_a_physical_kernel():
    """<A x, y> = <x, Aᴴ y> with Aᴴ the backward pass, for a band-limited ASM kernel."""
    kernel = transfer_function((24, 24), wavelength=WAVELENGTH, pitch=0.4e-3, distance=30e-3, dtype=torch.complex128)
    x = random_complex(3, 12, 12, seed=3).requires_grad_()
    y = random_complex(3, 12, 12, seed=4)
    ax = fast_propagate(x, kernel)
    (adjoint_y,) = torch.autograd.grad(ax, x, grad_outputs=y)
    assert torch.vdot(ax.flatten(), y.flatten()).item() == pytest.approx(
        torch.vdot(x.flatten(), adjoint_y.flatten()).item(), rel=1e-12
    )


def test_forward_equals_the_reference_composition():
    kernel = transfer_function(
        (32, 32), wavelength=WAVELENGTH, pitch=0.4e-3, distance=20e-3, method="fresnel", dtype=torch.complex128
    )
    field, mask = random_complex(2, 16, 16, seed=5), random_complex(16, 16, seed=6)
    assert torch.allclose(
        fast_propagate(field, kernel, transmission=mask), kernel_propagate(field * mask, kernel), atol=1e-12
    )


def reference_forward(model: D2NN, field: torch.Tensor) -> torch.Tensor:
    """The composition the fused path replaces: pad-FFT-kernel-IFFT-crop by autograd, mask products apart."""

    def space(module: FreeSpace, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.complex128 if x.dtype in (torch.float64, torch.complex128) else torch.complex64)
        return kernel_propagate(x, module.kernel(tuple(x.shape[-2:]), x.dtype, x.device))

    field = space(model.propagations[0], field)
    for mask, module in zip(model.masks, model.propagations[1:]):
        field = space(module, mask(field))
    return field


def loss_and_grads(model: D2NN, forward, field: torch.Tensor, target: torch.Tensor):
    model.zero_grad(set_to_none=True)
    loss = ((intensity(forward(field)) - target) ** 2).mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize(
    "overrides",
    [
        ["quantization.method=none"],
        ["quantization.method=psq", "quantization.levels=4"],
        ["quantization.method=ste", "quantization.levels=2", "quantization.relaxation=chord"],
        ["quantization.method=psq", "quantization.levels=4", "quantization.relaxation=arc"],
    ],
)
def test_d2nn_loss_and_gradients_equal_the_reference_path(overrides):
    """Five layers, complex64, batch 4, with and without quantizers (chord and arc relaxations):
    same loss and same gradient of every parameter as the autograd composition, to float32 rounding."""
    grid = 24
    config = load_config(
        ROOT / "configs" / "default.yaml",
        [*overrides, f"model.grid={grid}", "model.layers=5", "input.object_size=16", "detector.size=3"],
    )
    model = build_model(config)
    model.train()
    reference = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(7)
    field = torch.rand(4, grid, grid, generator=generator).to(torch.complex64)
    target = torch.rand(4, grid, grid, generator=generator) * 1e-2
    loss_fast, grads_fast = loss_and_grads(model, model, field, target)
    loss_ref, grads_ref = loss_and_grads(reference, lambda x: reference_forward(reference, x), field, target)
    assert len(grads_fast) == len(grads_ref) >= 5
    assert loss_fast.item() == pytest.approx(loss_ref.item(), rel=1e-5)
    for fast, ref in zip(grads_fast, grads_ref):
        assert ref.abs().max() > 0
        assert torch.allclose(fast, ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())


def test_a_mask_with_its_own_forward_is_not_fused():
    """A PhaseMask subclass that overrides forward is called as a module, not bypassed."""

    class Dimmer(PhaseMask):
        def forward(self, field):
            return 0.5 * super().forward(field)

    model = D2NN(grid=16, pitch=0.4e-3, wavelength=WAVELENGTH, distances=[10e-3] * 3, init="zeros")
    field = torch.ones(1, 16, 16, dtype=torch.complex64)
    bright = intensity(model(field)).sum()
    model.masks[0] = Dimmer((16, 16), init="zeros")
    model.masks[1] = Dimmer((16, 16), init="zeros")
    assert intensity(model(field)).sum().item() == pytest.approx(bright.item() / 16, rel=1e-5)


def test_the_shared_padded_buffer_keeps_results_independent_of_call_history():
    """The planes of a D2NN share one padded buffer whose border must stay zero: outputs and
    gradients do not depend on what ran before (other batch sizes, a backward pass), and every
    image of a batch propagates as it would alone (no wrap-around from stale data)."""
    model = D2NN(grid=16, pitch=0.4e-3, wavelength=WAVELENGTH, distances=[10e-3] * 4, seed=2)
    generator = torch.Generator().manual_seed(3)
    field = torch.rand(3, 16, 16, generator=generator).to(torch.complex64)
    first = model(field).detach()
    intensity(model(torch.rand(5, 16, 16, generator=generator).to(torch.complex64))).sum().backward()
    alone = torch.stack([model(field[k : k + 1])[0] for k in range(3)]).detach()
    assert torch.equal(model(field).detach(), first)
    assert torch.allclose(alone, first, atol=1e-6)
    workspace = model.propagations[0].workspace
    assert all(space.workspace is workspace for space in model.propagations)
    buffer = workspace.get(field[:1], (32, 32))
    assert buffer[..., 16:, :].abs().max() == 0 and buffer[..., :16, 16:].abs().max() == 0


def test_d2nn_equals_a_naive_loop_with_the_field_centred_in_its_window():
    """An independent loop (F.pad centring the field, fft2, x H, ifft2, crop, x exp(iφ)) gives the
    same detector field as the D2NN, which pads at the corner and fuses each mask into the next
    propagation: the linear convolution does not depend on where the field sits in the window."""
    import torch.nn.functional as F

    grid, pitch, distances = 20, 0.4e-3, [12e-3] * 4
    model = D2NN(grid=grid, pitch=pitch, wavelength=WAVELENGTH, distances=distances, seed=4).double()
    field = random_complex(2, grid, grid, seed=8)
    half = grid // 2
    x = field
    for k, distance in enumerate(distances):
        if k:
            x = x * torch.exp(1j * model.masks[k - 1].phase().double())
        kernel = transfer_function(
            (2 * grid, 2 * grid), wavelength=WAVELENGTH, pitch=pitch, distance=distance, dtype=torch.complex128
        )
        x = torch.fft.ifft2(torch.fft.fft2(F.pad(x, (half, grid - half, half, grid - half))) * kernel)[
            ..., half : half + grid, half : half + grid
        ]
    assert torch.allclose(model(field), x, atol=1e-12 * x.abs().max().item())
