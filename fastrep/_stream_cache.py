"""The stream cache: a fit's passes over a :class:`fastrep.GaussianStream`, kept or regenerated.

A streamed fit reads its training rows several times (label statistics, the one-step gradient,
the feature moments of step 2). Each pass can regenerate its chunks from the seed (ghost
batches: memory O(chunk (d + m)) whatever n is) or read them from a copy of the training set
made during the first pass (no generation after the first pass, memory n (d + 1) itemsize more).

:class:`StreamSource` chooses once per fit, with ``cache``:

- ``'auto'`` (the default): keep the rows when ``n (d + 1) itemsize``, the bytes of X and y,
  fits the shared memory budget (:func:`fastrep._memory.resolve_max_memory`: ``max_memory``,
  else ``FASTREP_MAX_MEMORY``, else half of the RAM available when the fit starts); else
  regenerate, so peak memory stays flat in n for the largest fits. The kept rows live where
  the stream's chunks do (the chunks' own array namespace), under the same budget;
- ``'keep'``: keep whatever the size (a MemoryError naming ``cache`` when it exceeds the budget);
- ``'regenerate'``: never keep.

``mode`` says what runs: ``'kept'`` or ``'regenerated'``; the fit records it as
``stream_cache_``. Either way every chunk holds exactly the rows the stream defines for its
range (rows depend only on (seed, split, index)), so both modes give bit-identical fits.
"""

from __future__ import annotations

import numpy as np

from ._arrays import place
from ._memory import check_allocation, resolve_max_memory, scratch

__all__ = ["CACHE_MODES", "StreamSource"]

CACHE_MODES = ("auto", "keep", "regenerate")


def _check_cache(cache) -> str:
    if not isinstance(cache, str) or cache not in CACHE_MODES:
        raise ValueError(f"cache must be one of {', '.join(map(repr, CACHE_MODES))}; got {cache!r}")
    return cache


class StreamSource:
    """Chunks of rows 0..n-1 of ``stream`` for every pass of a fit, kept or regenerated (module doc).

    A fit names its namespace with :meth:`keep_in` (``ctx.xp``) before the first pass.
    ``chunks(start, stop, chunk)`` yields (X (rows, d), y (rows,)) of the stream's dtype in order;
    in 'kept' mode they are read-only views into one (n, d) and one (n,) array filled by the first
    pass, which must start at row 0 (every fit's first pass, the label statistics, covers 0..n-1).
    """

    def __init__(self, stream, n: int, cache: str = "auto", max_memory=None):
        cache = _check_cache(cache)
        self.stream, self.n = stream, int(n)
        itemsize = np.dtype(stream.dtype).itemsize
        self.nbytes = self.n * (stream.d + 1) * itemsize
        if cache == "keep":
            check_allocation(self.nbytes, what=f"keeping the stream's {self.n:,} training rows",
                             argument="cache", max_memory=max_memory)
            keep = True
        elif cache == "auto":
            keep = self.nbytes <= resolve_max_memory(max_memory)
        else:
            keep = False
        self.mode = "kept" if keep else "regenerated"
        self._X = self._y = None
        self._filled = 0  # rows 0.._filled-1 of the cache hold their values
        from .data import GaussianStream

        self._gaussian = isinstance(stream, GaussianStream)
        self._generates_into, self._xp = False, None

    def keep_in(self, xp) -> StreamSource:
        """Keep the rows in the fit's namespace ``xp`` (its Context's, where the stream's generator
        makes them): a GaussianStream then makes all kept rows straight into the cache. Without
        it the rows are kept as they come, in their own namespace. Returns self."""
        self._xp = xp
        self._generates_into = self._gaussian
        return self

    def _read(self, lo: int, hi: int):
        """Rows lo..hi-1 as one (X, y) pair: a GaussianStream's ``block``, else the stream's own
        chunks (the protocol lets a stream answer with smaller pieces), joined."""
        block = getattr(self.stream, "block", None)
        if block is not None:
            return block(lo, hi - lo)
        parts = list(self.stream.chunks(lo, hi, hi - lo))
        if len(parts) == 1:
            return parts[0]
        xp = place(parts[0][0]).xp
        return xp.concat([X for X, _ in parts]), xp.concat([y for _, y in parts])

    def _allocate(self, xp, d: int, dtype) -> None:
        """The kept (n, d) rows and (n,) labels, from the fit's pool (pages a previous fit touched)."""
        self._X = scratch(xp, "stream rows X", (self.n, d), dtype, exclusive=True)
        self._y = scratch(xp, "stream rows y", (self.n,), dtype, exclusive=True)

    def chunks(self, start: int, stop: int, chunk: int):
        if self.mode == "regenerated":
            yield from self.stream.chunks(start, stop, chunk)
            return
        for lo in range(start, stop, chunk):
            hi = min(lo + chunk, stop)
            if hi <= self._filled:
                yield self._X[lo:hi, ...], self._y[lo:hi]
                continue
            if lo != self._filled or hi > self.n:  # outside the kept prefix: read, keep nothing
                yield self._read(lo, hi)
                continue
            if self._generates_into:
                if self._X is None:
                    # A GaussianStream makes all n kept rows of X at once, straight into the cache
                    # (no copy; the generator's threads touch the new pages in parallel): one
                    # generator call instead of one per chunk between the label pass's BLAS calls,
                    # whose idle threads spin for a while after each call and would slow every
                    # chunk's generation twofold on a small machine. Rows are rows: the values
                    # are those of chunk-by-chunk generation, bit for bit.
                    self._allocate(self._xp, self.stream.d, self.stream.dtype)
                    self.stream.X(0, self.n, out=self._X)
                y = self.stream.labels(lo, self._X[lo:hi, ...])
            else:
                X, y = self._read(lo, hi)
                if self._X is None:
                    self._allocate(place(X).xp, X.shape[1], X.dtype)
                self._X[lo:hi, ...] = X
            self._y[lo:hi] = y
            self._filled = hi
            if hi == self.n and isinstance(self._X, np.ndarray):  # complete: later passes only read it
                self._X.flags.writeable = False
                self._y.flags.writeable = False
            yield self._X[lo:hi, ...], self._y[lo:hi]
