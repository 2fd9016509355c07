"""Progress of one long fit on stderr (the learners' ``verbose=True``), or nothing at all.

Row passes over a stream (``fit_stream`` of millions of rows) and conjugate-gradient
iterations get a tqdm bar (``leave=False``: it disappears when done, so an outer bar such as
a sweep's stays readable); whole stages (a Gram matrix, a Cholesky or eigendecomposition)
get one line with their time, written through ``tqdm.write`` so it does not cut a bar.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


def check_verbose(verbose) -> bool:
    """``verbose`` must be a bool (numpy's too); returns it as one."""
    if not isinstance(verbose, bool) and type(verbose).__name__ != "bool_":
        raise TypeError(f"verbose must be True or False; got {verbose!r}")
    return bool(verbose)


class Progress:
    """What one fit reports; every method is a no-op when ``on`` is False.

    ``who``: the estimator's name, the prefix of every bar and line.
    """

    def __init__(self, on: bool, who: str):
        self.on, self.who = bool(on), who

    def rows(self, chunks, total, what: str):
        """Iterate ``chunks`` ((X, y) pairs) unchanged, counting X's rows against ``total``
        (None when unknown)."""
        if not self.on:
            yield from chunks
            return
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"{self.who}: {what}", unit="row", unit_scale=True, leave=False,
                   file=sys.stderr, dynamic_ncols=True)
        try:
            for X, y in chunks:
                yield X, y
                bar.update(int(X.shape[0]))
        finally:
            bar.close()

    def iterations(self, total: int, what: str):
        """A bar of ``total`` iterations (``update(1)`` each, ``close()`` at the end), or None."""
        if not self.on:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=f"{self.who}: {what}", unit="it", leave=False, file=sys.stderr,
                    dynamic_ncols=True)

    def line(self, text: str) -> None:
        """``who: text`` on its own line."""
        if self.on:
            from tqdm import tqdm

            tqdm.write(f"{self.who}: {text}", file=sys.stderr)

    @contextmanager
    def stage(self, what: str):
        """One line ``who: what ... 1.23 s`` when the block ends."""
        t0 = time.perf_counter()
        yield
        if self.on:
            from tqdm import tqdm

            tqdm.write(f"{self.who}: {what} {time.perf_counter() - t0:.3g} s", file=sys.stderr)


#: what a fit with verbose=False (or code that never set one) reports
SILENT = Progress(False, "")
