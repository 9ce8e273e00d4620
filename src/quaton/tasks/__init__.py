"""What a network is for: targets, losses and metrics."""

from quaton.tasks.classification import Classification

__all__ = ["Classification"]
