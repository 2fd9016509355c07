"""The embedded demo grids (``defaults.toml``): the default separation study, a quick one and
the large-d study (``fastrep demo --large``)."""

from __future__ import annotations

import tomllib
from importlib import resources

from .spec import SweepSpec, load_spec

__all__ = ["DEMO_GRIDS", "demo_spec"]

DEMO_GRIDS = ("full", "quick", "large")


def _defaults() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath("defaults.toml").read_text())


def demo_spec(grid: str = "full") -> SweepSpec:
    """The validated demo sweep: ``"full"`` (``fastrep demo``), ``"quick"`` (``--quick``) or
    ``"large"`` (``--large``)."""
    if grid not in DEMO_GRIDS:
        raise ValueError(f"grid must be one of {', '.join(map(repr, DEMO_GRIDS))}; got {grid!r}")
    return load_spec(_defaults()[grid])
