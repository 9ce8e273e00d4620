"""Fabrication outputs and the open design file."""

from quaton.export.design import Design, DesignError, export_run, load
from quaton.export.fabrication import heightfield_mesh, phase_to_height

__all__ = ["Design", "DesignError", "export_run", "heightfield_mesh", "load", "phase_to_height"]
