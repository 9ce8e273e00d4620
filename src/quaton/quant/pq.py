"""PQ, post quantization: train in full precision, round to the nearest level in eval and export."""

from quaton.quant.base import Quantizer


class PostQuantizer(Quantizer):
    """Training form: the raw phase itself; eval: the nearest level."""
