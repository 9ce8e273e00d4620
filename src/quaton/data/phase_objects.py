"""Phase objects for quantitative phase imaging: red blood cells, natural images, user phase maps.

Red blood cells (RBCs). Real RBC phase images are not public in a form we can ship, so cells are
generated from the Evans–Fung model of the discocyte (E. Evans and Y.-C. Fung, "Improved
measurements of the erythrocyte geometry", Microvasc. Res. 4, 335–347, 1972):

    t(r) = sqrt(1 − (r/R)²) · (C0 + C1·(r/R)² + C2·(r/R)⁴),   r ≤ R,

with R = D/2, D = 7.82 µm, C0 = 0.81 µm, C1 = 7.83 µm, C2 = −4.39 µm (their mean cell: centre
0.81 µm, rim about 2.57 µm at r ≈ 0.71 R). A cell of another diameter D' is the same shape scaled
by D'/D in all three dimensions. The phase delay is φ = 2π·Δn·t/λ with Δn the refractive-index
contrast between haemoglobin solution and medium, about 0.05–0.07 in the visible (e.g. Park et
al., PNAS 105, 13730, 2008: n_RBC ≈ 1.40 against 1.34 for the medium). A tilt θ about an in-plane
axis foreshortens the cell by cos θ along the tilt direction and lengthens the optical path by
1/cos θ (thin-disc approximation). Cells are sampled on the network's grid, 4 × 4 subsamples per
pixel averaged.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quaton.errors import DataNotFoundError

EVANS_FUNG = {"diameter": 7.82e-6, "c0": 0.81e-6, "c1": 7.83e-6, "c2": -4.39e-6}


def evans_fung_thickness(r: np.ndarray, diameter: float = EVANS_FUNG["diameter"]) -> np.ndarray:
    """Thickness t(r) (m) of a discocyte of ``diameter`` (m) at radius ``r`` (m); 0 outside."""
    scale = diameter / EVANS_FUNG["diameter"]
    rho2 = (2.0 * np.asarray(r) / diameter) ** 2
    inside = rho2 < 1.0
    shape = np.sqrt(np.clip(1.0 - rho2, 0.0, None)) * (EVANS_FUNG["c0"] + EVANS_FUNG["c1"] * rho2 + EVANS_FUNG["c2"] * rho2**2)
    return np.where(inside, scale * shape, 0.0)


@dataclass(frozen=True)
class RBCParameters:
    """Ranges (uniformly sampled) of the generated cells; lengths in metres."""

    diameter: tuple[float, float] = (7.0e-6, 8.5e-6)
    index_contrast: tuple[float, float] = (0.05, 0.07)
    tilt: tuple[float, float] = (0.0, math.radians(30.0))
    count: tuple[int, int] = (1, 3)


def rbc_phase_maps(
    count: int,
    size: int,
    pitch: float,
    wavelength: float,
    parameters: RBCParameters = RBCParameters(),
    seed: int = 0,
    subsamples: int = 4,
) -> np.ndarray:
    """``count`` phase maps float32 [count, size, size] (rad) of 1–3 random cells each."""
    rng = np.random.default_rng(seed)
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    centres = (np.arange(size) - (size - 1) / 2) * pitch
    fine = (centres[:, None] + offsets[None, :] * pitch).reshape(-1)
    y, x = np.meshgrid(fine, fine, indexing="ij")
    maps = np.zeros((count, size, size), dtype=np.float32)
    half = size * pitch / 2
    for k in range(count):
        phase = np.zeros_like(x)
        for _ in range(rng.integers(parameters.count[0], parameters.count[1] + 1)):
            diameter = rng.uniform(*parameters.diameter)
            contrast = rng.uniform(*parameters.index_contrast)
            tilt = rng.uniform(*parameters.tilt)
            azimuth = rng.uniform(0, math.pi)
            margin = max(0.0, half - diameter / 2)
            cx, cy = rng.uniform(-margin, margin, size=2)
            u = (x - cx) * math.cos(azimuth) + (y - cy) * math.sin(azimuth)
            v = -(x - cx) * math.sin(azimuth) + (y - cy) * math.cos(azimuth)
            r = np.sqrt((u / math.cos(tilt)) ** 2 + v**2)
            thickness = evans_fung_thickness(r, diameter) / math.cos(tilt)
            # overlapping cells: the optical paths add
            phase += 2 * math.pi * contrast * thickness / wavelength
        maps[k] = phase.reshape(size, subsamples, size, subsamples).mean(axis=(1, 3))
    return maps


PHOTOGRAPHS = ("camera", "astronaut", "coffee", "chelsea", "rocket", "horse", "grass", "gravel", "brick", "moon")


def _cifar_gray(root: str | Path | None) -> Path | None:
    """The grayscale CIFAR-10 file in ``root`` / $QUATON_DATA, if there is one."""
    from quaton.data.datasets import data_root

    base = data_root(root)
    if base is not None:
        for name in ("cifar10_jpeg75_gray.npz", "cifar10_gray.npz"):
            if (base / name).is_file():
                return base / name
    return None


def natural_image_source(root: str | Path | None = None) -> str:
    """Which images :func:`natural_image_patches` draws from for this ``root``, in words, for the run's record."""
    cifar = _cifar_gray(root)
    if cifar is not None:
        return f"CIFAR-10 grayscale ({cifar})"
    return f"scikit-image photographs ({', '.join(PHOTOGRAPHS)}), random crops"


def natural_image_patches(count: int, size: int, seed: int = 0, root: str | Path | None = None) -> np.ndarray:
    """Grayscale natural-image patches uint8 [count, size, size].

    From CIFAR-10 in grayscale when ``cifar10_jpeg75_gray.npz`` (or ``cifar10_gray.npz``) is in
    ``root`` / $QUATON_DATA (whole 32 × 32 images), else random crops of the natural photographs
    that scikit-image ships (camera, astronaut, coffee, chelsea, rocket, horse, grass, gravel, brick, moon).
    """
    rng = np.random.default_rng(seed)
    cifar = _cifar_gray(root)
    if cifar is not None:
        with np.load(cifar, allow_pickle=False) as archive:
            images = archive["x_train"]
        picks = rng.choice(len(images), size=min(count, len(images)), replace=False)
        return images[picks]
    try:
        import skimage.color
        import skimage.data
    except ImportError:
        raise DataNotFoundError(
            "natural images need CIFAR-10 in grayscale (cifar10_jpeg75_gray.npz in data.root or $QUATON_DATA) "
            "or scikit-image: pip install 'scikit-image>=0.22,<1'"
        ) from None
    photos = []
    for name in PHOTOGRAPHS:
        image = getattr(skimage.data, name)()
        if image.ndim == 3:
            image = (skimage.color.rgb2gray(image) * 255).astype(np.uint8)
        photos.append(image.astype(np.uint8))
    crop = max(size, 32)
    patches = np.empty((count, crop, crop), dtype=np.uint8)
    for k in range(count):
        photo = photos[rng.integers(len(photos))]
        r = rng.integers(0, photo.shape[0] - crop + 1)
        c = rng.integers(0, photo.shape[1] - crop + 1)
        patches[k] = photo[r : r + crop, c : c + crop]
    return patches


def load_phase_maps(path: str | Path) -> np.ndarray:
    """A user's phase maps in radians, float32 [N, h, w]: a folder of .npy files (one map each, or
    stacks), an .npy stack, or an .npz (its ``phase`` array, else its only array)."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"phase maps {path} do not exist")
    try:
        if path.is_dir():
            files = sorted(path.glob("*.npy"))
            if not files:
                raise DataNotFoundError(f"{path} holds no .npy phase maps")
            arrays = [np.load(f, allow_pickle=False) for f in files]
            maps = np.concatenate([a[None] if a.ndim == 2 else a for a in arrays])
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                key = "phase" if "phase" in keys else keys[0] if len(keys) == 1 else None
                if key is None:
                    raise DataNotFoundError(f"{path} holds {keys}: name the phase maps 'phase'")
                maps = archive[key]
        else:
            maps = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataNotFoundError(f"cannot read phase maps {path}: {error}") from None
    maps = maps[None] if maps.ndim == 2 else maps
    if maps.ndim != 3 or len(maps) == 0 or not np.isfinite(maps).all():
        raise DataNotFoundError(f"{path}: phase maps must be finite and shaped [N, h, w], got {maps.shape}")
    return maps.astype(np.float32)
