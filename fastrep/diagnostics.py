"""Per-degree learning: which part of f* a fitted model has learned, degree by degree.

For a target ``f* = sum_alpha c_alpha h_alpha(Ux)`` with degree-l part
``f_l = sum_{|alpha| = l} c_alpha h_alpha(Ux)`` and energy
``E_l = sum_{|alpha| = l} c_alpha^2``, a model m has learned the fraction::

    F_l = sum_{|alpha| = l} c_hat_alpha c_alpha / E_l = E[m(x) f_l(x)] / E_l,

with c_hat_alpha = E[m(x) h_alpha(Ux)] its Hermite coefficients: 1 when m reproduces f_l, 0 when
it misses it. Unlike a ratio of c_hat^2, it is not biased upward by the Monte Carlo noise, and it
is the quantity the kernel theory predicts (:func:`fastrep.theory.kernel_learnability`).

It is estimated by Monte Carlo on fresh inputs, with f* itself as a control variate: the mean of
f* f_l is known (E_l), so F_l = [mean(m f_l) - b (mean(f* f_l) - E_l)] / E_l with the
variance-minimizing b; the standard error is that of the residual. A model close to f* then gets
a standard error far below the plain estimator's, and the model 0 or f* itself gets 0 or 1
exactly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._arrays import place
from ._validation import as_predict, check_int, model_dtype

__all__ = ["DegreeLearning", "degree_learning", "degree_learning_record"]


class DegreeLearning(NamedTuple):
    """The learned fraction of one degree of the target, with its standard error and energy.

    Parameters
    ----------
    fraction : float
        F_l, the fraction of the degree-l part learned (1: reproduced, 0: missed).
    stderr : float
        Its Monte Carlo standard error.
    energy : float
        The target's energy E_l in degree l.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.diagnostics import degree_learning
    >>> target = fastrep.MultiIndexTarget.separation(d=6, seed=0)
    >>> learned = degree_learning(target.f, target, n=2000)  # f* itself learns every degree
    >>> sorted(learned), round(learned[3].fraction, 6), learned[3].stderr
    ([2, 3], 1.0, 0.0)
    """

    fraction: float
    stderr: float
    energy: float


def degree_learning(model, target, n: int = 100_000, seed: int = 0, *, chunk_size: int = 65_536,
                    backend: str = "auto") -> dict[int, DegreeLearning]:
    """The fraction of the target's degree-l part that ``model`` has learned, for every degree.

    Parameters
    ----------
    model : estimator or callable
        A fitted learner (``predict(X)``) or a callable X -> values; X is (chunk, d) in the
        model's ``dtype`` (float64 if it has none), the values must be (chunk,).
    target : fastrep.MultiIndexTarget
        The target f*.
    n : int, default 100000
        Monte Carlo inputs (>= 2): the first n rows of the target's ``test`` split of
        ``GaussianStream(target, seed)``.
    seed : int, default 0
        The stream's seed. Use one the model was not trained on (:func:`fastrep.metrics.excess_error`
        uses the same test split: any seed is fresh for the training data).
    chunk_size : int, default 65536
        Rows per block.
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The backend of the Hermite features.

    Returns
    -------
    dict
        ``{l: DegreeLearning(fraction, stderr, energy)}`` for every degree l = 0 .. degree
        whose energy E_l is > 0, in increasing l. The standard errors are per degree (the
        degrees' estimates are correlated, since they share the inputs).

    Raises
    ------
    TypeError
        If ``model`` is neither a fitted learner nor a callable, or ``target`` is not a
        MultiIndexTarget.
    ValueError
        If ``n < 2``, or the model's values are not one finite number per row.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.diagnostics import degree_learning
    >>> target = fastrep.MultiIndexTarget.separation(d=8, seed=0)
    >>> {l: round(v.fraction, 3) for l, v in degree_learning(target.f, target, n=1000).items()}
    {2: 1.0, 3: 1.0}
    """
    from .data import GaussianStream
    from .hermite import hermite_features
    from .targets import MultiIndexTarget

    if not isinstance(target, MultiIndexTarget):
        raise TypeError(f"target must be a fastrep.MultiIndexTarget; got {type(target).__name__}")
    fn = as_predict(model, "model")
    n = check_int(n, "n", low=2)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    energy = target.energy_by_degree()
    degrees = [ell for ell in range(target.degree + 1) if energy[ell] > 0]
    deg_of = target.alphas.sum(axis=1)
    # (K, L): coefficient of h_alpha in f_l, for each kept degree
    C = np.zeros((len(target.coefs), len(degrees)))
    for j, ell in enumerate(degrees):
        C[deg_of == ell, j] = target.coefs[deg_of == ell]
    dtype = model_dtype(model)
    # the inputs are made where the model was fitted (its Context), as excess_error does
    ctx = getattr(model, "_ctx", None)
    stream_backend = ctx.stream_backend() if ctx is not None else backend
    stream = GaussianStream(target, seed, split="test", dtype=dtype, backend=stream_backend)
    L = len(degrees)
    s_a = np.zeros(L)   # sum m f_l
    s_b = np.zeros(L)   # sum f f_l
    s_aa = np.zeros(L)
    s_bb = np.zeros(L)
    s_ab = np.zeros(L)
    seen = 0
    # the sums are kept in units of sa (model x f_l) and sb (f* x f_l): powers of 2, 1 unless a
    # product passes 2^256, so that no square overflows for large finite models (then exact)
    sa = sb = 1.0
    for X, _ in stream.chunks(0, n, chunk_size):
        if ctx is not None:
            X = ctx.asarray(X, dtype)
        where = place(X)
        vals = where.host(fn(X))
        vals = np.asarray(vals, dtype=np.float64)
        if vals.shape != (X.shape[0],):
            raise ValueError(f"model returned values of shape {vals.shape} for {X.shape[0]} inputs; "
                             f"expected ({X.shape[0]},)")
        if not np.all(np.isfinite(vals)):
            raise ValueError("model returned NaN or inf predictions")
        Xh = where.host(X).astype(np.float64)
        H = hermite_features(Xh @ target.U.T, target.alphas, backend=backend)
        parts = H @ C           # (chunk, L): f_l(x)
        f = H @ target.coefs    # f*(x)
        a = vals[:, None] * parts
        b = f[:, None] * parts
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):  # a product of finite values overflowed
            a = (vals * 2.0**-512)[:, None] * parts
            b = (f * 2.0**-512)[:, None] * parts
            a_unit, b_unit = 2.0**512, 2.0**512
        else:
            a_unit = b_unit = 1.0
        new_sa = max(sa, _scale_for(a) * a_unit)
        new_sb = max(sb, _scale_for(b) * b_unit)
        if new_sa != sa:  # re-express the sums so far in the larger unit (exact: powers of 2)
            s_a *= sa / new_sa
            s_aa *= (sa / new_sa) ** 2
            s_ab *= sa / new_sa
            sa = new_sa
        if new_sb != sb:
            s_b *= sb / new_sb
            s_bb *= (sb / new_sb) ** 2
            s_ab *= sb / new_sb
            sb = new_sb
        a = a * (a_unit / sa)
        b = b * (b_unit / sb)
        s_a += a.sum(0)
        s_b += b.sum(0)
        s_aa += (a * a).sum(0)
        s_bb += (b * b).sum(0)
        s_ab += (a * b).sum(0)
        seen += X.shape[0]
    E = np.array([energy[ell] for ell in degrees])
    # in the units sa and sb (both 1 for every model whose products stay below 2^256)
    ma, mb = s_a / seen, s_b / seen
    var_a = np.maximum(s_aa / seen - ma**2, 0.0)
    var_b = np.maximum(s_bb / seen - mb**2, 0.0)
    cov = s_ab / seen - ma * mb
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(var_b > 0, cov / var_b, 0.0)  # in units sa / sb
    est = ma - beta * (mb - E / sb)
    resid_var = np.maximum(var_a - 2 * beta * cov + beta**2 * var_b, 0.0)
    se = np.sqrt(resid_var / (seen - 1))
    if sa != 1.0:
        est, se = est * sa, se * sa
    return {ell: DegreeLearning(float(est[j] / E[j]), float(se[j] / E[j]), float(E[j]))
            for j, ell in enumerate(degrees)}


def _scale_for(a) -> float:
    """1, or the power of 2 above max |a| when it passes 2^256 (its square would near overflow)."""
    peak = float(np.max(np.abs(a))) if a.size else 0.0
    if peak <= 2.0**256:
        return 1.0
    return float(np.ldexp(1.0, int(np.frexp(peak)[1])))


def degree_learning_record(result: dict[int, DegreeLearning]) -> dict[str, list[float]]:
    """A JSON-ready form of :func:`degree_learning`'s result.

    Parameters
    ----------
    result : dict
        What :func:`degree_learning` returns.

    Returns
    -------
    dict
        ``{"l": [fraction, stderr]}`` for every degree whose fraction is finite.

    Examples
    --------
    >>> from fastrep.diagnostics import DegreeLearning, degree_learning_record
    >>> degree_learning_record({2: DegreeLearning(0.5, 0.01, 0.5)})
    {'2': [0.5, 0.01]}
    """
    return {str(ell): [v.fraction, v.stderr] for ell, v in result.items() if math.isfinite(v.fraction)}
