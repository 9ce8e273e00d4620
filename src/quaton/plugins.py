"""Plug-ins: packages that add components to quaton by declaring an entry point.

A package declares, in its ``pyproject.toml``::

    [project.entry-points."quaton.plugins"]
    mylab = "mylab.quaton_components"

and quaton imports ``mylab.quaton_components`` (calling it, if the entry point names a function)
in every quaton process, when the ``quaton`` package is imported (last, once its own components
are registered): the ``quaton`` command, each sweep worker (a fresh ``python -m quaton train``),
each Ray task. Importing the module is what
registers its quantizers, model kinds, tasks, read-out effects and parametric twins; a physical
system needs no registration (``physical.system: mylab.bench:factory``).
"""

from __future__ import annotations

import logging
import warnings
from importlib import metadata

GROUP = "quaton.plugins"
_loaded: dict[str, str] = {}  # entry point name -> "module:attr", once loaded
_started = False


def load_plugins() -> dict[str, str]:
    """Import every ``quaton.plugins`` entry point, once per process; returns what is loaded (name ->
    target). A plug-in that fails to import is skipped with a warning naming it and the error
    (its components are then unknown names, which the config's message lists the choices of)."""
    global _started
    if _started:  # done, or under way (a plug-in that imports quaton)
        return _loaded
    _started = True
    for point in metadata.entry_points(group=GROUP):
        _loaded[point.name] = point.value
        logging.getLogger(__name__).debug("loading plug-in %s (%s)", point.name, point.value)
        try:
            target = point.load()
            if callable(target):
                target()
        except Exception as error:  # noqa: BLE001 (a broken plug-in must not stop quaton)
            warnings.warn(f"quaton plug-in {point.name} ({point.value}) failed to load: {error}", stacklevel=2)
    return _loaded
