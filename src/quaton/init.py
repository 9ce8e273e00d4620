"""``quaton init``: the configs shipped inside the package, copied where a user can read and edit them."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path


def copy_configs(directory: str | Path) -> tuple[list[Path], list[Path]]:
    """Copy every shipped config (``quaton/configs/**/*.yaml``) to ``directory/configs``, keeping the
    sub-folders (a sweep's ``base:`` is relative to it); a file already there is kept. Returns the
    files written and the files kept."""
    source = Path(str(resources.files("quaton") / "configs"))
    target = Path(directory) / "configs"
    written, kept = [], []
    for path in sorted(source.rglob("*.yaml")):
        destination = target / path.relative_to(source)
        if destination.exists():
            kept.append(destination)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        written.append(destination)
    return written, kept
