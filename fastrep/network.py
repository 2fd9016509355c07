"""Algorithm 1 (the paper): one large gradient step, then ridge on the second layer.

Symbols, as in the paper and the first author's code:

- ``X`` (n, d) inputs, ``y`` (n,) labels; ``d`` the input dimension.
- ``width`` = m neurons; the network is f(x) = sum_j a_j relu(w_j . x + b_j).
- ``W`` (m, d) first-layer weights, ``b`` (m,) biases, ``a`` (m,) second layer.
- Initialization: w_j ~ N(0, I_d / d), b_j ~ N(0, 1), a_j = +-1, *symmetric*: neurons
  m/2..m-1 copy w and b of neurons 0..m/2-1 and negate a, so f = 0 at initialization.
- Label preprocessing (``center``): alpha_hat = mean(y), beta_hat = mean(y x); the network fits
  y_hat = y - alpha_hat - beta_hat . x and adds them back when predicting.
- Step 1: W <- W - eta1 (grad_W L + lambda1 W) with lambda1 = 1/eta1, i.e. W <- -eta1 grad_W L,
  where grad_{w_j} L = -(2/n) a_j sum_i y_hat_i 1[w_j . x_i + b_j > 0] x_i. With
  ``eta1='normalized'`` (the author's default) eta1 is chosen so that mean_j ||w_j||^2 = 1.
- Step 2: Phi = relu(X W^T + b) (optionally with b re-drawn, ``rebias``), then ridge
  a = (Phi^T Phi / n + lam I)^-1 Phi^T y_hat / n with lam chosen on validation data.

Every sum over samples (alpha_hat, beta_hat, the gradient, Phi^T Phi, Phi^T y_hat) is
accumulated chunk by chunk through the kernel layer, so ``fit_stream`` never holds the data:
memory is O(m^2 + m d + chunk (d + m)) whatever n is.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

from ._arrays import place
from ._memory import check_allocation, scratch
from ._progress import SILENT, Progress
from ._stream_cache import StreamSource
from ._streams import as_stream, named_pass, validation_rows
from ._validation import (
    MEMORY_RULES,
    RIDGE_RULES,
    SEED_RULES,
    Boolean,
    FloatDType,
    Interval,
    NoneRule,
    Options,
    RuleChecked,
    as_float_array,
    check_dtype,
    check_finite_output,
    check_int,
    check_param,
    naming,
    public_init,
    validate_params,
)
from ._warnings import user_stacklevel
from .backend import FAMILIES, Portable, context, stream_context
from .ridge import EigenRidge, lambda_grid, resolve_ridge, ridge_path, symmetrize_lower

__all__ = ["DegenerateTargetWarning", "OneStepNetwork", "RandomFeaturesRegressor"]

class DegenerateTargetWarning(UserWarning):
    """The target's expected Hessian has rank < r: the paper's theorem does not cover it.

    Warned by the two-layer learners when they are fitted on a stream whose ``target`` is
    degenerate (e.g. ``MultiIndexTarget.single_index(d, "he3")``); fastrep still runs it.

    Examples
    --------
    >>> import warnings
    >>> import fastrep
    >>> target = fastrep.MultiIndexTarget.single_index(6, "he3")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     net = fastrep.OneStepNetwork(width=20, ridge=1e-3).fit_stream(
    ...         fastrep.GaussianStream(target, seed=0), n=200, n_val=100)
    >>> any(w.category is fastrep.DegenerateTargetWarning for w in caught)
    True
    """


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _default_chunk(d: int, m: int, itemsize: int) -> int:
    row_bytes = (d + 2 * m) * itemsize
    # ~256 MB of work per chunk: BLAS runs markedly faster on 16384-row blocks than on 4096-row ones
    rows = 2 ** int(math.log2(max(256 * 2**20 // row_bytes, 1)))
    return int(min(max(rows, 1024), 65536))


class _ArraySource:
    """Chunks of in-memory arrays (views, no copies)."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def chunks(self, start, stop, chunk):
        for lo in range(start, stop, chunk):
            hi = min(lo + chunk, stop)
            yield self.X[lo:hi, ...], self.y[lo:hi]


class _Centered:
    """A data source whose labels are centred: chunks of (X, y_hat)."""

    def __init__(self, src, centered):
        self.src, self.centered = src, centered

    def chunks(self, start, stop, chunk):
        for Xc, yc in self.src.chunks(start, stop, chunk):
            yield Xc, self.centered(Xc, yc)


@contextlib.contextmanager
def _timed(timings, stage):
    t0 = time.perf_counter()
    yield
    timings[stage] = time.perf_counter() - t0


def _mask_rows():
    """The compiled in-place mask pass (same bits as the NumPy passes), imported on first use so
    that importing the learners does not import Numba; None without Numba."""
    try:
        from ._kernels.sgd import mask_rows
    except ImportError:  # pragma: no cover - Numba is a dependency; the NumPy passes remain
        return None
    return mask_rows

#: Chunks with fewer rows (online SGD's batches) take the gradient step's products directly in
#: the data's namespace: the features driver's per-call copy of W^T and its parallel relu pass
#: cost more than the products there (B = 256, d = 512, width 1024).
SMALL_BATCH_ROWS = 2048


def _residual_gradient(ctx, chunks, W, b, c):
    """(G, sum r^2) over ``chunks`` of (X, y): G = sum_i r_i 1[w_j . x_i + b_j > 0] x_i (k, d) in
    ctx's namespace (in X's dtype from one chunk, else summed in float64), with the residual r = y - relu(X W^T + b) c of the current network.

    A gradient step away from the symmetric initialization (f != 0). Per chunk one product
    X W^T (``relu_features``; its positive entries are the mask, since relu(p) > 0 exactly
    when p > 0) and one (mask * r)^T X in ``ctx.xp``: two (n, d, k) products, where the
    residual and ``onestep_gradient`` would take three. Chunks of fewer than
    :data:`SMALL_BATCH_ROWS` rows compute X W^T + b in ``ctx.xp`` too."""
    xp = ctx.xp
    feat = ctx["features"]
    G, sq = None, 0.0
    for Xc, yc in chunks:
        if Xc.shape[0] >= SMALL_BATCH_ROWS:  # the features driver: fused relu pass, W^T copied once
            Phi = feat.relu_features(Xc, W, b, False,
                                     out=scratch(xp, "step features", (Xc.shape[0], W.shape[0]), Xc.dtype))
            r = yc - Phi @ c
            mask_pass = _mask_rows() if isinstance(Phi, np.ndarray) else None
            if mask_pass is not None:  # in place, one compiled pass
                mask_pass(Phi, r)
                mask_r = Phi
            else:
                mask_r = xp.astype(Phi > 0, Phi.dtype)
                mask_r *= r[:, None]
        else:  # a small batch: no per-call copy of W^T or thread launch, a few passes over (B, k)
            P = Xc @ W.T + b
            r = yc - xp.maximum(P, xp.zeros((), dtype=P.dtype)) @ c
            mask_r = xp.where(P > 0, r[:, None], xp.zeros((), dtype=P.dtype))
        sq += float(xp.sum(xp.astype(r, xp.float64) ** 2))
        g = mask_r.T @ Xc
        if G is None:
            G = g  # one chunk: kept in its dtype (the caller's float64 pass converts it exactly)
        elif G.dtype != xp.float64:
            G = xp.astype(G, xp.float64) + xp.astype(g, xp.float64)
        else:
            G += xp.astype(g, xp.float64)
    return G, sq


#: the rules of both networks' parameters (``width`` is the class's own, see ``_width_rule``)
NETWORK_RULES = {
    "eta1": [Options("normalized"), Interval("real", 0, None, closed="neither")],
    "rebias": [Boolean()],
    "split": [Boolean()],
    "ridge": RIDGE_RULES,
    "steps": [Interval("integer", 1, None)],
    "center": [Boolean()],
    "dtype": [FloatDType()],
    "seed": SEED_RULES,
    "chunk_size": [Interval("integer", 1, None), NoneRule()],
    "precision": [Options("highest", "tf32")],
    "max_memory": MEMORY_RULES,
    "verbose": [Boolean()],
}

#: the rules of refit's own arguments
REFIT_RULES = {"rebias": [Boolean()], "seed": [*SEED_RULES, NoneRule()]}


class _TwoLayerBase(RuleChecked, Portable, RegressorMixin, BaseEstimator):
    """Shared machinery: parameter checks, label centering, feature moments, the ridge path."""

    _learns_first_layer = True
    #: the parameters that made ``W_``: refit refuses to run after one of them changed
    _first_layer_params = ("width", "eta1", "steps", "split", "seed")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            public_init(cls)  # a mistyped option names OneStepNetwork, not _TwoLayerBase

    def __init__(self, width=1000, *, eta1="normalized", rebias=False, split=False, ridge="validate",
                 steps=1, center=True, dtype=np.float32, backend="auto", seed=0, chunk_size=None,
                 precision="highest", max_memory=None, verbose=False):
        self.width = width
        self.verbose = verbose
        self.max_memory = max_memory
        self.eta1 = eta1
        self.rebias = rebias
        self.split = split
        self.ridge = ridge
        self.steps = steps
        self.center = center
        self.dtype = dtype
        self.backend = backend
        self.seed = seed
        self.chunk_size = chunk_size
        self.precision = precision

    # ----------------------------------------------------------------- parameters
    def _check_params(self):
        """The rule table's check (:meth:`check_params`), then (width, dtype) for the fit."""
        self.check_params()
        return int(self.width), check_dtype(self.dtype)

    def _families(self):
        """{family: the operation whose AUTO_PREFERENCE order picks its backend} of one fit; the
        'stream' family is the stream's own generator."""
        fams = FAMILIES["OneStepNetwork" if self._learns_first_layer else "RandomFeaturesRegressor"]
        return {k: v for k, v in fams.items() if k != "stream"}

    def _context(self, dtype, d, n, *arrays, stream=None):
        """The fit's Context: resolved once, from the data (arrays, or the stream's generator).
        Its chunk is ``chunk_size`` (or the default) but never more than the n rows of the fit."""
        chunk = min(self.chunk_size or _default_chunk(d, int(self.width), dtype.itemsize), n)
        if stream is not None:  # its first row first: a stream whose d is not its rows' is named
            ctx = stream_context(self.backend, self._families(), stream, dtype=dtype, chunk=chunk)
        else:
            ctx = context(self.backend, self._families(), *arrays, dtype=dtype, chunk=chunk)
        self._check_memory(d, int(self.width), dtype, chunk)
        return ctx

    # ----------------------------------------------------------------- public API
    def fit(self, X, y, X_val=None, y_val=None):
        """Fit on in-memory data.

        Parameters
        ----------
        X : array of shape (n, d), float32 or float64
            The training inputs: a NumPy, CuPy or other array-API array (the fit runs where
            the array lives); cast to ``dtype``.
        y : array of shape (n,), float32 or float64
            The training labels, of X's array library.
        X_val : array of shape (n_val, d) or None, default None
            Validation inputs for ``ridge='validate'``. Without them the ridge is chosen by
            generalized cross-validation from the same eigendecomposition, so no training
            sample is held out.
        y_val : array of shape (n_val,) or None, default None
            Validation labels; given together with ``X_val``.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            For an invalid parameter (named in the message), y whose length is not X's number
            of rows, NaN or inf in the data, validation data of another d, or only one of
            ``X_val`` and ``y_val``.
        TypeError
            For X or y that is not a real float array (named in the message), or a mix of
            array libraries.
        MemoryError
            When the weights, moments and one chunk would not fit ``max_memory``.

        Examples
        --------
        >>> import numpy as np, fastrep
        >>> target = fastrep.MultiIndexTarget.separation(d=6, seed=0)
        >>> X, y = fastrep.GaussianStream(target, seed=1).take(500)
        >>> net = fastrep.OneStepNetwork(width=40).fit(X, y)
        >>> net.a_.shape, net.backend_["onestep"] in {"reference", "cpp", "numba", "cupy"}
        ((40,), True)
        """
        _, dtype = self._check_params()
        X, y = self._validate_xy(X, y, "X", "y", reset=True)
        val = self._validate_val(X_val, y_val)
        ctx = self._context(dtype, X.shape[1], X.shape[0], X, y)
        self.stream_cache_ = None  # in-memory data: no stream
        return self._fit(ctx, _ArraySource(X, y), X.shape[0], val)

    def fit_stream(self, stream, n=None, *, n_val=10_000, val=None, cache="auto"):
        """Fit on ``n`` rows of a stream, never holding them all.

        Parameters
        ----------
        stream : GaussianStream, stream object or iterable of (X, y) chunks
            A :class:`fastrep.GaussianStream`; any object with ``d``, ``dtype`` and
            ``chunks(start, stop, chunk_size)`` (optionally ``val()``); or any iterable of
            ``(X, y)`` chunks, X of shape (k, d) and y of shape (k,), float32 or float64
            (see ``fastrep._streams``). Its dtype must be the model's ``dtype``.
        n : int or None, default None
            The number of training rows, >= 1; None takes all the rows of an iterable of
            chunks (a stream object needs n).
        n_val : int, default 10000
            With ``ridge='validate'``, the number of fresh rows of the stream's ``val()``
            split the ridge is chosen on (as in the first author's code). A stream without
            ``val()`` has lambda chosen by generalized cross-validation, as :meth:`fit` does
            without ``X_val``.
        val : tuple (X_val, y_val) or None, default None
            Validation data to use instead of ``n_val`` rows of ``val()``.
        cache : {'auto', 'keep', 'regenerate'}, default 'auto'
            Whether the later passes read the training rows kept from the first pass or
            regenerate them from the stream. 'auto' keeps them when they fit the memory budget
            (``max_memory``, else ``FASTREP_MAX_MEMORY``, else half the available RAM), so the
            largest fits never hold them and their peak memory is flat in n. The mode that ran
            is ``stream_cache_`` ('kept' or 'regenerated'); both give the same fit.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            For an invalid parameter, ``n``, ``n_val`` or ``cache`` (named in the message), a
            stream whose dtype is not the model's ``dtype``, or chunks of inconsistent shapes.
        TypeError
            For a ``stream`` that is neither a stream object nor an iterable of chunks.
        MemoryError
            When the weights, moments and one chunk would not fit ``max_memory``.

        Warns
        -----
        DegenerateTargetWarning
            When the stream's target has no degree-2 part in some direction of its subspace.

        Examples
        --------
        >>> import fastrep
        >>> stream = fastrep.GaussianStream(fastrep.MultiIndexTarget.separation(d=6, seed=0), seed=1)
        >>> net = fastrep.OneStepNetwork(width=40).fit_stream(stream, n=500, n_val=200)
        >>> net.W_.shape, net.stream_cache_
        ((40, 6), 'kept')
        """
        _, dtype = self._check_params()
        stream, n = as_stream(stream, n)
        target = getattr(stream, "target", None)
        if target is not None and getattr(target, "nondegenerate", True) is False:
            rank = target.hessian_rank() if hasattr(target, "hessian_rank") else "< r"
            warnings.warn(
                f"the target's expected Hessian has rank {rank} < r = {getattr(target, 'r', '?')} "
                "(no degree-2 part in some direction): Algorithm 1's guarantee does not cover it",
                DegenerateTargetWarning, stacklevel=user_stacklevel(),
            )
        if np.dtype(stream.dtype) != dtype:
            raise ValueError(f"stream.dtype is {np.dtype(stream.dtype)} but the model's dtype is {dtype}")
        src = StreamSource(stream, n, cache, max_memory=self.max_memory)
        if val is None and self.ridge == "validate":
            val = validation_rows(stream, n_val, self.max_memory)  # None without val(): GCV
        if val is not None:
            val = self._validate_xy(val[0], val[1], "X_val", "y_val", reset=False, d=stream.d)
        self.n_features_in_ = stream.d
        ctx = self._context(dtype, stream.d, n, stream=stream)
        self._fit(ctx, src.keep_in(ctx.xp), n, val)
        self.stream_cache_ = src.mode
        return self

    def expected_failed_checks(self) -> dict:
        """The scikit-learn checks this estimator is expected to fail, with the reason.

        Pass it as ``check_estimator(est, expected_failed_checks=est.expected_failed_checks())``
        (or ``parametrize_with_checks(..., expected_failed_checks=lambda e:
        e.expected_failed_checks())``). With ``dtype=float32``,
        ``check_methods_sample_order_invariance`` (1e-7 relative) is declared: see
        :meth:`predict` for the bound that holds. float64 passes every check.

        Returns
        -------
        dict
            ``{check name: reason}``; empty for float64.

        Raises
        ------
        ValueError
            If ``dtype`` is not float32 or float64.

        Examples
        --------
        >>> import fastrep
        >>> sorted(fastrep.OneStepNetwork(dtype="float32").expected_failed_checks())
        ['check_methods_sample_order_invariance']
        >>> fastrep.OneStepNetwork(dtype="float64").expected_failed_checks()
        {}
        """
        if check_dtype(self.dtype) != np.float32:
            return {}
        return {"check_methods_sample_order_invariance": (
            "float32: a row's prediction depends on its position among the rows in its last bits (the "
            "BLAS rounds a row's products by where it falls in its blocks); it agrees, in any order, to "
            "within 4 (d + m + 2) eps times the sum of the magnitudes of its terms (about 1e-6 relative)")}

    def predict(self, X):
        """Predict the labels of X.

        A row's prediction does not depend on the other rows, up to rounding: in float32 its
        last bits may change with its position (BLAS blocking), within 4 (d + m + 2) eps times
        the sum of the magnitudes of its terms (see :meth:`expected_failed_checks`).

        Parameters
        ----------
        X : array of shape (n, d), float32 or float64
            Inputs with the d seen at fit, of any array library the model's backend reads.

        Returns
        -------
        array of shape (n,)
            The predictions, of the model's ``dtype`` and X's array library.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        ValueError
            For X with another number of features than at fit, or NaN or inf in X, or
            predictions that overflow (a message suggests ``dtype=float64``).
        TypeError
            For X that is not a real float array.

        Examples
        --------
        >>> import fastrep
        >>> target = fastrep.MultiIndexTarget.separation(d=6, seed=0)
        >>> X, y = fastrep.GaussianStream(target, seed=1).take(500)
        >>> fastrep.RandomFeaturesRegressor(width=40).fit(X, y).predict(X[:3]).shape
        (3,)
        """
        check_is_fitted(self, "a_")
        X = self._validate_x(X)
        dtype = check_dtype(self.dtype)
        ctx = context(self.backend, {"features": "relu_features"}, X, dtype=dtype)
        ops, xp = ctx["features"], ctx.xp
        W, b, a = (ctx.asarray(v) for v in (self._W_features, self.b_, self.a_))
        n = X.shape[0]
        out = xp.empty(n, dtype=ctx.xdtype)
        chunk = self.chunk_size or _default_chunk(X.shape[1], self.width, dtype.itemsize)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            Xc = X[lo:hi, ...]
            out[lo:hi] = ops.relu_features(Xc, W, b, self._paired) @ a + self._label_part(ctx, Xc)
        return check_finite_output(out, "the predictions", "X", "scale X down or use dtype=float64")

    # ----------------------------------------------------------------- validation
    def _validate_xy(self, X, y, xname, yname, *, reset, d=None):
        dtype = check_dtype(self.dtype)
        if not place(X, y).on_host:  # place refuses a mix of array libraries
            X = as_float_array(X, xname, ndim=2, dtype=dtype)
            y = as_float_array(y, yname, ndim=1, dtype=dtype)
            if y.shape[0] != X.shape[0]:
                raise ValueError(
                    f"{yname} has {y.shape[0]} entries but {xname} has {X.shape[0]} rows; they must match"
                )
            if reset:
                self.n_features_in_ = X.shape[1]
        else:
            if isinstance(X, np.ndarray) and isinstance(y, np.ndarray) and X.ndim and y.ndim and len(y) != len(X):
                raise ValueError(f"{yname} has {len(y)} entries but {xname} has {len(X)} rows; they must match")
            # scikit-learn's checks: sparse, complex, object, NaN/inf ("Input X contains NaN"), 1-D X
            with naming(xname, yname):
                if reset:
                    X, y = validate_data(self, X, y, dtype=dtype, y_numeric=True)
                else:
                    X, y = check_X_y(X, y, dtype=dtype, y_numeric=True)
            y = y.astype(dtype, copy=False)
        want_d = d if d is not None else getattr(self, "n_features_in_", X.shape[1])
        if X.shape[1] != want_d:
            raise ValueError(f"{xname} has {X.shape[1]} features but the model expects {want_d}")
        return X, y

    def _validate_val(self, X_val, y_val):
        """(X_val, y_val) validated like the training data, or None when neither is given."""
        if X_val is None and y_val is None:
            return None
        if X_val is None or y_val is None:
            raise ValueError("give both X_val and y_val, or neither")
        return self._validate_xy(X_val, y_val, "X_val", "y_val", reset=False)

    def _validate_x(self, X):
        if not place(X).on_host:
            X = as_float_array(X, "X", ndim=2, dtype=check_dtype(self.dtype))
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input"
                )
            return X
        with naming("X"):
            return validate_data(self, X, reset=False, dtype=check_dtype(self.dtype))

    def _label_part(self, ctx, Xc):
        if not self.center:
            return ctx.xp.zeros(Xc.shape[0], dtype=Xc.dtype)
        return Xc @ ctx.asarray(self.label_linear_) + float(ctx.dtype.type(self.label_mean_))

    # ----------------------------------------------------------------- the algorithm
    def initialization(self, d, rng=None):
        """The network before training, drawn exactly as ``fit`` draws it.

        w_j ~ N(0, I/d), b_j ~ N(0, 1), a_j = +-1; symmetric for OneStepNetwork (neurons
        m/2..m-1 copy w, b of 0..m/2-1 with a negated, so the network output is exactly 0).
        For RandomFeaturesRegressor all neurons are independent and 'a' is None.

        Parameters
        ----------
        d : int
            The input dimension, >= 1.
        rng : numpy.random.Generator or None, default None
            The generator to draw from; None draws from ``seed``.

        Returns
        -------
        dict
            ``{'W': (m, d), 'b': (m,), 'a': (m,) or None}``, float64 NumPy arrays.

        Raises
        ------
        ValueError
            For ``d`` < 1 or an invalid ``width`` (named in the message).
        TypeError
            For a ``d`` that is not an integer.

        Examples
        --------
        >>> import fastrep
        >>> init = fastrep.OneStepNetwork(width=4, seed=0).initialization(3)
        >>> init["W"].shape, bool((init["W"][:2] == init["W"][2:]).all()), init["a"][:2] + init["a"][2:]
        ((4, 3), True, array([0., 0.]))
        """
        d = check_int(d, "d", low=1)
        width = int(check_param("width", self.width, self._parameter_rules["width"]))
        rng = np.random.default_rng(self.seed) if rng is None else rng
        if not self._learns_first_layer:  # a symmetric copy would duplicate every feature
            return {"W": rng.standard_normal((width, d)) / math.sqrt(d), "b": rng.standard_normal(width),
                    "a": None}
        h = width // 2
        W_half = rng.standard_normal((h, d)) / math.sqrt(d)
        b_half = rng.standard_normal(h)
        a_half = rng.choice([-1.0, 1.0], size=h)
        return {"W": np.concatenate([W_half, W_half]), "b": np.concatenate([b_half, b_half]),
                "a": np.concatenate([a_half, -a_half])}

    def _check_memory(self, d, width, dtype, chunk):
        """Refuse, naming ``width`` (or ``chunk_size`` when the chunk is most of it), a network whose
        weights, moments and chunks do not fit the budget."""
        # W and its gradient in float64 (init, step, concatenation: about 4 (m, d)), the (m, m)
        # moments with their float64 copy, symmetrization and eigendecomposition (about 6),
        # and a chunk's products and features in dtype
        weights = 8.0 * width * d * 4 + 8.0 * width * width * 6
        rows = 2.0 * chunk * (d + 2 * width) * dtype.itemsize
        argument = "chunk_size" if self.chunk_size is not None and rows > weights else "width"
        check_allocation(weights + rows, argument=argument, max_memory=self.max_memory,
                         what=f"a width-{width} network on d = {d} inputs, {chunk:,} rows a chunk")

    def _stages(self, n):
        """Sample ranges of step 1 and of the ridge head: halves with ``split``, else all n twice."""
        if self.split and self._learns_first_layer:
            if n < 4:
                raise ValueError(f"split=True needs n >= 4 samples; got n={n}")
            return (0, n // 2), (n // 2, n)
        return (0, n), (0, n)

    @contextlib.contextmanager
    def _stage(self, stage, what):
        """A timed stage (``timings_[stage]``), reported as one line when verbose."""
        with _timed(self.timings_, stage), self._progress.stage(what):
            yield

    def _rows(self, chunks, total, what):
        """One pass over ``total`` rows: a stream's short or long pass is refused naming ``what``."""
        return getattr(self, "_progress", SILENT).rows(named_pass(chunks, what), total, what)

    def _fit(self, ctx, src, n, val):
        """Algorithm 1: initialization, label statistics, one step, ridge head."""
        rng = np.random.default_rng(self.seed)
        self._ctx, self.timings_ = ctx, {}
        self._progress = Progress(self.verbose, type(self).__name__)
        params = self.get_params(deep=False)
        self._first_layer_setting = {k: params[k] for k in self._first_layer_params}
        with ctx.precision(self.precision), ctx.workspace(self.max_memory):
            init = self.initialization(self.n_features_in_, rng)
            stage1, stage2 = self._stages(n)
            with self._stage("labels", "label statistics"):
                data = self._label_stats(ctx, src, n)
            with self._stage("step1", "step 1 (the large gradient step)"):
                if self._learns_first_layer:
                    W, paired = self._one_step(ctx, data, stage1, init)
                else:
                    W, paired = init["W"], False
            b = rng.standard_normal(W.shape[0]) if self.rebias else init["b"]  # the paper re-draws b
            self.W_, self.first_layer_a_, self.n_samples_, self.b_ = W, init["a"], n, b
            self._paired = paired
            self._W_features = W[: W.shape[0] // 2] if paired else W
            self._ridge_head(ctx, data, stage2, val)
        self.backend_ = ctx.backend_
        return self

    def _label_stats(self, ctx, src, n, linear=True):
        """alpha_hat = mean(y), beta_hat = mean(y x) in one pass; returns the centred source.

        ``linear=False`` (the transfer refit) keeps beta_hat = 0: a d-dimensional estimate from
        the few target samples would cost about d / n of excess error, while the learned
        features already represent the linear part in span(U)."""
        xp, d = ctx.xp, self.n_features_in_
        sum_y, sum_yx = 0.0, np.zeros(d)
        for Xc, yc in self._rows(src.chunks(0, n, ctx.chunk), n, "label statistics"):
            sum_y += float(xp.sum(yc, dtype=xp.float64))
            sum_yx += ctx.host(yc @ Xc).astype(np.float64)  # one chunk in dtype, the total in float64
        if not np.isfinite(sum_y) or not np.all(np.isfinite(sum_yx)):  # the rows are finite: an overflow
            what = "sum(y)" if not np.isfinite(sum_y) else "sum(y x)"
            raise ValueError(f"the label statistics overflow: {what} over the rows is not finite in "
                             f"{ctx.dtype.name} although X and y are; scale X or y down, or use "
                             "dtype=float64")
        if self.center:
            self.label_mean_, self.label_linear_ = sum_y / n, (sum_yx / n if linear else np.zeros(d))
        else:
            self.label_mean_, self.label_linear_ = 0.0, np.zeros(d)
        alpha_hat = float(ctx.dtype.type(self.label_mean_))
        beta_dev = ctx.asarray(self.label_linear_)

        def centered(Xc, yc):
            return yc - alpha_hat - Xc @ beta_dev if self.center else yc

        return _Centered(src, centered)

    def _one_step(self, ctx, data, rows, init):
        """W after `steps` large steps with weight decay 1/eta1 (so W <- -eta1 grad each step)."""
        ops, steps = ctx["onestep"], self.steps
        if steps > rows[1] - rows[0]:  # before the (steps + 1) bounds are made
            raise ValueError(f"steps={steps} needs at least {steps} stage-1 samples; got {rows[1] - rows[0]}")
        bounds = np.linspace(rows[0], rows[1], steps + 1).astype(int)
        if np.any(np.diff(bounds) < 1):
            raise ValueError(f"steps={steps} needs at least {steps} stage-1 samples; got {rows[1] - rows[0]}")
        W, a_sign = init["W"], init["a"]
        h = W.shape[0] // 2
        b_dev, a_dev = ctx.asarray(init["b"]), ctx.asarray(a_sign)
        for t in range(steps):
            n_t = int(bounds[t + 1] - bounds[t])
            if t == 0:
                # f = 0 at the symmetric init: residual = y_hat, and the second half's gradient
                # is exactly the negation of the first's, so only h neurons are computed.
                Wd, bd, half = ctx.asarray(W[:h]), b_dev[:h], slice(0, h)
            else:
                Wd, bd, half = ctx.asarray(W), b_dev, slice(None)
            Gacc = None
            what = "step 1 gradient" + (f" ({t + 1} of {steps})" if steps > 1 else "")
            chunks = self._rows(data.chunks(int(bounds[t]), int(bounds[t + 1]), ctx.chunk), n_t, what)
            if t > 0:  # f != 0: the residual's features give the mask (fastrep.multistep shares this)
                Gacc, _ = _residual_gradient(ctx, chunks, Wd, bd, a_dev)
            for Xc, r in chunks if t == 0 else ():
                Gacc = ops.onestep_gradient(Xc, Wd, bd, r, acc=Gacc)
            Gs = ctx.host(Gacc).astype(np.float64) * a_sign[half, None]  # a_j sum_i r_i 1[.] x_i
            if not np.all(np.isfinite(Gs)):
                if t > 0 and not isinstance(self.eta1, str):  # the residual of the previous step's W
                    raise ValueError(f"eta1={self.eta1!r} overflows step {t + 1} of {steps}: the network "
                                     f"of step {t}'s W makes a non-finite gradient in {ctx.dtype.name}; "
                                     "use a smaller eta1 or eta1='normalized'")
                raise ValueError("the one-step gradient is not finite (check X and y for overflow)")
            if t == 0:
                Gs = np.concatenate([Gs, -Gs])
            if isinstance(self.eta1, str):  # 'normalized': mean_j ||w_j||^2 = 1
                scale = math.sqrt(float(np.mean(np.sum(Gs**2, axis=1))))
                if scale == 0.0:
                    raise ValueError("the one-step gradient is zero: the centered labels y carry no signal "
                                     "(too few samples n, or no degree >= 2 part in the target)")
                W = Gs / scale
                self.eta1_ = n_t / (2.0 * scale)
            else:  # W <- -eta1 grad, grad_j = -(2/n) a_j sum_i r_i 1[.] x_i
                W = float(self.eta1) * (2.0 / n_t) * Gs
                self.eta1_ = float(self.eta1)
                self._check_step(W, t, steps, ctx.dtype)
        self.lambda1_ = 1.0 / self.eta1_
        return W, steps == 1

    def _check_step(self, W, t, steps, dtype):
        """Refuse, naming ``eta1`` and the step, a W = -eta1 grad that its dtype cannot hold."""
        big = float(np.max(np.abs(W))) if W.size else 0.0
        if not math.isfinite(big) or big > float(np.finfo(dtype).max):
            raise ValueError(f"eta1={self.eta1!r} overflows step {t + 1} of {steps}: W = -eta1 grad_W L has "
                             f"entries of {big:.3g}, beyond {np.dtype(dtype).name}; use a smaller eta1 or "
                             "eta1='normalized' (mean row norm 1)")

    def _moments_overflow(self, dtype) -> str:
        """What to blame when the feature moments are not finite although the rows were: a fixed
        ``eta1`` that made W's rows larger than the normalized step's (mean norm 1), else X."""
        rms = math.sqrt(float(np.mean(np.sum(np.square(self.W_), axis=1)))) if self.W_.size else 0.0
        if self._learns_first_layer and not isinstance(self.eta1, str) and not rms <= 1.0:
            return (f"the features relu(X W^T + b) overflow {dtype.name}: eta1={self.eta1!r} made the rows "
                    f"of W of mean norm {rms:.3g} after the step (eta1='normalized' makes it 1); use a "
                    "smaller eta1, eta1='normalized' or dtype=float64")
        return (f"the features relu(X W^T + b) overflow {dtype.name} (W's rows have mean norm {rms:.3g}): "
                "X is too large; scale X down or use dtype=float64")

    def _ridge_head(self, ctx, data, rows, val):
        """Step 2: Phi^T Phi / n and Phi^T y_hat / n over ``rows``, then the ridge path."""
        ops, xp, paired = ctx["features"], ctx.xp, self._paired
        with self._stage("features", "feature moments"):
            W_dev, b_dev = ctx.asarray(self._W_features), ctx.asarray(self.b_)
            G = h_vec = None
            yy = 0.0
            chunks = self._rows(data.chunks(*rows, ctx.chunk), rows[1] - rows[0], "feature moments")
            for Xc, yc_hat in chunks:
                G, h_vec = ops.feature_moments(Xc, W_dev, b_dev, yc_hat, paired, G=G, h=h_vec)
                yy += float(xp.sum(xp.astype(yc_hat, xp.float64) ** 2))
            n2 = rows[1] - rows[0]
            G = xp.astype(G, xp.float64)  # stays on the device on the cupy backend
            if not bool(xp.all(xp.isfinite(G))):
                raise ValueError(self._moments_overflow(ctx.dtype))
            if not bool(xp.all(xp.isfinite(h_vec))):
                raise ValueError(f"Phi^T y_hat overflows {ctx.dtype.name} (the features are finite): the "
                                 "centred labels y - alpha_hat - beta_hat . x are too large; scale X or y "
                                 "down, or use dtype=float64")
            symmetrize_lower(xp, G)
            G /= n2
            rhs = xp.astype(h_vec, xp.float64)

        # ridge: one eigendecomposition, the whole lambda path
        with self._stage("ridge", "ridge path (eigendecomposition, every lambda)"):
            er = EigenRidge(G, rhs / n2, rcond=10 * np.finfo(ctx.dtype).eps, ops=ctx["ridge"])
            ridge = resolve_ridge(self.ridge)
            self.ridge_path_ = None
            if ridge == "validate":
                grid = lambda_grid()
                if val is not None:
                    Xv, yv = val
                    # into the features pass's work array ("features", G.shape[0] columns): its
                    # pages are touched already
                    Phi_v = ops.relu_features(Xv, W_dev, b_dev, paired,
                                              out=scratch(xp, "features", (Xv.shape[0], G.shape[0]), Xv.dtype))
                    ridge, scores = er.select(Phi_v, data.centered(Xv, yv), grid)
                else:
                    ridge, scores = er.gcv(n2, yy, grid)
                self.ridge_path_ = ridge_path(grid, scores, who=type(self).__name__)
            self.a_ = ctx.host(er.coef(ridge))
            self.ridge_ = float(ridge)

    # ----------------------------------------------------------------- transfer
    def refit(self, X, y, *, rebias=True, X_val=None, y_val=None, seed=None):
        """Keep the learned first layer ``W_`` and refit the rest on new data (transfer learning).

        Only the second layer (and, with ``center``, the label mean alpha_hat) is estimated
        from (X, y): ``label_linear_`` is 0, since a d-dimensional beta_hat from the few target
        samples would cost about d / n of excess error and the learned features represent the
        linear part in span(U) themselves; so the error depends on n and not on d (the paper's
        transfer protocol). The second layer is fitted by the same ridge path as :meth:`fit`.

        The second layer's parameters (``ridge``, ``center``, ``dtype``, ``backend``, ...) are
        read as they are now; a parameter that made ``W_`` (``width``, ``eta1``, ``steps``,
        ``split``, ``seed``) changed since the fit (``set_params``) is refused: fit again
        instead.

        Parameters
        ----------
        X : array of shape (n, d), float32 or float64
            The new task's inputs, with the d seen at fit.
        y : array of shape (n,), float32 or float64
            The new task's labels.
        rebias : bool, default True
            Re-draw the biases b ~ N(0, 1) before the second layer is fitted.
        X_val : array of shape (n_val, d) or None, default None
            Validation inputs for ``ridge='validate'``, as in :meth:`fit`.
        y_val : array of shape (n_val,) or None, default None
            Validation labels; given together with ``X_val``.
        seed : int or None, default None
            Seed of the re-drawn biases; None is ``self.seed + 1``.

        Returns
        -------
        self
            The refitted estimator.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        ValueError
            For a first-layer parameter changed since the fit, an invalid ``rebias`` or
            ``seed``, or data as :meth:`fit` refuses it (each named in the message).
        TypeError
            For X or y that is not a real float array.

        See Also
        --------
        fastrep.fit_transfer : learn W on one task and refit on another in one call.

        Examples
        --------
        >>> import fastrep
        >>> source = fastrep.MultiIndexTarget.separation(d=6, seed=0)
        >>> net = fastrep.OneStepNetwork(width=40).fit_stream(fastrep.GaussianStream(source, seed=1), n=500)
        >>> X, y = fastrep.GaussianStream(source, seed=2).take(100)
        >>> float(net.refit(X, y).label_linear_.max())
        0.0
        """
        check_is_fitted(self, "W_")
        _, dtype = self._check_params()
        self._check_first_layer()
        validate_params({"rebias": rebias, "seed": seed}, REFIT_RULES)
        X, y = self._validate_xy(X, y, "X", "y", reset=False)
        val = self._validate_val(X_val, y_val)
        ctx = self._context(dtype, self.n_features_in_, X.shape[0], X, y)
        return self._refit(ctx, _ArraySource(X, y), X.shape[0], val, rebias, seed)

    def refit_stream(self, stream, n=None, *, n_val=10_000, rebias=True, seed=None, cache="auto"):
        """:meth:`refit` on ``n`` rows of a stream, as :meth:`fit_stream` takes them.

        Parameters
        ----------
        stream : GaussianStream, stream object or iterable of (X, y) chunks
            The new task's rows, as :meth:`fit_stream` takes them, with the d seen at fit.
        n : int or None, default None
            The number of rows, >= 1; None takes all the rows of an iterable of chunks.
        n_val : int, default 10000
            With ``ridge='validate'``, the number of fresh rows of the stream's ``val()`` the
            ridge is chosen on; without ``val()``, generalized cross-validation.
        rebias : bool, default True
            Re-draw the biases b ~ N(0, 1) before the second layer is fitted.
        seed : int or None, default None
            Seed of the re-drawn biases; None is ``self.seed + 1``.
        cache : {'auto', 'keep', 'regenerate'}, default 'auto'
            As in :meth:`fit_stream`.

        Returns
        -------
        self
            The refitted estimator.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        ValueError
            For a stream of another d than at fit, a first-layer parameter changed since the
            fit, or an invalid ``n``, ``rebias``, ``seed`` or ``cache`` (named in the message).
        TypeError
            For a ``stream`` that is neither a stream object nor an iterable of chunks.

        Examples
        --------
        >>> import fastrep
        >>> target = fastrep.MultiIndexTarget.separation(d=6, seed=0)
        >>> net = fastrep.OneStepNetwork(width=40).fit_stream(fastrep.GaussianStream(target, seed=1), n=500)
        >>> net.refit_stream(fastrep.GaussianStream(target, seed=2), n=200, n_val=100).a_.shape
        (40,)
        """
        check_is_fitted(self, "W_")
        _, dtype = self._check_params()
        self._check_first_layer()
        validate_params({"rebias": rebias, "seed": seed}, REFIT_RULES)
        stream, n = as_stream(stream, n)
        if stream.d != self.n_features_in_:
            raise ValueError(f"stream.d is {stream.d} but the model was fitted with d = {self.n_features_in_}")
        src = StreamSource(stream, n, cache, max_memory=self.max_memory)
        val = validation_rows(stream, n_val, self.max_memory) if self.ridge == "validate" else None
        ctx = self._context(dtype, stream.d, n, stream=stream)
        self._refit(ctx, src.keep_in(ctx.xp), n, val, rebias, seed)
        self.stream_cache_ = src.mode
        return self

    def _check_first_layer(self):
        """Refuse a refit whose current parameters are not those that learned ``W_`` (after
        ``set_params(width=...)``, say): the refit would report parameters it did not use."""
        fitted = getattr(self, "_first_layer_setting", None)
        if fitted is None:  # fitted by an older fastrep: nothing recorded
            return
        now = self.get_params(deep=False)
        changed = [k for k, v in fitted.items() if type(now[k]) is not type(v) and not (
            _is_number(now[k]) and _is_number(v)) or now[k] != v]
        if changed:
            said = ", ".join(f"{k}={fitted[k]!r} (now {now[k]!r})" for k in changed)
            raise ValueError(
                f"refit keeps the first layer W_ learned with {said}; fit again with the new "
                f"parameters, or set_params back to the fitted ones before refit"
            )

    def _refit(self, ctx, src, n, val, rebias, seed):
        self._ctx, self.timings_ = ctx, {}
        self._progress = Progress(self.verbose, f"{type(self).__name__}.refit")
        with self._stage("labels", "label statistics"):
            data = self._label_stats(ctx, src, n, linear=False)
        if rebias:
            seed = self.seed + 1 if seed is None else int(seed)
            self.b_ = np.random.default_rng(seed).standard_normal(self.b_.shape[0])
        with ctx.precision(self.precision), ctx.workspace(self.max_memory):
            self._ridge_head(ctx, data, (0, n), val)
        # W_ (and the 'onestep' entry) come from the original fit
        ran = {k: v for k, v in ctx.backend_.items() if k != "onestep"}
        self.backend_ = {**getattr(self, "backend_", {}), **ran}
        return self


class OneStepNetwork(_TwoLayerBase):
    """Algorithm 1: a two-layer ReLU network, one large gradient step on W, then ridge on a.

    ``f(x) = sum_j a_j relu(w_j.x + b_j)`` with m neurons, initialized symmetrically. Step 1:
    one gradient step on W with weight decay 1/eta1; step 2: ridge regression of the centered
    labels on the features ``relu(X W^T + b)``. A scikit-learn regressor (``get_params``,
    ``clone``, ``score``); ``fit`` takes arrays, ``fit_stream`` a stream of any length.

    Parameters
    ----------
    width : int, default 1000
        m, the number of neurons; even, because of the symmetric initialization.
    eta1 : 'normalized' or float, default 'normalized'
        Step size of step 1. 'normalized' (the author's code) picks eta1 so that the new W has
        mean squared row norm 1. The weight decay is lambda1 = 1/eta1, which cancels W at
        initialization: ``W <- -eta1 grad_W L``.
    rebias : bool, default False
        Re-draw b ~ N(0, 1) after step 1, as the paper's Algorithm 1 does (the author's code
        keeps b).
    split : bool, default False
        Use the first n/2 samples for step 1 and the rest for the ridge (the paper's
        analysis); False reuses all n samples for both stages (the author's code).
    ridge : 'validate' or float, default 'validate'
        lambda of the second stage, >= 0. 'validate' picks it on a 100-point log grid in
        [1e-10, 1e15]: on validation data when given (``fit``'s X_val/y_val; ``fit_stream``
        draws n_val fresh samples), else by generalized cross-validation computed exactly from
        the same eigendecomposition. The second stage minimizes
        ``(1/n)|y_hat - Phi a|² + lambda |a|²``: in scikit-learn's terms
        ``Ridge(alpha=n * lambda, fit_intercept=False)`` on the features Phi (n = the number
        of ridge rows) and the centered labels.
    steps : int, default 1
        Number of large steps; steps > 1 splits the stage-1 samples into ``steps``
        consecutive fresh batches, one per step, each step ``W <- -eta1 grad L(W)`` at the
        current W.
    center : bool, default True
        Remove the degree-0 and degree-1 label components (alpha_hat, beta_hat) first.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Arithmetic of the products; moment sums and the eigendecomposition are float64.
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The compute backend; ``backend_`` records what ran per operation family.
    seed : int, default 0
        Seed of the initialization (and of the re-drawn biases).
    chunk_size : int or None, default None
        Rows per chunk; None picks about 256 MB of work per chunk (16384 rows at d = 200,
        m = 1000).
    precision : {'highest', 'tf32'}, default 'highest'
        'tf32' lets cuBLAS run the float32 products on TF32 tensor cores (backend='cupy' and
        dtype=float32 only): several times faster on an A100/H100, with ~1e-3 relative error
        in each product.
    max_memory : int or None, default None
        The fit's memory budget in bytes (fastrep's one budget: None is
        ``FASTREP_MAX_MEMORY`` or half of the available RAM). The weights, the (m, m) feature
        moments and one chunk are estimated before anything is allocated; a width that does
        not fit raises ``MemoryError`` naming ``width``.
    verbose : bool, default False
        Progress on stderr: a bar (tqdm) over the rows of each pass and one line per stage
        with its time. Not part of the setting (a results store ignores it).

    Attributes
    ----------
    W_ : numpy.ndarray
        (m, d) float64, the first layer after step 1.
    b_ : numpy.ndarray
        (m,) biases.
    a_ : numpy.ndarray
        (m,) second-layer weights.
    ridge_ : float
        The lambda of the second stage.
    ridge_path_ : fastrep.ridge.RidgePath or None
        The lambdas tried and their scores (None with a fixed ridge).
    eta1_, lambda1_ : float
        The step size used and its weight decay.
    label_mean_ : float
        alpha_hat, the label's degree-0 part.
    label_linear_ : numpy.ndarray
        (d,) beta_hat, the label's degree-1 part (0 after ``refit``).
    first_layer_a_ : numpy.ndarray
        (m,) the +-1 signs used in step 1.
    timings_ : dict
        Seconds per stage: 'labels', 'step1', 'features', 'ridge'.
    backend_ : dict
        The backend that ran each operation family, e.g. ``{'onestep': 'cpp', ...}``.
    stream_cache_ : {'kept', 'regenerated'} or None
        How ``fit_stream`` read the rows again (see its ``cache``); None after ``fit``.

    Raises
    ------
    ValueError
        At fit time, for an invalid parameter (named in the message, e.g. an odd
        ``width``) or data whose shapes do not match.
    MemoryError
        At fit time, when the fit would not fit ``max_memory``.

    See Also
    --------
    RandomFeaturesRegressor : the same network with step 1 skipped.
    fit_transfer : W learned on one task, a new head on another.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.metrics import excess_error, subspace_alignment
    >>> target = fastrep.MultiIndexTarget.separation(d=12, seed=0)
    >>> stream = fastrep.GaussianStream(target, seed=1)
    >>> net = fastrep.OneStepNetwork(width=200, seed=0).fit_stream(stream, n=3000, n_val=1000)
    >>> net.W_.shape, excess_error(net, target) < 0.3, subspace_alignment(net.W_, target.U) > 0.3
    ((200, 12), True, True)
    """

    _parameter_rules = {
        "width": [Interval("integer", 2, None, multiple_of=2,
                           why="the symmetric initialization pairs neuron j with j + width/2")],
        **NETWORK_RULES,
    }


class RandomFeaturesRegressor(_TwoLayerBase):
    """Random-features ridge regression: Algorithm 1 with step 1 skipped (the kernel regime).

    W is left at its initialization ``w_j ~ N(0, I/d)``, ``b_j ~ N(0, 1)``, with all
    ``width`` neurons drawn independently (a symmetric copy would duplicate every feature),
    and the second layer is fitted by the same ridge path as :class:`OneStepNetwork`, whose
    parameters, attributes and methods it shares.

    Parameters
    ----------
    width : int, default 1000
        The number of random features.
    eta1 : 'normalized' or float, default 'normalized'
        No effect (there is no step 1).
    rebias : bool, default False
        No effect.
    split : bool, default False
        No effect.
    ridge : 'validate' or float, default 'validate'
        As for :class:`OneStepNetwork`.
    steps : int, default 1
        No effect.
    center : bool, default True
        Remove the label's degree-0 and degree-1 parts first.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Arithmetic of the products.
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The compute backend.
    seed : int, default 0
        Seed of the random features.
    chunk_size : int or None, default None
        Rows per chunk.
    precision : {'highest', 'tf32'}, default 'highest'
        As for :class:`OneStepNetwork`.
    max_memory : int or None, default None
        The fit's memory budget in bytes.
    verbose : bool, default False
        Progress on stderr.

    Raises
    ------
    ValueError
        At fit time, for an invalid parameter or mismatched data.
    MemoryError
        At fit time, when the fit would not fit ``max_memory``.

    Examples
    --------
    >>> import fastrep
    >>> from fastrep.metrics import subspace_alignment
    >>> target = fastrep.MultiIndexTarget.separation(d=12, seed=0)
    >>> rf = fastrep.RandomFeaturesRegressor(width=200).fit_stream(
    ...     fastrep.GaussianStream(target, seed=1), n=2000, n_val=500)
    >>> round(subspace_alignment(rf.W_, target.U), 1)   # random rows: about r/d
    0.2
    """

    _learns_first_layer = False
    _first_layer_params = ("width", "seed")
    _parameter_rules = {"width": [Interval("integer", 2, None)], **NETWORK_RULES}
