"""Argument checks shared by the public API: each error names the argument and what was expected."""

from __future__ import annotations

import numbers

import numpy as np

from .backend import array_module

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(x, name: str, *, ndim: int | tuple[int, ...] | None = None, dtype=None,
                   finite: bool = True, xp=None):
    """Return ``x`` as a float32/float64 array of the allowed ``ndim`` (NumPy or CuPy kept).

    float32 and float64 stay as they are (or become ``dtype`` when given); integer and
    boolean inputs become float64. Complex, object and string inputs raise ``TypeError``.
    NaN or inf raise ``ValueError`` when ``finite``.
    """
    xp = xp or array_module(x)
    arr = xp.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real float array; got dtype {arr.dtype}")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype not in FLOAT_DTYPES:
        arr = arr.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{k}-D" for k in allowed)
            raise ValueError(f"{name} must be {want}; got an array of shape {tuple(arr.shape)}")
    if finite and arr.size and not bool(xp.isfinite(arr).all()):
        raise ValueError(f"{name} contains NaN or inf; fastrep needs finite inputs")
    return arr


def check_dtype(dtype, name: str = "dtype") -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64; got {dt}")
    return dt


def check_int(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}; got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}; got {value}")
    return value


#: Largest seed fastrep accepts anywhere (targets, streams, learners, sweep specs): seeds are
#: stored in SQLite's signed 64-bit integers, and every Philox key they feed is 64 bits.
MAX_SEED = 2**63 - 1


def check_seed(seed, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**63 - 1], the one rule for every seed in fastrep."""
    return check_int(seed, name, low=0, high=MAX_SEED)


def check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number; got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value}")
    return value


def as_multi_indices(alphas, name: str = "alphas", r: int | None = None) -> np.ndarray:
    """A (K, r) int32 array of non-negative integer multi-indices (a host array)."""
    a = np.asarray(alphas.get() if hasattr(alphas, "get") else alphas)
    if a.ndim == 1 and r is not None and r == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (K, r) array of multi-indices; got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{name} must hold non-negative integers; got non-integer values")
    elif a.dtype.kind not in "iub":
        raise TypeError(f"{name} must be an integer array; got dtype {a.dtype}")
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must hold non-negative integers; got {int(a.min())}")
    if r is not None and a.shape[1] != r:
        raise ValueError(f"{name} has {a.shape[1]} columns but Z has {r}; they must match")
    return np.ascontiguousarray(a, dtype=np.int32)
