"""``quaton.design.load(DESIGN_DIR)``: an exported design as a ready module (see quaton.export.design)."""

from quaton.export.design import Design, DesignError, load

__all__ = ["Design", "DesignError", "load"]
