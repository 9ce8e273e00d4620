"""MZI meshes against analytic optics: couplers and meshes are unitary, the Clements decomposition
reproduces Haar-random unitaries, the activation and the Fourier encoding behave as their formulas say."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import unitary_group

from quaton.models.mzi import (
    ClementsMesh,
    ElectroOpticActivation,
    MZINetwork,
    beamsplitter,
    clements_decompose,
    draw_mesh_errors,
    fourier_encode,
    mzi_matrix,
)


def random_fields(batch, n, dtype=torch.complex64, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    return torch.complex(torch.randn(batch, n, generator=g, dtype=real), torch.randn(batch, n, generator=g, dtype=real))


def unitarity_error(u):
    return (u @ u.conj().T - torch.eye(u.shape[0], dtype=u.dtype)).abs().max().item()


def test_ideal_coupler_splits_50_50_with_a_quarter_wave_cross_phase():
    b = beamsplitter(torch.tensor(0.0))
    assert torch.allclose(b.abs().square(), torch.full((2, 2), 0.5))
    assert torch.allclose(b[0, 1] / b[0, 0], torch.tensor(1j, dtype=b.dtype))


@pytest.mark.parametrize("e", [-0.9, -0.1, 0.0, 0.3, 0.99])
def test_coupler_with_split_error_is_unitary_and_splits_1_plus_e(e):
    b = beamsplitter(torch.tensor(e, dtype=torch.float64))
    assert unitarity_error(b) < 1e-12
    assert b[0, 0].abs().square().item() == pytest.approx((1 + e) / 2)


def test_mzi_ideal_closed_form_bar_and_cross_states():
    theta = torch.tensor([0.7, math.pi, 0.0], dtype=torch.float64)
    phi = torch.tensor([1.3, 0.2, -0.4], dtype=torch.float64)
    t = mzi_matrix(theta, phi)
    s, c, e = torch.sin(theta / 2), torch.cos(theta / 2), torch.exp(1j * phi)
    expected = (
        1j
        * torch.exp(0.5j * theta)[:, None, None]
        * torch.stack([torch.stack([e * s, c.to(e.dtype)], -1), torch.stack([e * c, -s.to(e.dtype)], -1)], -2)
    )
    assert torch.allclose(t, expected, atol=1e-14)
    assert t[1].abs().diagonal().allclose(torch.ones(2, dtype=torch.float64))  # θ = π: bar
    assert t[2].abs().diagonal().allclose(torch.zeros(2, dtype=torch.float64), atol=1e-15)  # θ = 0: cross


def test_mzi_with_split_errors_is_unitary_but_cannot_switch_fully():
    g = torch.Generator().manual_seed(1)
    theta, phi = torch.rand(2, 100, generator=g, dtype=torch.float64) * 6.3
    errors = 0.2 * torch.randn(100, 2, generator=g, dtype=torch.float64)
    t = mzi_matrix(theta, phi, errors)
    eye = torch.eye(2, dtype=t.dtype)
    assert (t @ t.conj().transpose(-1, -2) - eye).abs().max() < 1e-12
    # equal split errors e on both couplers: the cross state (θ = 0) leaks |T00|² = e² (extinction limit)
    e = torch.tensor([[0.1, 0.1]], dtype=torch.float64)
    cross = mzi_matrix(torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), e)
    assert cross[0, 0, 0].abs().square().item() == pytest.approx(0.01, rel=1e-9)


@pytest.mark.parametrize("n", [4, 7, 64])
def test_error_free_mesh_is_unitary(n):
    mesh = ClementsMesh(n, seed=n)
    assert mesh.theta.numel() == n * (n - 1) // 2 == mesh.phi.numel() and mesh.gamma.numel() == n
    assert mesh.theta.dtype == torch.float32
    u = mesh.matrix()
    assert u.dtype == torch.complex64 and unitarity_error(u) < 1e-5
    assert unitarity_error(mesh.matrix(dtype=torch.complex128)) < 1e-12
    assert unitarity_error(mesh.double().matrix()) < 1e-12


@pytest.mark.parametrize("n", [1, 2, 5, 8, 65])
def test_column_by_column_and_product_tree_agree(n):
    mesh = ClementsMesh(n, seed=n).double()
    errors = draw_mesh_errors(n, 0.05, 0.05, torch.Generator().manual_seed(n), dtype=torch.float64)
    for e in (None, errors):
        columns, tree = mesh.matrix(e, method="columns"), mesh.matrix(e, method="tree")
        assert (columns - tree).abs().max() < 1e-13
    assert unitarity_error(tree) < 1e-12


def test_mesh_with_errors_is_still_unitary_and_differs():
    mesh = ClementsMesh(7, seed=2).double()
    errors = draw_mesh_errors(7, 0.1, 0.1, torch.Generator().manual_seed(0), dtype=torch.float64)
    u = mesh.matrix(errors)
    assert unitarity_error(u) < 1e-12
    assert (u - mesh.matrix()).abs().max() > 1e-2


def test_mesh_seed_and_generator_are_reproducible():
    a, b, c = ClementsMesh(5, seed=3), ClementsMesh(5, seed=3), ClementsMesh(5, seed=4)
    assert torch.equal(a.theta, b.theta) and not torch.equal(a.theta, c.theta)
    assert 0 <= a.theta.min() and a.theta.max() < 2 * math.pi
    d = ClementsMesh(5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.phi, d.phi)


@pytest.mark.parametrize("n", [2, 5, 8, 64])
def test_clements_decomposition_reproduces_haar_unitaries(n):
    target = unitary_group.rvs(n, random_state=100 + n)
    theta, phi, gamma = clements_decompose(target)
    assert theta.shape == phi.shape == (n * (n - 1) // 2,) and gamma.shape == (n,)
    mesh = ClementsMesh(n).double()
    mesh.load_unitary(target)
    assert np.abs(mesh.matrix().detach().numpy() - target).max() < 1e-10
    assert np.allclose(mesh.theta.detach().numpy(), theta)


def test_clements_decomposition_handles_permutations_and_identity():
    for target in (np.eye(6), np.eye(6)[::-1], np.diag(np.exp(1j * np.arange(5)))):
        mesh = ClementsMesh(len(target)).double()
        mesh.load_unitary(target)
        assert np.abs(mesh.matrix().detach().numpy() - target).max() < 1e-10


def test_haar_init_is_unitary_and_float32():
    mesh = ClementsMesh(6, seed=0, init="haar")
    assert mesh.theta.dtype == torch.float32 and unitarity_error(mesh.matrix()) < 1e-5


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_forward_is_u_times_x_and_conserves_energy(dtype):
    mesh = ClementsMesh(9, seed=5)
    x = random_fields(6, 9, dtype)
    y = mesh(x)
    assert y.dtype == dtype
    u = mesh.matrix(dtype=dtype)
    for i in range(6):
        assert torch.allclose(y[i], u @ x[i], atol=1e-5)
    tolerance = 1e-5 if dtype == torch.complex64 else 1e-12
    energy_in, energy_out = x.abs().square().sum(-1), y.abs().square().sum(-1)
    assert torch.allclose(energy_out, energy_in, rtol=tolerance)


def test_mesh_gradients_match_finite_differences():
    mesh = ClementsMesh(3, seed=1).double()
    x = random_fields(2, 3, torch.complex128)
    names = ("theta", "phi", "gamma")

    def power(params):
        return torch.func.functional_call(mesh, params, (x,)).abs().square()[:, 0].sum()

    params = {name: getattr(mesh, name).detach().clone().requires_grad_(True) for name in names}
    grads = torch.autograd.grad(power(params), [params[name] for name in names])
    h = 1e-6
    for name, grad in zip(names, grads):
        for k in range(grad.numel()):
            shifted = {key: value.detach().clone() for key, value in params.items()}
            shifted[name][k] += h
            up = power(shifted)
            shifted[name][k] -= 2 * h
            down = power(shifted)
            assert grad[k].item() == pytest.approx(((up - down) / (2 * h)).item(), abs=1e-7)


def test_activation_without_gain_is_a_fixed_attenuation_and_phase():
    x = random_fields(4, 16, torch.complex128)
    for bias in (0.0, math.pi / 3, 2.0):
        f = ElectroOpticActivation(alpha=0.0, gain=0.0, bias=bias)(x)
        assert torch.allclose(f.abs(), abs(math.cos(bias / 2)) * x.abs(), atol=1e-12)
        ratio = f / x
        assert torch.allclose(ratio, torch.full_like(ratio, math.cos(bias / 2) * np.exp(-1j * bias / 2)), atol=1e-12)
    dark = ElectroOpticActivation(alpha=0.0, gain=0.0, bias=math.pi)(x)  # φ_b = π: the MZI is off
    assert dark.abs().max() < 1e-12


def test_activation_transmission_follows_the_detector_driven_mzi():
    # power transmission (1 − α)·cos²(g|x|²/2 + φ_b/2): with φ_b = π, dark at zero input, open at g|x|² = π
    act = ElectroOpticActivation(alpha=0.1, gain=0.05 * math.pi, bias=math.pi)
    power = torch.tensor([0.0, 5.0, 20.0, 40.0], dtype=torch.float64)
    x = torch.sqrt(power).to(torch.complex128) * np.exp(0.4j)
    transmission = act(x).abs().square() / power.clamp_min(1e-300)
    expected = 0.9 * torch.cos(0.5 * act.gain * power + math.pi / 2).square()
    assert torch.allclose(transmission[1:], expected[1:], rtol=1e-12)
    assert transmission[3].item() == pytest.approx(0.9 * math.sin(math.pi) ** 2, abs=1e-12)
    assert transmission[2].item() == pytest.approx(0.9, rel=1e-12)  # g|x|² = π: open


def test_fourier_encode_constant_image_is_all_dc():
    images = torch.full((3, 28, 28), 0.7)
    images[1] *= 2
    fields = fourier_encode(images)
    assert fields.shape == (3, 64) and fields.dtype == torch.complex64
    power = fields.abs().square()
    assert torch.allclose(power[:, 36], power.sum(-1))  # centre of the 8×8 block: row 4, column 4
    assert torch.allclose(fields.abs().mean(-1), torch.ones(3))  # the authors' norm_inputs: mean |a| = 1
    assert torch.allclose(fields.abs().sum(-1), torch.full((3,), 64.0))


def test_fourier_encode_matches_numpy_crop_and_generalises():
    rng = np.random.default_rng(0)
    images = rng.random((2, 28, 28))
    spectrum = np.fft.fftshift(np.fft.fft2(images), axes=(1, 2))[:, 10:18, 10:18].reshape(2, 64)
    expected = spectrum / np.abs(spectrum).mean(1, keepdims=True)
    fields = fourier_encode(torch.from_numpy(images))
    assert fields.dtype == torch.complex128 and np.allclose(fields.numpy(), expected, atol=1e-12)
    # a single shifted plane wave lands in one port
    y, x = np.mgrid[:28, :28]
    wave = torch.from_numpy(np.cos(2 * np.pi * (2 * x) / 28))
    power = fourier_encode(wave[None], ports=49).abs().square()[0]
    assert power.argmax().item() in (3 * 7 + 1, 3 * 7 + 5) and torch.allclose(power[[22, 26]], power.sum() / 2)
    with pytest.raises(ValueError, match="perfect square"):
        fourier_encode(torch.zeros(1, 28, 28), ports=50)
    assert torch.equal(fourier_encode(torch.zeros(1, 28, 28)), torch.zeros(1, 64, dtype=torch.complex64))


def test_network_forward_stages_hooks_and_params():
    net = MZINetwork(ports=16, meshes=3, classes=4, seed=0)
    x = fourier_encode(torch.rand(5, 28, 28, generator=torch.Generator().manual_seed(0)), ports=16)
    out, fields = net.stages(x)
    assert out.shape == (5, 16) and len(fields) == 3
    assert torch.allclose(out.norm(dim=-1), torch.ones(5))
    assert torch.allclose(out, l2_normalized_power(fields[-1]))
    assert torch.equal(net(x), out) and net.scores(out).shape == (5, 4)
    # stage l+1 is mesh l+1 applied to the activated stage l
    assert torch.allclose(fields[1], net.meshes[1](net.activation(fields[0])), atol=1e-6)
    # the hooks: correction c(x) = −x/2 halves the field; replace substitutes it
    halved, halved_fields = net.stages(x, correction=[lambda f: -0.5 * f, None, None])
    assert torch.allclose(halved_fields[0], 0.5 * fields[0])
    swapped = torch.polar(torch.ones(5, 16), torch.zeros(5, 16))
    replaced, replaced_fields = net.stages(x, replace=[None, None, lambda f: swapped])
    assert torch.allclose(replaced, torch.full((5, 16), 0.25)) and replaced_fields[-1] is swapped
    # the output is differentiable w.r.t. every phase
    net.scores(net(x)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def l2_normalized_power(field):
    power = field.abs().square()
    return power / power.norm(dim=-1, keepdim=True)


def test_device_params_round_trip():
    a, b = MZINetwork(ports=16, meshes=2, seed=1), MZINetwork(ports=16, meshes=2, seed=2)
    params = a.device_params()
    assert len(params) == 2 and params[0]["theta"].dtype == np.float64 and params[0]["gamma"].shape == (16,)
    b.load_device_params(params)
    x = random_fields(3, 16)
    assert torch.equal(a(x), b(x))
    with pytest.raises(ValueError, match="meshes"):
        b.load_device_params(params[:1])


def test_mesh_error_statistics():
    errors = draw_mesh_errors(64, 0.05, 0.02, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert errors.bs.shape == (2016, 2) and errors.theta.shape == errors.phi.shape == (2016,)
    assert torch.equal(errors.gamma, torch.zeros(64, dtype=torch.float64))
    # 4032 and 2016 draws: the sample std is within ~4 standard errors (σ/√(2N)) of σ
    assert errors.bs.std().item() == pytest.approx(0.05, rel=0.05)
    assert errors.theta.std().item() == pytest.approx(0.02, rel=0.07)
    assert errors.phi.std().item() == pytest.approx(0.02, rel=0.07)
    assert abs(errors.theta.mean().item()) < 4 * 0.02 / math.sqrt(2016)
    assert torch.corrcoef(torch.stack([errors.theta, errors.phi]))[0, 1].abs() < 0.1
    again = draw_mesh_errors(64, 0.05, 0.02, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(again.bs, errors.bs)
