"""quaton: optical neural networks that survive fabrication, noise and systematic errors."""

__version__ = "0.1.0"
