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
    """``source``'s head g1 placed on ``target``'s directions U: a new MultiIndexTarget.

    ``source`` is a MultiIndexTarget (its own U is ignored) or a ``terms`` dict
    {alpha tuple: coefficient}; its r must equal the target's.
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
    """Learn W on ``source``, freeze it, re-draw biases and refit the second layer on (X, y).

    Parameters
    ----------
    source : MultiIndexTarget, the source task (it must share U with the target task that
        generated ``X, y``; see :func:`shared_source`).
    X : (n_t, d) float32 or float64 target inputs; y : (n_t,) target labels.
    n_source : number of source samples for step 1, streamed (never all in memory).
    X_val, y_val : optional target validation data for the second-layer ridge.
    seed : the network's seed (initialization and re-drawn biases).
    source_seed : seed of the source sample stream (default: ``seed``).
    n_val : source validation samples for the source fit's own ridge (only used to report
        the source fit; W does not depend on it, so a source ridge at an end of its grid is
        not warned about; the refit's is, with :class:`fastrep.RidgeGridEdgeWarning`).
    rebias : re-draw b ~ N(0, 1) before the refit (the paper's protocol).
    **options : :class:`fastrep.OneStepNetwork` options (width, eta1, dtype, backend, ...).

    Returns the fitted :class:`fastrep.OneStepNetwork`, whose ``W_`` was learned on the
    source and whose ``b_``, ``a_`` fit the target. ``source_timings_`` holds the source
    fit's stage timings (seconds) and ``n_source_`` the number of source samples.
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
