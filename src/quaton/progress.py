"""Per-step progress of a training epoch, sized for where it goes.

On a terminal (or in a Jupyter notebook) it is a live tqdm bar. Anywhere else (a log file, a pipe,
CI) a bar that redraws itself with carriage returns becomes one log line per update (a 5-minute run
wrote ~330 of them), so there it is a few plain lines instead: one each time the epoch crosses
another tenth, at most one every ``MIN_INTERVAL`` seconds, and at least one every ``MAX_INTERVAL``
seconds while a step runs on. Each line is tqdm's own meter, so it reads like the bar::

    epoch 2/10:  50%|#####     | 10/20 [00:04<00:04,  2.38it/s, loss=0.1234]

An epoch shorter than ``MIN_INTERVAL`` therefore prints nothing here: its epoch line (the loop's
``tqdm.write``) says what there is to say. tqdm's environment variables ``TQDM_MININTERVAL`` and
``TQDM_MINITERS`` set the interval and the step stride of the plain lines as they do the bar's
(``TQDM_MININTERVAL=0 TQDM_MINITERS=1``: one line per step, for tools that follow a run step by step).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, Generic, Protocol, TypeVar

from tqdm import tqdm as std_tqdm
from tqdm.auto import tqdm as auto_tqdm

T = TypeVar("T")

LINES_PER_EPOCH = 10  # plain lines at each tenth of the epoch
MIN_INTERVAL = 10.0  # s: no two plain lines closer than this
MAX_INTERVAL = 60.0  # s: a slow epoch still shows a line this often (checked after each step)


class Progress(Protocol):
    """What the training loops use of a progress display: iteration and a postfix."""

    def __iter__(self) -> Iterator[Any]: ...

    def set_postfix(self, **values: Any) -> None: ...


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` shows a live bar: an interactive terminal, or a notebook (where tqdm.auto
    draws a widget)."""
    if any(cls.__module__.startswith("tqdm.notebook") for cls in auto_tqdm.__mro__):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name)
    try:
        return float(text) if text else default
    except ValueError:
        return default


class LogProgress(Generic[T]):
    """Iterate ``iterable`` and write a plain progress line to ``stream`` now and then (see the module
    docstring for when); ``set_postfix`` as on a tqdm bar. Never writes a carriage return."""

    def __init__(
        self,
        iterable: Iterable[T],
        total: int,
        desc: str,
        stream: IO[str],
        min_interval: float = MIN_INTERVAL,
        max_interval: float = MAX_INTERVAL,
        stride: int | None = None,
    ) -> None:
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.stream = stream
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.stride = stride  # None: every tenth of the epoch
        self.postfix = ""
        self.lines = 0

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def _milestone(self, done: int) -> bool:
        if done == self.total:
            return True
        if self.stride is not None:
            return done % self.stride == 0
        return done * LINES_PER_EPOCH // self.total > (done - 1) * LINES_PER_EPOCH // self.total

    def __iter__(self) -> Iterator[T]:
        started = last = time.monotonic()
        done = 0
        for item in self.iterable:
            yield item
            done += 1
            now = time.monotonic()
            since = now - last
            if (self._milestone(done) and since >= self.min_interval) or since >= self.max_interval:
                meter = std_tqdm.format_meter(
                    done, self.total, now - started, prefix=self.desc, ascii=True, postfix=self.postfix or None
                )
                self.stream.write(meter + "\n")
                self.stream.flush()
                self.lines += 1
                last = now


QUIET = "QUATON_QUIET"  # set by `quaton -q`; inherited by sweep workers


def quiet() -> bool:
    """Whether this process (or the ``quaton -q`` that started it) asked for results and errors only."""
    return os.environ.get(QUIET, "") not in ("", "0")


def shows_progress(enabled: bool) -> bool:
    """A run's progress (bars, epoch lines) is shown: ``train.progress`` and not ``quaton -q``."""
    return enabled and not quiet()


def progress(
    iterable: Iterable[Any], total: int, desc: str, enabled: bool = True, stream: IO[str] | None = None
) -> Progress:
    """``iterable`` (``total`` steps) with progress on ``stream`` (default: sys.stderr as it is now):
    a tqdm bar on a terminal, a few plain lines elsewhere, nothing when not ``enabled``. The result
    has ``set_postfix(**values)`` in every case."""
    stream = stream if stream is not None else sys.stderr
    if not shows_progress(enabled):
        return std_tqdm(iterable, total=total, disable=True)
    if is_terminal(stream):
        return auto_tqdm(iterable, total=total, desc=desc, leave=False, file=stream)
    stride = int(_env_number("TQDM_MINITERS", 0))
    return LogProgress(
        iterable,
        total,
        desc,
        stream,
        min_interval=_env_number("TQDM_MININTERVAL", MIN_INTERVAL),
        stride=stride if stride >= 1 else None,
    )
