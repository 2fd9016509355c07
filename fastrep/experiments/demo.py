"""The embedded demo grids (``defaults.toml``): the default separation study and a quick one."""

from __future__ import annotations

import tomllib
from importlib import resources

from .spec import SweepSpec, load_spec

__all__ = ["DEMO_GRIDS", "demo_spec"]

DEMO_GRIDS = ("full", "quick")


def _defaults() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath("defaults.toml").read_text())


def demo_spec(grid: str = "full") -> SweepSpec:
    """The validated demo sweep: ``"full"`` (``fastrep demo``) or ``"quick"`` (``--quick``)."""
    if grid not in DEMO_GRIDS:
        raise ValueError(f"grid must be one of {', '.join(map(repr, DEMO_GRIDS))}; got {grid!r}")
    return load_spec(_defaults()[grid])
