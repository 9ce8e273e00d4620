"""Networks composed from optics (and quantizers): built by name from a config.

``MODELS`` is the registry of model kinds (``model.kind``): each file registers its builder and
its capabilities with :func:`register_model` (:class:`ModelKind`), and every model answers the
:class:`OpticalModel` protocol that evaluation, figures and export ask.
"""

from quaton.models import d2nn
from quaton.models.d2nn import D2NN
from quaton.models.mzi import MZIConfig, MZINetwork
from quaton.models.optical_cnn import CNNConfig, DigitalCNN, OpticalCNN
from quaton.models.protocol import (
    MODELS,
    BuildContext,
    Memory,
    ModelKind,
    OpticalModel,
    as_optical,
    kind_of,
    register_model,
    trains_with_system,
)

DEFAULT_KIND = d2nn.KIND  # model.kind when a config names none

__all__ = [
    "CNNConfig",
    "D2NN",
    "DEFAULT_KIND",
    "MODELS",
    "BuildContext",
    "DigitalCNN",
    "MZIConfig",
    "MZINetwork",
    "Memory",
    "ModelKind",
    "OpticalCNN",
    "OpticalModel",
    "as_optical",
    "kind_of",
    "register_model",
    "trains_with_system",
]
