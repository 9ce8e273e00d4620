"""What a network is for: targets, losses and metrics."""

from quaton.tasks.classification import Classification, LogitClassification
from quaton.tasks.phase_imaging import PhaseImaging

__all__ = ["Classification", "LogitClassification", "PhaseImaging"]
