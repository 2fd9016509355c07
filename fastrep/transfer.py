"""Transfer learning (the paper): a representation learned on one head serves another.

Source and target tasks share the relevant directions U but have different heads g1 and
g2 (f_source = g1(Ux), f_target = g2(Ux)). The protocol:

1. learn W on the source with one large step (Algorithm 1) on ``n_source`` samples
   (about d^2 are needed to find span(U));
2. freeze W, re-draw the biases b ~ N(0, 1);
3. refit the second layer by ridge on ``n_t`` target samples.

The target error then depends on n_t but not on d, whereas a kernel trained on the target
alone needs about d^p target samples. :func:`fit_transfer` runs the protocol;
:func:`shared_source` builds a source head on the target's U.
"""

from __future__ import annotations

import time
import warnings

from ._validation import Boolean, Interval, check_int, validate_params
from .ridge import RidgeGridEdgeWarning

__all__ = ["fit_source", "fit_transfer", "shared_source"]


def shared_source(target, source):
    """A new target with ``source``'s head g1 placed on ``target``'s directions U.

    Parameters
    ----------
    target : fastrep.MultiIndexTarget
        The task whose U the new head shares.
    source : fastrep.MultiIndexTarget or dict
        The head: a target (its own U is ignored) or a ``terms`` dict
        ``{alpha tuple: coefficient}``; its r must equal the target's.

    Returns
    -------
    fastrep.MultiIndexTarget
        ``g1(U x)`` with the target's U (and the source's noise; a dict gets the target's).

    Raises
    ------
    ValueError
        If the source's r or d differs from the target's.

    Examples
    --------
    >>> import fastrep
    >>> target = fastrep.MultiIndexTarget.separation(d=16, seed=0)
    >>> head = fastrep.shared_source(target, {(2, 0): 1.0, (0, 2): -1.0})
    >>> bool((head.U == target.U).all()), head.degree
    (True, 2)
    """
    from .targets import MultiIndexTarget

    if isinstance(source, dict):
        return MultiIndexTarget(target.d, source, U=target.U, noise=target.noise)
    if source.r != target.r:
        raise ValueError(
            f"source has r = {source.r} directions but the target has r = {target.r}; "
            "transfer needs the same U"
        )
    if source.d != target.d:
        raise ValueError(f"source has d = {source.d} but the target has d = {target.d}")
    return MultiIndexTarget(target.d, dict(source.terms), U=target.U, noise=source.noise, normalize=False)


def fit_transfer(
    source,
    X,
    y,
    *,
    n_source: int,
    X_val=None,
    y_val=None,
    seed: int = 0,
    source_seed: int | None = None,
    n_val: int = 10_000,
    rebias: bool = True,
    **options,
):
    """Learn W on ``source``, freeze it, re-draw the biases and refit the second layer on (X, y).

    Parameters
    ----------
    source : fastrep.MultiIndexTarget
        The source task; it must share U with the target task that generated ``X, y``
        (see :func:`shared_source`).
    X : array, shape (n_t, d)
        float32 or float64 target inputs.
    y : array, shape (n_t,)
        Target labels.
    n_source : int
        Source samples for step 1 (>= 2), streamed (never all in memory).
    X_val : array or None, default None
        Target validation inputs for the second layer's ridge (with ``y_val``).
    y_val : array or None, default None
        Target validation labels.
    seed : int, default 0
        The network's seed (initialization and re-drawn biases).
    source_seed : int or None, default None
        The seed of the source sample stream (None: ``seed``).
    n_val : int, default 10000
        Source validation samples for the source fit's own ridge (only used to report the
        source fit; W does not depend on it, so a source ridge at an end of its grid is not
        warned about; the refit's is, with :class:`fastrep.RidgeGridEdgeWarning`).
    rebias : bool, default True
        Re-draw b ~ N(0, 1) before the refit (the paper's protocol).
    **options
        :class:`fastrep.OneStepNetwork` options (``width``, ``eta1``, ``dtype``, ``backend``, ...).

    Returns
    -------
    fastrep.OneStepNetwork
        ``W_`` learned on the source, ``b_`` and ``a_`` fitted to the target;
        ``source_timings_`` holds the source fit's stage timings (seconds) and ``n_source_``
        the number of source samples.

    Raises
    ------
    TypeError
        If an option is not a :class:`fastrep.OneStepNetwork` parameter.
    ValueError
        If ``n_source < 2``, or X and y do not match each other or the source's d.

    Examples
    --------
    >>> import fastrep
    >>> target = fastrep.MultiIndexTarget.separation(d=12, seed=0)
    >>> source = fastrep.shared_source(target, fastrep.MultiIndexTarget.random(12, 2, 2, seed=1))
    >>> X, y = fastrep.GaussianStream(target, seed=2).take(200)
    >>> net = fastrep.fit_transfer(source, X, y, n_source=16 * 12**2, width=200, ridge=1e-6)
    >>> net.n_source_, net.W_.shape
    (2304, (200, 12))
    """
    from .network import OneStepNetwork

    n_source = check_int(n_source, "n_source", low=2)
    validate_params({"rebias": rebias, "n_val": n_val},
                    {"rebias": [Boolean()], "n_val": [Interval("integer", 1, None)]})
    known = OneStepNetwork._get_param_names()
    unknown = sorted(set(options) - set(known))
    if unknown:  # named here: OneStepNetwork's own TypeError would name a private base class
        raise TypeError(f"fit_transfer() got unknown option(s) {', '.join(unknown)}; "
                        f"OneStepNetwork options are {', '.join(k for k in known if k != 'seed')}")
    net, source_timings = fit_source(source, n_source, seed=seed, source_seed=source_seed, n_val=n_val,
                                     **options)
    net.refit(X, y, rebias=rebias, X_val=X_val, y_val=y_val)
    net.source_timings_ = source_timings
    net.n_source_ = n_source
    return net


def fit_source(source, n_source: int, *, seed: int = 0, source_seed: int | None = None, n_val: int = 10_000,
               **options):
    """Step 1 of the transfer protocol, the one source fit of :func:`fit_transfer` and of the
    sweeps' transfer cells: a :class:`fastrep.OneStepNetwork` (``options``, ``seed``) fitted on
    ``n_source`` rows of ``source``'s stream (seed ``source_seed``, default ``seed``), generated
    where the network runs (its ``dtype`` and ``backend``: the device for 'cupy').

    Returns ``(net, timings)``: the fitted network and the source fit's stage timings (seconds,
    with their ``total``). The source fit's ridge is never used (W does not depend on it), so a
    ridge at an end of its grid is not warned about.
    """
    from .data import GaussianStream
    from .network import OneStepNetwork

    net = OneStepNetwork(**options, seed=seed)
    net.check_params()
    stream = GaussianStream(source, seed if source_seed is None else source_seed, dtype=net.dtype,
                            backend=net.backend)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RidgeGridEdgeWarning)
        net.fit_stream(stream, n_source, n_val=n_val)
    timings = dict(getattr(net, "timings_", {}) or {})
    timings["total"] = time.perf_counter() - t0
    return net, timings
