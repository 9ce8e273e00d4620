"""A mixed-signal optical CNN: a physically simulated 4f convolution layer, a camera, a digital head.

The optical layer follows Chang et al., "Hybrid optical-electronic convolutional neural networks
with optimized diffractive optics for image classification", Sci. Rep. 8, 12324 (2018): the image
is shown on a modulator (pitch Δ), a lens (f1) Fourier-transforms it, one fabricable element in
the Fourier plane (a phase-only DOE by default; an amplitude or complex SLM as options; always
|t| ≤ 1) shapes the spectrum, a second lens (f2) forms the image on a sensor (pitch p_s). The
system's point-spread function is whatever the element's design makes (see
:mod:`quaton.optics.fourier`): there are no kernel parameters, only the element's pixels.

The K feature maps are K tiles of the one sensor image, read at fixed positions: tile k is where
the element's design sends kernel k's light. The element starts as the kinoform of K random k × k
kernels, each behind the linear phase ramp that deflects it (λf2·ν) onto its tile; training then
changes the element freely, and whatever light it sends elsewhere (other tiles, between tiles, out
of the sensor) is what a camera would record or lose.

Coherent light: each tile records |U ∗ h_k|². Incoherent light: the intensity PSF |h_k|² ≥ 0
convolves |U|², which cannot weigh with negative numbers; with ``differential`` (the default) each
kernel is a pair of tiles, positive and negative, subtracted digitally after the read-out, so the
sensor holds 2K tiles.

Light budget: ``photons_per_pixel`` is the energy (photons) a fully bright input pixel sends into
the system per exposure; the sensor then records photons, after the passive optics, and the shot
noise of a read-out (Gaussian, variance = the photon count) is that of the real exposure.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from quaton.models.memory import ADAM_COPIES, COMPLEX64, FLOAT32
from quaton.models.protocol import BuildContext, Memory, register_model
from quaton.optics.fourier import (
    ElementKind,
    FourFGeometry,
    FourFSystem,
    FourierElement,
    check_sampling,
    tile_centres,
    tiled_transmission,
)
from quaton.registry import Options

KIND = "optical_cnn"  # model.kind

if TYPE_CHECKING:
    from quaton.config import Config
    from quaton.hardware import Readout
    from quaton.optics.elements import PhaseQuantizer


@dataclass(frozen=True)
class OpticalCNNGeometry:
    """Everything the optical layer needs but the element's pixels (SI units)."""

    size: int  # input pixels per side
    kernels: int = 8
    kernel_size: int = 5  # the PSF support (image pixels) each tile is sized for
    columns: int = 4  # tiles per sensor row
    wavelength: float = 532e-9
    pitch: float = 8e-6  # input modulator pitch Δ
    focal_length: float = 0.1  # f1
    focal_length_2: float | None = None  # f2; None: f1
    element_pitch: float = 40e-6
    element_pixels: int = 128
    element_aperture: float | None = None  # circular stop diameter; None: the element's square
    element_oversampling: int = 2
    sensor_pitch: float | None = None  # None: Δ·f2/f1 (one sensor pixel per image pixel)
    sensor_oversampling: int = 2
    coherent: bool = True
    differential: bool = True  # incoherent only: a positive and a negative tile per kernel

    @property
    def f2(self) -> float:
        return self.focal_length if self.focal_length_2 is None else self.focal_length_2

    @property
    def image_pitch(self) -> float:
        """Input pixel pitch imaged on the sensor: Δ·f2/f1 (m)."""
        return self.pitch * self.f2 / self.focal_length

    @property
    def pixel(self) -> float:
        """Sensor pixel pitch (m)."""
        return self.image_pitch if self.sensor_pitch is None else self.sensor_pitch

    @property
    def tile(self) -> int:
        """Tile side in sensor pixels: the full linear convolution, (n + k − 1) image pixels."""
        return math.ceil((self.size + self.kernel_size - 1) * self.image_pitch / self.pixel - 1e-9)

    @property
    def tiles(self) -> int:
        return self.kernels * (2 if self.signed_pairs else 1)

    @property
    def signed_pairs(self) -> bool:
        return not self.coherent and self.differential

    @property
    def sensor_shape(self) -> tuple[int, int]:
        return math.ceil(self.tiles / self.columns) * self.tile, self.columns * self.tile

    def optics(self) -> FourFGeometry:
        return FourFGeometry(
            wavelength=self.wavelength,
            input_pitch=self.pitch,
            input_size=self.size,
            focal_length_1=self.focal_length,
            focal_length_2=self.f2,
            element_pitch=self.element_pitch,
            element_pixels=self.element_pixels,
            sensor_pitch=self.pixel,
            sensor_shape=self.sensor_shape,
            element_oversampling=self.element_oversampling,
            sensor_oversampling=self.sensor_oversampling,
            element_aperture=self.element_aperture,
        )


class CNNConfig(Options):
    """The mixed-signal optical CNN: a 4f system (input modulator at optics.pitch, lens f1, a passive
    Fourier-plane element, lens f2, a tiled sensor) and a digital head; see quaton.models.optical_cnn."""

    kernels: int = Field(16, ge=1, le=256, description="optical convolution kernels (feature maps tiled on one sensor)")
    kernel_size: int = Field(
        7,
        ge=1,
        le=63,
        description="PSF support each tile is sized for (image px): tiles are object_size + kernel_size - 1 wide",
    )
    hidden: int = Field(128, ge=1, description="hidden units of the digital head")
    columns: int = Field(4, ge=1, le=256, description="tiles per sensor row")
    focal_length: float = Field(0.1, gt=0, allow_inf_nan=False, description="first lens focal length f1 (m)")
    focal_length_2: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="second lens focal length f2 (m); null: f1"
    )
    coherent: bool = Field(
        True, description="coherent light (camera sees |U * h|^2) or spatially incoherent (|h|^2 convolves |U|^2)"
    )
    differential: bool = Field(
        True,
        description="incoherent light: each kernel is a positive and a negative tile, subtracted after read-out "
        "(2K tiles)",
    )
    element: Literal["phase", "amplitude", "complex"] = Field(
        "phase", description="Fourier-plane element: phase-only DOE, amplitude SLM or complex; passive (|t| <= 1)"
    )
    element_pitch: float = Field(40e-6, gt=0, allow_inf_nan=False, description="element pixel pitch (m)")
    element_pixels: int = Field(128, ge=2, le=4096, description="element pixels per side")
    element_aperture: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="circular stop diameter in the Fourier plane (m); null: the element's square",
    )
    element_oversampling: int = Field(
        2, ge=1, le=16, description="simulated Fourier-plane cells per element pixel and axis"
    )
    sensor_pitch: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="sensor pixel pitch (m); null: optics.pitch * f2/f1"
    )
    sensor_oversampling: int = Field(
        2, ge=1, le=16, description="intensity samples per sensor pixel and axis (pixel integration)"
    )
    photons_per_pixel: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="photons a fully bright input pixel sends per exposure; sets the sensor's shot noise "
        "(device evaluation and aware training); null: no shot noise",
    )

    def geometry(self, wavelength: float, pitch: float, size: int):
        """The optical layer's geometry (:class:`OpticalCNNGeometry`) for optics.wavelength,
        optics.pitch and input.object_size."""
        return OpticalCNNGeometry(
            size=size,
            kernels=self.kernels,
            kernel_size=self.kernel_size,
            columns=self.columns,
            wavelength=wavelength,
            pitch=pitch,
            focal_length=self.focal_length,
            focal_length_2=self.focal_length_2,
            element_pitch=self.element_pitch,
            element_pixels=self.element_pixels,
            element_aperture=self.element_aperture,
            element_oversampling=self.element_oversampling,
            sensor_pitch=self.sensor_pitch,
            sensor_oversampling=self.sensor_oversampling,
            coherent=self.coherent,
            differential=self.differential,
        )

    def check_optics(self, wavelength: float, pitch: float, size: int) -> None:
        """Raise ValueError naming the keys if the 4f system's sampling conditions fail
        (:func:`quaton.optics.fourier.check_sampling`)."""
        try:
            optics = self.geometry(wavelength, pitch, size).optics()
            if optics.fourier_samples > 4096 or max(optics.sensor_shape) * optics.sensor_oversampling > 8192:
                raise ValueError(
                    f"the simulation would need {optics.fourier_samples}² Fourier-plane cells (at most 4096² "
                    f"allowed) and {max(optics.sensor_shape) * optics.sensor_oversampling} sensor points per side "
                    "(at most 8192): use fewer element_pixels or element_oversampling, fewer kernels or a smaller "
                    "sensor_oversampling"
                )
            check_sampling(optics)
        except (ValueError, OverflowError, ZeroDivisionError) as error:
            raise ValueError(
                f"model.cnn (with optics.wavelength {wavelength:.4g} m, optics.pitch {pitch:.4g} m, "
                f"input.object_size {size}): {error}"
            ) from None


def shot_noise(photons: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Photon counts float [...] plus Poisson noise in its Gaussian limit (variance = the count);
    straight-through (the noise carries no gradient)."""
    noise = torch.randn(photons.shape, generator=generator, device=photons.device, dtype=photons.dtype)
    return photons + torch.sqrt(photons.detach().clamp_min(0)) * noise


def tile(maps: torch.Tensor, columns: int) -> torch.Tensor:
    """Feature maps [B, K, m, m] -> one sensor image [B, rows·m, columns·m] (row-major tiles, zero-filled)."""
    b, k, m, _ = maps.shape
    rows = math.ceil(k / columns)
    padded = F.pad(maps, (0, 0, 0, 0, 0, rows * columns - k))
    return padded.reshape(b, rows, columns, m, m).permute(0, 1, 3, 2, 4).reshape(b, rows * m, columns * m)


def untile(sensor: torch.Tensor, tiles: int, m: int) -> torch.Tensor:
    """Read ``tiles`` tiles of m × m pixels off a sensor image [B, rows·m, columns·m] -> [B, tiles, m, m]."""
    b, height, width = sensor.shape
    rows, columns = height // m, width // m
    return sensor.reshape(b, rows, m, columns, m).permute(0, 1, 3, 2, 4).reshape(b, rows * columns, m, m)[:, :tiles]


class OpticalConv4f(nn.Module):
    """The optical layer: images [B, n, n] in [0, 1] (amplitude-encoded on the modulator) -> sensor
    photons [B, H, W], K kernels tiled (2K with signed pairs)."""

    def __init__(
        self,
        geometry: OpticalCNNGeometry,
        *,
        element: ElementKind = "phase",
        quantizer: nn.Module | None = None,
        photons_per_pixel: float | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.geometry = geometry
        self.photons_per_pixel = photons_per_pixel
        optics = geometry.optics()
        generator = torch.Generator().manual_seed(seed)
        k = geometry.kernel_size
        kernels = torch.complex(
            torch.randn(geometry.tiles, k, k, generator=generator),
            torch.randn(geometry.tiles, k, k, generator=generator),
        )
        centres = tile_centres(geometry.tiles, geometry.columns, geometry.tile, geometry.pixel)
        design = tiled_transmission(kernels, centres, geometry.image_pitch, optics)
        self.system = FourFSystem(
            optics,
            FourierElement(
                geometry.element_pixels,
                element,
                init=design,
                quantizer=cast("PhaseQuantizer | None", quantizer),  # a quaton.quant.Quantizer (a module)
                generator=generator,
            ),
            geometry.coherent,
        )

    @property
    def element(self) -> FourierElement:
        return self.system.element

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images float [B, n, n] (amplitude transmission of each modulator pixel) -> photons per sensor
        pixel [B, H, W]."""
        energy = 1.0 if self.photons_per_pixel is None else self.photons_per_pixel
        return self.system(images.to(torch.complex64) * math.sqrt(energy))


class DigitalHead(nn.Module):
    """Average pooling, then Linear -> ReLU -> Linear to class logits."""

    def __init__(self, channels: int, size: int, hidden: int = 128, classes: int = 10, pool: int = 2) -> None:
        super().__init__()
        self.pool = pool
        pooled = size // pool
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * pooled * pooled, hidden), nn.ReLU(), nn.Linear(hidden, classes)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(F.avg_pool2d(features, self.pool))


class OpticalCNN(nn.Module):
    """Optical 4f convolution -> camera (one tiled sensor, read-out chain) -> digital head.

    ``forward(images, readout)``: images float [B, n, n] in [0, 1] -> logits [B, C]. The read-out
    (``quaton.hardware.Readout``) sees the whole sensor, so crosstalk acts across tile borders as on
    a real camera; with a photon budget, shot noise comes first (photon arrival), from the read-out's
    noise generator. Sensor values are divided by the calibrated full scale before the digital layers.
    """

    def __init__(
        self,
        geometry: OpticalCNNGeometry,
        hidden: int = 128,
        classes: int = 10,
        *,
        element: ElementKind = "phase",
        quantizer: nn.Module | None = None,
        photons_per_pixel: float | None = None,
        seed: int = 0,
        options: CNNConfig | None = None,
    ) -> None:
        super().__init__()
        self.geometry = geometry
        self.options = options  # the model.cnn section it was built from, recorded in design.json
        self.optics = OpticalConv4f(
            geometry, element=element, quantizer=quantizer, photons_per_pixel=photons_per_pixel, seed=seed
        )
        self.head = DigitalHead(geometry.kernels, geometry.tile, hidden, classes)

    def sensor(self, images: torch.Tensor) -> torch.Tensor:
        """Ideal sensor photons [B, H, W]."""
        return self.optics(images)

    def features(self, sensor: torch.Tensor) -> torch.Tensor:
        """Sensor image [B, H, W] -> feature maps [B, K, tile, tile] (signed pairs subtracted)."""
        tiles = untile(sensor, self.geometry.tiles, self.geometry.tile)
        return tiles[:, 0::2] - tiles[:, 1::2] if self.geometry.signed_pairs else tiles

    def forward(
        self, images: torch.Tensor, readout: Readout | None = None, full_scale: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        """``readout`` None: the ideal sensor (naive training); either way the sensor values are divided
        by the calibrated ``full_scale``, so that the head sees the same units in training and on the device."""
        sensor = self.sensor(images)
        if readout is not None:
            if self.optics.photons_per_pixel is not None:
                sensor = shot_noise(sensor, readout.noise_generator())
            sensor = readout(sensor)
        return self.head(self.features(sensor / full_scale))

    @torch.no_grad()
    def phases(self) -> list[torch.Tensor]:
        """The Fourier-plane element's phases in [0, 2π), float [M, M], as evaluated (one layer; none
        for an amplitude element), for export like a D2NN layer."""
        phase = self.optics.element.phase()
        return [] if phase is None else [phase]

    @property
    def element_pitch(self) -> float:
        """Pixel pitch of the fabricated element (m)."""
        return self.geometry.element_pitch

    # --- quaton.models.OpticalModel ---

    def task_input(
        self, images: torch.Tensor, readout: Readout | None = None, full_scale: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        """Class logits [B, C] of images [B, n, n] (see ``forward``)."""
        return self(images, readout, full_scale)

    def sensor_intensity(self, images: torch.Tensor) -> torch.Tensor:
        """Ideal sensor photons [B, H, W]: what the camera's full scale is calibrated from."""
        return self.sensor(images)

    @property
    def mask_pitch(self) -> float:
        return self.element_pitch

    def design_fields(self) -> dict[str, Any]:
        """The element is the one fabricable part: ``kind``, its own ``pitch`` and the ``element``'s options."""
        if self.options is not None:
            element = self.options.model_dump(mode="json")
        else:
            element = dataclasses.asdict(self.geometry)
        return {"kind": KIND, "pitch": self.element_pitch, "element": element}


class DigitalCNN(nn.Module):
    """The purely digital baseline: a K-channel convolution (full padding) and ReLU, then the same head."""

    def __init__(
        self, size: int, kernels: int = 16, kernel_size: int = 7, hidden: int = 128, classes: int = 10
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, kernels, kernel_size, padding=kernel_size - 1)
        self.head = DigitalHead(kernels, size + kernel_size - 1, hidden, classes)

    def forward(
        self, images: torch.Tensor, readout: Readout | None = None, full_scale: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        return self.head(F.relu(self.conv(images[:, None])))

    # --- quaton.models.OpticalModel: no camera, no masks ---

    def task_input(
        self, images: torch.Tensor, readout: Readout | None = None, full_scale: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        """Class logits [B, C] of images [B, n, n]; there is no camera to read out."""
        return self(images)

    def sensor_intensity(self, images: torch.Tensor) -> None:
        return None

    def phases(self) -> list[torch.Tensor]:
        return []

    @property
    def mask_pitch(self) -> None:
        return None

    def design_fields(self) -> dict[str, Any]:
        return {}


def _optical_memory(config: Config, batch: int, training: bool, device: torch.device) -> int:
    """Optical CNN: a 4f system computed by matrix products (quaton.optics.fourier).

    Per image, complex64: the spectrum on the M × M Fourier-plane cells (M = element_pixels ×
    element_oversampling; incoherent light works on the 2M − 1 pupil lags instead) and its product
    with the element, the half-way [Hq, M] product and the [Hq, Wq] sensor field at the integration
    points (q = sensor_oversampling). Evaluation keeps about as much alive as training (the
    broadcast matrix products materialise their operands per image), so both use the same
    per-image figure: 2·M² + Hq·M + 2·Hq·Wq complex64, 1.2 to 1.7× the measured one (coherent and
    incoherent, M = 128 and 256). Persistent: the transform matrices, built in complex128 and cast,
    the pupil autocorrelation (incoherent), and the digital head (four copies of its parameters in
    training).
    """
    cnn = config.model.cnn
    geometry = cnn.geometry(config.optics.wavelength, config.optics.pitch, config.input.object_size)
    optics = geometry.optics()
    cells = optics.fourier_samples if cnn.coherent else 2 * optics.fourier_samples - 1
    rows, columns = (side * optics.sensor_oversampling for side in optics.sensor_shape)
    size = config.input.object_size
    per_image = (2 * cells * cells + rows * cells + 2 * rows * columns) * COMPLEX64 + size * size * FLOAT32
    matrices = 3 * (2 * cells * size + (rows + columns) * cells) * COMPLEX64
    autocorrelation = 0 if cnn.coherent else 4 * cells * cells * COMPLEX64
    pooled = (geometry.tile // 2) ** 2 * geometry.kernels
    head = (pooled * cnn.hidden + cnn.hidden * 10) * FLOAT32 * (ADAM_COPIES if training else 1)
    element = geometry.element_pixels**2 * FLOAT32 * (ADAM_COPIES if training else 1)
    return batch * per_image + matrices + autocorrelation + head + element


def _optical_knobs(config: Config) -> str:
    cnn = config.model.cnn
    return (
        f"model.cnn.element_pixels (now {cnn.element_pixels}), "
        f"model.cnn.element_oversampling (now {cnn.element_oversampling}) "
        f"or model.cnn.sensor_oversampling (now {cnn.sensor_oversampling})"
    )


def _digital_memory(config: Config, batch: int, training: bool, device: torch.device) -> int:
    """Digital CNN baseline: K float32 feature maps of (n + k − 1)² per image, a few copies each
    (convolution output, ReLU, pooling; kept for backward in training), and the head."""
    cnn = config.model.cnn
    side = config.input.object_size + cnn.kernel_size - 1
    maps = batch * cnn.kernels * side * side * FLOAT32
    head = (cnn.kernels * (side // 2) ** 2 * cnn.hidden + cnn.hidden * 10) * FLOAT32 * (ADAM_COPIES if training else 1)
    return (4 if training else 2) * maps + head + batch * config.input.object_size**2 * 3 * COMPLEX64


def _digital_knobs(config: Config) -> str:
    return f"model.cnn.kernels (now {config.model.cnn.kernels})"


def _element_is_phase(config: Config) -> bool:
    """An amplitude element has no phases to quantize."""
    return config.model.cnn.element != "amplitude"


def _check_cnn_optics(config: Config) -> None:
    config.model.cnn.check_optics(config.optics.wavelength, config.optics.pitch, config.input.object_size)
    if config.hardware.camera is not None and config.model.cnn.photons_per_pixel:
        raise ValueError(
            "hardware.camera and model.cnn.photons_per_pixel both set a light budget (shot noise would be "
            "counted twice): keep one of them"
        )


@register_model(
    KIND,
    output="logits",
    options=CNNConfig,
    section="cnn",
    display="optical CNN",
    reads=("optics",),
    quantized=_element_is_phase,
    fabricated=_element_is_phase,
    check=_check_cnn_optics,
    memory=Memory(_optical_memory, _optical_knobs),
    example={
        "optics": {"pitch": 8e-6},
        "model": {"cnn": {"kernels": 4, "kernel_size": 3, "columns": 2, "element_pixels": 48, "element_pitch": 60e-6}},
        "input": {"object_size": 8},
    },
)
def build_optical_cnn(config: Config, context: BuildContext) -> OpticalCNN:
    """A 4f system with one Fourier-plane element, a tiled camera and a digital head (model.cnn)."""
    cnn = config.model.cnn
    quantizer = context.quantizer  # the Fourier-plane element is quantized like a D2NN layer (layer 0)
    return OpticalCNN(
        cnn.geometry(config.optics.wavelength, config.optics.pitch, config.input.object_size),
        cnn.hidden,
        element=cnn.element,
        quantizer=quantizer(0) if quantizer and cnn.element != "amplitude" else None,
        photons_per_pixel=cnn.photons_per_pixel,
        seed=config.seed,
        options=cnn,
    )


@register_model(
    "digital_cnn",
    output="logits",
    options=CNNConfig,
    section="cnn",
    display="digital CNN",
    quantized=lambda c: False,
    memory=Memory(_digital_memory, _digital_knobs),
    example={"model": {"cnn": {"kernels": 2, "kernel_size": 3, "hidden": 4}}, "input": {"object_size": 8}},
)
def build_digital_cnn(config: Config, context: BuildContext) -> DigitalCNN:
    """The purely digital baseline: one convolution and the same head (model.cnn.kernels, kernel_size, hidden)."""
    cnn = config.model.cnn
    torch.manual_seed(config.seed)
    return DigitalCNN(config.input.object_size, cnn.kernels, cnn.kernel_size, cnn.hidden)
