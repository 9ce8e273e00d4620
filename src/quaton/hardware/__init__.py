"""What the real device does that the ideal model does not: read-out distortions, noise and
quantization (and, for the DAT issue, systematic errors). Tensor -> tensor modules, one file per kind;
``EFFECTS`` is the registry of read-out effects (``hardware.effects``)."""

from quaton.hardware.adc import ADC, adc_step, ste_round
from quaton.hardware.camera import Camera, CameraOptions, Exposure, photon_rate
from quaton.hardware.distortion import Crosstalk, GainOffset, Nonlinearity, slm_response
from quaton.hardware.noise import ReadNoise
from quaton.hardware.readout import EFFECTS, Readout, configured_effects

__all__ = [
    "ADC",
    "EFFECTS",
    "Camera",
    "CameraOptions",
    "Crosstalk",
    "Exposure",
    "GainOffset",
    "Nonlinearity",
    "ReadNoise",
    "Readout",
    "adc_step",
    "configured_effects",
    "photon_rate",
    "slm_response",
    "ste_round",
]
