"""Networks composed from optics (and quantizers): built by name from a config.

``MODELS`` is the registry of model kinds (``model.kind``): each file registers its builder with
:func:`register_model`, and every model answers the :class:`OpticalModel` protocol that
evaluation, figures and export ask.
"""

from quaton.models.d2nn import D2NN
from quaton.models.mzi import MZIConfig, MZINetwork
from quaton.models.optical_cnn import CNNConfig, DigitalCNN, OpticalCNN
from quaton.models.protocol import MODELS, BuildContext, ModelKind, OpticalModel, as_optical, register_model

__all__ = [
    "CNNConfig",
    "D2NN",
    "MODELS",
    "BuildContext",
    "DigitalCNN",
    "MZIConfig",
    "MZINetwork",
    "ModelKind",
    "OpticalCNN",
    "OpticalModel",
    "as_optical",
    "register_model",
]
