"""The stream protocol of ``fit_stream``: a :class:`fastrep.GaussianStream`, your own stream
object, or any iterable of ``(X, y)`` chunks.

A **stream** is any object with

* ``d`` (int) and ``dtype`` (float32 or float64): the width and dtype of its rows;
* ``chunks(start, stop, chunk_size)``: an iterator of ``(X, y)`` blocks covering rows
  ``start .. stop-1`` in order, X ``(k, d)`` and y ``(k,)`` of ``dtype``, ``k <= chunk_size``.
  Algorithm 1 reads the rows more than once (label statistics, the gradient step, the ridge
  features), so the same row must come back each time;
* optionally ``val()``: a stream of validation rows with ``take(n) -> (X, y)``. Without it,
  ``ridge='validate'`` chooses lambda by generalized cross-validation (as ``fit`` does without
  ``X_val``), unless ``val=(X_val, y_val)`` is given;
* optionally ``target``: a :class:`fastrep.MultiIndexTarget` (for the degenerate-target warning).

Every chunk is checked where it enters (a pair of arrays, X ``(k, d)`` of the stream's dtype,
y ``(k,)`` cast to it, both finite; named ``stream (TheClass): chunk i``), and the rows of every
``chunks(start, stop, size)`` call are counted: a pass that gives more or fewer than
``stop - start`` rows is refused (:class:`StreamRowsError`, naming the stream, the range and the
learner's pass), never fitted as if it had them.

An **iterable of chunks** (a list of ``(X, y)`` pairs, a generator, ...) is read as a stream
whose rows are the chunks' rows in order; ``n=None`` takes them all. A one-pass iterator (a
generator) is kept in memory after its first pass, within the memory budget of
:func:`fastrep._memory.check_allocation`; a re-iterable (a list, or an object whose
``__iter__`` starts over) is read again at each pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ._arrays import place
from ._memory import check_allocation
from ._validation import check_int

__all__ = ["StreamRowsError", "as_stream", "named_pass", "stream_name", "validation_rows"]


def _is_stream(obj) -> bool:
    return all(hasattr(obj, a) for a in ("d", "dtype", "chunks"))


def _float_name(xp, dtype) -> str | None:
    """'float32' or 'float64' for that dtype of namespace ``xp``, else None."""
    for name in ("float32", "float64"):
        if dtype == getattr(xp, name):
            return name
    return None


def _as_rows(v, dtype, who, i):
    try:
        return np.asarray(v, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{who}: chunk {i} must hold arrays of real numbers; got {type(v).__name__} "
                        f"({exc})") from None


class ChunkStream:
    """An iterable of ``(X, y)`` chunks seen through the stream protocol (``d``, ``dtype``,
    ``chunks``; no ``val()``). Made by :func:`as_stream`, which checks every chunk once:
    X ``(k, d)`` float32 or float64, y ``(k,)``, the same d and dtype throughout."""

    def __init__(self, chunks: Iterable, *, max_memory=None):
        self._source = chunks
        self._kept = None
        self.who = f"stream ({type(chunks).__name__})"
        one_pass = iter(chunks) is chunks  # a generator or iterator cannot start over
        kept, nbytes, n, d, dtype = [], 0, 0, None, None
        for i, chunk in enumerate(chunks):
            X, y = self._check(i, chunk, d, dtype, self.who)
            d, dtype, n = X.shape[1], _float_name(place(X).xp, X.dtype), n + y.shape[0]
            if one_pass:
                nbytes += X.nbytes + y.nbytes
                check_allocation(nbytes, argument="stream", max_memory=max_memory,
                                 what="the rows of a one-pass iterator of chunks, kept for Algorithm 1's "
                                 "later passes (a list or a stream object is read again instead)")
                kept.append((X, y))
        if d is None:
            raise ValueError(f"{self.who}: the iterable of (X, y) chunks is empty")
        self._kept = kept if one_pass else None
        self.d, self.dtype, self.n_rows = d, np.dtype(dtype), n

    @staticmethod
    def _check(i, chunk, d=None, dtype=None, who="stream"):
        if not (isinstance(chunk, (tuple, list)) and len(chunk) == 2):
            raise TypeError(f"{who}: chunk {i} must be an (X, y) pair; got {type(chunk).__name__}")
        # a list has no dtype of its own: it takes the stream's (the first chunk's: float64)
        X, y = (v if hasattr(v, "shape") and hasattr(v, "dtype") else _as_rows(v, dtype, who, i)
                for v in chunk)
        if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise ValueError(
                f"{who}: chunk {i} must be X (k, d) and y (k,); got X {tuple(X.shape)}, y {tuple(y.shape)}"
            )
        xp = place(X, y).xp  # chunks may be of any array library the backends take
        kind = _float_name(xp, X.dtype)
        if kind is None:
            raise TypeError(f"{who}: chunk {i} has X of dtype {X.dtype}; expected float32 or float64")
        if d is not None and X.shape[1] != d:
            raise ValueError(f"{who}: chunk {i} has {X.shape[1]} columns; expected {d}")
        if dtype is not None and kind != np.dtype(dtype).name:
            raise ValueError(f"{who}: chunk {i} has dtype {X.dtype}; expected {np.dtype(dtype)}")
        if _float_name(xp, y.dtype) is None and not xp.isdtype(y.dtype, ("integral", "bool")):
            raise TypeError(f"{who}: chunk {i} has y of dtype {y.dtype}; expected real numbers")
        y = y if y.dtype == X.dtype else xp.astype(y, X.dtype)
        for name, v in (("X", X), ("y", y)):  # y after the cast: a float64 label may overflow float32
            if not bool(xp.all(xp.isfinite(v))):
                raise ValueError(f"{who}: chunk {i}: {name} contains NaN or inf")
        return X, y

    def _iterate(self) -> Iterator[tuple]:
        if self._kept is not None:
            yield from self._kept
            return
        for i, chunk in enumerate(self._source):
            yield self._check(i, chunk, self.d, self.dtype, self.who)

    def chunks(self, start: int, stop: int, chunk_size: int | None = None):
        """(X, y) blocks of rows start .. stop-1, at most ``chunk_size`` rows each (views)."""
        start = check_int(start, "start", low=0)
        stop = check_int(stop, "stop", low=start)
        size = None if chunk_size is None else check_int(chunk_size, "chunk_size", low=1)
        if stop > self.n_rows:
            raise ValueError(f"n: the iterable of chunks holds {self.n_rows} rows; {stop} were asked for")
        pos = 0
        for X, y in self._iterate():
            k = y.shape[0]
            lo, hi = max(start, pos), min(stop, pos + k)
            step = size or max(1, hi - lo)
            for a in range(lo, hi, step):
                b = min(a + step, hi)
                yield X[a - pos : b - pos], y[a - pos : b - pos]
            pos += k
            if pos >= stop:
                return
        # a re-iterable that holds fewer rows on this pass than it did on the first
        got = max(0, pos - start)
        raise StreamRowsError(f"{self.who}: chunks({start}, {stop}) gave {got} rows; expected {stop - start} "
                              f"(its first pass held {self.n_rows} rows){SAME_ROWS}")


class CheckedStream:
    """A stream object of the user's, its chunks checked as they come (X ``(k, d)`` of
    ``stream.dtype``, y ``(k,)``, y cast to that dtype, both finite) and their rows counted: a
    call ``chunks(start, stop, size)`` that gives more or fewer than ``stop - start`` rows is
    refused (:class:`StreamRowsError`). Every other attribute (``val``, ``target``, ...) is the
    wrapped stream's."""

    def __init__(self, stream):
        self._stream = stream
        self.who = f"stream ({type(stream).__name__})"
        self.d = check_int(stream.d, f"{self.who}.d", low=1)
        try:
            dtype = np.dtype(stream.dtype)
        except TypeError:
            dtype = None
        if stream.dtype is None or dtype not in (np.float32, np.float64):
            raise TypeError(f"{self.who}.dtype must be float32 or float64; got {stream.dtype!r}")
        self.dtype = dtype

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def chunks(self, start, stop, chunk_size=None):
        want, got = stop - start, 0
        for i, chunk in enumerate(self._stream.chunks(start, stop, chunk_size)):
            X, y = ChunkStream._check(i, chunk, self.d, self.dtype, self.who)
            got += int(y.shape[0])
            if got > want:
                raise StreamRowsError(f"{self.who}: chunks({start}, {stop}, {chunk_size}) gave more than "
                                      f"{want} rows (rows {start}..{stop - 1} were asked for){SAME_ROWS}")
            yield X, y
        if got != want:
            raise StreamRowsError(f"{self.who}: chunks({start}, {stop}, {chunk_size}) gave {got} rows; "
                                  f"expected {want} (rows {start}..{stop - 1}){SAME_ROWS}")


class StreamRowsError(ValueError):
    """A stream gave more or fewer rows than a pass asked for (see :func:`named_pass`)."""


#: the end of a StreamRowsError's message
SAME_ROWS = "; a stream must give every row asked for, the same rows on every pass"


def named_pass(chunks, what: str):
    """Iterate a pass's ``chunks`` unchanged; a :class:`StreamRowsError` raised by the stream
    underneath is re-raised naming the pass (``what``: 'label statistics', ...)."""
    try:
        yield from chunks
    except StreamRowsError as exc:
        raise StreamRowsError(f"{exc} (in the {what} pass)") from None


def stream_name(stream) -> str:
    """'stream (TheClass)': a stream as its messages name it."""
    return getattr(stream, "who", None) or f"stream ({type(stream).__name__})"


def as_stream(stream, n, *, low: int = 2, max_memory=None):
    """``(stream, n)`` for ``fit_stream``: ``stream`` itself when it has ``d``, ``dtype`` and
    ``chunks`` (then ``n`` is required), else a :class:`ChunkStream` over an iterable of
    ``(X, y)`` chunks (``n=None``: all its rows). Anything else is a TypeError naming ``stream``."""
    if _is_stream(stream):
        if n is None:
            raise TypeError("n: fit_stream needs the number of rows to read from a stream object")
        from .data import GaussianStream

        if type(stream) is not GaussianStream:  # its own chunks are right by construction
            stream = CheckedStream(stream)
        return stream, check_int(n, "n", low=low)
    if isinstance(stream, (str, bytes, dict)) or not isinstance(stream, Iterable) or hasattr(stream, "shape"):
        raise TypeError(
            "stream must be a stream (an object with d, dtype and chunks(start, stop, size), e.g. "
            "fastrep.GaussianStream) or an iterable of (X, y) chunks; got " + type(stream).__name__
        )
    wrapped = ChunkStream(stream, max_memory=max_memory)
    n = wrapped.n_rows if n is None else check_int(n, "n", low=low)
    if n > wrapped.n_rows:
        raise ValueError(f"n: the iterable of chunks holds {wrapped.n_rows} rows; n = {n} were asked for")
    return wrapped, n


def validation_rows(stream, n_val, max_memory=None):
    """``stream.val().take(n_val)`` when the stream has a validation split, else None (the
    learner then chooses lambda by generalized cross-validation). The rows are checked as a
    chunk is (X ``(n_val, d)``, y ``(n_val,)``, finite), y and X cast to the stream's dtype,
    and named ``stream (TheClass): val().take(n_val)``."""
    val = getattr(stream, "val", None)
    if val is None or not callable(val):
        return None
    n_val = check_int(n_val, "n_val", low=1)
    check_allocation(float(n_val) * (int(stream.d) + 1) * np.dtype(stream.dtype).itemsize * 2,
                     what=f"{n_val:,} validation rows", argument="n_val", max_memory=max_memory)
    who = f"{stream_name(stream)}: val().take({n_val})"
    rows = val().take(n_val)
    if not (isinstance(rows, (tuple, list)) and len(rows) == 2):
        raise TypeError(f"{who} must return an (X, y) pair; got {type(rows).__name__}")
    X, y = (v if hasattr(v, "shape") and hasattr(v, "dtype") else np.asarray(v) for v in rows)
    if tuple(X.shape)[:1] != (n_val,) or tuple(y.shape) != (n_val,):
        raise ValueError(f"{who} gave X {tuple(X.shape)} and y {tuple(y.shape)}; expected {n_val} rows "
                         f"({X.shape[0] if X.ndim else 0} rows given)")
    xp = place(X, y).xp
    if _float_name(xp, X.dtype) is not None and X.dtype != getattr(xp, np.dtype(stream.dtype).name):
        X = xp.astype(X, getattr(xp, np.dtype(stream.dtype).name))
    return ChunkStream._check(0, (X, y), int(stream.d), np.dtype(stream.dtype), who)
