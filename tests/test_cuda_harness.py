"""The CUDA kernels run on the CPU: fastrep/_kernels/cuda/*.cu compiled by the system C++ compiler
under a small shim for __global__/blockIdx/threadIdx (tests/cpp/cuda_shim.hpp) and run over their
grids, thread after thread, by tests/cpp/cuda_harness.cpp.

Launches go through ``fastrep._kernels._cuda.Kernels``, the launch code the CuPy backend runs, and
the Gram and Algorithm 1 drivers (``_gram.GramDriver``, ``_dense.Driver``) on top of it, so this
checks the kernels' indexing, bounds and grid as well as the Python side's shapes and scalar
types: every argument is checked against the kernel's C signature (CuPy does not check them),
and every array is surrounded by guard cells that must survive the launch. Results are compared
with ``reference.py`` (tolerance per dtype) and with the C++ core, which calls the same scalar
functions and must agree bit for bit.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import fastrep
from fastrep import _ext
from fastrep._kernels import _cuda, _dense, _gram, reference
from tests.conftest import RTOL
from tests.test_cpp_embed import CXX, ROOT

HARNESS = ROOT / "tests" / "cpp" / "cuda_harness.cpp"

pytestmark = [
    pytest.mark.skipif(CXX is None, reason="no C++ compiler (c++, g++, clang++ or $CXX) on PATH"),
    pytest.mark.skipif(sys.platform == "win32", reason="the harness is built with gcc/clang flags"),
]

GUARD = 16  # cells of 0xAB bytes on each side of every array passed to a kernel


@functools.lru_cache(maxsize=None)
def harness_library() -> ctypes.CDLL:
    """The harness library, built once per process (in a temporary folder removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="fastrep-cuda-harness-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    lib = folder / "cuda_harness.so"
    # -ffp-contract=off as NVRTC's --fmad=false; warnings are errors so the kernels stay clean C++
    cmd = [CXX, "-std=c++17", "-O1", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
           f"-I{fastrep.get_include()}", f"-I{_cuda.SOURCE_DIR}", str(HARNESS), "-o", str(lib)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, f"compiling the CUDA harness failed: {' '.join(cmd)}\n{built.stderr}"
    return ctypes.CDLL(str(lib))


@pytest.fixture(scope="session")
def harness():
    return harness_library()


# --- the kernels' C signatures, read from the sources ------------------------------------------

_C_SCALARS = {
    "int": (np.int32, ctypes.c_int),
    "long long": (np.int64, ctypes.c_longlong),
    "unsigned int": (np.uint32, ctypes.c_uint),
    "unsigned long long": (np.uint64, ctypes.c_ulonglong),
}


@functools.lru_cache(maxsize=None)
def signature(kernel: str) -> list[str]:
    """The parameter types of ``kernel`` as written in its .cu file, e.g. ['const real_t*', 'long long']."""
    text = (_cuda.SOURCE_DIR / _cuda.KERNELS[kernel]).read_text()
    m = re.search(rf"FASTREP_GLOBAL\s+void\s+{kernel}\s*\(([^)]*)\)", text)
    assert m, f"{kernel} not found in {_cuda.KERNELS[kernel]}"
    types = []
    for param in m.group(1).split(","):
        words = param.replace("__restrict__", "").replace("*", " * ").split()
        types.append(" ".join(words[:-1]).replace(" *", "*"))  # drop the parameter's name
    return types


def _c_argument(kernel, ctype_name, declared, value, guarded):
    """The ctypes value for one argument, after checking it against the declared C type."""
    what = f"{kernel}: argument of C type {declared!r} got {type(value).__name__}"
    if declared.endswith("*"):
        base = declared.removeprefix("const ").removesuffix("*").strip()
        real = np.float32 if ctype_name == "float" else np.float64
        want = {"real_t": np.dtype(real), "int": np.dtype(np.int32)}[base]
        assert isinstance(value, np.ndarray), what
        assert value.dtype == want, f"{what} of dtype {value.dtype}, expected {want}"
        assert value.flags.c_contiguous, f"{what}: not C-contiguous (a raw kernel would misread it)"
        buf = np.empty(value.size + 2 * GUARD, dtype=value.dtype)
        buf.view(np.uint8)[:] = 0xAB
        buf[GUARD:-GUARD] = value.ravel()
        guarded.append((value, buf))
        return ctypes.c_void_p(buf.ctypes.data + GUARD * buf.itemsize)
    if declared == "real_t":
        want, cls = (np.float32, ctypes.c_float) if ctype_name == "float" else (np.float64, ctypes.c_double)
    else:
        want, cls = _C_SCALARS[declared]
    want = np.dtype(want)
    assert isinstance(value, np.generic) and value.dtype == want, f"{what}, expected {want}"
    return cls(value.item())


def harness_kernels(lib) -> _cuda.Kernels:
    """fastrep's CUDA launch code with NumPy arrays, launching the CPU-compiled kernels."""

    def launch(kernel, ctype_name, total, args):
        types = signature(kernel)
        assert len(args) == len(types), f"{kernel}: {len(args)} arguments for {len(types)} parameters"
        guarded = []
        cargs = [_c_argument(kernel, ctype_name, t, a, guarded) for t, a in zip(types, args, strict=True)]
        blocks = _cuda.blocks(total)
        if blocks:
            run = getattr(lib, f"{kernel}_{ctype_name}")
            run(ctypes.c_longlong(blocks), ctypes.c_uint(_cuda.THREADS), *cargs)
        for value, buf in guarded:
            pads = np.concatenate([buf[:GUARD], buf[-GUARD:]]).view(np.uint8)
            intact = bool(np.all(pads == 0xAB))
            assert intact, f"{kernel} wrote outside an array of {value.size} elements"
            value.ravel()[:] = buf[GUARD:-GUARD]  # c-contiguous: ravel is a view

    return _cuda.Kernels(np, launch)


@pytest.fixture(scope="session")
def kernels(harness):
    return harness_kernels(harness)


def _close(got, want, dtype, scale=None):
    scale = np.max(np.abs(want)) if scale is None else scale
    np.testing.assert_allclose(got, want, rtol=0, atol=RTOL[np.dtype(dtype)] * max(scale, 1.0))


DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]


# --- Hermite features ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,r,p", [(1, 1, 0), (37, 3, 4), (300, 2, 12)])
def test_cuda_hermite_features_on_cpu(kernels, rng, dtype, n, r, p):
    Z = (1.5 * rng.standard_normal((n, r))).astype(dtype)
    alphas = fastrep.multi_indices(r, p)
    got = kernels.hermite_features(Z, alphas)
    assert got.shape == (n, alphas.shape[0]) and got.dtype == dtype
    _close(got, reference.hermite_features(Z.astype(np.float64), alphas), dtype)
    cpu = np.empty_like(got)
    _ext.hermite_features(Z, np.ascontiguousarray(alphas, dtype=np.int32), cpu)
    np.testing.assert_array_equal(got, cpu)  # the same scalar recurrence on both targets


# --- the normal stream ---------------------------------------------------------------------------

STREAMS = [  # (seed, stream, start, n, d): words of the key and counter past 32 bits, ragged column groups
    (0, 0, 0, 5, 1),
    (12345, 3, 7, 40, 33),
    (2**63 - 1, 2**32 - 1, 2**32 - 9, 20, 6),
    (2**40 + 17, 1, 2**50, 9, 8),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed,stream,start,n,d", STREAMS)
def test_cuda_gaussian_block_on_cpu(kernels, dtype, seed, stream, start, n, d):
    got = kernels.gaussian_block(seed, stream, start, n, d, dtype)
    assert got.shape == (n, d) and got.dtype == dtype
    cpu = np.empty((n, d), dtype=dtype)
    _ext.gaussian_block(seed, stream, start, cpu)
    np.testing.assert_array_equal(got, cpu)  # bit for bit: the GPU's stream is the CPU's
    want = reference.gaussian_block(seed, stream, start, n, d, np.float64)
    tol = {np.float32: 1e-6, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_cuda_gaussian_rows_do_not_depend_on_the_block(kernels):
    whole = kernels.gaussian_block(99, 2, 0, 30, 10, np.float64)
    part = kernels.gaussian_block(99, 2, 11, 7, 10, np.float64)
    np.testing.assert_array_equal(part, whole[11:18])


# --- Algorithm 1's fused passes ------------------------------------------------------------------


def _onestep_inputs(rng, dtype, n=257, d=9, k=20):
    X = rng.standard_normal((n, d)).astype(dtype)
    W = (rng.standard_normal((k, d)) / np.sqrt(d)).astype(dtype)
    b = rng.standard_normal(2 * k).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    # rows whose pre-activations sit within rounding of a kink would flip an indicator between
    # float32 and the float64 reference; drop them (as the GPU check does)
    P = X.astype(np.float64) @ W.astype(np.float64).T
    keep = np.minimum(np.abs(P + b[:k]).min(1), np.abs(-P + b[k:]).min(1)) > 1e-3
    return np.ascontiguousarray(X[keep]), W, b, np.ascontiguousarray(y[keep])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_onestep_passes_on_cpu(kernels, rng, dtype):
    X, W, b, y = _onestep_inputs(rng, dtype)
    k = W.shape[0]
    drv = _dense.Driver(np, kernels.mask_scale, kernels.relu_bias)
    X64 = X.astype(np.float64)
    _close(drv.onestep_gradient(X, W, b[:k], y), reference.onestep_gradient(X64, W, b[:k], y), dtype)
    for paired, bb in ((True, b), (False, b[:k])):
        _close(drv.relu_features(X, W, bb, paired), reference.relu_features(X64, W, bb, paired), dtype)
        G, h = drv.feature_moments(X, W, bb, y, paired)
        G0, h0 = reference.feature_moments(X64, W, bb, y, paired)
        _close(np.tril(G), np.tril(G0), dtype)
        _close(h, h0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_onestep_primitives_match_the_cpp_core(kernels, rng, dtype):
    n, h = 45, 29  # n * 2h is not a multiple of the block size: the last block has idle threads
    P = rng.standard_normal((n, h)).astype(dtype)
    b = rng.standard_normal(2 * h).astype(dtype)
    r = rng.standard_normal(n).astype(dtype)
    got, cpu = P.copy(), P.copy()
    kernels.mask_scale(got, np.ascontiguousarray(b[:h]), r)
    _ext.mask_scale(cpu, np.ascontiguousarray(b[:h]), r)
    np.testing.assert_array_equal(got, cpu)
    for paired in (True, False):
        m = 2 * h if paired else h
        bb = b if paired else np.ascontiguousarray(b[:h])
        got, cpu = np.empty((n, m), dtype), np.empty((n, m), dtype)
        kernels.relu_bias(P, bb, paired, got)
        _ext.relu_bias(P, bb, paired, cpu)
        np.testing.assert_array_equal(got, cpu)
    inplace = P.copy()  # what _dense.Driver.relu_features does when unpaired
    kernels.relu_bias(inplace, np.ascontiguousarray(b[:h]), False, inplace)
    np.testing.assert_array_equal(inplace, np.maximum(P + b[:h], 0))


# --- NTK / NNGP Gram blocks ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_cuda_kernel_gram_on_cpu(kernels, rng, dtype, kind):
    drv = _gram.GramDriver(np, kernels.kernel_from_inner)
    X1 = rng.standard_normal((23, 7)).astype(dtype)
    X2 = rng.standard_normal((19, 7)).astype(dtype)
    X2[3] = -X1[5]  # u = -1 exactly: the clamp and the arccos singularity
    X2[4] = 2 * X1[0]
    A, B = X1.astype(np.float64), X2.astype(np.float64)
    _close(drv.kernel_gram(X1, X2, 0.7, kind), reference.kernel_gram(A, B, 0.7, kind), dtype)
    sym = drv.kernel_gram(X1, None, 0.7, kind)
    _close(sym, reference.kernel_gram(A, None, 0.7, kind), dtype)
    q = np.sum(A * A, axis=1) / 7 + 0.49
    _close(np.diag(sym), q if kind == "ntk" else q / 2, dtype)  # the exact diagonal
    V = rng.standard_normal(19).astype(dtype)
    want = reference.kernel_matvec(A, B, V.astype(np.float64), 0.7, kind, 5)
    _close(drv.kernel_matvec(X1, X2, V, 0.7, kind, 5), want, dtype)
    Z = np.zeros((4, 7), dtype)  # x = 0 with beta = 0: q = 0 and both kernels vanish
    assert np.all(drv.kernel_gram(Z, X1, 0.0, kind) == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ntk", [True, False])
def test_cuda_kernel_from_inner_matches_the_cpp_core(kernels, rng, dtype, ntk):
    X1 = rng.standard_normal((31, 5)).astype(dtype)
    X2 = rng.standard_normal((17, 5)).astype(dtype)
    inv_d, beta2 = dtype(1 / 5), dtype(0.3)
    q1 = (np.einsum("ij,ij->i", X1, X1) * inv_d + beta2).astype(dtype)
    q2 = (np.einsum("ij,ij->i", X2, X2) * inv_d + beta2).astype(dtype)
    got = np.ascontiguousarray(X1 @ X2.T)
    cpu = got.copy()
    kernels.kernel_from_inner(got, q1, q2, inv_d, beta2, ntk)
    _ext.kernel_from_inner(cpu, q1, q2, inv_d, beta2, ntk)
    np.testing.assert_array_equal(got, cpu)
    got = np.ascontiguousarray(X1 @ X1.T)  # symmetric: q from the diagonal, the diagonal exact
    cpu = got.copy()
    kernels.kernel_from_inner(got, None, None, inv_d, beta2, ntk)
    empty = np.empty(0, dtype)
    _ext.kernel_from_inner(cpu, empty, empty, inv_d, beta2, ntk)
    np.testing.assert_array_equal(got, cpu)


# --- the harness itself can fail ----------------------------------------------------------------


def test_cuda_harness_catches_a_wrong_scalar_type(kernels):
    with pytest.raises(AssertionError, match="long long"):
        kernels.launch("kernel_roots", "float", 3, (np.ones(3, np.float32), np.int32(3),
                                                     np.empty(3, np.float32), np.empty(3, np.float32)))


def test_cuda_harness_catches_a_write_out_of_bounds(kernels):
    q = np.ones(300, np.float32)
    r, ir = np.empty(299, np.float32), np.empty(300, np.float32)  # r one short: thread 299 writes past it
    with pytest.raises(AssertionError, match="wrote outside"):
        kernels.launch("kernel_roots", "float", 300, (q, np.int64(300), r, ir))
