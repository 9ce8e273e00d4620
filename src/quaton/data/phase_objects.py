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

What a microscope sees (the defaults of :class:`RBCParameters`): cells of 6.5–9 µm, 1–5 per field
without overlap, each with its own peak phase of 2–4.5 rad (digital-holography data of discocytes
at visible wavelengths; the shape stays Evans–Fung, the height is scaled, which covers both the
spread of Δn (haemoglobin concentration) and of thickness), on a background that is not flat:
slow aberrations (low-order Zernike terms plus a smooth random field) of 0.05–0.3 rad rms and
white phase noise of up to 0.05 rad rms, zero mean over the field.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quaton.errors import ConfigError, DataNotFoundError

EVANS_FUNG = {"diameter": 7.82e-6, "c0": 0.81e-6, "c1": 7.83e-6, "c2": -4.39e-6}


def evans_fung_thickness(r: np.ndarray, diameter: float | np.ndarray = EVANS_FUNG["diameter"]) -> np.ndarray:
    """Thickness t(r) (m) of a discocyte of ``diameter`` (m, a float or an array broadcast with ``r``) at radius
    ``r`` (m); 0 outside."""
    scale = diameter / EVANS_FUNG["diameter"]
    rho2 = (2.0 * np.asarray(r) / diameter) ** 2
    inside = rho2 < 1.0
    shape = np.sqrt(np.clip(1.0 - rho2, 0.0, None)) * (
        EVANS_FUNG["c0"] + EVANS_FUNG["c1"] * rho2 + EVANS_FUNG["c2"] * rho2**2
    )
    return np.where(inside, scale * shape, 0.0)


@dataclass(frozen=True)
class RBCParameters:
    """Ranges (each sampled uniformly, per cell or per field) of the generated fields; lengths in
    metres, phases in radians.

    ``peak_phase``: each cell's highest phase as imaged (tilt included), the quantity holography
    reports: real discocytes reach 2–4.5 rad at visible wavelengths (Δn·t_peak = φ·λ/2π, i.e.
    0.17–0.38 µm at 532 nm). ``None``: the phase follows from ``index_contrast`` and the
    Evans–Fung thickness at the given wavelength (φ_peak ≈ 1.4–2.7 rad at 532 nm).
    ``count``: cells per field (min, max), placed without overlap (a monolayer).
    ``aberration_rms``: rms (rad) of the slow background of each field, half low-order Zernike
    terms (tip, tilt, defocus, astigmatism, coma), half a smooth random field with correlation
    length ``aberration_length``; ``noise_rms``: rms (rad) of white per-pixel phase noise. The
    background has zero mean over the field (phase is measured relative to the background).
    """

    diameter: tuple[float, float] = (6.5e-6, 9.0e-6)
    index_contrast: tuple[float, float] = (0.05, 0.07)
    peak_phase: tuple[float, float] | None = (2.0, 4.5)
    tilt: tuple[float, float] = (0.0, math.radians(30.0))
    count: tuple[int, int] = (1, 5)
    aberration_rms: tuple[float, float] = (0.05, 0.3)
    aberration_length: float = 6e-6
    noise_rms: tuple[float, float] = (0.0, 0.05)


def _place_cells(
    rng: np.random.Generator, count: int, half: float, radii: np.ndarray, tries: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Centres [count, C, 2] (m) of non-overlapping cells of ``radii`` [count, C] (m) inside the
    field [−half, half]², and which were placed [count, C] (a cell with no room after ``tries`` is left out)."""
    fields, cells = radii.shape
    centres = np.zeros((fields, cells, 2))
    placed = np.zeros((fields, cells), dtype=bool)
    for c in range(cells):
        margin = np.maximum(half - radii[:, c], 0.0)[:, None, None]
        candidates = rng.uniform(-1.0, 1.0, size=(fields, tries, 2)) * margin  # [F, T, 2]
        gap = np.linalg.norm(candidates[:, :, None, :] - centres[:, None, :c, :], axis=-1)  # [F, T, c]
        free = (~placed[:, None, :c] | (gap >= radii[:, None, :c] + radii[:, c, None, None])).all(axis=-1)  # [F, T]
        first = free.argmax(axis=1)
        centres[:, c] = candidates[np.arange(fields), first]
        placed[:, c] = free.any(axis=1)
    return centres, placed


def background_phase(
    count: int,
    size: int,
    pitch: float,
    parameters: RBCParameters = RBCParameters(),
    seed: int | np.integer | Sequence[int] = 0,
) -> np.ndarray:
    """``count`` backgrounds float64 [count, size, size] (rad), zero mean, rms drawn from
    ``parameters.aberration_rms`` (slow part) and ``parameters.noise_rms`` (white part)."""
    rng = np.random.default_rng(seed)
    coordinate = (np.arange(size) - (size - 1) / 2) / ((size - 1) / 2)  # [-1, 1] across the field
    y, x = np.meshgrid(coordinate, coordinate, indexing="ij")
    rho2 = x**2 + y**2
    # Zernike tip, tilt, defocus, astigmatism 0°/45°, coma x/y (unnormalised; the sum is rescaled)
    zernike = np.stack(
        [x, y, 2 * rho2 - 1, x**2 - y**2, 2 * x * y, (3 * rho2 - 2) * x, (3 * rho2 - 2) * y]
    )  # [7, H, W]
    slow = np.einsum("fk,khw->fhw", rng.normal(size=(count, len(zernike))), zernike)
    # a smooth random field: white noise through a Gaussian of σ = aberration_length / pitch
    sigma = parameters.aberration_length / pitch
    frequency = np.fft.fftfreq(size)
    kernel = np.exp(-2 * (math.pi * sigma) ** 2 * (frequency[:, None] ** 2 + frequency[None, :] ** 2))
    smooth = np.fft.ifft2(np.fft.fft2(rng.normal(size=(count, size, size))) * kernel).real
    slow = _unit_rms(slow) + _unit_rms(smooth)
    slow = _unit_rms(slow) * rng.uniform(*parameters.aberration_rms, size=(count, 1, 1))
    noise = rng.normal(size=(count, size, size))
    noise = _unit_rms(noise) * rng.uniform(*parameters.noise_rms, size=(count, 1, 1))
    return slow + noise


def _unit_rms(fields: np.ndarray) -> np.ndarray:
    """Each field of [F, H, W] with its mean removed, scaled to rms 1."""
    fields = fields - fields.mean(axis=(1, 2), keepdims=True)
    return fields / np.sqrt((fields**2).mean(axis=(1, 2), keepdims=True)).clip(1e-12)


def rbc_phase_maps(
    count: int,
    size: int,
    pitch: float,
    wavelength: float,
    parameters: RBCParameters = RBCParameters(),
    seed: int | Sequence[int] = 0,
    subsamples: int = 4,
    chunk: int = 256,
) -> np.ndarray:
    """``count`` fields float32 [count, size, size] (rad): cells on a background (see
    :class:`RBCParameters`), sampled ``subsamples``² per pixel and averaged. Seeded: the same
    ``seed`` gives the same fields; train and test sets use different seeds."""
    rng = np.random.default_rng(seed)
    most = parameters.count[1]
    cells = rng.integers(parameters.count[0], most + 1, size=count)
    active = np.arange(most)[None, :] < cells[:, None]  # [F, C]
    shape = (count, most)
    diameter = rng.uniform(*parameters.diameter, size=shape)
    contrast = rng.uniform(*parameters.index_contrast, size=shape)
    tilt = rng.uniform(*parameters.tilt, size=shape)
    azimuth = rng.uniform(0, math.pi, size=shape)
    peak = rng.uniform(*parameters.peak_phase, size=shape) if parameters.peak_phase is not None else None
    half = size * pitch / 2
    centres, placed = _place_cells(rng, count, half, diameter / 2)
    active &= placed
    background = background_phase(count, size, pitch, parameters, seed=rng.integers(2**63))
    # radians per metre of Evans–Fung thickness of each cell (untilted), optical path / cos θ
    if peak is None:
        per_metre = 2 * math.pi * contrast / wavelength / np.cos(tilt)
    else:  # the cell's imaged peak (tilt included) is `peak`: per_metre · its thickness peak = peak
        rim = evans_fung_thickness(np.linspace(0, EVANS_FUNG["diameter"] / 2, 2001)).max()
        per_metre = peak / (rim * diameter / EVANS_FUNG["diameter"])
    # each cell is drawn on its own box of box² px around it, then added into its field
    field, cell = np.nonzero(active)  # [K]
    box = int(math.ceil(parameters.diameter[1] / pitch)) + 2
    corner = np.floor(centres[field, cell] / pitch + (size - 1) / 2 - (box - 1) / 2).astype(int)  # [K, 2] (x, y) px
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    local = (np.arange(box)[:, None] + offsets[None, :]).reshape(-1)  # [box·sub] px from the corner
    maps = background.astype(np.float32)
    for start in range(0, len(field), chunk):
        part = slice(start, start + chunk)
        f, c = field[part], cell[part]
        # pixel centres (m) of each box's subsamples, relative to its cell's centre
        x = (corner[part, 0, None] + local[None, :] - (size - 1) / 2) * pitch - centres[f, c, 0, None]  # [k, box·sub]
        y = (corner[part, 1, None] + local[None, :] - (size - 1) / 2) * pitch - centres[f, c, 1, None]
        cos_a, sin_a = np.cos(azimuth[f, c])[:, None, None], np.sin(azimuth[f, c])[:, None, None]
        u = x[:, None, :] * cos_a + y[:, :, None] * sin_a  # [k, rows, columns]
        v = -x[:, None, :] * sin_a + y[:, :, None] * cos_a
        r = np.sqrt((u / np.cos(tilt[f, c])[:, None, None]) ** 2 + v**2)
        thickness = evans_fung_thickness(r, diameter[f, c][:, None, None])
        patch = (
            (per_metre[f, c][:, None, None] * thickness).reshape(-1, box, subsamples, box, subsamples).mean(axis=(2, 4))
        )
        rows = corner[part, 1, None, None] + np.arange(box)[None, :, None]  # [k, box, 1]
        columns = corner[part, 0, None, None] + np.arange(box)[None, None, :]  # [k, 1, box]
        inside = (rows >= 0) & (rows < size) & (columns >= 0) & (columns < size)  # [k, box, box]
        index = np.broadcast_to(np.arange(len(f))[:, None, None], inside.shape)
        rows, columns = np.broadcast_to(rows, inside.shape), np.broadcast_to(columns, inside.shape)
        np.add.at(maps, (f[index[inside]], rows[inside], columns[inside]), patch[inside].astype(np.float32))
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
    that scikit-image ships (camera, astronaut, coffee, chelsea, rocket, horse, grass, gravel, brick, moon;
    scikit-image is the optional extra ``quaton[natural]``: ConfigError when it is needed and missing).
    """
    rng = np.random.default_rng(seed)
    cifar = _cifar_gray(root)
    if cifar is not None:
        with np.load(cifar, allow_pickle=False) as archive:
            images = archive["x_train"]
        picks = rng.choice(len(images), size=min(count, len(images)), replace=False)
        return images[picks]
    try:  # the optional extra quaton[natural]: only this fallback needs scikit-image
        import skimage.color
        import skimage.data
    except ImportError:
        raise ConfigError(
            "data.dataset: natural needs grayscale CIFAR-10 (cifar10_jpeg75_gray.npz in data.root or $QUATON_DATA) "
            "or, for its sample photographs, scikit-image: pip install 'quaton[natural]' (or 'scikit-image>=0.22,<1')"
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
