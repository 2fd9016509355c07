"""The CuPy backend: CUDA kernels for CuPy arrays. Imported only when CuPy and a device work.

Dense algebra goes to cuBLAS/cuSOLVER through CuPy; the kernels here do the fused
elementwise work. Each kernel source is written once with a ``real_t`` placeholder and
compiled for float and double on first use (CuPy caches the binaries on disk).
"""

from __future__ import annotations

import contextlib
import functools

import cupy as cp
import numpy as np

name = "cupy"

_THREADS = 256


def _ctype(dtype) -> str:
    return {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(dtype)]


@functools.lru_cache(maxsize=None)
def _raw(source: str, fn: str, dtype_name: str) -> cp.RawKernel:
    code = "typedef " + dtype_name + " real_t;\n" + source
    return cp.RawKernel(code, fn, options=("--std=c++14",))


def _launch(kernel, total, args):
    blocks = (int(total) + _THREADS - 1) // _THREADS
    if blocks:
        kernel((blocks,), (_THREADS,), args)


_HERMITE_SRC = r"""
extern "C" __global__ void hermite_features(const real_t* __restrict__ Z, const int* __restrict__ alphas,
                                            long long n, long long r, long long K, real_t* __restrict__ out) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n * K) return;
    long long i = t / K, a = t - i * K;
    real_t v = 1;
    for (long long j = 0; j < r; ++j) {
        int deg = alphas[a * r + j];
        real_t z = Z[i * r + j];
        real_t hm1 = 1, h = z;
        if (deg == 0) { h = 1; }
        for (int k = 1; k < deg; ++k) {
            real_t hn = (z * h - sqrt((real_t)k) * hm1) / sqrt((real_t)(k + 1));
            hm1 = h; h = hn;
        }
        v *= h;
    }
    out[t] = v;
}
"""


def hermite_features(Z, alphas, out=None):
    Z = cp.ascontiguousarray(Z)
    a = cp.asarray(np.ascontiguousarray(alphas, dtype=np.int32))
    n, r = Z.shape
    K = a.shape[0]
    if out is None:
        out = cp.empty((n, K), dtype=Z.dtype)
    k = _raw(_HERMITE_SRC, "hermite_features", _ctype(Z.dtype))
    _launch(k, n * K, (Z, a, np.int64(n), np.int64(r), np.int64(K), out))
    return out


# --- Algorithm 1: fused passes as elementwise kernels; cuBLAS for the products ----------
_mask_scale_k = cp.ElementwiseKernel(
    "raw T b, raw T r, int64 m", "T p",
    "p = (p + b[i % m] > (T)0) ? r[i / m] : (T)0;",
    "fastrep_mask_scale",
)
_relu_pair_k = cp.ElementwiseKernel(
    "raw T P, raw T b, int64 h, bool paired", "T out",
    """
    long long m = paired ? 2 * h : h;
    long long row = i / m, j = i % m;
    T v = (j < h) ? P[row * h + j] + b[j] : b[j] - P[row * h + (j - h)];
    out = v > (T)0 ? v : (T)0;
    """,
    "fastrep_relu_bias",
)


def _mask_scale(P, b, r):
    _mask_scale_k(b, r, np.int64(P.shape[1]), P)


def _relu_bias(P, b, paired, out):
    _relu_pair_k(P, b, np.int64(P.shape[1]), bool(paired), out)


def _syrk_gpu(Phi, G):
    # A full GEMM rather than cupy.cublas.syrk: SYRK's triangle convention under C order could
    # not be verified on a device yet, and a GEMM fills both triangles whatever it is.
    G += Phi.T @ Phi
    return G


from . import _dense, _gram  # noqa: E402

_driver = _dense.Driver(cp, _mask_scale, _relu_bias, syrk=_syrk_gpu)
onestep_gradient = _driver.onestep_gradient
relu_features = _driver.relu_features
feature_moments = _driver.feature_moments


# One thread per (row, column group) cell: one Philox4x32-10 call, Box-Muller in double,
# cast to real_t. sincospi(2u) keeps the angle exact (2u is exact); see reference.gaussian_block.
_GAUSSIAN_SRC = r"""
extern "C" __global__ void gaussian_block(unsigned int key0, unsigned int key1, unsigned int stream,
                                          unsigned long long start, long long n, long long d,
                                          real_t* __restrict__ out) {
    long long G = (d + 3) / 4;
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n * G) return;
    long long i = t / G, g = t - i * G;
    unsigned long long row = start + (unsigned long long)i;
    unsigned int x0 = (unsigned int)row, x1 = (unsigned int)(row >> 32), x2 = (unsigned int)g, x3 = stream;
    unsigned int k0 = key0, k1 = key1;
    for (int rnd = 0; rnd < 10; ++rnd) {
        if (rnd) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        unsigned int hi0 = __umulhi(0xD2511F53u, x0), lo0 = 0xD2511F53u * x0;
        unsigned int hi1 = __umulhi(0xCD9E8D57u, x2), lo1 = 0xCD9E8D57u * x2;
        unsigned int n0 = hi1 ^ x1 ^ k0, n2 = hi0 ^ x3 ^ k1;
        x0 = n0; x1 = lo1; x2 = n2; x3 = lo0;
    }
    const double two_m32 = 2.3283064365386962890625e-10;  // 2^-32
    double r01 = sqrt(-2.0 * log(((double)x0 + 0.5) * two_m32));
    double r23 = sqrt(-2.0 * log(((double)x2 + 0.5) * two_m32));
    double s1, c1, s3, c3;
    sincospi(2.0 * (((double)x1 + 0.5) * two_m32), &s1, &c1);
    sincospi(2.0 * (((double)x3 + 0.5) * two_m32), &s3, &c3);
    long long col = 4 * g;
    real_t* o = out + i * d + col;
    o[0] = (real_t)(r01 * c1);
    if (col + 1 < d) o[1] = (real_t)(r01 * s1);
    if (col + 2 < d) o[2] = (real_t)(r23 * c3);
    if (col + 3 < d) o[3] = (real_t)(r23 * s3);
}
"""


def gaussian_block(seed, stream, start, n, d, dtype):
    """Rows start .. start+n-1 of the normal stream (seed, stream), generated on the device."""
    out = cp.empty((n, d), dtype=dtype)
    k = _raw(_GAUSSIAN_SRC, "gaussian_block", _ctype(dtype))
    G = (d + 3) // 4
    _launch(k, n * G, (np.uint32(seed & 0xFFFFFFFF), np.uint32(seed >> 32), np.uint32(stream),
                       np.uint64(start), np.int64(n), np.int64(d), out))
    return out


# --- NTK / NNGP Gram blocks: a cuBLAS product, then this fused pass (see _gram.py, ntk.hpp) ---
# One thread per entry. u is clamped to [-1, 1]; pi - arccos(u) is taken as acos(-u) (accurate
# near u = -1) and 1 - u^2 as (1 - |u|)(1 + |u|), exact near |u| = 1. The symmetric case first
# copies q off G's diagonal with the same expression used for c, so u_ii == 1 exactly.
_NTK_SRC = r"""
// (g + d beta^2) / d as an add then a multiply: nvcc may not fuse it into an FMA in one kernel
// and not the other, so c_ii == q_i bit for bit.
__device__ __forceinline__ real_t fastrep_inner_to_c(real_t g, real_t inv_d, real_t d_beta2) {
    return (g + d_beta2) * inv_d;
}
extern "C" __global__ void kernel_diag_q(const real_t* __restrict__ G, long long n, real_t inv_d, real_t d_beta2,
                                         real_t* __restrict__ q) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) q[i] = fastrep_inner_to_c(G[i * n + i], inv_d, d_beta2);
}
extern "C" __global__ void kernel_from_inner(real_t* __restrict__ G, const real_t* __restrict__ q1,
                                             const real_t* __restrict__ q2, long long n1, long long n2,
                                             real_t inv_d, real_t d_beta2, real_t w) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n1 * n2) return;
    long long i = t / n2, j = t - i * n2;
    const real_t one = 1, zero = 0;
    real_t c = fastrep_inner_to_c(G[t], inv_d, d_beta2);
    real_t s = sqrt(q1[i] * q2[j]);
    real_t u = s > zero ? c / s : zero;  // s == 0 only for x = 0 with beta = 0
    u = fmin(fmax(u, -one), one);
    real_t a = fabs(u);
    real_t phi = acos(-u);
    real_t sin_t = sqrt((one - a) * (one + a));
    G[t] = (s * sin_t + w * phi * c) * (real_t)0.15915494309189533577;
}
"""


def _kernel_from_inner(G, q1, q2, inv_d, beta2, ntk):
    dt = G.dtype.type
    n1, n2 = G.shape
    d_beta2 = dt(beta2) / dt(inv_d)
    if q1 is None:
        q1 = q2 = cp.empty(n1, dtype=G.dtype)
        _launch(_raw(_NTK_SRC, "kernel_diag_q", _ctype(G.dtype)), n1, (G, np.int64(n1), dt(inv_d), d_beta2, q1))
    k = _raw(_NTK_SRC, "kernel_from_inner", _ctype(G.dtype))
    _launch(k, n1 * n2, (G, q1, q2, np.int64(n1), np.int64(n2), dt(inv_d), d_beta2, dt(2.0 if ntk else 1.0)))


_gram_driver = _gram.GramDriver(cp, _kernel_from_inner)
kernel_gram = _gram_driver.kernel_gram
kernel_matvec = _gram_driver.kernel_matvec
kernel_normal_matvec = _gram_driver.kernel_normal_matvec


@contextlib.contextmanager
def tf32():
    """Let cuBLAS run float32 products on TF32 tensor cores inside the block (opt-in precision)."""
    from cupy._core import _routines_linalg as _linalg

    old = _linalg.get_compute_type(np.float32)
    _linalg.set_compute_type(np.float32, _linalg.COMPUTE_TYPE_TF32)
    try:
        yield
    finally:
        _linalg.set_compute_type(np.float32, old)
