"""The Gaussian stream: Philox4x32-10 against Random123's known answers, every backend against the
reference, bit-identical rows for any chunking / offset / thread count, the splits' independence,
label noise, memory bounded by the chunk size, and bad input."""

from __future__ import annotations

import math
import os
import pickle
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import fastrep
from fastrep import GaussianStream, MultiIndexTarget
from fastrep._kernels import reference
from fastrep.backend import get_backend
from fastrep.data import gaussian_block
from tests.conftest import simde_include_flags, to_numpy

CPU = [b for b, s in fastrep.backends().items() if s == "available" and b != "cupy"]

# Random123's kat_vectors (examples/kat_vectors in the Random123 distribution, D. E. Shaw
# Research): philox4x32 10 <counter x4> <key x2> <expected output x4>.
PHILOX_KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def philox_scalar(ctr, key):
    """Philox4x32-10 on Python ints, written from the paper independently of fastrep."""
    c = list(ctr)
    k0, k1 = key
    for rnd in range(10):
        if rnd:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k1, p0 & 0xFFFFFFFF]
    return c


def normals_scalar(seed, stream, row, d):
    """Row ``row`` of the stream (seed, stream), by the documented recipe, in pure Python."""
    out = []
    for g in range((d + 3) // 4):
        x = philox_scalar((row & 0xFFFFFFFF, row >> 32, g, stream), (seed & 0xFFFFFFFF, seed >> 32))
        u = [(w + 0.5) * 2.0**-32 for w in x]
        for k in (0, 2):
            rad = math.sqrt(-2.0 * math.log(u[k]))
            out += [rad * math.cos(2 * math.pi * u[k + 1]), rad * math.sin(2 * math.pi * u[k + 1])]
    return np.array(out[:d])


def f32_close(got, want64):
    """got (float32) equals want64 rounded to float32, or is within one float32 ulp of it
    (want64 from another backend differs from the exact value by ~1e-16 relative)."""
    want = want64.astype(np.float32)
    return bool(np.all(np.abs(got.astype(np.float64) - want) <= np.spacing(np.abs(want))))


# ---- the generator -----------------------------------------------------------------------


@pytest.mark.parametrize("ctr,key,want", PHILOX_KAT)
def test_philox_known_answers(ctr, key, want):
    assert philox_scalar(ctr, key) == list(want)
    got = reference.philox4x32([np.array([c]) for c in ctr], key)
    assert [int(w[0]) for w in got] == list(want)


def test_reference_matches_the_documented_recipe():
    cases = [(0, 0, 0, 5), (12345, 3, 7, 9), (2**64 - 1, 2**32 - 1, 2**32 - 1, 6), (2**40 + 5, 1, 2**63, 4)]
    for seed, stream, row, d in cases:
        got = reference.gaussian_block(seed, stream, row, 1, d, np.float64)[0]
        np.testing.assert_allclose(got, normals_scalar(seed, stream, row, d), rtol=0, atol=1e-13)


def test_public_seed_rule_is_the_store_s_int64(backend):
    with pytest.raises(ValueError, match="seed must be <= 9223372036854775807"):
        gaussian_block(2**63, 2, 3, backend=backend)


def test_kernel_op_uses_all_64_key_bits(backend, dtype):
    # public seeds stop at 2**63 - 1 (the store's int64); the Philox key itself is 64 bits
    mod = get_backend(backend)
    for seed in (2**63, 2**64 - 1):
        want = reference.gaussian_block(seed, 7, 2**32 - 3, 6, 5, np.float64)
        got = to_numpy(mod.gaussian_block(seed, 7, 2**32 - 3, 6, 5, dtype))
        if dtype == np.float64:
            assert np.max(np.abs(got - want)) <= 1e-12
        else:
            assert f32_close(got, want)


@pytest.mark.parametrize("d", [1, 3, 4, 13, 64])
def test_backend_matches_reference(backend, dtype, rng, d):
    seed = int(rng.integers(0, 2**63))
    stream = int(rng.integers(0, 2**32))
    # a start just below 2**32 makes the rows cross into the counter's high word
    for start in (int(rng.integers(0, 2**40)), 2**32 - 50, 2**64 - 100):
        want = reference.gaussian_block(seed, stream, start, 100, d, np.float64)
        got = gaussian_block(seed, 100, d, stream=stream, start=start, dtype=dtype, backend=backend)
        assert got.shape == (100, d) and got.dtype == dtype and got.flags.c_contiguous
        got = to_numpy(got)
        if dtype == np.float64:
            assert np.max(np.abs(got - want)) <= 1e-12
        else:
            assert f32_close(got, want)


def test_columns_do_not_depend_on_d():
    for b in CPU:
        wide = gaussian_block(5, 20, 13, backend=b)
        for d in (1, 2, 7, 12):
            np.testing.assert_array_equal(gaussian_block(5, 20, d, backend=b), wide[:, :d])


@given(
    seed=st.integers(0, 2**63 - 1),
    stream=st.integers(0, 2**32 - 1),
    start=st.integers(0, 2**64 - 200),
    d=st.integers(1, 11),
    cuts=st.lists(st.integers(0, 40), max_size=4),
)
def test_property_any_chunking_is_bit_identical(seed, stream, start, d, cuts):
    n = 40
    whole = {b: gaussian_block(seed, n, d, stream=stream, start=start, backend=b) for b in CPU}
    bounds = [0, *sorted(cuts), n]
    for b in CPU:
        parts = [gaussian_block(seed, hi - lo, d, stream=stream, start=start + lo, backend=b)
                 for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        np.testing.assert_array_equal(np.concatenate(parts), whole[b])
    ref = whole["reference"]
    for b in CPU:
        assert np.max(np.abs(whole[b] - ref)) <= 1e-12


def _cxx():
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


SIMDE_FLAGS = ["-O2", "-fopenmp", "-DFASTREP_AVX512_ON_SIMDE"]


@pytest.mark.skipif(_cxx() is None or sys.platform == "win32",
                    reason="no gcc/clang-style C++ compiler on PATH")
@pytest.mark.parametrize("flags", [["-O2"], ["-O3", "-fno-math-errno", "-fopenmp"], SIMDE_FLAGS],
                         ids=["serial", "openmp", "avx512-on-simde"])
def test_embedded_philox_program(flags, tmp_path):
    """tests/cpp/test_philox_embed.cpp: the header alone (no Python), warnings as errors: Random123
    known answers, accuracy of its own log/sincos, the recipe in long double, any chunking and
    thread count bit-identical, every SIMD path bit-identical to the portable one. The
    avx512-on-simde build runs the AVX-512 path's source on SIMDe's portable AVX-512 on any CPU
    (FASTREP_REQUIRE_SIMDE=1, set by .ci/run, turns its skip into a failure)."""
    root = Path(__file__).resolve().parents[1]
    exe = tmp_path / "philox"
    extra = simde_include_flags() if "-DFASTREP_AVX512_ON_SIMDE" in flags else []
    cmd = [_cxx(), "-std=c++17", "-Wall", "-Wextra", "-Werror", *flags, f"-I{root / 'csrc' / 'include'}", *extra,
           str(root / "tests" / "cpp" / "test_philox_embed.cpp"), "-o", str(exe)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    if built.returncode != 0 and "-fopenmp" in flags and "omp" in built.stderr.lower():
        pytest.skip("the compiler has no OpenMP")
    assert built.returncode == 0, f"compiling failed: {' '.join(cmd)}\n{built.stderr}"
    ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert ran.returncode == 0 and " 0 failures" in ran.stdout, ran.stdout + ran.stderr
    if "-fopenmp" in flags:
        assert "threads 2" in ran.stdout
    if "-DFASTREP_AVX512_ON_SIMDE" in flags:
        assert "path 2 runs avx512-simde" in ran.stdout, ran.stdout


def _paths_here() -> list[int]:
    """The generator paths the built extension can run on this CPU: 0 portable, 1 AVX2, 2 AVX-512."""
    if "cpp" not in CPU:
        return []
    from fastrep import _ext

    here = []
    try:
        for path in (0, 1, 2):
            try:
                _ext._set_gaussian_block_path(path)
                here.append(path)
            except ValueError:
                pass
    finally:
        _ext._set_gaussian_block_path(-1)
    return here


@pytest.mark.skipif("cpp" not in CPU, reason="the C++ core is not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_generator_path_of_the_extension_makes_the_same_bits(dtype):
    """In the installed extension, each path this CPU has, forced, makes the portable path's bits,
    straight into out= or not, for d a multiple of 4 or not, blocks ending inside a vector."""
    from fastrep import _ext

    paths = _paths_here()
    assert paths[0] == 0 and len(paths) >= 1
    rng = np.random.default_rng()
    seed, stream, start = int(rng.integers(2**63)), int(rng.integers(2**32)), 2**32 - 77
    try:
        for n, d in [(1, 1), (5, 3), (63, 4), (700, 37), (1001, 200), (9, 8)]:
            blocks = {}
            for path in paths:
                name = _ext._set_gaussian_block_path(path)
                out = np.full((n, d), np.nan, dtype=dtype)
                _ext.gaussian_block(seed, stream, start, out)
                blocks[name] = out
            base = blocks["generic"]
            for name, got in blocks.items():
                np.testing.assert_array_equal(got, base, err_msg=f"path {name} at n={n}, d={d}")
    finally:
        _ext._set_gaussian_block_path(-1)
    assert _ext.gaussian_block_path() in {"generic", "avx2", "avx512"}


@pytest.mark.skipif("cpp" not in CPU, reason="the C++ core is not built")
def test_forcing_a_generator_path_is_checked():
    from fastrep import _ext

    with pytest.raises(ValueError, match="path must be in \\[-1, 2\\]"):
        _ext._set_gaussian_block_path(3)
    with pytest.raises(TypeError, match="path must be an int"):
        _ext._set_gaussian_block_path("avx2")
    if 2 not in _paths_here():
        with pytest.raises(ValueError, match="path 2 \\(AVX-512\\) is not available"):
            _ext._set_gaussian_block_path(2)
    assert _ext._set_gaussian_block_path(-1) == _ext.gaussian_block_path()


def _cpu_has(flag: str) -> bool:
    try:
        return any(flag in line.split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("flags"))
    except OSError:
        return False


@pytest.mark.skipif(_cxx() is None or not _cpu_has("fma") or not _cpu_has("avx2"),
                    reason="needs a gcc/clang-style compiler and a CPU with AVX2 and FMA")
def test_embedded_philox_same_bits_on_every_isa_level(tmp_path):
    """Builds for baseline x86-64 without the SIMD paths (FASTREP_NO_SIMD), for baseline x86-64 with
    them (the AVX2 path chosen at run time here) and for AVX2 + FMA make the same bits."""
    root = Path(__file__).resolve().parents[1]
    sums = []
    for i, flags in enumerate([["-DFASTREP_NO_SIMD"], [], ["-mavx2", "-mfma"]]):
        exe = tmp_path / f"philox{i}"
        # no run-time multiversioning: the flags alone choose the instruction set
        cmd = [_cxx(), "-std=c++17", "-O3", "-fno-math-errno", "-DFASTREP_NO_MULTIVERSION", *flags,
               f"-I{root / 'csrc' / 'include'}",
               str(root / "tests" / "cpp" / "test_philox_embed.cpp"), "-o", str(exe)]
        built = subprocess.run(cmd, capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
        ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stdout
        sums.append([line for line in ran.stdout.splitlines() if line.startswith("checksum")])
    assert len(sums[0]) == 1 and sums[0] == sums[1] == sums[2]


def test_cpp_thread_count_does_not_change_the_bits():
    if "cpp" not in CPU:
        pytest.skip("the C++ core is not built")
    from threadpoolctl import threadpool_limits

    from fastrep import _ext

    many = gaussian_block(77, 3001, 37, dtype=np.float32, backend="cpp")
    with threadpool_limits(limits=1, user_api="openmp"):
        assert _ext.num_threads() == 1
        one = gaussian_block(77, 3001, 37, dtype=np.float32, backend="cpp")
    np.testing.assert_array_equal(one, many)


def test_distribution_is_standard_normal():
    Z = gaussian_block(2024, 50_000, 8, backend=CPU[-1] if "cpp" not in CPU else "cpp")
    n = Z.shape[0]
    # each column: mean 0, variance 1, and Kolmogorov-Smirnov against N(0, 1)
    assert np.all(np.abs(Z.mean(0)) < 5 / math.sqrt(n))
    assert np.all(np.abs(Z.var(0) - 1) < 5 * math.sqrt(2 / n))
    for j in range(8):
        assert stats.kstest(Z[:, j], "norm").pvalue > 1e-4
    # the columns of one Philox call (a Box-Muller pair, and the two pairs) are uncorrelated
    C = np.corrcoef(Z.T)
    assert np.max(np.abs(C - np.eye(8))) < 5 / math.sqrt(n)
    # and so are neighbouring rows
    assert abs(np.corrcoef(Z[:-1, 0], Z[1:, 0])[0, 1]) < 5 / math.sqrt(n)
    # the pair (z0, z1) is rotation invariant: its angle is uniform
    ang = np.arctan2(Z[:, 1], Z[:, 0])
    assert stats.kstest(ang, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-4


def test_gaussian_block_validation():
    with pytest.raises(ValueError, match="seed must be <="):
        gaussian_block(2**64, 2, 2)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        gaussian_block(-1, 2, 2)
    with pytest.raises(TypeError, match="seed must be an integer"):
        gaussian_block(1.5, 2, 2)
    with pytest.raises(ValueError, match="stream must be <="):
        gaussian_block(0, 2, 2, stream=2**32)
    with pytest.raises(ValueError, match="start \\+ n must be <= 2\\*\\*64"):
        gaussian_block(0, 10, 2, start=2**64 - 5)
    with pytest.raises(ValueError, match="d must be >= 1"):
        gaussian_block(0, 2, 0)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        gaussian_block(0, 2, 2, dtype=np.int32)
    with pytest.raises(ValueError, match="backend must be one of"):
        gaussian_block(0, 2, 2, backend="fortran")
    assert gaussian_block(0, 0, 3).shape == (0, 3)


# ---- GaussianStream ----------------------------------------------------------------------


@pytest.fixture(params=CPU)
def cpu_backend(request):
    return request.param


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_stream_rows_are_bit_identical_for_any_chunking(cpu_backend, dt):
    t = MultiIndexTarget.random(23, 3, 3, seed=1, noise=0.3)
    s = GaussianStream(t, 5, dtype=dt, backend=cpu_backend)
    X, y = s.take(500)
    assert X.dtype == dt and y.dtype == dt and X.shape == (500, 23) and y.shape == (500,)
    # chunks of 1 and 3 on a prefix only: every chunk is a kernel launch, slow on a busy machine
    for stop, chunk in ((30, 1), (100, 3), (500, 64), (500, 499), (500, 10_000)):
        blocks = list(s.chunks(0, stop, chunk))
        assert len(blocks) == math.ceil(stop / chunk)
        np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks]), X[:stop])
        np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks]), y[:stop])
    X2, y2 = s.take(100, start=321)
    np.testing.assert_array_equal(X2, X[321:421])
    np.testing.assert_array_equal(y2, y[321:421])
    Xc, yc = zip(*s.chunks(17, 250, 50), strict=True)
    np.testing.assert_array_equal(np.concatenate(Xc), X[17:250])
    np.testing.assert_array_equal(np.concatenate(yc), y[17:250])
    # a fresh stream object with the same arguments gives the same data
    X3, y3 = GaussianStream(t, 5, dtype=dt, backend=cpu_backend).take(500)
    np.testing.assert_array_equal(X3, X)
    np.testing.assert_array_equal(y3, y)


def test_stream_backends_agree():
    t = MultiIndexTarget.separation(16, seed=3, noise=0.5)
    X64, y64 = GaussianStream(t, 8, dtype=np.float64, backend="reference").take(300)
    for b in CPU:
        X, y = GaussianStream(t, 8, dtype=np.float64, backend=b).take(300)
        assert np.max(np.abs(X - X64)) <= 1e-12
        assert np.max(np.abs(y - y64)) <= 1e-11
        X, y = GaussianStream(t, 8, dtype=np.float32, backend=b).take(300)
        assert f32_close(X, X64)
        assert np.max(np.abs(y - y64)) <= 1e-4


def test_labels_and_noise():
    t = MultiIndexTarget.separation(6, seed=1, noise=0.25)
    s = GaussianStream(t, 3, dtype=np.float64)
    X, y = s.take(100_000)
    n = len(y)
    eps = (y - t.f(X)) / 0.5  # noise is the variance: sigma = sqrt(0.25)
    assert abs(eps.mean()) < 5 / math.sqrt(n)
    assert abs(eps.var() - 1) < 5 * math.sqrt(2 / n)
    assert stats.kstest(eps, "norm").pvalue > 1e-4
    # independent of the inputs
    assert np.max(np.abs(eps @ X / n)) < 5 / math.sqrt(n)
    assert abs(np.corrcoef(eps, t.f(X))[0, 1]) < 5 / math.sqrt(n)
    # the noise is part of the stream: it comes back with the rows, and it is its own
    # Philox stream (2 s + 1), not a function of X
    assert s.noise_stream == 1 and s.x_stream == 0
    want = reference.gaussian_block(3, s.noise_stream, 0, 10, 1, np.float64)[:, 0]
    np.testing.assert_allclose(eps[:10], want, atol=1e-12)
    # noiseless targets give y = f(X) exactly
    t0 = MultiIndexTarget.separation(6, seed=1)
    X0, y0 = GaussianStream(t0, 3, dtype=np.float64).take(50)
    np.testing.assert_array_equal(y0, t0.f(X0))
    np.testing.assert_array_equal(X0, X[:50])


def test_splits_are_disjoint_streams_and_independent():
    t = MultiIndexTarget.single_index(10, "he2", noise=1.0)
    s = GaussianStream(t, 42, dtype=np.float64)
    assert s.split_name == "train"
    val, test = s.val(), s.test()
    assert (val.split_name, val.x_stream, val.noise_stream) == ("val", 2, 3)
    assert (test.split_name, test.x_stream, test.noise_stream) == ("test", 4, 5)
    assert s.split("val").x_stream == 2 and test.train().x_stream == 0
    n = 20_000
    Xs = {name: strm.take(n)[0] for name, strm in [("train", s), ("val", val), ("test", test)]}
    streams = {"train": 0, "val": 2, "test": 4}
    for name, X in Xs.items():
        np.testing.assert_allclose(X, reference.gaussian_block(42, streams[name], 0, n, 10, np.float64),
                                   atol=1e-12)
    names = list(Xs)
    for i in range(3):
        for j in range(i + 1, 3):
            A, B = Xs[names[i]], Xs[names[j]]
            # no row of one split appears in another
            assert not np.intersect1d(A[:, 0], B[:, 0]).size
            # row i of one split is uncorrelated with row i of another
            assert np.max(np.abs((A * B).mean(0))) < 5 / math.sqrt(n)
    # same seed, target and dtype; six distinct Philox streams
    for strm in (val, test):
        assert strm.seed == 42 and strm.target is t and strm.dtype == np.float64
    ids = [i for strm in (s, val, test) for i in (strm.x_stream, strm.noise_stream)]
    assert sorted(ids) == list(range(6))
    # the label noise of one split is uncorrelated with the noise of another
    splits = [("train", s), ("val", val), ("test", test)]
    eps = {name: strm.take(n)[1] - t.f(Xs[name]) for name, strm in splits}
    assert abs(np.mean(eps["train"] * eps["val"])) < 5 / math.sqrt(n)
    assert abs(np.mean(eps["train"] * eps["test"])) < 5 / math.sqrt(n)


def test_seeds_give_different_streams():
    t = MultiIndexTarget.separation(4)
    a = GaussianStream(t, 0).take(100)[0]
    b = GaussianStream(t, 1).take(100)[0]
    c = GaussianStream(t, 2**32).take(100)[0]  # the key's high word matters
    assert not np.array_equal(a, b) and not np.array_equal(a, c) and not np.array_equal(b, c)


def test_sample_is_the_stream():
    t = MultiIndexTarget.random(9, 2, 3, seed=2, noise=0.1)
    X, y = t.sample(64, seed=4)
    X2, y2 = GaussianStream(t, 4).take(64)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert X.dtype == np.float32


def test_stream_pickles():
    t = MultiIndexTarget.random(9, 2, 3, seed=2, noise=0.1)
    s = GaussianStream(t, 4, split="val", dtype=np.float64)
    u = pickle.loads(pickle.dumps(s))
    assert (u.seed, u.split_name, u.dtype, u.d) == (4, "val", np.float64, 9)
    for a, b in zip(u.take(20), s.take(20), strict=True):
        np.testing.assert_array_equal(a, b)
    assert "split='val'" in repr(u)


def test_peak_memory_is_set_by_the_chunk_size():
    t = MultiIndexTarget.separation(1000, seed=0, noise=0.5)
    s = GaussianStream(t, 1)

    def peak(n, chunk):
        tracemalloc.start()
        rows = 0
        for _X, y in s.chunks(0, n, chunk):
            rows += len(y)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert rows == n
        return top

    chunk_bytes = 512 * 1000 * 4
    small, large = peak(2_048, 512), peak(16_384, 512)
    assert large < 1.2 * small + 2**20  # 8x the rows, the same memory
    assert large < 4 * chunk_bytes
    assert peak(16_384, 4096) > 4 * chunk_bytes  # and the chunk size does set it


@pytest.mark.slow
def test_streams_a_million_rows_at_d_1000_in_bounded_memory():
    t = MultiIndexTarget.separation(1000, seed=0, noise=0.5)
    s = GaussianStream(t, 1)
    tracemalloc.start()
    rows, total = 0, 0.0
    for _X, y in s.chunks(0, 1_000_000, 8192):
        rows += len(y)
        total += float(np.sum(y, dtype=np.float64))
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rows == 1_000_000
    assert top < 4 * 8192 * 1000 * 4  # a few chunks of X (32 MiB each), not 4 GB
    assert abs(total / rows) < 5 * math.sqrt(1.5 / rows)  # E[y] = 0


def test_stream_validation():
    t = MultiIndexTarget.separation(4)
    with pytest.raises(TypeError, match="target must be a fastrep.MultiIndexTarget"):
        GaussianStream("he2", 0)
    with pytest.raises(ValueError, match="split must be one of"):
        GaussianStream(t, 0, split="holdout")
    with pytest.raises(ValueError, match="seed must be >= 0"):
        GaussianStream(t, -3)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        GaussianStream(t, 0, dtype=np.float16)
    with pytest.raises(ValueError, match="backend must be one of"):
        GaussianStream(t, 0, backend="gpu")
    s = GaussianStream(t, 0)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        next(s.chunks(0, 10, 0))
    with pytest.raises(ValueError, match="stop must be >= 5"):
        next(s.chunks(5, 4))
    with pytest.raises(ValueError, match="n must be >= 0"):
        s.take(-1)
    if fastrep.backends()["cupy"] != "available":
        with pytest.raises(fastrep.BackendUnavailableError, match="cupy"):
            GaussianStream(t, 0, backend="cupy")


@pytest.mark.gpu
def test_cupy_stream_matches_cpu():
    if fastrep.backends()["cupy"] != "available":
        pytest.skip(fastrep.backends()["cupy"])
    import cupy

    t = MultiIndexTarget.random(37, 3, 3, seed=2, noise=0.2)
    for dt in (np.float32, np.float64):
        s = GaussianStream(t, 11, dtype=dt, backend="cupy")
        X, y = s.take(2000, start=2**32 - 1000)
        assert isinstance(X, cupy.ndarray) and isinstance(y, cupy.ndarray) and X.dtype == dt
        Xr, yr = GaussianStream(t, 11, dtype=np.float64, backend="reference").take(2000, start=2**32 - 1000)
        if dt == np.float64:
            assert float(np.max(np.abs(X.get() - Xr))) <= 1e-12
            assert float(np.max(np.abs(y.get() - yr))) <= 1e-10
        else:
            assert f32_close(X.get(), Xr)
            assert float(np.max(np.abs(y.get() - yr))) <= 1e-4
        chunks = list(s.chunks(2**32 - 1000, 2**32 + 1000, 300))
        np.testing.assert_array_equal(cupy.concatenate([c[0] for c in chunks]).get(), X.get())


def test_generating_into_out_gives_the_same_rows(backend, dtype, rng):
    # a kept stream is generated straight into its buffer: out= must change nothing but where
    mod = get_backend(backend)
    xp = mod.xp if hasattr(mod, "xp") else np
    seed, stream, start = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**32)), int(rng.integers(0, 2**40))
    want = to_numpy(mod.gaussian_block(seed, stream, start, 37, 11, dtype))
    buf = xp.full((40, 11), float("nan"), dtype=dtype)
    got = mod.gaussian_block(seed, stream, start, 37, 11, dtype, out=buf[:37])
    np.testing.assert_array_equal(to_numpy(got), want)
    np.testing.assert_array_equal(to_numpy(buf[:37]), want)  # written into out, not elsewhere
    assert bool(xp.all(xp.isnan(buf[37:])))  # nothing outside out was written
    if xp is np:  # the specification takes out= too
        ref = reference.gaussian_block(seed, stream, start, 37, 11, dtype)
        np.testing.assert_array_equal(reference.gaussian_block(seed, stream, start, 37, 11, dtype,
                                                               out=np.empty((37, 11), dtype)), ref)
    for bad, err in (
        (xp.empty((37, 12), dtype=dtype), ValueError),  # shape
        (xp.empty((37, 11), dtype=np.float64 if dtype == np.float32 else np.float32), ValueError),
        (xp.empty((11, 37), dtype=dtype).T, ValueError),  # not C-contiguous
        ([[0.0] * 11] * 37, TypeError),
    ):
        with pytest.raises(err, match="out"):
            mod.gaussian_block(seed, stream, start, 37, 11, dtype, out=bad)


def test_stream_block_into_out_matches_block():
    target = MultiIndexTarget.single_index(9, "he2", noise=0.5, seed=3)
    for b in CPU:
        s = GaussianStream(target, 4, dtype=np.float32, backend=b)
        X, y = s.block(100, 50)
        buf = np.empty((50, 9), np.float32)
        X2, y2 = s.block(100, 50, out=buf)
        assert X2 is buf
        np.testing.assert_array_equal(X, X2)
        np.testing.assert_array_equal(y, y2)
