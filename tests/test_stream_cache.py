"""The stream cache (fastrep/_stream_cache.py): a fit_stream keeps its training rows when they fit
the memory budget and regenerates them otherwise; both modes give the same fit, the fit records
which ran, and in the regenerating mode peak memory does not grow with n."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fastrep
from fastrep._stream_cache import StreamSource

D, WIDTH, CHUNK = 12, 16, 256


def _stream(seed=3):
    target = fastrep.MultiIndexTarget.single_index(D, "he2", noise=0.5, seed=0)
    return fastrep.GaussianStream(target, seed)


def _net():
    return fastrep.OneStepNetwork(width=WIDTH, ridge=1e-3, seed=0, chunk_size=CHUNK)


def test_modes_give_the_same_fit_and_are_recorded():
    fits = {}
    for cache in ("keep", "regenerate"):
        net = _net().fit_stream(_stream(), 3000, cache=cache)
        fits[net.stream_cache_] = net
    assert set(fits) == {"kept", "regenerated"}
    for attr in ("W_", "a_", "label_linear_"):
        np.testing.assert_array_equal(getattr(fits["kept"], attr), getattr(fits["regenerated"], attr))
    assert fits["kept"].ridge_ == fits["regenerated"].ridge_


def test_split_fit_reads_the_kept_rows_for_both_stages():
    nets = [fastrep.OneStepNetwork(width=WIDTH, ridge=1e-3, seed=0, chunk_size=300, split=True)
            .fit_stream(_stream(), 2001, cache=c) for c in ("keep", "regenerate")]
    np.testing.assert_array_equal(nets[0].a_, nets[1].a_)


def test_auto_follows_the_memory_budget(monkeypatch):
    n = 3000
    need = n * (D + 1) * 4
    monkeypatch.setenv("FASTREP_MAX_MEMORY", str(need))
    assert _net().fit_stream(_stream(), n).stream_cache_ == "kept"
    monkeypatch.setenv("FASTREP_MAX_MEMORY", str(need - 1))
    assert _net().fit_stream(_stream(), n).stream_cache_ == "regenerated"
    with pytest.raises(MemoryError, match="cache"):
        _net().fit_stream(_stream(), n, cache="keep")
    assert _net().fit(*_stream().take(500)).stream_cache_ is None


def test_kept_chunks_are_the_stream_rows_and_read_only():
    s = _stream()
    src = StreamSource(s, 1000, "keep")
    first = list(src.chunks(0, 1000, 300))  # fills the cache
    again = list(src.chunks(100, 900, 170))  # any later range and chunking, read from it
    X_all, y_all = s.take(1000)
    np.testing.assert_array_equal(np.concatenate([X for X, _ in first]), X_all)
    np.testing.assert_array_equal(np.concatenate([X for X, _ in again]), X_all[100:900])
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), y_all[100:900])
    assert not again[0][0].flags.writeable


def test_a_kept_gaussian_stream_is_generated_in_one_call(monkeypatch):
    """The first pass makes all n kept rows of X in one generator call (not one per chunk between
    the label pass's BLAS calls); its chunks and labels are the stream's rows, bit for bit, in
    both dtypes and for chunks that do not divide n."""
    for dtype in (np.float32, np.float64):
        s = fastrep.GaussianStream(_stream().target, 5, dtype=dtype)
        calls = []
        make = s.X
        monkeypatch.setattr(s, "X", lambda start, n, out=None: calls.append((start, n)) or make(start, n, out=out))
        src = StreamSource(s, 1001, "keep").keep_in(np)
        got = list(src.chunks(0, 1001, 300))
        assert calls == [(0, 1001)]
        monkeypatch.undo()
        X_all, y_all = s.take(1001)
        np.testing.assert_array_equal(np.concatenate([X for X, _ in got]), X_all)
        np.testing.assert_array_equal(np.concatenate([y for _, y in got]), y_all)
        assert got[0][0].dtype == dtype and got[0][1].dtype == dtype


def test_labels_of_made_rows_are_the_blocks_labels():
    s = _stream()
    X, y = s.block(77, 40)
    np.testing.assert_array_equal(s.labels(77, X), y)
    np.testing.assert_array_equal(s.labels(77 + 5, X[5:]), y[5:])
    with pytest.raises(ValueError, match="X must be a 2-D array with d = 12 columns"):
        s.labels(0, X[:, :5])
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        s.labels(0, X[0])
    with pytest.raises(ValueError, match="start"):
        s.labels(-1, X)


def test_bad_cache_argument():
    with pytest.raises(ValueError, match="cache must be one of"):
        _net().fit_stream(_stream(), 1000, cache="yes")


def _peak_bytes(n, cache):
    stream = _stream()
    net = _net()
    tracemalloc.start()
    try:
        net.fit_stream(stream, n, n_val=500, cache=cache)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_regenerating_peak_memory_is_flat_in_n():
    small, large = _peak_bytes(4 * CHUNK, "regenerate"), _peak_bytes(64 * CHUNK, "regenerate")
    kept_small, kept_large = _peak_bytes(4 * CHUNK, "keep"), _peak_bytes(64 * CHUNK, "keep")
    grown = 60 * CHUNK * (D + 1) * 4  # what keeping the extra rows costs
    assert large < small * 1.25 + 64 * 1024, (small, large)
    assert kept_large - kept_small > 0.9 * grown, (kept_small, kept_large)  # the test can tell them apart
