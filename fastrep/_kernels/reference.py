"""The specification: plain NumPy in float64, written for clarity, not speed.

Every other backend (cpp, numba, cupy) is tested against these functions. Inputs of
any float dtype are computed in float64; results are cast back to the input dtype so
that the reference obeys the same "float32 stays float32" contract as the others.
"""

from __future__ import annotations

import numpy as np

name = "reference"


def hermite_table(z: np.ndarray, p: int) -> np.ndarray:
    """(p+1, *z.shape) float64 table of h_k(z) = He_k(z)/sqrt(k!), k = 0..p.

    Uses h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k+1): no monomials, no factorials.
    """
    z = np.asarray(z, dtype=np.float64)
    table = np.empty((p + 1,) + z.shape)
    table[0] = 1.0
    if p >= 1:
        table[1] = z
    for k in range(1, p):
        table[k + 1] = (z * table[k] - np.sqrt(k) * table[k - 1]) / np.sqrt(k + 1)
    return table


def hermite_features(Z, alphas, out=None):
    Z64 = np.asarray(Z, dtype=np.float64)
    alphas = np.asarray(alphas)
    p = int(alphas.max()) if alphas.size else 0
    tables = [hermite_table(Z64[:, j], p) for j in range(Z64.shape[1])]
    res = np.ones((Z64.shape[0], alphas.shape[0]))
    for a, alpha in enumerate(alphas):
        for j, k in enumerate(alpha):
            res[:, a] *= tables[j][k]
    if out is None:
        return res.astype(Z.dtype, copy=False)
    out[...] = res
    return out
