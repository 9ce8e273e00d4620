"""Networks composed from optics (and quantizers): built by name from a config."""

from quaton.models.d2nn import D2NN

__all__ = ["D2NN"]
