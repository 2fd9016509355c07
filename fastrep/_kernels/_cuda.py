"""The CUDA sources of the CuPy backend, as NVRTC compiles them. Needs neither CuPy nor a device.

The kernels live in ``fastrep/_kernels/cuda/*.cu`` and include the scalar formulas of the C++
core (``csrc/include/fastrep/scalar_*.hpp``, found with :func:`fastrep.get_include`), so a GPU
and a CPU evaluate the same expressions. Each source is compiled for ``real_t`` = float and
double. This module is the one place that says how: the prelude, the options and the launch
grid. ``cupy.py`` launches with it, the NVRTC compile tests compile exactly :func:`source` with
:func:`options`, and the CPU harness (tests/cpp/cuda_harness.cpp) runs the same files over the
grid :func:`blocks` gives.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from .._include import get_include
from .._validation import check_out

#: threads per block of every launch (one-dimensional grids, one thread per output cell)
THREADS = 256

#: kernel name -> the file in fastrep/_kernels/cuda/ that defines it
KERNELS = {
    "hermite_features": "hermite.cu",
    "gaussian_block": "philox.cu",
    "mask_scale": "onestep.cu",
    "relu_bias": "onestep.cu",
    "kernel_diag_q": "ntk.cu",
    "kernel_roots": "ntk.cu",
    "kernel_from_inner": "ntk.cu",
}

#: float and double, the two instantiations of every source
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

# --fmad=false: no contraction to FMA, as the C++ headers (FASTREP_FP_BEGIN), so the device's
# bits equal the CPU's (the normal stream above all). Division and sqrt stay IEEE (NVRTC's default).
_FLAGS = ("--std=c++17", "--fmad=false")

#: what CuPy's RawKernel appends to every option list (and, coming last, wins): float32 results
#: below 2^-126 are flushed to zero on the device. Bit-identity with the CPU therefore holds for
#: float32 values of normal magnitude; the stream's double arithmetic is not affected.
CUPY_APPENDED_OPTIONS = ("-ftz=true",)

SOURCE_DIR = Path(__file__).resolve().parent / "cuda"


def ctype(dtype) -> str:
    """'float' or 'double' for a float32/float64 dtype; TypeError for anything else."""
    try:
        return CTYPES[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"dtype must be float32 or float64 for the CUDA kernels; got {dtype!r}") from None


def files() -> list[str]:
    """The CUDA source files, sorted."""
    return sorted(set(KERNELS.values()))


@functools.lru_cache(maxsize=None)
def _headers_digest() -> str:
    # CuPy caches binaries by source text and options only: the digest of the included headers
    # in the source makes an edited header recompile instead of reusing a stale binary.
    h = hashlib.sha256()
    for p in sorted((Path(get_include()) / "fastrep").glob("*.hpp")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def prelude(dtype_name: str) -> str:
    """The lines put in front of every source: real_t, the kernel linkage, the headers' digest."""
    if dtype_name not in ("float", "double"):
        raise ValueError(f"dtype_name must be 'float' or 'double'; got {dtype_name!r}")
    return (f"// fastrep headers {_headers_digest()}\n"
            f"typedef {dtype_name} real_t;\n"
            '#define FASTREP_GLOBAL extern "C" __global__\n')


@functools.lru_cache(maxsize=None)
def source(file: str, dtype_name: str) -> str:
    """The full NVRTC source of ``file`` (e.g. 'philox.cu') for real_t = ``dtype_name``."""
    if file not in files():
        raise ValueError(f"file must be one of {files()}; got {file!r}")
    # #line: compiler messages name the .cu file and its own line numbers
    return prelude(dtype_name) + f'#line 1 "{file}"\n' + (SOURCE_DIR / file).read_text()


def options() -> tuple[str, ...]:
    """NVRTC options of every source (an architecture is added by CuPy or by the compile tests)."""
    return (*_FLAGS, f"-I{get_include()}")


def blocks(total: int) -> int:
    """Blocks of :data:`THREADS` threads covering ``total`` cells (0 when there is nothing to do)."""
    total = int(total)
    if total < 0:
        raise ValueError(f"total must be >= 0; got {total}")
    return (total + THREADS - 1) // THREADS


class Kernels:
    """The Python side of every CUDA kernel: shapes, scalar types and grids, for one array library.

    ``xp`` is CuPy for the device (cupy.py) or NumPy for the CPU harness of the tests, and
    ``launch(kernel, dtype_name, total, args)`` runs ``kernel`` over ``blocks(total)`` blocks of
    ``THREADS`` threads. Arrays passed to a kernel are C-contiguous; scalars are NumPy scalars of
    the C parameter's type, as CuPy's RawKernel wants them.
    """

    def __init__(self, xp, launch):
        self.xp = xp
        self.launch = launch

    def hermite_features(self, Z, alphas, out=None):
        """Z (n, r) float -> out (n, K) of prod_j h_{alphas[a, j]}(Z[i, j]); alphas (K, r) ints."""
        xp = self.xp
        Z = xp.ascontiguousarray(Z)
        a = xp.asarray(np.ascontiguousarray(alphas, dtype=np.int32))
        n, r = Z.shape
        K = a.shape[0]
        if out is None:
            out = xp.empty((n, K), dtype=Z.dtype)
        self.launch("hermite_features", ctype(Z.dtype), n * K,
                    (Z, a, np.int64(n), np.int64(r), np.int64(K), out))
        return out

    def gaussian_block(self, seed, stream, start, n, d, dtype, out=None):
        """Rows start .. start+n-1 of the normal stream (seed, stream): (n, d) of dtype, into
        ``out`` when given (a C-contiguous (n, d) array of this library and dtype)."""
        if out is None:
            out = self.xp.empty((n, d), dtype=dtype)
        else:  # the empty array names the library out must belong to
            out = check_out(out, (n, d), dtype, self.xp.empty(0, dtype=dtype))
        G = (d + 3) // 4
        self.launch("gaussian_block", ctype(dtype), n * G,
                    (np.uint32(seed & 0xFFFFFFFF), np.uint32(seed >> 32), np.uint32(stream), np.uint64(start),
                     np.int64(n), np.int64(d), out))
        return out

    def mask_scale(self, P, b, r):
        """In place on P (n, m): P[i, j] = r[i] 1[P[i, j] + b[j] > 0] (the _dense.Driver primitive)."""
        n, m = P.shape
        self.launch("mask_scale", ctype(P.dtype), n * m, (P, b, r, np.int64(n), np.int64(m)))

    def relu_bias(self, P, b, paired, out):
        """out = relu(P + b), or the paired (n, 2h) features (the _dense.Driver primitive)."""
        n, h = P.shape
        self.launch("relu_bias", ctype(P.dtype), out.size,
                    (P, b, np.int64(n), np.int64(h), np.int32(bool(paired)), out))

    def kernel_from_inner(self, G, q1, q2, inv_d, beta2, ntk):
        """In place on G (n1, n2) = X1 X2^T: the NTK or NNGP block (the _gram.GramDriver primitive)."""
        xp = self.xp
        dt = G.dtype.type
        ct = ctype(G.dtype)
        n1, n2 = G.shape
        d_beta2 = dt(beta2) / dt(inv_d)
        symmetric = q1 is None
        if symmetric:
            q1 = q2 = xp.empty(n1, dtype=G.dtype)
            self.launch("kernel_diag_q", ct, n1, (G, np.int64(n1), dt(inv_d), d_beta2, q1))
        roots = []
        for q in (q1, q2):
            r, ir = xp.empty_like(q), xp.empty_like(q)
            self.launch("kernel_roots", ct, q.size, (q, np.int64(q.size), r, ir))
            roots += [r, ir]
        self.launch("kernel_from_inner", ct, n1 * n2,
                    (G, np.int64(n1), np.int64(n2), *roots, q1, dt(inv_d), d_beta2, np.int32(bool(ntk)),
                     np.int32(symmetric)))
