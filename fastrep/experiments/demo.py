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
    """The validated demo sweep of ``fastrep demo``.

    Parameters
    ----------
    grid : {'full', 'quick', 'large'}, default 'full'
        The grid: ``fastrep demo``, ``fastrep demo --quick`` or ``fastrep demo --large``.

    Returns
    -------
    SweepSpec
        The sweep, ready for :func:`fastrep.experiments.run`.

    Raises
    ------
    ValueError
        For a ``grid`` that is not one of the three names.

    Examples
    --------
    >>> from fastrep.experiments import demo_spec
    >>> spec = demo_spec("quick")
    >>> spec.name, spec.d, [m.label for m in spec.methods]
    ('separation-quick', (6, 8, 10), ['onestep', 'ntk', 'oracle', 'transfer'])
    """
    if grid not in DEMO_GRIDS:
        raise ValueError(f"grid must be one of {', '.join(map(repr, DEMO_GRIDS))}; got {grid!r}")
    return load_spec(_defaults()[grid])
