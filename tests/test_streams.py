"""The stream protocol of fit_stream: stream objects, your own, or any iterable of (X, y) chunks."""

import numpy as np
import pytest

import fastrep
from fastrep._streams import ChunkStream, as_stream, validation_rows


def _chunks(sizes=(5, 7, 3, 6), d=4, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((k, d)).astype(dtype), rng.standard_normal(k).astype(dtype)) for k in sizes]


def _rows(blocks):
    blocks = list(blocks)
    return np.concatenate([X for X, _ in blocks]), np.concatenate([y for _, y in blocks])


@pytest.mark.parametrize("make", [list, lambda c: (x for x in c)], ids=["list", "generator"])
def test_any_range_and_chunk_size_gives_the_same_rows(make):
    chunks = _chunks()
    X, y = _rows(chunks)
    s, n = as_stream(make(chunks), None)
    assert isinstance(s, ChunkStream) and (s.d, s.dtype, n) == (4, np.float32, 21)
    for start, stop, size in [(0, 21, 4), (3, 17, 5), (5, 12, 100), (20, 21, 1), (7, 7, 3)]:
        for _ in range(2):  # Algorithm 1 reads the rows more than once
            blocks = list(s.chunks(start, stop, size))
            assert all(len(b[1]) <= size for b in blocks)
            if stop > start:
                Xs, ys = _rows(blocks)
                np.testing.assert_array_equal(Xs, X[start:stop])
                np.testing.assert_array_equal(ys, y[start:stop])
    with pytest.raises(ValueError, match="n: the iterable of chunks holds 21 rows"):
        list(s.chunks(0, 22, 4))


def test_n_takes_a_prefix_and_cannot_exceed_the_rows():
    s, n = as_stream(_chunks(), 10)
    assert n == 10
    with pytest.raises(ValueError, match="n: the iterable of chunks holds 21 rows; n = 30"):
        as_stream(_chunks(), 30)


def test_a_one_pass_iterator_is_kept_within_the_memory_budget():
    gen = (c for c in _chunks(sizes=(1000,) * 4, d=50))
    with pytest.raises(MemoryError, match="stream"):
        as_stream(gen, None, max_memory=300_000)


@pytest.mark.parametrize(
    "bad, err, words",
    [
        ([], ValueError, "is empty"),
        ([np.zeros((3, 2))], TypeError, "chunk 0 must be an \\(X, y\\) pair"),
        ([(np.zeros((3, 2)), np.zeros(4))], ValueError, "chunk 0 must be X \\(k, d\\) and y \\(k,\\)"),
        ([(np.zeros((3, 2), int), np.zeros(3))], TypeError, "expected float32 or float64"),
        ([(np.zeros((3, 2)), np.zeros(3)), (np.zeros((3, 5)), np.zeros(3))], ValueError,
         "chunk 1 has 5 columns"),
        ([(np.zeros((3, 2)), np.zeros(3)), (np.zeros((3, 2), np.float32), np.zeros(3))], ValueError,
         "chunk 1 has dtype float32"),
    ],
)
def test_bad_chunks_are_named(bad, err, words):
    with pytest.raises(err, match=words):
        as_stream(bad, None)


def test_what_is_neither_a_stream_nor_chunks_is_refused():
    for bad in ("rows.csv", np.zeros((4, 3)), 3, {"X": 1}):
        with pytest.raises(TypeError, match="stream must be a stream"):
            as_stream(bad, None)
    t = fastrep.MultiIndexTarget.separation(d=6, seed=0)
    with pytest.raises(TypeError, match="n: fit_stream needs the number of rows"):
        as_stream(fastrep.GaussianStream(t, seed=0), None)


def test_validation_rows_only_where_the_stream_has_a_validation_split():
    t = fastrep.MultiIndexTarget.separation(d=6, seed=0)
    s = fastrep.GaussianStream(t, seed=0)
    Xv, yv = validation_rows(s, 50)
    np.testing.assert_array_equal(Xv, s.val().take(50)[0])
    assert validation_rows(as_stream(_chunks(), None)[0], 50) is None


class _OwnStream:
    """A stream of one's own: d, dtype and chunks(), no val(); rows are a function of their index."""

    d, dtype = 6, np.float64

    def chunks(self, start, stop, chunk_size):
        for lo in range(start, stop, chunk_size):
            hi = min(lo + chunk_size, stop)
            X = np.stack([np.random.default_rng(i).standard_normal(self.d) for i in range(lo, hi)])
            yield X, (X[:, 0] ** 2 - 1) / np.sqrt(2) + X[:, 1] * X[:, 2]


@pytest.mark.parametrize("cls", [fastrep.OneStepNetwork, fastrep.RandomFeaturesRegressor])
def test_learners_take_any_form_of_the_same_rows(cls):
    t = fastrep.MultiIndexTarget.separation(d=6, seed=0)
    s = fastrep.GaussianStream(t, seed=4, dtype=np.float64)
    kw = {"width": 20, "ridge": 1e-3, "dtype": np.float64, "seed": 2, "chunk_size": 64}
    ref = cls(**kw).fit_stream(s, 300)
    listed = list(s.chunks(0, 300, 50))
    for form in (listed, iter(listed), (c for c in listed)):
        got = cls(**kw).fit_stream(form)
        np.testing.assert_allclose(got.a_, ref.a_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cls(**kw).fit_stream(listed, 200).a_, cls(**kw).fit_stream(s, 200).a_,
                               rtol=1e-10, atol=1e-12)


def test_a_stream_without_val_validates_by_gcv():
    own = _OwnStream()
    net = fastrep.OneStepNetwork(width=20, dtype=np.float64).fit_stream(own, 400)  # ridge='validate'
    X, _ = next(own.chunks(0, 400, 400))
    ref = fastrep.OneStepNetwork(width=20, dtype=np.float64).fit(X, next(own.chunks(0, 400, 400))[1])
    assert net.ridge_ == ref.ridge_  # fit without X_val: GCV on the same rows
    np.testing.assert_allclose(net.a_, ref.a_, rtol=1e-8, atol=1e-10)
    refit = net.refit_stream(own, 200)
    assert np.isfinite(refit.ridge_)


def test_oracle_takes_chunks_too():
    t = fastrep.MultiIndexTarget.separation(d=6, seed=0)
    s = fastrep.GaussianStream(t, seed=4, dtype=np.float64)
    ref = fastrep.OracleRegressor(t, ridge=1e-6).fit_stream(s, 200)
    got = fastrep.OracleRegressor(t, ridge=1e-6).fit_stream(list(s.chunks(0, 200, 64)))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-10, atol=1e-12)


def test_an_own_stream_with_float64_labels_for_float32_rows_is_cast():
    class Mixed(_OwnStream):
        dtype = np.float32

        def chunks(self, start, stop, chunk_size):
            for X, y in super().chunks(start, stop, chunk_size):
                yield X.astype(np.float32), y  # y stays float64, as numpy promotion often leaves it

    net = fastrep.OneStepNetwork(width=20).fit_stream(Mixed(), 300)
    assert np.isfinite(net.ridge_) and net.a_.shape == (20,)

    class Wrong(_OwnStream):
        def chunks(self, start, stop, chunk_size):
            for X, y in super().chunks(start, stop, chunk_size):
                yield X[:, :3], y

    with pytest.raises(ValueError, match=r"stream \(Wrong\): chunk 0 has 3 columns; expected 6"):
        fastrep.OneStepNetwork(width=20, dtype=np.float64).fit_stream(Wrong(), 300)


# ---- a stream's rows are counted on every pass, and checked where they enter ------------------
class _Hostile:
    """A stream object whose pass ``bad_pass`` (0-based, counted over chunks() calls) is altered
    by ``alter(X, y, hi, stop)``; rows are a function of their index."""

    d, dtype = 5, np.float32

    def __init__(self, bad_pass=None, alter=None):
        self.bad_pass, self.alter, self.calls = bad_pass, alter, 0

    def chunks(self, start, stop, chunk_size):
        p, self.calls = self.calls, self.calls + 1
        for lo in range(start, stop, chunk_size):
            hi = min(lo + chunk_size, stop)
            X = np.stack([np.random.default_rng(i).standard_normal(self.d) for i in range(lo, hi)])
            X = X.astype(self.dtype)
            y = (X[:, 0] ** 2 - 1) + X[:, 1] * X[:, 2]
            if p == self.bad_pass or self.bad_pass == "all":
                X, y = self.alter(X, y, hi, stop)
            yield X, y


def _short(X, y, hi, stop):
    return (X[:-3], y[:-3]) if hi == stop else (X, y)  # the last chunk of the pass loses 3 rows


def _long(X, y, hi, stop):
    return (np.concatenate([X, X[:2]]), np.concatenate([y, y[:2]])) if hi == stop else (X, y)


STREAM_LEARNERS = [
    lambda: fastrep.OneStepNetwork(width=8, ridge=1e-3, chunk_size=64),
    lambda: fastrep.OneStepNetwork(width=8, ridge=1e-3, chunk_size=64, steps=2, split=True),
    lambda: fastrep.RandomFeaturesRegressor(width=8, ridge=1e-3, chunk_size=64),
]


@pytest.mark.parametrize("cache", ["regenerate", "keep"])
@pytest.mark.parametrize("alter, words", [(_short, r"gave \d+ rows; expected"), (_long, "more than")])
@pytest.mark.parametrize("make", STREAM_LEARNERS, ids=["onestep", "onestep-steps2", "rf"])
def test_a_short_or_long_pass_is_refused_naming_the_stream_and_the_pass(make, alter, words, cache):
    probe = _Hostile()
    make().fit_stream(probe, 200, cache=cache)  # a faithful stream fits
    assert probe.calls >= 2
    for bad in range(1, probe.calls):  # call 0 only asks for the first row's array library
        with pytest.raises(ValueError, match=rf"stream \(_Hostile\).*{words}.*pass") as info:
            make().fit_stream(_Hostile(bad, alter), 200, cache=cache)
        assert "broadcast" not in str(info.value)


@pytest.mark.parametrize("alter", [_short, _long])
def test_the_oracle_and_refit_count_rows_too(alter):
    t = fastrep.MultiIndexTarget(5, {(2,): 1.0})
    with pytest.raises(ValueError, match=r"stream \(_Hostile\).*rows"):
        fastrep.OracleRegressor(t, ridge=1e-6, chunk_size=64).fit_stream(_Hostile("all", alter), 200)
    net = fastrep.OneStepNetwork(width=8, ridge=1e-3, chunk_size=64).fit_stream(_Hostile(), 200)
    with pytest.raises(ValueError, match=r"stream \(_Hostile\).*rows.*pass"):
        net.refit_stream(_Hostile("all", alter), 150, cache="regenerate")


def test_an_iterable_that_shrinks_on_a_later_pass_is_refused():
    chunks = _chunks(sizes=(50, 50, 50), d=5)

    class Shrinks:  # re-iterable: each pass starts over; those after the first few lose the last chunk
        calls = 0

        def __iter__(self):
            self.calls += 1
            return iter(chunks if self.calls <= 3 else chunks[:-1])

    net = fastrep.OneStepNetwork(width=8, ridge=1e-3, chunk_size=64)
    with pytest.raises(ValueError, match=r"stream.*gave 100 rows.*expected 150.*pass"):
        net.fit_stream(Shrinks(), cache="regenerate")


def _nan_x(X, y, hi, stop):
    X = X.copy()
    X[0, 1] = np.nan
    return X, y


def _inf_y(X, y, hi, stop):
    y = y.copy()
    y[-1] = np.inf
    return X, y


@pytest.mark.parametrize("alter, name", [(_nan_x, "X"), (_inf_y, "y")])
@pytest.mark.parametrize("form", ["object", "list", "generator"])
def test_nan_or_inf_in_a_chunk_is_named_where_it_enters(alter, name, form):
    s = _Hostile(0 if form == "object" else "all", alter)
    stream = s if form == "object" else list(s.chunks(0, 200, 64))
    if form == "generator":
        stream = iter(stream)
    n = 200 if form == "object" else None
    other = "y" if name == "X" else "X"
    for make in STREAM_LEARNERS + [lambda: fastrep.OracleRegressor(fastrep.MultiIndexTarget(5, {(2,): 1.0}),
                                                                   ridge=1e-6, chunk_size=64)]:
        if form != "object":
            stream = list(s.chunks(0, 200, 64)) if form == "list" else iter(list(s.chunks(0, 200, 64)))
        s.calls = 0
        with pytest.raises(ValueError, match=rf"stream.*chunk 0.*{name} contains NaN or inf") as info:
            make().fit_stream(stream, n)
        assert f"{other} contains" not in str(info.value)


class _Val:
    """A stream with a val() split whose rows are float64 (a user's float32 stream, NumPy promotion)."""

    d, dtype = 5, np.float32

    def __init__(self, bad=None):
        self.bad = bad

    def chunks(self, start, stop, chunk_size):
        yield from _Hostile().chunks(start, stop, chunk_size)

    def val(self):
        outer = self

        class V:
            def take(self, n):
                X, y = next(_Hostile().chunks(10_000, 10_000 + n, n))
                X, y = X.astype(np.float64), y.astype(np.float64)
                if outer.bad == "nan":
                    X[2, 0] = np.nan
                if outer.bad == "short":
                    X, y = X[:-1], y[:-1]
                return X, y

        return V()


def test_labels_keep_the_streams_dtype_on_every_path():
    from fastrep._stream_cache import StreamSource

    s, _ = as_stream(_Hostile(), 100)
    chunk32 = _Hostile()

    class F64Labels(type(chunk32)):
        def chunks(self, start, stop, chunk_size):
            for X, y in super().chunks(start, stop, chunk_size):
                yield X, y.astype(np.float64)

    for stream in (as_stream(F64Labels(), 100)[0],
                   as_stream([(X, y.astype(np.float64)) for X, y in chunk32.chunks(0, 100, 30)], None)[0]):
        for cache in ("keep", "regenerate"):
            src = StreamSource(stream, 100, cache)
            for _ in range(2):
                for X, y in src.chunks(0, 100, 40):
                    assert (X.dtype, y.dtype) == (np.float32, np.float32)
    Xv, yv = validation_rows(as_stream(_Val(), 100)[0], 20)
    assert (Xv.dtype, yv.dtype) == (np.float32, np.float32)
    t = fastrep.MultiIndexTarget(5, {(2,): 1.0})
    o = fastrep.OracleRegressor(t, dtype=np.float32, chunk_size=64).fit_stream(_Val(), 200, n_val=50)
    assert np.isfinite(o.ridge_)


@pytest.mark.parametrize("bad, words", [("nan", r"val\(\)\.take\(50\).*X contains NaN or inf"),
                                         ("short", r"val\(\)\.take\(50\).*49 rows")])
def test_a_streams_validation_rows_are_checked_and_named(bad, words):
    t = fastrep.MultiIndexTarget(5, {(2,): 1.0})
    for make in (lambda: fastrep.OneStepNetwork(width=8, chunk_size=64),
                 lambda: fastrep.OracleRegressor(t, chunk_size=64)):
        with pytest.raises(ValueError, match=words):
            make().fit_stream(_Val(bad), 200, n_val=50)


@pytest.mark.parametrize("d, dtype, err, words", [
    (2.5, np.float32, TypeError, r"stream \(Declared\)\.d must be"),
    (-1, np.float32, ValueError, r"stream \(Declared\)\.d must be"),
    (5, "nope", TypeError, r"stream \(Declared\)\.dtype must be float32 or float64"),
    (5, None, TypeError, r"stream \(Declared\)\.dtype must be float32 or float64"),
    (5, np.int32, TypeError, r"stream \(Declared\)\.dtype must be float32 or float64"),
    (2**31 - 1, np.float32, ValueError, r"stream \(Declared\): chunk 0 has 5 columns; expected 2147483647"),
])
def test_a_stream_objects_d_and_dtype_are_checked_before_any_work(d, dtype, err, words):
    class Declared(_Hostile):
        def chunks(self, start, stop, chunk_size):  # rows of 5 columns, whatever d says
            return _Hostile().chunks(start, stop, chunk_size)

    s = Declared()
    s.d, s.dtype = d, dtype
    with pytest.raises(err, match=words):
        fastrep.OneStepNetwork(width=8, ridge=1e-3).fit_stream(s, 100)


def test_chunks_given_as_lists_take_the_streams_dtype():
    s = _Hostile()
    rows = [(X.tolist(), y.tolist()) for X, y in s.chunks(0, 60, 20)]

    class Lists(_Hostile):
        def chunks(self, start, stop, chunk_size):
            for X, y in super().chunks(start, stop, chunk_size):
                yield X.tolist(), y.tolist()

    for stream, n in ((Lists(), 60), (rows, None)):
        X, y = next(as_stream(stream, n)[0].chunks(0, 60, 60))
        assert X.dtype == (np.float32 if n else np.float64) and y.dtype == X.dtype
