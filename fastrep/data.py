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
    """Rows ``start .. start+n-1`` of the standard-normal stream (seed, stream), as an (n, d) array.

    Entry (i, j) comes from one Philox4x32-10 call with key ``(seed & 0xffffffff, seed >> 32)``
    and counter ``(i & 0xffffffff, i >> 32, j // 4, stream)``. Its four 32-bit words x_k give
    ``u_k = (x_k + 0.5) 2^-32`` in (0, 1), and Box-Muller gives columns ``4 (j // 4) + 0..3``:
    ``sqrt(-2 ln u_0) (cos, sin)(2 pi u_1)``, ``sqrt(-2 ln u_2) (cos, sin)(2 pi u_3)``,
    computed in float64 and cast to ``dtype`` at the end. Column j does not depend on d.

    Parameters
    ----------
    seed : int
        In 0 .. 2**63 - 1.
    n : int
        Rows, >= 0.
    d : int
        Columns, >= 1.
    stream : int, default 0
        The stream id, in 0 .. 2**32 - 1.
    start : int, default 0
        The first row; ``start + n <= 2**64``.
    dtype : {numpy.float64, numpy.float32}, default numpy.float64
        The result's dtype.
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        Where the rows are generated ('cupy': a CuPy array on the device).

    Returns
    -------
    array, shape (n, d)
        Standard-normal entries of ``dtype``.

    Raises
    ------
    ValueError
        If an argument is out of range.
    TypeError
        If an argument is not an integer, or ``dtype`` is not float32 or float64.
    MemoryError
        If the block does not fit the memory budget.

    Examples
    --------
    >>> from fastrep.data import gaussian_block
    >>> a = gaussian_block(7, 4, 3)
    >>> bool((gaussian_block(7, 2, 3, start=2) == a[2:]).all())   # row i depends on i only
    True
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

    Row i (of X and of y) depends only on (seed, split, i): the same rows come out of
    :meth:`take`, of :meth:`chunks` with any chunk size and start, and on any thread count.
    Memory is set by the chunk size, never by the number of rows streamed. A stream follows
    the stream protocol that the learners' ``fit_stream`` reads (``d``, ``dtype``,
    ``chunks``, ``val``).

    Parameters
    ----------
    target : fastrep.MultiIndexTarget
        Or anything with ``d``, ``noise`` and ``f(X, backend=...)``.
    seed : int
        In 0 .. 2**63 - 1.
    split : {'train', 'val', 'test'}, default 'train'
        Splits are disjoint Philox streams of the same seed (X of split s from stream 2 s,
        its label noise from stream 2 s + 1).
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        The dtype of X and y.
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        With 'cupy', X and y are CuPy arrays generated on the device (equal to the CPU rows
        up to float rounding).

    Attributes
    ----------
    target, seed, dtype, backend
        As given.
    split_name : str
        The split.
    ops : module
        The kernel module that generates the rows, resolved once when the stream is made.

    Raises
    ------
    ValueError
        If ``split`` is unknown or ``seed`` out of range.
    TypeError
        If ``dtype`` is not float32 or float64.

    Examples
    --------
    >>> import fastrep
    >>> stream = fastrep.GaussianStream(fastrep.MultiIndexTarget.separation(d=8), seed=1)
    >>> X, y = stream.take(1000)
    >>> X2, y2 = next(stream.chunks(500, 1000, 200))
    >>> bool((X2 == X[500:700]).all()), X.dtype
    (True, dtype('float32'))
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
        """The input dimension (the target's d)."""
        return self.target.d

    @property
    def x_stream(self) -> int:
        """The Philox stream id of this split's inputs (2 s for split s)."""
        return 2 * SPLITS[self.split_name]

    @property
    def noise_stream(self) -> int:
        """The Philox stream id of this split's label noise (2 s + 1 for split s)."""
        return 2 * SPLITS[self.split_name] + 1

    def split(self, name: str) -> GaussianStream:
        """The same seed, target, dtype and backend for another split.

        Parameters
        ----------
        name : {'train', 'val', 'test'}
            The split.

        Returns
        -------
        GaussianStream
            The stream of that split.

        Raises
        ------
        ValueError
            If ``name`` is not a split.
        """
        return GaussianStream(self.target, self.seed, split=name, dtype=self.dtype, backend=self.backend)

    def train(self) -> GaussianStream:
        """This stream's training split.

        Returns
        -------
        GaussianStream
            The same target, seed, dtype and backend, with ``split='train'``.
        """
        return self.split("train")

    def val(self) -> GaussianStream:
        """This stream's validation split (the rows ``fit_stream`` validates the ridge on).

        Returns
        -------
        GaussianStream
            The same target, seed, dtype and backend, with ``split='val'``.
        """
        return self.split("val")

    def test(self) -> GaussianStream:
        """This stream's test split.

        Returns
        -------
        GaussianStream
            The same target, seed, dtype and backend, with ``split='test'``.
        """
        return self.split("test")

    def X(self, start: int, n: int, *, out=None):
        """The inputs only of rows start .. start+n-1.

        Parameters
        ----------
        start : int
            The first row, >= 0.
        n : int
            Rows, >= 0.
        out : array or None, default None
            An (n, d) C-contiguous array of ``dtype`` (and the stream's array library) to write into.

        Returns
        -------
        array, shape (n, d)
            ``out`` when given.

        Raises
        ------
        ValueError
            If ``start`` or ``n`` is out of range, or ``out`` has the wrong shape, dtype or layout.
        """
        n = check_int(n, "n", low=0)
        start = _check_rows(start, n)
        if out is None:
            check_allocation(float(n) * self.d * self.dtype.itemsize * 2, what=f"{n} rows of X and y",
                             argument="n")
        return self.ops.gaussian_block(self.seed, self.x_stream, start, n, self.d, self.dtype, out=out)

    def block(self, start: int, n: int, *, out=None):
        """The rows start .. start+n-1 as (X, y).

        Parameters
        ----------
        start : int
            The first row, >= 0.
        n : int
            Rows, >= 0.
        out : array or None, default None
            Where X is written (see :meth:`X`); y is a new array.

        Returns
        -------
        X : array, shape (n, d)
            The inputs, of ``dtype``.
        y : array, shape (n,)
            The labels, of ``dtype``.

        Raises
        ------
        ValueError
            If ``start`` or ``n`` is out of range, or ``out`` does not fit.
        """
        X = self.X(start, n, out=out)
        return X, self.labels(start, X)

    def labels(self, start: int, X):
        """The labels of rows start .. start+n-1 whose inputs X are already made (by :meth:`X`).

        Parameters
        ----------
        start : int
            The first row, >= 0.
        X : array, shape (n, d)
            Those rows' inputs.

        Returns
        -------
        array, shape (n,)
            f*(X) plus those rows' label noise, of ``dtype``: exactly what :meth:`block` returns.

        Raises
        ------
        ValueError
            If X is not (n, d) or ``start`` is out of range.
        """
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
        """The rows start .. start+n-1 as arrays (X, y).

        Parameters
        ----------
        n : int
            Rows, >= 0.
        start : int, default 0
            The first row.

        Returns
        -------
        X : array, shape (n, d)
            The inputs, of ``dtype``.
        y : array, shape (n,)
            The labels, of ``dtype``.

        Raises
        ------
        ValueError
            If ``n`` or ``start`` is out of range.
        MemoryError
            If the rows do not fit the memory budget (stream them with :meth:`chunks`).
        """
        return self.block(start, n)

    def chunks(self, start: int, stop: int, chunk_size: int | None = None) -> Iterator[tuple]:
        """Yield (X, y) blocks covering rows start .. stop-1 in order.

        Each block is generated when asked for, so peak memory is one block whatever ``stop`` is.

        Parameters
        ----------
        start : int
            The first row, >= 0.
        stop : int
            One past the last row, >= start.
        chunk_size : int or None, default None
            Rows per block (the last may be shorter); None: about 4M entries of X (16 MiB in
            float32).

        Yields
        ------
        X : array, shape (k, d)
            The inputs, k <= chunk_size.
        y : array, shape (k,)
            The labels.

        Raises
        ------
        ValueError
            If the row range or ``chunk_size`` is invalid.
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
