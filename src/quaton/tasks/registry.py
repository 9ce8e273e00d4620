"""The registry of tasks (``task.kind``): what a network is for, built by name from a config.

A task registers a builder ``(config, context) -> module`` with :func:`register_task`, naming the
losses it offers for each model output it can read (``detector``: an intensity image; ``logits``:
a digital head's class scores) and its options model (``task.options``, or the flat ``task.*``
keys that name its options).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from quaton.registry import Options, Registry, docstring_summary

if TYPE_CHECKING:
    from quaton.config import Config


@dataclass(frozen=True)
class TaskContext:
    """What ``quaton.builder.build_task`` hands a task's builder besides the config: the number of
    classes, what the model outputs ("detector" or "logits") and the task's validated options."""

    num_classes: int
    output: str
    options: Options | None = None


TaskBuilder = Callable[["Config", TaskContext], nn.Module]


class Task(nn.Module, metaclass=abc.ABCMeta):
    """What training, evaluation, sweeps and tuning ask of a built task: a module (it may hold
    trained parameters, e.g. an output gain) that every task kind's builder returns a subclass of.

    ``output`` is what the model's ``task_input`` gives (a detector image float [B, N, N] or logits
    [B, C]); ``target`` what the output is compared with (labels [B], or a phase image [B, s, s]).
    """

    primary_metric: str  # the batch metric runs are selected and reported by (its TaskKind.primary)

    @abc.abstractmethod
    def target(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """What the output of ``images`` [B, s, s] (with ``labels`` [B]) should be."""

    @abc.abstractmethod
    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch (scalar)."""

    @abc.abstractmethod
    def batch_metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample metrics [B] by name (every name of its TaskKind.metrics; a classifier adds
        ``predicted``, the predicted classes [B], for the confusion matrix)."""


class Classifier(Task):
    """A task that sorts inputs into ``num_classes`` classes (its TaskKind has ``classes``)."""

    @property
    @abc.abstractmethod
    def num_classes(self) -> int:
        """How many classes it tells apart."""

    @abc.abstractmethod
    def predict(self, output: torch.Tensor) -> torch.Tensor:
        """The predicted class of each output, int64 [B]."""


@dataclass(frozen=True)
class TaskKind:
    """A registered task: its builder and ``losses``, model output -> the ``task.loss`` values it
    offers for that output (an output it does not list, it cannot read); ``metrics``: the names of
    its batch metrics (a run reports ``test_<name>`` of each, and ``test_loss``); ``primary``: the
    one runs are selected, swept and tuned by, ``higher_is_better`` its direction; ``classes``:
    whether it sorts inputs into classes (labels, detector regions, a confusion matrix)."""

    build: TaskBuilder
    losses: Mapping[str, Sequence[str]]
    metrics: tuple[str, ...] = ()
    primary: str = ""
    higher_is_better: bool = True
    classes: bool = False

    def reported(self) -> tuple[str, ...]:
        """The numeric metrics a run of this task reports (metrics.json): test_loss, test_<metric>."""
        return ("test_loss", *(f"test_{name}" for name in self.metrics))

    def check(self, loss: str, output: str) -> str | None:
        """Why ``loss`` on a model that outputs ``output`` does not fit this task (a phrase that
        follows the task's name), or None."""
        if output not in self.losses:
            return f"reads a model output of {' or '.join(self.losses)}, not {output}"
        allowed = tuple(self.losses[output])
        if loss not in allowed:
            return f"offers task.loss {' or '.join(allowed)} for it, not {loss!r}"
        return None


TASKS: Registry[TaskKind] = Registry("task", "task.kind")


def register_task(
    name: str,
    *,
    losses: Mapping[str, Sequence[str]],
    metrics: Sequence[str],
    primary: str,
    higher_is_better: bool = True,
    classes: bool = False,
    options: type[Options] | None = None,
    display: str | None = None,
    replace: bool = False,
) -> Callable[[TaskBuilder], TaskBuilder]:
    """Decorator: register a task builder as ``task.kind`` ``name`` (see :class:`TaskKind`); returns
    the builder unchanged."""
    if primary not in metrics:
        raise ValueError(f"task {name!r}: primary metric {primary!r} is not one of its metrics {list(metrics)}")

    def add(build: TaskBuilder) -> TaskBuilder:
        kind = TaskKind(
            build=build,
            losses={output: tuple(values) for output, values in losses.items()},
            metrics=tuple(metrics),
            primary=primary,
            higher_is_better=higher_is_better,
            classes=classes,
        )
        TASKS.register(
            name,
            kind,
            options=options,
            display=display,
            summary=docstring_summary(build),
            replace=replace,
        )
        return build

    return add


def all_losses() -> list[str]:
    """Every loss some registered task offers, in order (the JSON schema's choices of task.loss)."""
    seen: dict[str, None] = {}
    for entry in TASKS.entries():
        for values in entry.target.losses.values():
            seen.update(dict.fromkeys(values))
    return list(seen)


def task_of(config: Config) -> TaskKind:
    """The registered task of ``config`` (``task.kind``)."""
    return TASKS[config.task.kind]


def options_owner(options: type[Options]) -> str:
    """The display name of the registered task whose options model is ``options`` (for a note on a
    flat ``task.*`` key that is one of its options)."""
    for entry in TASKS.entries():
        if entry.options is options:
            return entry.display
    raise KeyError(f"no registered task has options {options.__name__}")
