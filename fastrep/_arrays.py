"""Array handling, the bottom of fastrep: which library arrays belong to, and moves to the host.

A leaf: it imports nothing of fastrep, and everything above may use it (``_validation``,
``_kernels/``, ``backend``). Outside this module, ``backend.py`` and ``fastrep/_kernels/``, the
code does not call :func:`namespace`, :func:`on_host` or :func:`to_host` itself: a learner asks
its execution context (``backend.Context``: ``ctx.xp``, ``ctx.on_host``, ``ctx.host(a)``), and a
function without a fit asks :func:`place` of its arrays (the same three names, see
:class:`Place`). tests/test_layers.py checks both rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import array_api_compat
import numpy as np

__all__ = [
    "Place",
    "array_args",
    "array_module",
    "is_cupy_array",
    "namespace",
    "on_host",
    "place",
    "row_dot",
    "row_products",
    "to_host",
]


def array_args(arrays) -> list:
    """The arguments that are arrays of an array-API library (``None``, scalars and lists dropped)."""
    return [a for a in arrays if a is not None and array_api_compat.is_array_api_obj(a)]


def is_cupy_array(x) -> bool:
    return type(x).__module__.split(".")[0] == "cupy"


def namespace(*arrays):
    """The array-API namespace of the arrays (array-api-compat's wrapper for NumPy and CuPy).

    ``None``, Python scalars and lists are ignored; with no array left it is NumPy's. Arrays of
    two libraries raise ``TypeError``: fastrep never moves data between libraries or devices
    behind the caller's back.
    """
    arrays = array_args(arrays)
    if not arrays:
        return array_api_compat.array_namespace(np.empty(0))
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError:
        pretty = {"numpy": "NumPy", "cupy": "CuPy"}
        libs = sorted({type(a).__module__.split(".")[0] for a in arrays}, key=lambda m: (m != "numpy", m))
        raise TypeError(
            f"inputs mix {' and '.join(pretty.get(m, m) for m in libs)} arrays; move them to one library "
            "and device first (for CuPy: cupy.asarray(x) or cupy.asnumpy(x))"
        ) from None


def on_host(*arrays) -> bool:
    """True when no argument is an array of a library other than NumPy (lists count as host)."""
    return all(isinstance(a, np.ndarray) for a in array_args(arrays))


def to_host(a) -> np.ndarray:
    """A NumPy copy (or view) of ``a``, whatever its library."""
    if isinstance(a, np.ndarray) or not array_api_compat.is_array_api_obj(a):
        return np.asarray(a)
    if array_api_compat.is_cupy_array(a):
        return a.get()
    return np.from_dlpack(a)


def array_module(*arrays):
    """``numpy`` or ``cupy``, from the arguments' types (``None`` arguments are ignored).

    Mixed NumPy and CuPy inputs raise ``TypeError``: fastrep never moves data between
    host and device behind the caller's back.
    """
    kinds = {is_cupy_array(a) for a in arrays if a is not None and not np.isscalar(a)}
    if kinds == {True, False}:
        raise TypeError(
            "inputs mix NumPy and CuPy arrays; move them to one device first "
            "(cupy.asarray(x) or cupy.asnumpy(x))"
        )
    if kinds == {True}:
        import cupy

        return cupy
    return np


@dataclass(frozen=True)
class Place:
    """Where the arrays of a function without a fit live, made by :func:`place`; the same names
    as a fit's ``backend.Context``:

    ``xp``
        the arrays' namespace (array-api-compat's, for NumPy and CuPy; NumPy's with no array);
    ``on_host``
        True when no argument is an array of a library other than NumPy (:func:`on_host`);
    ``host(a)``
        a NumPy copy (or view) of ``a``, whatever its library (:func:`to_host`).
    """

    xp: ModuleType
    on_host: bool

    @staticmethod
    def host(a) -> np.ndarray:
        return to_host(a)


def place(*arrays) -> Place:
    """The :class:`Place` of the arrays (``None``, scalars and lists are ignored; arrays of two
    libraries raise ``TypeError``, as :func:`namespace`).

    >>> p = place(X, y)                 # doctest: +SKIP
    >>> Z = p.xp.tanh(X); p.host(Z)     # doctest: +SKIP
    """
    return Place(namespace(*arrays), on_host(*arrays))


def row_products(X, U):
    """X @ U^T, (n, r) for X (n, d) and U (r, d), with row i depending on X[i] only, bit for bit.

    BLAS sums in an order that depends on how many rows come together; NumPy's einsum sums each
    row the same way (contiguous operands of one dtype, no buffering), so labels computed from
    these products do not change with the chunk size. Other libraries use their matmul.
    """
    if isinstance(X, np.ndarray):
        return np.einsum("ij,kj->ik", np.ascontiguousarray(X), U)
    return X @ U.T


def row_dot(H, c):
    """H @ c, (n,) for H (n, K) and c (K,), row by row as :func:`row_products`."""
    if isinstance(H, np.ndarray):
        return np.einsum("ik,k->i", H, c)
    return H @ c
