"""Type stubs of fastrep's compiled core (csrc/bindings.cpp). Private: use fastrep's public functions.

Every function is bound for float32 and float64 (the dtype of the arrays picks the overload);
arrays are not converted: each binding checks type, exact dtype, shape, C order, alignment,
writeability and overlap itself and raises TypeError/ValueError naming the argument (MemoryError
for a failed allocation). Every function releases the GIL while it computes.
"""

from typing import TypeVar

import numpy as np
import numpy.typing as npt

_F = TypeVar("_F", np.float32, np.float64)

openmp: bool
#: Largest Hermite order the kernels accept (fastrep._validation.MAX_DEGREE).
MAX_DEGREE: int

def kernel_from_inner(
    G: npt.NDArray[_F], q1: npt.NDArray[_F], q2: npt.NDArray[_F], inv_d: float, beta2: float, ntk: bool
) -> None:
    """In place: G = X1 X2^T (n1, n2) becomes the NTK (ntk) or NNGP kernel. q1 (n1,), q2 (n2,) hold
    |x|^2/d + beta^2; two empty arrays for a symmetric G (q read from its diagonal)."""

def kernel_from_inner_lower(G: npt.NDArray[_F], inv_d: float, beta2: float, ntk: bool) -> None:
    """In place: G (n, n) whose lower triangle (diagonal included) holds X X^T becomes the symmetric
    NTK (ntk) or NNGP kernel K(X, X), both triangles written; q read from the diagonal."""

def ntk_path() -> str:
    """The NTK/NNGP entry pass's code path on this CPU: "avx512", "avx2" or "generic"."""

def _set_ntk_path(path: int) -> str:
    """Tests and benchmarks only: force the NTK/NNGP entry pass's path for this process (0 portable,
    1 AVX2, 2 AVX-512, -1 the CPU's best) and return its name; a path the CPU lacks is a ValueError.
    Every path makes the same bits. Not thread-safe: set it before computing."""

def gaussian_block(seed: int, stream: int, start: int, out: npt.NDArray[_F]) -> None:
    """Rows start .. start + n - 1 of the normal stream (seed, stream) into out (n, d)."""

def gaussian_block_path() -> str:
    """The generator's code path on this CPU: "avx512", "avx2" or "generic" (the portable loop)."""

def _set_gaussian_block_path(path: int) -> str:
    """Tests and benchmarks only: force the generator's path for this process (0 portable, 1 AVX2,
    2 AVX-512, -1 the CPU's best) and return its name; a path the CPU lacks is a ValueError.
    Every path makes the same bits. Not thread-safe: set it before generating."""

def mask_scale(P: npt.NDArray[_F], b: npt.NDArray[_F], r: npt.NDArray[_F]) -> None:
    """In place, P (n, m): P[i, j] = r[i] if P[i, j] + b[j] > 0 else 0."""

def relu_bias(P: npt.NDArray[_F], b: npt.NDArray[_F], paired: bool, out: npt.NDArray[_F]) -> None:
    """out = relu(P + b) (n, h), or with ``paired`` [relu(P + b[:h]), relu(b[h:] - P)] (n, 2h)."""

def hermite_features(Z: npt.NDArray[_F], alphas: npt.NDArray[np.int32], out: npt.NDArray[_F]) -> None:
    """out[i, a] = prod_j h_{alphas[a, j]}(Z[i, j]) for Z (n, r), alphas (K, r), out (n, K)."""

def num_threads() -> int:
    """OpenMP threads the core will use."""
