"""What a network is for: targets, losses and metrics. ``TASKS`` is the registry of task kinds
(``task.kind``); a new task is one file that registers its builder with :func:`register_task`."""

from quaton.tasks.classification import Classification, ClassificationOptions, LogitClassification
from quaton.tasks.phase_imaging import PhaseImaging, PhaseImagingOptions
from quaton.tasks.registry import TASKS, TaskContext, TaskKind, all_losses, register_task

__all__ = [
    "TASKS",
    "Classification",
    "ClassificationOptions",
    "LogitClassification",
    "PhaseImaging",
    "PhaseImagingOptions",
    "TaskContext",
    "TaskKind",
    "all_losses",
    "register_task",
]
