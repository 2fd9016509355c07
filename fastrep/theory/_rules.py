"""The theory functions' arguments: their rules, in the learners' rule vocabulary
(:mod:`fastrep._validation`), and their bounds.

Every size a caller can give is bounded here, before any work starts, so that no call runs
for minutes or ends in a raw MemoryError/OverflowError:

- ``max_degree`` <= MAX_RESOLVED_DEGREE: the series has SERIES_TERMS Taylor terms and degree l
  sums those of order l, l + 2, ...; past half of them too few terms are left to resolve it;
- ``radial_nodes`` <= MAX_RADIAL_NODES: the Gaussian model's radial kernel costs radial_nodes^2
  series per degree;
- ``beta`` <= MAX_BETA: the series runs in u = (beta^2 + rho rho' t) / (rho^2 + beta^2), whose
  1 - u^2 ~ 2 / beta^2 loses all precision in float64 near beta = 1e8;
- ``d`` <= MAX_DIMENSION, the integers float64 holds exactly (10^400 overflowed);
- the number of sample sizes (n) and dimensions (d_values) of one call;
- the Gaussian model's exact decomposition of a target: C(r + p, p) monomials of degree <= p
  in r variables, with work growing as its square.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._validation import (
    Interval,
    Options,
    ParameterValueError,
    check_array,
    check_param,
)

KERNELS = ("ntk", "nngp")
MEASURES = ("sphere", "gaussian")
METHODS = ("series", "quadrature", "asymptotic")
TAILS = ("ridge", "drop")
#: default number of harmonic degrees resolved (the rest is the tail)
DEFAULT_MAX_DEGREE = 12
#: Taylor terms of the kernel in t; the terms decay like j^(-d/2), so this is plenty for d >= 3
SERIES_TERMS = 600
#: Gauss nodes of the radial distribution in the Gaussian model
DEFAULT_RADIAL_NODES = 12

#: largest harmonic degree resolved (half the series' terms)
MAX_RESOLVED_DEGREE = SERIES_TERMS // 2
#: most radial Gauss nodes (the Gaussian spectrum then takes about a second)
MAX_RADIAL_NODES = 64
#: largest bias scale the series resolves
MAX_BETA = 1e4
#: most sample sizes n in one call (the learnabilities hold n.size x eigenspaces numbers)
MAX_POINTS = 10**6
#: most dimensions in one kernel_n_star call (each costs two curves of about 500 points)
MAX_DIMENSIONS = 1000
#: most monomials of a target the Gaussian model decomposes (a few seconds of work)
MAX_GAUSSIAN_MONOMIALS = 512

#: largest input dimension: d enters as a float64 (Gamma functions), exact up to 2^53
MAX_DIMENSION = 2**53

#: the rules of the theory functions' scalar arguments
RULES = {
    "d": [Interval("integer", 3, MAX_DIMENSION)],
    "kernel": [Options(*KERNELS)],
    "measure": [Options(*MEASURES)],
    "method": [Options(*METHODS)],
    "tail": [Options(*TAILS)],
    "beta": [Interval("real", 0, MAX_BETA, desc=f"a finite number >= 0 and <= {MAX_BETA:g} (the series "
                                                "loses its precision beyond)")],
    "max_degree": [Interval("integer", 0, MAX_RESOLVED_DEGREE)],
    "radial_nodes": [Interval("integer", 1, MAX_RADIAL_NODES)],
    "noise": [Interval("real", 0, None)],
    "epsilon": [Interval("real", 0, None, closed="neither")],
    "n_max": [Interval("real", 1, None)],
}


def check_args(**args):
    """Check each keyword against :data:`RULES` (by its name); returns the values in order,
    numbers as int/float."""
    out = []
    for name, value in args.items():
        check_param(name, value, RULES[name])
        if isinstance(value, (bool, str)) or value is None:
            out.append(value)
        else:
            out.append(int(value) if RULES[name][0].kind == "integer" else float(value))
    return out[0] if len(out) == 1 else tuple(out)


def check_target(target):
    from ..targets import MultiIndexTarget

    if not isinstance(target, MultiIndexTarget):
        raise TypeError(f"target must be a fastrep.MultiIndexTarget; got {type(target).__name__}")
    return target


def n_array(n) -> np.ndarray:
    """Sample sizes: a number or an array of numbers > 0 (at most MAX_POINTS), float64."""
    return check_array(n, "n", Interval("real", 0, None, closed="neither"), max_size=MAX_POINTS)


def ridge_array(ridge):
    """A ridge: a number >= 0 (float) or an array of them (float64)."""
    if isinstance(ridge, numbers.Real) and not isinstance(ridge, (bool, np.bool_)):
        return float(check_param("ridge", ridge, [Interval("real", 0, None)]))
    return check_array(ridge, "ridge", Interval("real", 0, None), max_size=MAX_POINTS)


def check_gaussian_size(r: int, p: int) -> None:
    """Refuse, before any work, a target whose exact Gaussian decomposition is too large."""
    count = math.comb(r + p, p)
    if count > MAX_GAUSSIAN_MONOMIALS:
        raise ParameterValueError(
            "measure",
            f"measure must be 'sphere' for this target: measure='gaussian' decomposes its "
            f"C(r + p, p) = {count:,} monomials (r = {r}, degree p = {p}) exactly, with work growing as "
            f"their square, and takes at most {MAX_GAUSSIAN_MONOMIALS}; got 'gaussian'",
        )
