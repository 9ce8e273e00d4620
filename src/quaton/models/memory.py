"""Bytes of the tensors the model kinds' memory estimates count (:class:`quaton.models.protocol.Memory`).

Each kind estimates the peak of a training step (forward, backward, Adam) and of an evaluation pass
from its config, persistent tensors included; the figures were measured with ``torch.profiler``'s
memory events (tests/train/test_memory.py measures the same way and keeps every estimate between
1× and 2.5× of the measured peak on small configs).
"""

COMPLEX64 = 8  # bytes
FLOAT32 = 4
ADAM_COPIES = 4  # parameter, gradient, Adam's two moments
