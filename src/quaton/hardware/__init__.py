"""What the real device does that the ideal model does not: read-out distortions, noise and
quantization (and, for the DAT issue, systematic errors). Tensor -> tensor modules, one file per kind."""

from quaton.hardware.adc import ADC, adc_step, ste_round
from quaton.hardware.distortion import Crosstalk, GainOffset, Nonlinearity, slm_response
from quaton.hardware.noise import ReadNoise
from quaton.hardware.readout import EFFECTS, Readout

__all__ = [
    "ADC",
    "EFFECTS",
    "Crosstalk",
    "GainOffset",
    "Nonlinearity",
    "ReadNoise",
    "Readout",
    "adc_step",
    "slm_response",
    "ste_round",
]
