"""The registry of tasks (``task.kind``): what a network is for, built by name from a config.

A task registers a builder ``(config, context) -> module`` with :func:`register_task`, naming the
losses it offers for each model output it can read (``detector``: an intensity image; ``logits``:
a digital head's class scores) and its options model (``task.options``, or the flat ``task.*``
keys that name its options).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from quaton.registry import Options, Registry

if TYPE_CHECKING:
    from quaton.config import Config


@dataclass(frozen=True)
class TaskContext:
    """What ``quaton.build.build_task`` hands a task's builder besides the config: the number of
    classes, what the model outputs ("detector" or "logits") and the task's validated options."""

    num_classes: int
    output: str
    options: Options | None = None


TaskBuilder = Callable[["Config", TaskContext], nn.Module]


@dataclass(frozen=True)
class TaskKind:
    """A registered task: its builder and ``losses``, model output -> the ``task.loss`` values it
    offers for that output (an output it does not list, it cannot read)."""

    build: TaskBuilder
    losses: Mapping[str, Sequence[str]]

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
    options: type[Options] | None = None,
    display: str | None = None,
    replace: bool = False,
) -> Callable[[TaskBuilder], TaskBuilder]:
    """Decorator: register a task builder as ``task.kind`` ``name``; returns the builder unchanged."""

    def add(build: TaskBuilder) -> TaskBuilder:
        TASKS.register(
            name,
            TaskKind(build=build, losses={output: tuple(values) for output, values in losses.items()}),
            options=options,
            display=display,
            summary=None,
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
