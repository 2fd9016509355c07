"""The embedded demo grids (``defaults.toml``): the default separation study, a quick one, the
large-d study (``fastrep demo --large``), its kernel study (``fastrep demo --large-kernels``: NTK
ridge by the Nystrom solver at d = 32, 48, 64) and the beyond-one-step study
(``fastrep demo --beyond``, four sweeps into one store)."""

from __future__ import annotations

import tomllib
from importlib import resources

from .spec import SweepSpec, load_spec

__all__ = ["BEYOND_GRIDS", "DEMO_GRIDS", "beyond_specs", "demo_spec"]

DEMO_GRIDS = ("full", "quick", "large", "large_kernels")

#: The sweeps of ``fastrep demo --beyond``, in the order they run (``defaults.toml`` tables).
BEYOND_GRIDS = ("beyond_separation", "beyond_he3", "beyond_online", "beyond_staircase")


def _defaults() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath("defaults.toml").read_text())


def demo_spec(grid: str = "full") -> SweepSpec:
    """The validated demo sweep of ``fastrep demo``.

    Parameters
    ----------
    grid : {'full', 'quick', 'large', 'large_kernels'}, default 'full'
        The grid: ``fastrep demo``, ``fastrep demo --quick``, ``fastrep demo --large`` or
        ``fastrep demo --large-kernels`` (the large study's kernel study, sweep
        ``separation-large-kernels``).

    Returns
    -------
    SweepSpec
        The sweep, ready for :func:`fastrep.experiments.run`.

    Raises
    ------
    ValueError
        For a ``grid`` that is not one of these names.

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


def beyond_specs() -> list[SweepSpec]:
    """The sweeps of ``fastrep demo --beyond``: the separation target with T = 1 and T = 2, He3
    (Algorithm 1, reused against fresh batches), He3 online SGD, and the staircase.

    Returns
    -------
    list of SweepSpec
        The four sweeps, in :data:`BEYOND_GRIDS` order, ready for :func:`fastrep.experiments.run`
        into one store; ``fastrep.experiments.beyond`` reads them for the report.

    Examples
    --------
    >>> from fastrep.experiments.demo import beyond_specs
    >>> [s.name for s in beyond_specs()]
    ['beyond-separation', 'beyond-he3', 'beyond-online', 'beyond-staircase']
    """
    raw = _defaults()
    return [load_spec(raw[g]) for g in BEYOND_GRIDS]
