"""Reproducible Gaussian data: row i of every stream is a function of (seed, i) only.

Generator
    Philox4x32-10 (Salmon et al., SC11) with key = (seed & 0xffffffff, seed >> 32) and
    counter = (i & 0xffffffff, i >> 32, j // 4, stream id), turned into normals by
    Box-Muller; see :func:`gaussian_block`. It is counter-based, so any chunk of rows is
    generated directly, by any number of threads or on a GPU, with the same result (the
    C++, Numba and CuPy implementations agree with the NumPy reference to ~1e-15 in float64;
    the C++ rows are bit-identical for every chunking and thread count, and, with FMA
    contraction turned off in ``philox.hpp``, on every x86-64 instruction-set level).
    NumPy's ziggurat sampler cannot be reproduced on a GPU, which is why it is not used.

Splits
    One seed serves the train, validation and test sets through disjoint Philox stream ids
    (never overlapping index ranges): split s (0 = train, 1 = val, 2 = test) draws X from
    stream ``2 s`` and its label noise from stream ``2 s + 1``. Row i of the test set is
    therefore independent of row i of the training set, and every split is unbounded.
    Stream ids 0xFFFFFFFE and 0xFFFFFFFF are reserved for drawing targets (fastrep.targets).

Labels
    y = f*(X) + sqrt(noise) eps, eps standard normal (noise is the target's label-noise
    variance). The label noise is part of the stream: eps_i depends on (seed, split, i) only.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ._memory import check_allocation
from ._validation import check_dtype, check_int, check_seed
from .backend import check_backend, resolve

__all__ = ["GaussianStream", "SPLITS", "gaussian_block"]

#: Split name -> index s; X uses Philox stream 2 s, the label noise stream 2 s + 1.
SPLITS = {"train": 0, "val": 1, "test": 2}

#: Default chunk: about 2**22 entries (16 MiB of float32) per X block.
_CHUNK_ENTRIES = 2**22



def _check_rows(start: int, n: int) -> int:
    """``start`` checked so that rows start .. start + n - 1 exist: the row counter is 64 bits."""
    start = check_int(start, "start", low=0)
    if start + n > 2**64:
        raise ValueError(f"start + n must be <= 2**64 (the Philox row counter is 64 bits and would wrap "
                         f"to row 0); got start + n = {start + n}")
    return start


def gaussian_block(seed: int, n: int, d: int, *, stream: int = 0, start: int = 0, dtype=np.float64,
                   backend: str = "auto"):
    """Rows ``start .. start+n-1`` of the standard-normal stream (seed, stream): (n, d) of ``dtype``.

    Entry (i, j) comes from one Philox4x32-10 call with key (seed & 0xffffffff, seed >> 32)
    and counter (i & 0xffffffff, i >> 32, j // 4, stream). Its four 32-bit words x_k give
    u_k = (x_k + 0.5) 2^-32 in (0, 1), and Box-Muller gives columns 4 (j // 4) + 0..3:
    sqrt(-2 ln u_0) (cos, sin)(2 pi u_1), sqrt(-2 ln u_2) (cos, sin)(2 pi u_3), computed in
    float64 and cast to ``dtype`` at the end. Column j does not depend on d.

    seed : int in [0, 2**64); stream : int in [0, 2**32); start + n <= 2**64.
    dtype : float32 or float64. backend : 'auto', 'reference', 'cpp', 'numba' or 'cupy'
    (a CuPy array generated on the device).
    """
    seed = check_seed(seed)
    n = check_int(n, "n", low=0)
    d = check_int(d, "d", low=1)
    stream = check_int(stream, "stream", low=0, high=2**32 - 1)
    start = _check_rows(start, n)
    dtype = check_dtype(dtype)
    check_allocation(float(n) * d * dtype.itemsize, what=f"the ({n}, {d}) block", argument="n")
    mod = resolve(check_backend(backend), "gaussian_block")
    return mod.gaussian_block(seed, stream, start, n, d, dtype)


class GaussianStream:
    """The data of one experiment: x ~ N(0, I_d) and y = f*(x) + noise, row by row from a seed.

    Parameters
    ----------
    target : MultiIndexTarget (anything with ``.d``, ``.noise`` and ``.f(X, backend=...)``).
    seed : int in [0, 2**64).
    split : 'train', 'val' or 'test'. Splits are disjoint Philox streams of the same seed
        (X of split s from stream 2 s, its label noise from stream 2 s + 1).
    dtype : float32 (default) or float64, the dtype of X and y.
    backend : 'auto', 'reference', 'cpp', 'numba' or 'cupy'. With 'cupy', X and y are CuPy
        arrays generated on the device (equal to the CPU rows up to float rounding).

    Attributes: ``target``, ``seed``, ``split_name``, ``dtype``, ``backend``, ``d``,
    ``x_stream`` and ``noise_stream`` (the Philox stream ids), ``ops`` (the kernel module that
    generates the rows, resolved once when the stream is made).

    Row i (of X and of y) depends only on (seed, split, i): the same rows come out of
    ``take``, of ``chunks`` with any chunk size and start, and on any thread count.
    Memory is set by the chunk size, never by the number of rows streamed.
    """

    def __init__(self, target, seed: int, *, split: str = "train", dtype=np.float32, backend: str = "auto"):
        if not all(hasattr(target, a) for a in ("d", "noise", "f")):
            raise TypeError(f"target must be a fastrep.MultiIndexTarget; got {type(target).__name__}")
        self.target = target
        self.seed = check_seed(seed)
        if not isinstance(split, str) or split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}; got {split!r}")
        self.split_name = split
        self.dtype = check_dtype(dtype)
        self.backend = check_backend(backend)
        self._ops = resolve(self.backend, "gaussian_block")  # fail now, not at the first chunk

    @property
    def ops(self):
        """The kernel module that generates this stream's rows (and evaluates its labels)."""
        if self.__dict__.get("_ops") is None:  # unpickled: resolved again on this machine
            self._ops = resolve(self.backend, "gaussian_block")
        return self._ops

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_ops", None)  # a module: resolved again where the stream is unpickled
        return state

    @property
    def d(self) -> int:
        return self.target.d

    @property
    def x_stream(self) -> int:
        """Philox stream id of this split's inputs (2 s)."""
        return 2 * SPLITS[self.split_name]

    @property
    def noise_stream(self) -> int:
        """Philox stream id of this split's label noise (2 s + 1)."""
        return 2 * SPLITS[self.split_name] + 1

    def split(self, name: str) -> GaussianStream:
        """The same seed, target, dtype and backend for split ``name`` ('train', 'val' or 'test')."""
        return GaussianStream(self.target, self.seed, split=name, dtype=self.dtype, backend=self.backend)

    def train(self) -> GaussianStream:
        """This stream's training split."""
        return self.split("train")

    def val(self) -> GaussianStream:
        """This stream's validation split."""
        return self.split("val")

    def test(self) -> GaussianStream:
        """This stream's test split."""
        return self.split("test")

    def X(self, start: int, n: int, *, out=None):
        """Inputs only: rows start .. start+n-1, (n, d) of ``dtype``; written into ``out`` when
        given (a C-contiguous, writeable (n, d) array of ``dtype`` and of this stream's backend's
        library), which is returned."""
        n = check_int(n, "n", low=0)
        start = _check_rows(start, n)
        if out is None:
            check_allocation(float(n) * self.d * self.dtype.itemsize * 2, what=f"{n} rows of X and y",
                             argument="n")
        return self.ops.gaussian_block(self.seed, self.x_stream, start, n, self.d, self.dtype, out=out)

    def block(self, start: int, n: int, *, out=None):
        """(X, y) for rows start .. start+n-1: X (n, d), y (n,), both of ``dtype``; X is written
        into ``out`` when given (see :meth:`X`), y is a new array."""
        X = self.X(start, n, out=out)
        return X, self.labels(start, X)

    def labels(self, start: int, X):
        """y (n,) of ``dtype`` for rows start .. start+n-1 whose inputs X (n, d) are already made
        (by :meth:`X`): f*(X) plus those rows' label noise, exactly as :meth:`block` returns it."""
        if getattr(X, "ndim", None) != 2 or X.shape[1] != self.d:
            raise ValueError(f"X must be a 2-D array with d = {self.d} columns (this stream's rows); got "
                             f"{type(X).__name__} of shape {getattr(X, 'shape', None)}")
        n = int(X.shape[0])
        start = _check_rows(start, n)
        y = self.target.f(X, backend=self.ops.name)  # labels where the rows are made
        if self.target.noise > 0:
            eps = self.ops.gaussian_block(self.seed, self.noise_stream, start, n, 1, self.dtype)[:, 0]
            y += eps * float(self.dtype.type(np.sqrt(self.target.noise)))
        return y

    def take(self, n: int, *, start: int = 0):
        """(X, y) for rows start .. start+n-1 as arrays: X (n, d), y (n,) of ``dtype``."""
        return self.block(start, n)

    def chunks(self, start: int, stop: int, chunk_size: int | None = None) -> Iterator[tuple]:
        """Yield (X, y) blocks covering rows start .. stop-1 in order, chunk_size rows each (the
        last may be shorter). The default chunk holds about 4M entries of X (16 MiB float32).
        Each block is generated when asked for, so peak memory is one block whatever stop is.
        """
        start = check_int(start, "start", low=0)
        stop = check_int(stop, "stop", low=start, high=2**64)
        if chunk_size is None:
            chunk_size = max(256, _CHUNK_ENTRIES // self.d)
        chunk_size = check_int(chunk_size, "chunk_size", low=1)
        for a in range(start, stop, chunk_size):
            yield self.block(a, min(chunk_size, stop - a))

    def __repr__(self):
        return (f"GaussianStream({self.target!r}, seed={self.seed}, split={self.split_name!r}, "
                f"dtype={self.dtype.name}, backend={self.backend!r})")
