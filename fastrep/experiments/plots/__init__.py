"""The figures of a sweep and of the large-d study, drawn with matplotlib and returned as Figures.

Every function takes the stored cells (or the tables derived from them), draws on ``ax=``
when given (an Axes, or a sequence of them for the per-method panels) or on a new Figure
otherwise, writes a PNG when ``path`` is given, and returns the Figure (None when the store
holds nothing to draw). New figures are built with ``matplotlib.figure.Figure`` and the Agg
canvas directly, so plotting never touches pyplot's global state (or a user's interactive
backend); in a notebook, pass ``ax=`` from ``plt.subplots()`` or display the returned Figure.

* :func:`plot_error_curves`: excess error against n, one panel per method, one line per d;
  the kernel staircase prediction dashed on kernel panels, the oracle as a grey floor.
* :func:`plot_n_star`: n*(d) on log-log axes, one line per method, slopes in the legend,
  d² and d³ reference slopes.
* :func:`plot_alignment`: subspace alignment of W with U against n/d², with the alignment
  of a random W (r/d) marked per d.
* :func:`plot_transfer`: target error against n_t, transfer and NTK-on-the-target-only.
* :func:`plot_trajectory`: alignment and training loss of a multi-step network's first layer
  against the step t, one line per (label, d).
* :func:`plot_kernel_prediction`, :func:`plot_n_star_prediction`, :func:`plot_degree_learning`,
  :func:`plot_separation_prediction`: the large-d study's overlays of :mod:`fastrep.theory` on
  the measurements.

Methods appear under their display names (:func:`display_name`): "one-step network", not
``onestep``.

Modules: :mod:`.curves` (error, alignment and transfer against n), :mod:`.nstar` (n*(d)),
:mod:`.trajectory` (against the step t),
:mod:`.overlays` (the theory overlays), :mod:`.style` (display names, axes, legends and the
elements the figures share).
"""

from .curves import plot_alignment, plot_error_curves, plot_transfer
from .nstar import plot_n_star
from .overlays import (
    plot_degree_learning,
    plot_kernel_prediction,
    plot_n_star_prediction,
    plot_separation_prediction,
)
from .style import DISPLAY_NAMES, display_name
from .trajectory import plot_trajectory

__all__ = [
    "DISPLAY_NAMES",
    "display_name",
    "plot_alignment",
    "plot_degree_learning",
    "plot_error_curves",
    "plot_kernel_prediction",
    "plot_n_star",
    "plot_n_star_prediction",
    "plot_separation_prediction",
    "plot_transfer",
    "plot_trajectory",
]
