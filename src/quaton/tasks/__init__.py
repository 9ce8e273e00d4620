"""What a network is for: targets, losses and metrics. ``TASKS`` is the registry of task kinds
(``task.kind``); a new task is one file that registers its builder with :func:`register_task`, and
every built task answers the :class:`Task` protocol."""

from quaton.tasks import classification
from quaton.tasks.classification import Classification, ClassificationOptions, LogitClassification
from quaton.tasks.phase_imaging import PhaseImaging, PhaseImagingOptions
from quaton.tasks.registry import (
    TASKS,
    Classifier,
    Task,
    TaskContext,
    TaskKind,
    all_losses,
    options_owner,
    register_task,
    task_of,
)

DEFAULT_TASK = classification.KIND  # task.kind when a config names none

__all__ = [
    "DEFAULT_TASK",
    "TASKS",
    "Classification",
    "ClassificationOptions",
    "Classifier",
    "LogitClassification",
    "PhaseImaging",
    "PhaseImagingOptions",
    "Task",
    "TaskContext",
    "TaskKind",
    "all_losses",
    "options_owner",
    "register_task",
    "task_of",
]
