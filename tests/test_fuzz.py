"""Hostile inputs for every public function, estimator, binding, stream and spec, in child processes.

Hypothesis draws a picklable *description* of a call (tests/_sandbox.py runs it in a
reusable worker that is restarted after a crash, so a segfault or an abort fails the test
instead of killing pytest). Inputs: NaN/inf, extreme magnitudes, every dtype, 0 and 1 rows,
d = 1, huge and negative integers, wrong ``out``, non-contiguous and Fortran arrays, memmaps,
lists, array-likes (and DataFrames when pandas is installed).

A case passes when it raises ValueError, TypeError or MemoryError whose message names one
of the call's arguments, or returns a finite result of the documented shape and dtype.
Hostile streams (wrong d or dtype, chunks that are not (X, y) arrays, 3-D, short or long
passes, NaN, a generator that raises its own error, huge n) must be refused naming the
stream; hypothesis-drawn TOML values for the spec's fields, run through ``fastrep sweep
--dry-run``, must end with exit status 0 or 2 (one line), never a traceback or a signal.

The default run is derandomized (the "fastrep" hypothesis profile) with ``FUZZ_EXAMPLES``
cases per target; ``-m slow`` runs ``SLOW_EXAMPLES`` per target. The per-verdict summary is
printed at the end of the module.
"""

from __future__ import annotations

import collections
import importlib.util
import math
import os
import re
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._sandbox import Sandbox

FUZZ_EXAMPLES = 40
SLOW_EXAMPLES = 300
HAVE_PANDAS = importlib.util.find_spec("pandas") is not None

PASS = ("named error", "finite result")
VERDICTS: collections.Counter = collections.Counter()
FAILURES: list = []


class ContractViolation(AssertionError):
    """A case returned, but not what the docstring promises (shape, dtype)."""


# ---- building inputs in the worker -----------------------------------------------------------
def build(spec):
    """An input from its description (dicts describe arrays; anything else is passed as is)."""
    if not isinstance(spec, dict) or "fill" not in spec:
        return spec
    shape, dtype = tuple(spec["shape"]), np.dtype(spec["dtype"])
    rng = np.random.default_rng(spec.get("seed", 0))
    fill = spec["fill"]
    base = np.asarray(rng.standard_normal(shape))
    if fill == "huge":
        base = base * 1e300
    elif fill == "large":
        base = base * 1e30
    elif fill == "tiny":
        base = base * 1e-300
    elif fill == "zeros":
        base = np.zeros(shape)
    elif fill in ("nan", "inf") and base.size:
        base.flat[rng.integers(base.size)] = np.nan if fill == "nan" else -np.inf
    elif fill == "ints":
        base = rng.integers(-3, 4, size=shape).astype(np.float64)
    elif fill == "int_extreme" and base.size:
        base = np.where(rng.random(shape) < 0.5, -1.0, 2.0**31)
    base = np.asarray(base)  # arithmetic on a 0-d array gives a scalar
    if dtype.kind == "c":
        arr = (base + 1j * base).astype(dtype)
    elif dtype.kind == "O":
        arr = base.astype(object)
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        arr = np.clip(np.nan_to_num(base, nan=0.0, posinf=info.max, neginf=info.min), info.min, info.max).astype(dtype)
    elif dtype.kind == "b":
        arr = base > 0
    else:
        with np.errstate(over="ignore"):
            arr = base.astype(dtype)
    layout = spec.get("layout", "C")
    if layout == "F":
        arr = np.asfortranarray(arr)
    elif layout == "strided" and arr.ndim:
        big = np.repeat(arr, 2, axis=0) if arr.shape[0] else arr
        arr = big[::2]
    elif layout == "reversed" and arr.ndim:
        arr = arr[::-1]
    elif layout == "readonly":
        arr = arr.copy()
        arr.setflags(write=False)
    container = spec.get("container", "ndarray")
    if container == "list":
        return arr.tolist()
    if container == "memmap" and arr.size and arr.dtype.kind != "O":
        f = tempfile.NamedTemporaryFile(suffix=".dat", delete=False)
        f.close()
        mm = np.memmap(f.name, dtype=arr.dtype, mode="w+", shape=arr.shape)
        mm[...] = arr
        os.unlink(f.name)
        return mm
    if container == "arraylike":
        return _ArrayLike(arr)
    if container == "dataframe" and arr.ndim == 2:
        import pandas as pd

        return pd.DataFrame(arr)
    return arr


class _ArrayLike:
    def __init__(self, arr):
        self._arr = arr

    def __array__(self, dtype=None, copy=None):
        return self._arr if dtype is None else self._arr.astype(dtype)


def _expect(value, shape, dtype):
    got_shape = tuple(getattr(value, "shape", ()))
    if got_shape != tuple(shape):
        raise ContractViolation(f"shape {got_shape}, documented {tuple(shape)}")
    if dtype is not None and np.dtype(value.dtype) != np.dtype(dtype):
        raise ContractViolation(f"dtype {value.dtype}, documented {np.dtype(dtype)}")
    return value


def _float_dtype(a):
    """The dtype a public function computes in for input ``a`` (fastrep._validation.as_float_array)."""
    dt = np.asarray(a).dtype
    if dt == np.float16:
        return np.dtype(np.float32)
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float64)


# ---- the cases (each runs in the worker) -----------------------------------------------------
def case_hermite_features(Z, alphas, backend, out):
    import fastrep

    Z, alphas, out = build(Z), build(alphas), build(out)
    H = fastrep.hermite_features(Z, alphas, backend=backend, out=out)
    n, K = np.shape(np.asarray(Z))[0], np.shape(np.asarray(alphas))[0]
    return _expect(H, (n, K), _float_dtype(Z))


def case_hermite(z, k, normalized, backend):
    import fastrep

    z = build(z)
    return _expect(fastrep.hermite(z, k, normalized=normalized, backend=backend), np.shape(np.asarray(z)),
                   _float_dtype(z))


def case_multi_indices(r, p, exact):
    import fastrep

    a = fastrep.multi_indices(r, p, exact)
    K = math.comb(r + p - 1, p) if exact else math.comb(r + p, p)
    return _expect(a, (K, r), np.int32)


def case_kernel(kind, X1, X2, beta, backend):
    import fastrep

    X1, X2 = build(X1), build(X2)
    fn = fastrep.ntk_kernel if kind == "ntk" else fastrep.nngp_kernel
    K = fn(X1, X2, beta, backend=backend)
    n1 = np.shape(np.asarray(X1))[0]
    n2 = n1 if X2 is None else np.shape(np.asarray(X2))[0]
    dt = _float_dtype(X1) if X2 is None else np.result_type(_float_dtype(X1), _float_dtype(X2))
    return _expect(K, (n1, n2), dt)


def case_target(d, terms, noise, X, method, backend):
    import fastrep

    t = fastrep.MultiIndexTarget(d, terms, noise=noise)
    if method == "f":
        X = build(X)
        return _expect(t.f(X, backend=backend), (np.shape(np.asarray(X))[0],), _float_dtype(X))
    if method == "sample":
        Xs, y = t.sample(X, 0, backend=backend)
        return _expect(y, (X,), np.float32)
    return t.hermite_coefficients(t.f, X, 0)  # a dict: passes if it returns


def case_random_target(d, r, p, seed):
    import fastrep

    t = fastrep.MultiIndexTarget.random(d, r, p, seed=seed)
    return _expect(t.U, (r, d), np.float64)


def case_stream(seed, split, dtype, n, start, backend):
    import fastrep

    t = fastrep.MultiIndexTarget.single_index(3)
    X, y = fastrep.GaussianStream(t, seed, split=split, dtype=dtype, backend=backend).take(n, start=start)
    _expect(X, (n, 3), dtype)
    return _expect(y, (n,), dtype)


def case_gaussian_block(seed, n, d, stream, start, dtype, backend):
    from fastrep.data import gaussian_block

    return _expect(gaussian_block(seed, n, d, stream=stream, start=start, dtype=dtype, backend=backend), (n, d), dtype)


def case_estimator(name, params, X, y, Xp):
    import fastrep

    X, y, Xp = build(X), build(y), build(Xp)
    if name == "OracleRegressor":
        model = fastrep.OracleRegressor(fastrep.MultiIndexTarget.single_index(max(1, np.shape(np.asarray(Xp))[-1])),
                                        **params)
    else:
        model = getattr(fastrep, name)(**params)
    model.fit(X, y)
    pred = model.predict(Xp)
    if name in ("NTKRegressor", "NNGPRegressor"):
        dt = np.float64
    else:
        dt = np.dtype(params.get("dtype", np.float32 if "Network" in name or "Random" in name else np.float64))
    return _expect(pred, (np.shape(np.asarray(Xp))[0],), dt)


def case_fit_stream(name, params, n, seed):
    import fastrep

    t = fastrep.MultiIndexTarget.single_index(4)
    dtype = params.get("dtype", np.float32 if name != "OracleRegressor" else np.float64)
    stream = fastrep.GaussianStream(t, seed, dtype=dtype)
    model = (fastrep.OracleRegressor(t, **params) if name == "OracleRegressor" else getattr(fastrep, name)(**params))
    model.fit_stream(stream, n, n_val=16)
    return _expect(model.predict(stream.test().take(5)[0]), (5,), dtype)


def case_metric(name, W, U):
    import fastrep

    W, U = build(W), build(U)
    fn = getattr(fastrep.metrics, name)
    v = fn(W, U)
    return v if name == "subspace_alignment" else _expect(v, (np.shape(np.asarray(U))[0],), np.float64)


def case_excess_error(model, n_test, seed):
    import fastrep

    t = fastrep.MultiIndexTarget.single_index(3)
    if model == "fitted":
        X, y = t.sample(64, 1)
        model = fastrep.OneStepNetwork(width=8).fit(X, y)
    return fastrep.metrics.excess_error(model, t, n_test, seed)


def _theory_target(desc):
    import fastrep

    if isinstance(desc, tuple):
        d, r, p, seed = desc
        return fastrep.MultiIndexTarget.random(d, r, p, seed=seed)
    return desc  # a hostile non-target


def case_theory(fn, target, first, kwargs):
    """One theory function; a result must be finite where documented (zero eigenvalues are
    -inf logs, degrees without energy NaN learnabilities: both removed before the check)."""
    from fastrep import theory as T

    t = _theory_target(target)
    first = build(first)
    kwargs = {k: build(v) for k, v in kwargs.items()}
    if fn == "kernel_spectrum":
        s = T.kernel_spectrum(first, **kwargs)
        if np.isnan(s.log_eigenvalue).any() or not np.isfinite(s.tail) or not np.isfinite(s.trace):
            raise ContractViolation(f"NaN eigenvalue or non-finite trace/tail: {s}")
        return np.exp(s.log_eigenvalue)
    if fn == "eigenlearning":
        err, L, E0 = T.eigenlearning(first, *(kwargs.pop(k) for k in ("logN", "logl", "e")), **kwargs)
        return _expect(err, np.shape(np.asarray(first)), np.float64)
    if fn == "kernel_n_star":
        out = T.kernel_n_star(t, first, **kwargs)
        return _expect(np.where(np.isinf(out), 0.0, out), np.shape(np.asarray(first)), np.float64)
    out = getattr(T, fn)(t, first, **kwargs)
    if fn == "kernel_learnability":
        energy = t.energy_by_degree()
        keep = [ell for ell in range(t.degree + 1) if energy[ell] > 0]
        _expect(out, np.shape(np.asarray(first)) + (t.degree + 1,), np.float64)
        return out[..., keep]
    return _expect(out, np.shape(np.asarray(first)), np.float64)


def case_refit(change, X, y, rebias, seed):
    import fastrep

    t = fastrep.MultiIndexTarget.single_index(3)
    net = fastrep.OneStepNetwork(width=8, ridge=1e-3).fit(*t.sample(64, 1))
    net.set_params(**change)
    net.refit(build(X), build(y), rebias=rebias, seed=seed)
    return _expect(net.predict(t.sample(5, 2)[0]), (5,), np.float32)


def case_fit_transfer(n_source, X, y, options):
    import fastrep
    from fastrep.transfer import fit_transfer, shared_source

    t = fastrep.MultiIndexTarget.single_index(3)
    src = shared_source(t, {(2,): 1.0})
    net = fit_transfer(src, build(X), build(y), n_source=n_source, n_val=20, **options)
    return _expect(net.predict(t.sample(5, 2)[0]), (5,), np.dtype(net.dtype))


def case_binding(fn, args):
    from fastrep import _ext

    args = [build(a) for a in args]
    getattr(_ext, fn)(*args)
    return None


class StreamBroke(Exception):
    """The user's own error, raised inside a hostile stream: it must come back unchanged."""


def _hostile_rows(desc, start, stop, chunk_size, call):
    """The (X, y) chunks of rows start..stop-1 of a hostile stream (``desc``, see hostile_stream_case)."""
    d, dtype, rows = desc["real_d"], desc["real_dtype"], desc["rows"]
    alter, bad = desc["alter"], desc["bad_pass"]
    hit = bad == "all" or bad == call
    size = chunk_size if isinstance(chunk_size, int) and chunk_size > 0 else 16
    stop = min(stop, rows) if isinstance(stop, int) else rows
    for k, lo in enumerate(range(start, stop, size)):
        hi = min(lo + size, stop)
        rng = np.random.default_rng([lo, hi])
        X = rng.standard_normal((hi - lo, d)).astype(dtype)
        y = (X[:, 0] ** 2 - 1 if d else np.zeros(hi - lo)).astype(dtype)
        if hit and k == desc["bad_chunk"]:
            if alter == "raise":
                raise StreamBroke("the user's stream broke")
            if alter == "short":
                X, y = X[:-1], y[:-1]
            elif alter == "long":
                X, y = np.concatenate([X, X]), np.concatenate([y, y])
            elif alter == "nan_x" and X.size:
                X[0, 0] = np.nan
            elif alter == "inf_y" and y.size:
                y[0] = np.inf
            elif alter == "wrong_d":
                X = np.concatenate([X, X], axis=1)
            elif alter == "wrong_dtype":
                X = X.astype(np.float16 if dtype == np.float32 else np.float32)
            elif alter == "int_x":
                X = X.astype(np.int64)
            elif alter == "3d":
                X = X[:, :, None]
            elif alter == "y_2d":
                y = y[:, None]
            elif alter == "non_array":
                yield "rows"
                continue
            elif alter == "none":
                yield None
                continue
            elif alter == "triple":
                yield X, y, y
                continue
            elif alter == "lists":
                X, y = X.tolist(), y.tolist()
            elif alter == "object_y":
                y = y.astype(object)
            elif alter == "empty":
                X, y = X[:0], y[:0]
        yield X, y


class _HostileStream:
    def __init__(self, desc):
        self.desc, self.calls = desc, 0
        self.d, self.dtype = desc["d"], desc["dtype"]

    def chunks(self, start, stop, chunk_size=None):
        self.calls += 1
        return _hostile_rows(self.desc, start, stop, chunk_size, self.calls - 1)


def case_hostile_stream(name, params, desc, n, cache):
    """A learner's fit_stream on a hostile stream: an object with d, dtype and chunks(), a list
    of chunks or a generator of them; the user's own exception must come back as it was."""
    import fastrep

    desc = dict(desc, real_d=desc["real_d"], real_dtype=np.dtype(desc["real_dtype"]))
    t = fastrep.MultiIndexTarget.single_index(max(1, desc["real_d"]))
    if name == "OracleRegressor":
        model = fastrep.OracleRegressor(t, **params)
    else:
        model = getattr(fastrep, name)(**params)
    kwargs = {} if name == "OracleRegressor" else {"cache": cache}
    try:
        if desc["form"] == "object":
            stream = _HostileStream(desc)
        elif desc["form"] == "list":  # the user's list, made before the call (their error, if any)
            stream = list(_hostile_rows(desc, 0, desc["rows"], 16, 0))
        else:
            stream = _hostile_rows(desc, 0, desc["rows"], 16, 0)
        model.fit_stream(stream, n, **kwargs)
    except StreamBroke:
        return "the user's error, unchanged"
    return _expect(model.predict(np.zeros((3, desc["real_d"]), desc["real_dtype"])), (3,), None)


class CLIViolation(ContractViolation):
    """``fastrep sweep --dry-run`` ended otherwise than exit 0 or 2 with no traceback."""


#: a small valid sweep, as dotted TOML keys; the CLI cases replace or delete some of its values
BASE_SPEC = {
    "name": "fuzz", "epsilon": 0.25, "seeds": 1,
    "target.preset": "separation", "target.noise": 0.0,
    "grid.d": [4, 6], "grid.n": [16, 32],
    "evaluation.n_val": 20, "evaluation.n_test": 20,
    "methods.onestep.width": 8, "methods.onestep.eta1": "normalized", "methods.onestep.rebias": False,
    "methods.random_features.width": 8, "methods.random_features.seeds": 1,
    "methods.ntk.ridge": 1e-3, "methods.ntk.n_max": {"factor": 1, "power": 3},
    "methods.oracle.n": {"start": 8, "stop": 64, "factor": 2},
    "methods.transfer.width": 8, "methods.transfer.n": [8, 16],
    "methods.transfer.source.target": {"preset": "random", "r": 2, "p": 2},
    "methods.transfer.source.n": {"factor": 4, "power": 2},
}


def toml_value(v) -> str:
    """A TOML value: strings (BMP, no surrogates), integers of any size (those beyond 64 bits
    are the parser's to refuse), floats with nan and inf, booleans, arrays and inline tables."""
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def case_cli_spec(changes, options=()):
    """``fastrep sweep SPEC --dry-run [options]`` on BASE_SPEC with ``changes`` ({dotted key:
    value, or None to delete}): exit 0 or 2, and never a traceback."""
    import contextlib
    import io
    from pathlib import Path

    from fastrep.cli import main

    spec = dict(BASE_SPEC)
    for k, v in changes.items():
        if v is None:
            spec.pop(k, None)
        else:
            spec[k] = v
    # a dotted key may not also be a table of another key's dotted path: keep the deepest
    keys = sorted(spec, key=len, reverse=True)
    spec = {k: spec[k] for k in keys if not any(o != k and o.startswith(k + ".") for o in keys)}
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in spec.items()) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.toml"
        path.write_text(text, encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["sweep", str(path), "--dry-run", "--store", str(Path(tmp) / "store.sqlite"),
                             *options])
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:  # noqa: BLE001 - main must turn every error into an exit status
            raise CLIViolation(f"main raised {type(exc).__name__}: {exc}") from None
    if code not in (0, 2) or "Traceback" in err.getvalue():
        raise CLIViolation(f"exit {code}: {err.getvalue()[-600:]}")
    if code == 2 and len(err.getvalue().strip().splitlines()) != 1:
        raise CLIViolation(f"exit 2 with more than one line: {err.getvalue()[-600:]}")
    return code


# ---- strategies (in pytest) -----------------------------------------------------------------
DTYPES = ["float64", "float32", "float16", "int64", "int32", "uint64", "int8", "bool", "complex128", "object",
          ">f8"]
FILLS = ["normal", "normal", "normal", "nan", "inf", "huge", "large", "tiny", "zeros", "ints", "int_extreme"]
LAYOUTS = ["C", "C", "F", "strided", "reversed", "readonly"]
CONTAINERS = ["ndarray", "ndarray", "ndarray", "list", "memmap", "arraylike"] + (["dataframe"] if HAVE_PANDAS else [])
BACKENDS = ["auto", "reference", "cpp", "numba"]

rows = st.sampled_from([0, 1, 1, 2, 3, 5, 8])
cols = st.sampled_from([1, 1, 2, 3, 4])
hostile_int = st.one_of(st.integers(0, 6), st.integers(-3, 12),
                        st.sampled_from([-1, -(2**31), 2**31 - 1, 2**31, 2**32 + 2, 2**63 - 1, 2**63 + 5, 2**64,
                                         2**64 + 1, 10**9, 10**18]),
                        st.sampled_from([2.0, 2.5, float("nan"), True, None, "3", np.int64(3), np.uint64(2**63 + 5)]))


def _not_huge(v):
    """Valid but huge sample counts (10**9 rows) run for hours, as they should: not drawn where
    the count is a number of rows to generate."""
    return not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 10**4)


@st.composite
def arrays(draw, ndim=2, shape=None, valid_bias=True):
    if shape is None:
        shape = tuple(draw(rows) if i == 0 else draw(cols) for i in range(ndim))
    return {"shape": shape, "seed": draw(st.integers(0, 2**16)),
            "dtype": draw(st.sampled_from(["float64", "float32"] * 3 + DTYPES)) if valid_bias else draw(
                st.sampled_from(DTYPES)),
            "fill": draw(st.sampled_from(FILLS)), "layout": draw(st.sampled_from(LAYOUTS)),
            "container": draw(st.sampled_from(CONTAINERS))}


def _alphas(draw, r):
    K = draw(st.sampled_from([0, 1, 2, 4]))
    kind = draw(st.sampled_from(["small", "small", "small", "hostile", "shape", "list", "float"]))
    if kind == "small":
        return np.array(draw(st.lists(st.lists(st.integers(0, 12), min_size=r, max_size=r), min_size=K, max_size=K))
                        or np.zeros((0, r), int)).reshape(K, r)
    if kind == "hostile":
        v = draw(st.sampled_from([-1, 2**31, 2**31 - 1, 1001, 10**9, 2**32 + 2, 10**18]))
        types = [np.int64, np.uint64, np.float64] + ([np.int32] if v < 2**31 else [])
        return np.full((max(K, 1), r), v, dtype=draw(st.sampled_from(types)) if v >= 0 else np.int64)
    if kind == "shape":
        return np.zeros((max(K, 1), r + draw(st.sampled_from([-1, 1]))), dtype=int)
    if kind == "float":
        return np.full((max(K, 1), r), draw(st.sampled_from([1.5, float("nan"), 2.0, 1e10])))
    return [[draw(st.integers(0, 5)) for _ in range(r)] for _ in range(max(K, 1))]


def _out(draw, n, K):
    kind = draw(st.sampled_from(["none"] * 4 + ["good", "shape", "dtype", "F", "list", "readonly"]))
    if kind == "none":
        return None
    if kind == "list":
        return [[0.0] * K for _ in range(n)]
    shape = (n, K) if kind != "shape" else (max(n - 1, 0) + 2, K + 3)
    return {"shape": shape, "dtype": "float32" if kind == "dtype" else "float64", "fill": "zeros",
            "layout": {"F": "F", "readonly": "readonly"}.get(kind, "C"), "container": "ndarray"}


@st.composite
def hermite_features_case(draw):
    Z = draw(arrays())
    r = Z["shape"][1]
    alphas = _alphas(draw, r)
    n, K = Z["shape"][0], np.shape(alphas)[0]
    out = _out(draw, n, K)
    if isinstance(out, dict) and out["dtype"] == "float64" and Z["dtype"] == "float32":
        out["dtype"] = draw(st.sampled_from(["float32", "float64"]))
    return case_hermite_features, (Z, alphas, draw(st.sampled_from(BACKENDS)), out)


@st.composite
def hermite_case(draw):
    z = draw(arrays(ndim=draw(st.sampled_from([0, 1, 2]))))
    return case_hermite, (z, draw(st.one_of(st.integers(0, 200), hostile_int)), draw(st.booleans()),
                          draw(st.sampled_from(BACKENDS)))


@st.composite
def multi_indices_case(draw):
    r = draw(st.one_of(st.integers(1, 6), hostile_int))
    p = draw(st.one_of(st.integers(0, 8), hostile_int))
    return case_multi_indices, (r, p, draw(st.booleans()))


@st.composite
def kernel_case(draw):
    X1 = draw(arrays())
    X2 = draw(st.one_of(st.none(), arrays(shape=(draw(rows), X1["shape"][1])), arrays()))
    beta = draw(st.sampled_from([1.0, 0.0, 0.5, -1.0, 1e200, 1e20, float("nan"), float("inf"), "1", None, True]))
    return case_kernel, (draw(st.sampled_from(["ntk", "nngp"])), X1, X2, beta, draw(st.sampled_from(BACKENDS)))


@st.composite
def target_case(draw):
    d = draw(st.one_of(st.integers(1, 6), hostile_int))
    r = draw(st.integers(1, 3))
    keys = draw(st.lists(st.one_of(st.tuples(*[st.integers(0, 4)] * r),
                                   st.tuples(*[st.sampled_from([0, 1, 2**31, 1001, -1, 10**20])] * r),
                                   st.sampled_from([(1.5,) * r, ("a",) * r, (True,) * r, (), 3])),
                         min_size=0, max_size=4))
    coefs = st.sampled_from([1.0, -0.5, 0.0, 1e300, 1e-300, float("nan"), float("inf"), "x", 2])
    terms = draw(st.sampled_from(["dict", "dict", "dict", "list", "none"]))
    terms = ({k: draw(coefs) for k in keys} if terms == "dict" else list(keys) if terms == "list" else None)
    method = draw(st.sampled_from(["f", "f", "sample", "coef"]))
    if method == "f":
        X = draw(arrays(shape=(draw(rows), d if isinstance(d, int) and 0 < d < 8 else 3)))
    else:
        X = draw(st.one_of(st.integers(1, 50), hostile_int))
    return case_target, (d, terms, draw(st.sampled_from([0.0, 0.1, -1.0, float("nan"), 1e300])), X, method,
                         draw(st.sampled_from(BACKENDS)))


@st.composite
def random_target_case(draw):
    return case_random_target, (draw(st.one_of(st.integers(1, 8), hostile_int)),
                                draw(st.one_of(st.integers(1, 3), hostile_int)),
                                draw(st.one_of(st.integers(2, 5), hostile_int)),
                                draw(st.one_of(st.integers(0, 10), hostile_int)))


@st.composite
def stream_case(draw):
    n = draw(st.one_of(st.integers(0, 6), hostile_int))
    start = draw(st.one_of(st.integers(0, 100), st.sampled_from([2**64 - 1, 2**64 - 3, 2**64, 2**63]), hostile_int))
    dtype = draw(st.sampled_from(["float32", "float64", "float16", "int32", None]))
    seed = draw(st.one_of(st.integers(0, 9), hostile_int))
    split = draw(st.sampled_from(["train", "val", "test", "nope", ["train"], None, 1]))
    if draw(st.booleans()):
        return case_stream, (seed, split, dtype, n, start, draw(st.sampled_from(BACKENDS)))
    return case_gaussian_block, (seed, n, draw(st.one_of(st.integers(1, 5), hostile_int)),
                                 draw(st.one_of(st.integers(0, 5), hostile_int)), start, dtype,
                                 draw(st.sampled_from(BACKENDS)))


ESTIMATORS = ["OneStepNetwork", "RandomFeaturesRegressor", "NTKRegressor", "NNGPRegressor", "OracleRegressor"]


@st.composite
def estimator_case(draw):
    name = draw(st.sampled_from(ESTIMATORS))
    n, d = draw(st.sampled_from([0, 1, 2, 5, 12, 40])), draw(cols)
    X = draw(arrays(shape=(n, d)))
    y = draw(st.one_of(arrays(shape=(n,)), arrays(ndim=1), arrays(shape=(n, 1))))
    Xp = draw(st.one_of(arrays(shape=(draw(rows), d)), arrays()))
    params = {}
    if name in ("OneStepNetwork", "RandomFeaturesRegressor"):
        params["width"] = draw(st.one_of(st.sampled_from([4, 8, 16]), hostile_int))
        if draw(st.booleans()):
            params["dtype"] = draw(st.sampled_from([np.float64, np.float16, np.int32, "float32"]))
        if draw(st.booleans()):
            params["max_memory"] = draw(st.sampled_from([1000, 10**12, -1, "x"]))
    elif name == "OracleRegressor":
        params["degree"] = draw(st.one_of(st.sampled_from([None, 1, 3]), hostile_int))
    else:
        params["beta"] = draw(st.sampled_from([1.0, 0.0, 1e200, -1.0, float("nan")]))
        params["ridge"] = draw(st.sampled_from(["validate", 1e-3, 0.0, -1.0, 1e300]))
    if draw(st.booleans()):
        params["ridge"] = draw(st.sampled_from(["validate", 1e-3, 1e300, "none", float("nan")]))
    return case_estimator, (name, params, X, y, Xp)


@st.composite
def fit_stream_case(draw):
    name = draw(st.sampled_from(["OneStepNetwork", "RandomFeaturesRegressor", "OracleRegressor"]))
    params = {"ridge": draw(st.sampled_from(["validate", 1e-3]))}
    if name != "OracleRegressor":
        params["width"] = draw(st.sampled_from([4, 8]))
        params["chunk_size"] = draw(st.one_of(st.none(), st.integers(1, 40), hostile_int))
    else:
        params["chunk_size"] = draw(st.one_of(st.integers(1, 40), hostile_int))
    # valid but huge n (10**18 samples) would run for hours, as documented: not drawn
    n = draw(st.one_of(st.integers(2, 64), hostile_int.filter(_not_huge)))
    return case_fit_stream, (name, params, n,
                             draw(st.one_of(st.integers(0, 5), hostile_int)))


@st.composite
def metric_case(draw):
    if draw(st.integers(0, 3)) == 0:
        return case_excess_error, (draw(st.sampled_from(["fitted", None, 3, "model"])),
                                   draw(st.one_of(st.integers(1, 100), hostile_int.filter(_not_huge))),
                                   draw(st.one_of(st.integers(0, 5), hostile_int)))
    d = draw(cols)
    return case_metric, (draw(st.sampled_from(["subspace_alignment", "principal_angles"])),
                         draw(st.one_of(arrays(shape=(draw(rows), d)), arrays())),
                         draw(st.one_of(arrays(shape=(draw(st.sampled_from([1, 2])), d)), arrays())))


hostile_real = st.sampled_from([1.0, 0.5, 0.0, -1.0, float("nan"), float("inf"), 1e200, 1e-300, 10**6, "x",
                                None, True, [1.0, 2.0]])
THEORY = ["kernel_spectrum", "kernel_learning_curve", "kernel_learnability", "kernel_n_star", "eigenlearning"]


@st.composite
def theory_case(draw):
    fn = draw(st.sampled_from(THEORY))
    d = draw(st.sampled_from([3, 4, 8, 16]))
    target = draw(st.one_of(st.tuples(st.just(d), st.integers(1, 2), st.integers(2, 5), st.integers(0, 3)),
                            st.sampled_from([None, 3, "target"])))
    kwargs = {}
    options = {"beta": st.one_of(st.sampled_from([0.0, 1.0, 3.0]), hostile_real),
               "max_degree": st.one_of(st.integers(0, 14), hostile_int),
               "radial_nodes": st.one_of(st.integers(1, 16), hostile_int),
               "measure": st.sampled_from(["sphere", "gaussian", "torus", 1]),
               "kernel": st.sampled_from(["ntk", "nngp", "rbf", None])}
    if fn != "kernel_spectrum":
        options.update({"tail": st.sampled_from(["ridge", "drop", "keep"]),
                        "noise": st.one_of(st.sampled_from([0.0, 0.1]), hostile_real)})
    if fn == "eigenlearning":
        K = draw(st.sampled_from([1, 3, 8]))
        kwargs = {k: draw(arrays(shape=(K,))) for k in ("logN", "logl", "e")}
        kwargs["delta"] = draw(st.one_of(st.sampled_from([0.0, 0.1]), hostile_real))
        if draw(st.booleans()):
            kwargs["noise"] = draw(hostile_real)
        return case_theory, (fn, target, draw(st.one_of(arrays(ndim=1), hostile_real)), kwargs)
    for k, strat in options.items():
        if draw(st.booleans()):
            kwargs[k] = draw(strat)
    if fn == "kernel_spectrum":
        first = draw(st.one_of(st.sampled_from([3, 5, 16, 10**6]), hostile_int))
    elif fn == "kernel_n_star":
        first = draw(st.one_of(st.sampled_from([[4, 8], 16, [3], [2]]), hostile_int))
        kwargs["epsilon"] = draw(st.one_of(st.sampled_from([0.25, 0.5]), hostile_real))
    else:
        first = draw(st.one_of(st.sampled_from([10.0, [10.0, 1000.0]]), arrays(ndim=1), hostile_real))
    if fn in ("kernel_learning_curve", "kernel_learnability"):
        kwargs["ridge"] = draw(st.one_of(st.sampled_from([1e-8, 0.0]), hostile_real))
    return case_theory, (fn, target, first, kwargs)


@st.composite
def transfer_case(draw):
    n = draw(st.sampled_from([1, 5, 40]))
    X, y = draw(arrays(shape=(n, 3))), draw(st.one_of(arrays(shape=(n,)), arrays(ndim=1)))
    if draw(st.booleans()):
        change = draw(st.sampled_from([{}, {"ridge": 0.5}, {"width": 16}, {"seed": 3}, {"center": False},
                                       {"dtype": np.float64}]))
        return case_refit, (change, X, y, draw(st.sampled_from([True, False, "no", 1, None])),
                            draw(st.one_of(st.none(), hostile_int)))
    options = {"width": draw(st.one_of(st.sampled_from([8]), hostile_int))}
    if draw(st.booleans()):
        options["rebias"] = draw(st.sampled_from([True, False, "false", 0]))
    return case_fit_transfer, (draw(st.one_of(st.sampled_from([64, 200]), hostile_int.filter(_not_huge))),
                               X, y, options)


@st.composite
def binding_case(draw):
    fn = draw(st.sampled_from(["hermite_features", "gaussian_block", "mask_scale", "relu_bias", "kernel_from_inner"]))
    n, m = draw(rows), draw(cols)

    def arr(shape, dtype="float64"):
        spec = draw(arrays(shape=shape, valid_bias=False))
        if draw(st.integers(0, 2)):
            spec["dtype"], spec["layout"], spec["container"] = dtype, "C", "ndarray"
        if draw(st.integers(0, 4)) == 0:  # a wrong shape
            spec["shape"] = tuple(s + draw(st.sampled_from([1, -1])) if s else 1 for s in shape) or (2,)
        return spec

    dt = draw(st.sampled_from(["float64", "float32"]))
    anything = st.sampled_from([None, 1, 1.0, "a", True, float("nan"), -1, 2**64, 2**70])
    if fn == "hermite_features":
        a = _alphas(draw, m)
        with np.errstate(invalid="ignore", over="ignore"):  # the hostile cases cast NaN or 1e18 on purpose
            a = np.asarray(a).astype(draw(st.sampled_from([np.int32, np.int32, np.int64, np.float64])))
        args = [arr((n, m), dt), a, arr((n, a.shape[0]), dt)]
    elif fn == "gaussian_block":
        args = [draw(hostile_int), draw(hostile_int), draw(st.one_of(hostile_int, st.just(2**64 - 1))), arr((n, m), dt)]
    elif fn == "mask_scale":
        args = [arr((n, m), dt), arr((m,), dt), arr((n,), dt)]
    elif fn == "relu_bias":
        paired = draw(st.sampled_from([True, False, np.True_, 1, None]))
        args = [arr((n, m), dt), arr((2 * m if paired else m,), dt), paired, arr((n, 2 * m if paired else m), dt)]
    else:
        sym = draw(st.booleans())
        args = [arr((n, n if sym else m), dt), arr((0 if sym else n,), dt), arr((0 if sym else m,), dt),
                draw(st.one_of(st.sampled_from([0.5, 1.0, 0.0, -1.0, 1e308]), anything)),
                draw(st.one_of(st.sampled_from([1.0, 0.0, 1e308]), anything)), draw(st.sampled_from([True, False, 1]))]
    if draw(st.integers(0, 9)) == 0:
        args[draw(st.integers(0, len(args) - 1))] = draw(anything)
    return case_binding, (fn, args)


STREAM_ALTERS = [None, None, "raise", "short", "long", "nan_x", "inf_y", "wrong_d", "wrong_dtype", "int_x",
                 "3d", "y_2d", "non_array", "none", "triple", "lists", "object_y", "empty"]


@st.composite
def hostile_stream_case(draw):
    name = draw(st.sampled_from(["OneStepNetwork", "RandomFeaturesRegressor", "OracleRegressor"]))
    real_d = draw(st.sampled_from([1, 2, 3, 5]))
    real_dtype = draw(st.sampled_from(["float32", "float64"]))
    rows = draw(st.sampled_from([0, 1, 3, 40, 100]))
    desc = {
        "form": draw(st.sampled_from(["object", "object", "list", "generator"])),
        "real_d": real_d, "real_dtype": real_dtype, "rows": rows,
        "d": draw(st.one_of(st.just(real_d), st.just(real_d), hostile_int)),
        "dtype": draw(st.sampled_from([real_dtype, real_dtype, "float16", "int32", None, "nope",
                                       np.float64])),
        "alter": draw(st.sampled_from(STREAM_ALTERS)),
        "bad_pass": draw(st.sampled_from([0, 1, 2, 3, "all"])),
        "bad_chunk": draw(st.sampled_from([0, 1, 2])),
    }
    params = {"ridge": 1e-3, "chunk_size": draw(st.sampled_from([16, 7, 64]))}
    if name == "OracleRegressor":
        params["dtype"] = np.dtype(real_dtype)
    else:
        params.update(width=8, dtype=np.dtype(real_dtype))
    n = draw(st.one_of(st.sampled_from([rows, rows, None, 2, 50, 10**18, 2**64]), hostile_int))
    return case_hostile_stream, (name, params, desc, n, draw(st.sampled_from(["auto", "keep", "regenerate"])))


SPEC_KEYS = list(BASE_SPEC) + ["methods.onestep.steps", "methods.onestep.ridge", "methods.onestep.dtype",
                               "methods.onestep.backend", "methods.onestep.chunk_size",
                               "methods.onestep.max_memory", "methods.onestep.seeds", "methods.onestep.n",
                               "methods.onestep.d", "methods.onestep.method", "methods.ntk.solver",
                               "methods.ntk.n_centers", "methods.ntk.beta", "methods.oracle.degree",
                               "target.terms", "target.d", "target.r", "target.p", "methods.onestep.n_min",
                               "methods.bogus.width", "unknown"]
_small = st.one_of(st.integers(-3, 70),
                   st.sampled_from([0.5, -0.0, 1e-300, float("nan"), float("inf"), "a", True]))
toml_values = st.one_of(
    st.integers(-3, 100), st.sampled_from([-1, 0, 2**31, 2**63 - 1, 10**9 + 1, 10**18, 2**64, -(2**63)]),
    st.floats(), st.booleans(),
    st.sampled_from(["", "false", "true", "auto", "validate", "float32", "float16", "nystrom", "gpu", "cupy",
                     "random", "separation", "../../etc", "a" * 300, "normalized", "1e3"]),
    st.text(alphabet=st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",)), max_size=12),
    st.lists(_small, max_size=6),
    st.lists(st.integers(1, 5000), min_size=1, max_size=4),
    st.dictionaries(st.sampled_from(["start", "stop", "factor", "power", "preset", "r", "p", "alpha",
                                     "coef"]), _small, max_size=4),
)


@st.composite
def cli_spec_case(draw):
    changes = {}
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(SPEC_KEYS))
        changes[key] = draw(st.one_of(toml_values, toml_values, st.none()))
    options = []
    for flag in draw(st.lists(st.sampled_from(["--workers", "--threads", "--as", "--scheduler", "--serial",
                                               "--yes"]), max_size=2, unique=True)):
        if flag in ("--serial", "--yes"):
            options.append(flag)
        else:
            options += [flag, draw(st.one_of(st.sampled_from(["1", "0", "-1", "1000000", str(2**64), "nan", "",
                                                              "x", "tcp://", "new-name", "a/b", "4.5"]),
                                              st.integers(-5, 300).map(str)))]
    return case_cli_spec, (changes, tuple(options))


# ---- verdicts ---------------------------------------------------------------------------------
ARG_NAMES = {
    case_hermite_features: ["Z", "alphas", "backend", "out"],
    case_hermite: ["z", "k", "normalized", "backend"],
    case_multi_indices: ["r", "p", "exact"],
    case_kernel: ["X1", "X2", "beta", "backend", "kind"],
    case_target: ["d", "terms", "noise", "X", "n", "backend", "U", "model_or_fn"],
    case_random_target: ["d", "r", "p", "seed"],
    case_stream: ["seed", "split", "dtype", "n", "start", "backend", "target"],
    case_gaussian_block: ["seed", "n", "d", "stream", "start", "dtype", "backend"],
    case_estimator: ["X", "y", "X_val", "y_val", "width", "dtype", "max_memory", "degree", "beta", "ridge",
                     "target"],
    case_fit_stream: ["stream", "n", "n_val", "chunk_size", "seed", "width", "ridge"],
    case_metric: ["W", "U"],
    case_excess_error: ["model", "target", "n_test", "seed"],
    case_theory: ["d", "n", "kernel", "ridge", "beta", "noise", "max_degree", "measure", "tail", "method",
                  "radial_nodes", "epsilon", "d_values", "n_max", "target", "log_multiplicity",
                  "log_eigenvalue", "energy", "delta"],
    case_refit: ["X", "y", "X_val", "y_val", "rebias", "seed", "width", "eta1", "steps", "split"],
    case_fit_transfer: ["source", "X", "y", "n_source", "rebias", "seed", "source_seed", "n_val", "width",
                        "fit_transfer"],
    case_hostile_stream: ["stream", "n", "n_val", "cache", "chunk_size"],
    case_cli_spec: [],
    case_binding: ["Z", "alphas", "out", "seed", "stream", "start", "P", "b", "r", "paired", "G", "q1", "q2",
                   "inv_d", "beta2", "ntk"],
}


def verdict(fn, outcome) -> str:
    if outcome.status in ("crashed", "timeout"):
        return outcome.status
    if outcome.status == "returned":
        return "finite result" if outcome.value.get("finite", True) else "non-finite result"
    if "ContractViolation" in outcome.exc_mro:
        return "contract violation"
    if not any(e in outcome.exc_mro for e in ("ValueError", "TypeError", "MemoryError")):
        return f"other exception ({outcome.exc_type})"
    names = ARG_NAMES[fn]
    if any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(a)}(?![A-Za-z0-9_])", outcome.message) for a in names):
        return "named error"
    return "unnamed error"


@pytest.fixture(scope="module")
def sandbox(request):
    box = Sandbox(timeout=60.0)
    yield box
    box.close()
    total = sum(VERDICTS.values())
    lines = [f"fuzz: {total} cases in child processes, {box.restarts} worker restarts; by verdict:"]
    lines += [f"  {v}: {c}" for v, c in VERDICTS.most_common()]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    path = os.environ.get("FASTREP_FUZZ_SUMMARY")
    if path:
        with open(path, "w") as f:
            f.write("\n".join(lines + [f"FAIL {x}" for x in FAILURES]) + "\n")


STRATEGIES = {
    "hermite_features": hermite_features_case(),
    "hermite": hermite_case(),
    "multi_indices": multi_indices_case(),
    "kernels": kernel_case(),
    "target": target_case(),
    "random_target": random_target_case(),
    "stream": stream_case(),
    "estimators": estimator_case(),
    "fit_stream": fit_stream_case(),
    "metrics": metric_case(),
    "theory": theory_case(),
    "transfer": transfer_case(),
    "bindings": binding_case(),
    "hostile_streams": hostile_stream_case(),
    "cli_spec": cli_spec_case(),
}


def _run_case(sandbox, case):
    fn, args = case
    outcome = sandbox.run(fn, *args)
    v = verdict(fn, outcome)
    VERDICTS[v] += 1
    if v not in PASS:
        FAILURES.append(f"{fn.__name__}{args!r}: {v}: {outcome}")
    assert v in PASS, f"{fn.__name__}{args!r}\n  -> {v}: {outcome}"


def _fuzz_test(name, examples):
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=STRATEGIES[name])
    def test(sandbox, case):
        _run_case(sandbox, case)

    return test


for _name in STRATEGIES:
    globals()[f"test_fuzz_{_name}"] = _fuzz_test(_name, FUZZ_EXAMPLES)
    globals()[f"test_fuzz_{_name}_long"] = pytest.mark.slow(_fuzz_test(_name, SLOW_EXAMPLES))
