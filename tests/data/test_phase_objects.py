"""Phase objects: the Evans-Fung red blood cell against its formula, natural images, user phase maps."""

import importlib.util
import math
import sys

import numpy as np
import pytest
import torch

from quaton.data.phase_objects import (
    RBCParameters,
    background_phase,
    evans_fung_thickness,
    load_phase_maps,
    natural_image_patches,
    rbc_phase_maps,
)
from quaton.errors import ConfigError, DataNotFoundError

# scikit-image is the optional extra quaton[natural] (CI installs it): only the photograph fallback needs it.
needs_skimage = pytest.mark.skipif(
    importlib.util.find_spec("skimage") is None, reason="scikit-image (quaton[natural]) is not installed"
)


def test_evans_fung_profile_has_the_published_shape():
    r = np.linspace(0, 3.91e-6, 2000)
    t = evans_fung_thickness(r)
    assert t[0] == pytest.approx(0.81e-6)  # centre thickness C0
    assert t.max() == pytest.approx(2.57e-6, rel=0.02)  # rim
    assert 0.6 < r[t.argmax()] / 3.91e-6 < 0.8
    assert evans_fung_thickness(np.array([4e-6]))[0] == 0.0
    # a larger cell is the same shape scaled in all three dimensions
    assert evans_fung_thickness(np.array([2e-6]), 1.1 * 7.82e-6)[0] == pytest.approx(
        1.1 * evans_fung_thickness(np.array([2e-6 / 1.1]))[0]
    )


def test_single_untilted_cell_phase_matches_the_formula():
    wavelength, pitch, diameter, contrast = 532e-9, 0.25e-6, 8e-6, 0.06
    parameters = RBCParameters(
        diameter=(diameter, diameter),
        index_contrast=(contrast, contrast),
        peak_phase=None,
        tilt=(0, 0),
        count=(1, 1),
        aberration_rms=(0, 0),
        noise_rms=(0, 0),
    )
    maps = rbc_phase_maps(1, 33, pitch, wavelength, parameters, seed=3, subsamples=1)
    phase = maps[0]
    expected_max = (
        2 * math.pi * contrast * evans_fung_thickness(np.linspace(0, 4e-6, 4000), diameter).max() / wavelength
    )
    assert phase.max() == pytest.approx(expected_max, rel=0.03)
    assert phase.min() == 0.0
    # the cell's area: π (D/2)² within a few pixels of the rim
    area = (phase > 0).sum() * pitch**2
    assert area == pytest.approx(math.pi * (diameter / 2) ** 2, rel=0.08)


def test_generated_cells_stay_in_the_physical_phase_range():
    """With index contrasts 0.05-0.07 at 532 nm (peak_phase None) the cells are as thin as the formula says."""
    parameters = RBCParameters(peak_phase=None, aberration_rms=(0, 0), noise_rms=(0, 0), diameter=(7e-6, 8.5e-6))
    maps = rbc_phase_maps(20, 32, 1e-6, 532e-9, parameters, seed=0)
    assert maps.shape == (20, 32, 32) and maps.dtype == np.float32
    assert maps.min() >= 0.0
    single_max = 2 * math.pi * 0.07 * 2.6e-6 * (8.5 / 7.82) / math.cos(math.radians(30)) / 532e-9
    assert 1.0 < np.percentile(maps.max(axis=(1, 2)), 50) < single_max
    assert not np.array_equal(maps[0], maps[1])
    assert np.array_equal(maps, rbc_phase_maps(20, 32, 1e-6, 532e-9, parameters, seed=0))


def _cells(maps: np.ndarray, threshold: float = 0.5) -> list[tuple[float, float]]:
    """(peak phase rad, area px) of each connected cell above ``threshold`` rad in maps [N, H, W]."""
    from scipy import ndimage

    cells = []
    for phase in maps:
        labels, n = ndimage.label(phase > threshold)
        for k in range(1, n + 1):
            cells.append((float(phase[labels == k].max()), float((labels == k).sum())))
    return cells


def test_default_cells_look_like_holography_data():
    """Issue 15 item 5: peak phases cover 2-4.5 rad (real discocytes at visible wavelengths), sizes
    and cells per field vary, cells do not overlap (each connected cell has one cell's peak)."""
    maps = rbc_phase_maps(300, 32, 1e-6, 532e-9, RBCParameters(aberration_rms=(0, 0), noise_rms=(0, 0)), seed=0)
    cells = np.array(_cells(maps))
    peaks, areas = cells[:, 0], cells[:, 1]
    assert peaks.max() <= 4.5 + 1e-3 and peaks.min() >= 1.9  # non-overlapping: no cell exceeds one cell's peak
    assert np.percentile(peaks, 5) < 2.3 and np.percentile(peaks, 95) > 4.2  # the whole 2-4.5 rad range
    assert np.histogram(peaks, bins=5, range=(2.0, 4.5))[0].min() > 0.1 * len(peaks)
    # diameters 6.5-9 µm: areas vary by (9 / 6.5)² ≈ 1.9 between the smallest and largest cells (tilt shrinks some)
    assert np.percentile(areas, 90) / np.percentile(areas, 10) > 1.4
    per_field = [len(_cells(m[None])) for m in maps]
    assert min(per_field) == 1 and max(per_field) == 5


def test_backgrounds_have_the_requested_rms_and_are_slow():
    parameters = RBCParameters(aberration_rms=(0.2, 0.2), noise_rms=(0.0, 0.0))
    background = background_phase(50, 32, 1e-6, parameters, seed=1)
    rms = np.sqrt((background**2).mean(axis=(1, 2)))
    assert np.allclose(rms, 0.2, rtol=1e-6) and np.allclose(background.mean(axis=(1, 2)), 0, atol=1e-9)
    # slow: neighbouring pixels nearly equal (a smooth field), unlike white noise of the same rms
    step = np.abs(np.diff(background, axis=-1)).mean()
    assert step < 0.2 * 0.2
    noisy = background_phase(50, 32, 1e-6, RBCParameters(aberration_rms=(0.2, 0.2), noise_rms=(0.05, 0.05)), seed=1)
    assert np.sqrt(((noisy - background) ** 2).mean()) == pytest.approx(0.05, rel=1e-6)
    # the generated fields carry it: far from the cells the phase is the background, not 0
    maps = rbc_phase_maps(
        50, 32, 1e-6, 532e-9, RBCParameters(aberration_rms=(0.3, 0.3), noise_rms=(0, 0), count=(1, 1)), seed=2
    )
    empty = maps < 0.0
    assert empty.mean() > 0.3  # about half the background lies below 0
    assert np.sqrt((maps[maps < 0.5] ** 2).mean()) == pytest.approx(0.3, rel=0.25)


def test_generation_is_seeded_and_seeds_differ():
    first = rbc_phase_maps(40, 32, 1e-6, 532e-9, seed=(0, 1))
    assert np.array_equal(first, rbc_phase_maps(40, 32, 1e-6, 532e-9, seed=(0, 1)))
    other = rbc_phase_maps(40, 32, 1e-6, 532e-9, seed=(0, 0))
    assert not np.isclose(first, other).all(axis=(1, 2)).any()  # no field of one seed appears in the other


def test_rbc_test_cells_come_from_another_seed_than_the_training_cells():
    """Issue 15 item 5: a network is evaluated on cells it never saw; the test set does not depend on train_size."""
    from quaton.builder import prepare_data
    from quaton.config import build_config

    settings = {
        "task": {"kind": "phase_imaging", "loss": "mse"},
        "model": {"grid": 48},
        "input": {"object_size": 32},
        "data": {"dataset": "rbc", "train_size": 30, "test_size": 10},
    }
    data = prepare_data(build_config(settings))
    bigger = prepare_data(build_config(settings, ["data.train_size=60"]))
    assert torch.equal(data.x_test, bigger.x_test)
    for field in data.x_test:
        assert not any(torch.allclose(field, seen) for seen in bigger.x_train)
    assert (data.x_test * math.pi).amax(dim=(1, 2)).max() > 2.0  # x = φ / π: the cells reach radians beyond π/2


def test_rbc_config_ranges_are_checked():
    from quaton.config import build_config
    from quaton.errors import ConfigError

    with pytest.raises(ConfigError, match="peak_phase"):
        build_config({"data": {"rbc": {"peak_phase": [4.5, 2.0]}}})
    with pytest.raises(ConfigError, match="aberration_rms"):
        build_config({"data": {"rbc": {"aberration_rms": [-0.1, 0.2]}}})


@needs_skimage
def test_natural_patches_come_from_cifar_or_scikit_image(tmp_path):
    patches = natural_image_patches(5, 32, root=tmp_path)
    assert patches.shape == (5, 32, 32) and patches.dtype == np.uint8 and patches.std() > 5
    cifar = np.random.default_rng(0).integers(0, 256, (10, 32, 32), dtype=np.uint8)
    np.savez(
        tmp_path / "cifar10_jpeg75_gray.npz", x_train=cifar, y_train=np.zeros(10), x_test=cifar[:2], y_test=np.zeros(2)
    )
    picked = natural_image_patches(4, 32, root=tmp_path)
    assert all(any(np.array_equal(p, c) for c in cifar) for p in picked)


@needs_skimage
def test_the_natural_image_source_is_recorded(tmp_path, monkeypatch):
    """Issue 13 item 2: data.dataset natural switches between CIFAR and photographs; say which."""
    from quaton.builder import prepare_data
    from quaton.config import build_config

    monkeypatch.delenv("QUATON_DATA", raising=False)
    settings = {
        "task": {"kind": "phase_imaging", "loss": "mse"},
        "model": {"grid": 32},
        "input": {"object_size": 16},
        "data": {"dataset": "natural", "root": str(tmp_path), "train_size": 8, "test_size": 4},
    }
    assert prepare_data(build_config(settings)).source.startswith("scikit-image photographs (camera")
    cifar = np.random.default_rng(0).integers(0, 256, (20, 32, 32), dtype=np.uint8)
    np.savez(
        tmp_path / "cifar10_jpeg75_gray.npz", x_train=cifar, y_train=np.zeros(20), x_test=cifar[:2], y_test=np.zeros(2)
    )
    assert prepare_data(build_config(settings)).source == f"CIFAR-10 grayscale ({tmp_path / 'cifar10_jpeg75_gray.npz'})"


def test_natural_without_scikit_image_needs_cifar_and_says_so(tmp_path, monkeypatch):
    """Issue 14: without the natural extra, CIFAR still works and the fallback fails with a ConfigError."""
    for module in ("skimage", "skimage.color", "skimage.data"):
        monkeypatch.setitem(sys.modules, module, None)  # import skimage now raises ImportError
    monkeypatch.delenv("QUATON_DATA", raising=False)
    with pytest.raises(ConfigError, match=r"data.dataset: natural needs .*cifar10_jpeg75_gray.npz.*quaton\[natural\]"):
        natural_image_patches(3, 32, root=tmp_path)
    cifar = np.random.default_rng(2).integers(0, 256, (6, 32, 32), dtype=np.uint8)
    np.savez(
        tmp_path / "cifar10_jpeg75_gray.npz", x_train=cifar, y_train=np.zeros(6), x_test=cifar[:2], y_test=np.zeros(2)
    )
    picked = natural_image_patches(3, 32, root=tmp_path)
    assert all(any(np.array_equal(p, c) for c in cifar) for p in picked)


def test_user_phase_maps_from_folder_npy_and_npz(tmp_path):
    maps = np.random.default_rng(1).uniform(0, 3, (6, 20, 20)).astype(np.float32)
    (tmp_path / "folder").mkdir()
    for k, m in enumerate(maps):
        np.save(tmp_path / "folder" / f"{k:02d}.npy", m)
    assert np.array_equal(load_phase_maps(tmp_path / "folder"), maps)
    np.save(tmp_path / "stack.npy", maps)
    assert np.array_equal(load_phase_maps(tmp_path / "stack.npy"), maps)
    np.savez(tmp_path / "maps.npz", phase=maps, other=maps)
    assert np.array_equal(load_phase_maps(tmp_path / "maps.npz"), maps)
    np.save(tmp_path / "bad.npy", np.full((2, 4, 4), np.nan))
    with pytest.raises(DataNotFoundError, match="finite"):
        load_phase_maps(tmp_path / "bad.npy")
    with pytest.raises(DataNotFoundError, match="do not exist"):
        load_phase_maps(tmp_path / "missing.npy")
