"""Phase objects: the Evans-Fung red blood cell against its formula, natural images, user phase maps."""

import math

import numpy as np
import pytest

from quaton.data.phase_objects import RBCParameters, evans_fung_thickness, load_phase_maps, natural_image_patches, rbc_phase_maps
from quaton.errors import DataNotFoundError


def test_evans_fung_profile_has_the_published_shape():
    r = np.linspace(0, 3.91e-6, 2000)
    t = evans_fung_thickness(r)
    assert t[0] == pytest.approx(0.81e-6)  # centre thickness C0
    assert t.max() == pytest.approx(2.57e-6, rel=0.02)  # rim
    assert 0.6 < r[t.argmax()] / 3.91e-6 < 0.8
    assert evans_fung_thickness(np.array([4e-6]))[0] == 0.0
    # a larger cell is the same shape scaled in all three dimensions
    assert evans_fung_thickness(np.array([2e-6]), 1.1 * 7.82e-6)[0] == pytest.approx(1.1 * evans_fung_thickness(np.array([2e-6 / 1.1]))[0])


def test_single_untilted_cell_phase_matches_the_formula():
    wavelength, pitch, diameter, contrast = 532e-9, 0.25e-6, 8e-6, 0.06
    parameters = RBCParameters(diameter=(diameter, diameter), index_contrast=(contrast, contrast), tilt=(0, 0), count=(1, 1))
    maps = rbc_phase_maps(1, 33, pitch, wavelength, parameters, seed=3, subsamples=1)
    phase = maps[0]
    expected_max = 2 * math.pi * contrast * evans_fung_thickness(np.linspace(0, 4e-6, 4000), diameter).max() / wavelength
    assert phase.max() == pytest.approx(expected_max, rel=0.03)
    assert phase.min() == 0.0
    # the cell's area: π (D/2)² within a few pixels of the rim
    area = (phase > 0).sum() * pitch**2
    assert area == pytest.approx(math.pi * (diameter / 2) ** 2, rel=0.08)


def test_generated_cells_stay_in_the_physical_phase_range():
    maps = rbc_phase_maps(20, 32, 1e-6, 532e-9, seed=0)
    assert maps.shape == (20, 32, 32) and maps.dtype == np.float32
    assert maps.min() >= 0.0
    single_max = 2 * math.pi * 0.07 * 2.6e-6 * (8.5 / 7.82) / math.cos(math.radians(30)) / 532e-9
    assert 1.0 < np.percentile(maps.max(axis=(1, 2)), 50) < single_max
    assert not np.array_equal(maps[0], maps[1])
    assert np.array_equal(maps, rbc_phase_maps(20, 32, 1e-6, 532e-9, seed=0))


def test_natural_patches_come_from_cifar_or_scikit_image(tmp_path):
    patches = natural_image_patches(5, 32, root=tmp_path)
    assert patches.shape == (5, 32, 32) and patches.dtype == np.uint8 and patches.std() > 5
    cifar = np.random.default_rng(0).integers(0, 256, (10, 32, 32), dtype=np.uint8)
    np.savez(tmp_path / "cifar10_jpeg75_gray.npz", x_train=cifar, y_train=np.zeros(10), x_test=cifar[:2], y_test=np.zeros(2))
    picked = natural_image_patches(4, 32, root=tmp_path)
    assert all(any(np.array_equal(p, c) for c in cifar) for p in picked)


def test_the_natural_image_source_is_recorded(tmp_path, monkeypatch):
    """Issue 13 item 2: data.dataset natural switches between CIFAR and photographs; say which."""
    from quaton.config import build_config
    from quaton.train.setup import prepare_data

    monkeypatch.delenv("QUATON_DATA", raising=False)
    settings = {"task": {"kind": "phase_imaging", "loss": "mse"}, "model": {"grid": 32}, "input": {"object_size": 16},
                "data": {"dataset": "natural", "root": str(tmp_path), "train_size": 8, "test_size": 4}}
    assert prepare_data(build_config(settings)).source.startswith("scikit-image photographs (camera")
    cifar = np.random.default_rng(0).integers(0, 256, (20, 32, 32), dtype=np.uint8)
    np.savez(tmp_path / "cifar10_jpeg75_gray.npz", x_train=cifar, y_train=np.zeros(20), x_test=cifar[:2], y_test=np.zeros(2))
    assert prepare_data(build_config(settings)).source == f"CIFAR-10 grayscale ({tmp_path / 'cifar10_jpeg75_gray.npz'})"


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
