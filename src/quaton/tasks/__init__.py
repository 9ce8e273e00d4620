"""What a network is for: targets, losses and metrics."""

from quaton.tasks.classification import Classification
from quaton.tasks.phase_imaging import PhaseImaging

TASKS = {"classification": Classification, "phase_imaging": PhaseImaging}

__all__ = ["TASKS", "Classification", "PhaseImaging"]
