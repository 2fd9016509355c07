"""The per-thread pool of work arrays a fit reuses (fastrep._memory.workspace / scratch).

A fit's large temporaries and its kept stream rows come from a pool that outlives the fit, so the
next fit in the thread touches pages that are already mapped. Whatever the pool holds, a fit's
result is bit for bit the result of a fit on fresh arrays.
"""

import threading

import numpy as np
import pytest

import fastrep
from fastrep import _memory

D, N, WIDTH = 12, 6000, 48


def _stream(seed=1):
    t = fastrep.MultiIndexTarget.single_index(D, "he2", noise=0.1, seed=0)
    return fastrep.GaussianStream(t, seed, dtype=np.float32)


def _fit(n=N, seed=0, **kw):
    net = fastrep.OneStepNetwork(width=WIDTH, seed=seed, ridge=1e-3, **kw)
    return net.fit_stream(_stream(), n, n_val=500)


def _same(a, b):
    for name in ("W_", "b_", "a_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.label_mean_ == b.label_mean_


@pytest.fixture(autouse=True)
def _empty_pool():
    _memory.release_memory()
    yield
    _memory.release_memory()


def test_fits_reuse_the_pool_and_agree_with_fresh_arrays(monkeypatch):
    monkeypatch.setenv("FASTREP_KEEP_WORKSPACE", "0")
    fresh = _fit()
    assert fresh.stream_cache_ == "kept" and fastrep.kept_bytes() == 0
    monkeypatch.delenv("FASTREP_KEEP_WORKSPACE")
    first = _fit()
    kept = dict(_memory._arrays())
    assert fastrep.kept_bytes() >= N * (D + 1) * 4  # the stream rows at least
    assert ("stream rows X", "numpy") in kept
    second = _fit()
    # the same arrays served the second fit (nothing reallocated), and nothing changed
    assert all(_memory._arrays()[k] is v for k, v in kept.items())
    _same(fresh, first)
    _same(fresh, second)


def test_smaller_and_larger_fits_after_a_pooled_one_agree_with_fresh_ones(monkeypatch):
    _fit(n=N)  # fills the pool (its rows are garbage to the next fits)
    small, large = _fit(n=N // 3, seed=1), _fit(n=2 * N, seed=2)
    assert _memory._arrays()[("stream rows X", "numpy")].shape[0] >= 2 * N
    monkeypatch.setenv("FASTREP_KEEP_WORKSPACE", "0")
    _memory.release_memory()
    _same(small, _fit(n=N // 3, seed=1))
    _same(large, _fit(n=2 * N, seed=2))


def test_the_pool_is_released_above_its_share_of_the_budget(monkeypatch):
    _fit(max_memory=1e9)
    assert 0 < fastrep.kept_bytes() <= _memory.KEEP_FRACTION * 1e9
    # a pool larger than its share of the budget is emptied when the fit ends
    monkeypatch.setattr(_memory, "KEEP_FRACTION", fastrep.kept_bytes() / 2e9)
    net = _fit(max_memory=1e9)
    assert net.stream_cache_ == "kept" and fastrep.kept_bytes() == 0


def test_release_memory_returns_the_bytes_it_dropped():
    _fit()
    n = fastrep.kept_bytes()
    assert n > 0 and fastrep.release_memory() == n and fastrep.kept_bytes() == 0


def test_each_thread_has_its_own_pool():
    serial = [_fit(seed=s) for s in range(2)]
    _memory.release_memory()
    out, sizes = [None, None], [None, None]

    def work(i):
        out[i] = _fit(seed=i)
        sizes[i] = fastrep.kept_bytes()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fastrep.kept_bytes() == 0  # the main thread's pool saw none of it
    assert all(s and s > 0 for s in sizes)
    for a, b in zip(serial, out, strict=True):
        _same(a, b)


def test_an_exclusive_name_is_lent_once_per_workspace():
    with _memory.workspace():
        a = _memory.scratch(np, "rows", (10, 3), np.float32, exclusive=True)
        b = _memory.scratch(np, "rows", (10, 3), np.float32, exclusive=True)
        c = _memory.scratch(np, "tmp", (10, 3), np.float32)
        d = _memory.scratch(np, "tmp", (5, 3), np.float32)
        assert not np.shares_memory(a, b)
        assert np.shares_memory(c, d) and d.shape == (5, 3)
    with _memory.workspace():  # a new fit: the exclusive name is lendable again
        e = _memory.scratch(np, "rows", (10, 3), np.float32, exclusive=True)
        assert np.shares_memory(a, e)
    assert not np.shares_memory(_memory.scratch(np, "tmp", (10, 3), np.float32), c)  # outside: fresh
