"""The kernel layer: one module per backend, each exporting the same names (the Ops contract).

Every backend module (``reference``, ``cpp``, ``numba``, ``cupy``) exports every name in
:data:`CONTRACT`. Functions take already-validated arrays; dtype float32 or float64; outputs
keep the input dtype and array library.

Array handling (:data:`ARRAY_OPS`)
    ``name``: the backend's name. ``namespace(*arrays)``: the array namespace the module works
    on for these arrays (NumPy for cpp/numba, CuPy for cupy, the inputs' own namespace for the
    reference, via array-api-compat); ``TypeError`` on arrays it cannot take or on a mix of
    libraries. ``asarray(a, dtype=None)``, ``to_host(a) -> numpy.ndarray``, ``precision(mode)``
    (a context manager for the dense products: 'highest' everywhere, 'tf32' only on cupy, else a
    ``ValueError`` naming ``precision``).

Dense linear algebra (:data:`LINALG_OPS`)
    ``cholesky(A, *, jitter=0.0, escalate=True, overwrite_a=False, what=...) -> (L, jitter_used)``:
    lower L with L L^T = A + jitter_used I. A failed factorization is retried with escalating
    jitter and a :class:`JitterWarning` (unless ``escalate=False``); when it cannot succeed,
    ``numpy.linalg.LinAlgError`` (a ``ValueError``). Never a silent NaN.
    ``solve_triangular(L, B, *, lower=True, trans=False)``: L^-1 B (L^-T B with ``trans``).
    ``cho_solve(L, B)``: (L L^T)^-1 B. ``eigh(A) -> (w, V)``: ascending eigenvalues and
    eigenvectors of the symmetric A (its lower triangle), on a thread count that is safe and fast.
    ``nystrom_preconditioner(K, *, jitter, what=...)``: Falkon's two triangular factors of the
    centres' kernel matrix K (consumed), with ``set_ridge(lam)``, ``solve_T(v, trans)``,
    ``solve_A(v, trans)`` and ``matrices`` (M x M arrays held: 1 in the CPU backends' packed
    layout, 2 elsewhere); see ``_falkon.py``. Large symmetric products and factorizations of the
    CPU backends go through ``_blas.py``, which keeps every BLAS call below the orders where
    OpenBLAS's threaded SYRK/POTRF crash.

The hot operations (:data:`HOT_OPS`)

``hermite_features(Z, alphas, out=None)``
    Z (n, r), alphas (K, r) int32 -> (n, K) with out[i, a] = prod_j h_{alphas[a, j]}(Z[i, j]).

``gaussian_block(seed, stream, start, n, d, dtype, out=None)``
    -> (n, d) C-contiguous standard normals of ``dtype`` (NumPy on CPU backends, CuPy on
    cupy): rows start .. start+n-1 of the Philox4x32-10 + Box-Muller stream (seed, stream);
    row i depends only on (seed, stream, i). Written into ``out`` when given (a C-contiguous,
    writeable (n, d) array of that library and dtype, validated by ``check_out``). Used by
    ``fastrep.GaussianStream``.

``onestep_gradient(X, W, b, r, acc=None)``, ``relu_features(X, W, b, paired, out=None)``,
``feature_moments(X, W, b, y, paired, G=None, h=None)``
    The sums of Algorithm 1; see ``reference.py``.

``kernel_gram(X1, X2, beta, kind, out=None)``
    X1 (n1, d), X2 (n2, d) or None (meaning X1; the diagonal is then exact), kind 'ntk' or
    'nngp' -> (n1, n2) NTK or NNGP Gram block in X1's dtype: one BLAS product X1 @ X2.T, then
    one fused elementwise pass in place (float32 arithmetic for float32). See ``_gram.py``.

``kernel_matvec(X, C, V, beta, kind, block_rows)``
    X (n, d), C (M, d), V (M,) or (M, k) -> K(X, C) @ V, block_rows rows of X at a time, so
    no (n, M) matrix ever exists. Used by the Nystrom solver and blocked predictions.

``kernel_normal_matvec(X, C, V, beta, kind, block_rows, W=None)``
    K^T (K V + W) for K = K(X, C), V (M,)/(M, k) or None, W (n,)/(n, k) or None, blocked the
    same way; float64 result (accumulated over blocks). The Nystrom/CG solver's product.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._warnings import user_stacklevel

ARRAY_OPS = ("namespace", "asarray", "to_host", "precision")
LINALG_OPS = ("cholesky", "solve_triangular", "cho_solve", "eigh", "nystrom_preconditioner")
HOT_OPS = (
    "hermite_features",
    "gaussian_block",
    "onestep_gradient",
    "relu_features",
    "feature_moments",
    "kernel_gram",
    "kernel_matvec",
    "kernel_normal_matvec",
)
#: Every name a backend module exports.
CONTRACT = ("name",) + ARRAY_OPS + LINALG_OPS + HOT_OPS

#: Attempts of a Cholesky factorization with escalating jitter before giving up.
JITTER_ATTEMPTS = 5


class JitterWarning(RuntimeWarning):
    """A Cholesky factorization failed and was retried with jitter added to the diagonal.

    A ``RuntimeWarning`` of the exact kernel solver (``solver='cholesky'``) and of the
    Nystrom preconditioner: the matrix was not numerically positive definite, so a small
    multiple of its mean diagonal was added (n eps scale first, then 100 times more at each
    failure). The fit is still valid; the message gives the jitter used. Turn it into an
    error with ``warnings.simplefilter("error", fastrep.JitterWarning)``.

    Its message says what was factorized and the jitter added.

    Examples
    --------
    The jitter schedule every backend's Cholesky shares, on a matrix of rank 1:

    >>> import warnings, numpy as np, fastrep
    >>> from fastrep._kernels import cholesky_with_jitter
    >>> A = np.ones((3, 3))
    >>> def factor(jitter):
    ...     try:
    ...         return np.linalg.cholesky(A + jitter * np.eye(3))
    ...     except np.linalg.LinAlgError:
    ...         return None
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     L, jitter = cholesky_with_jitter(factor, 3, 1.0, np.finfo(float).eps)
    >>> caught[0].category is fastrep.JitterWarning, bool(jitter > 0)
    (True, True)
    """


def cholesky_with_jitter(factor, n, scale, eps, jitter=0.0, *, escalate=True, what="the matrix"):
    """The jitter schedule every backend's ``cholesky`` shares.

    ``factor(j)`` factorizes A + j I and returns L, or None when A + j I is not numerically
    positive definite. The first attempt uses j = ``jitter``; each failure adds more, first
    ``n eps scale`` (scale: the mean diagonal), then 100 times the previous addition, with a
    :class:`JitterWarning`; after :data:`JITTER_ATTEMPTS`
    attempts, or at the first failure with ``escalate=False``, ``numpy.linalg.LinAlgError``.
    Returns (L, jitter used).
    """
    base, extra = float(jitter), 0.0
    for attempt in range(JITTER_ATTEMPTS):
        L = factor(base + extra)
        if L is not None:
            return L, base + extra
        if not escalate or attempt == JITTER_ATTEMPTS - 1:
            break
        extra = max(n * eps * scale, 1e-300) if extra == 0.0 else extra * 100.0
        warnings.warn(
            f"the Cholesky factorization of {what} failed (not numerically positive definite); "
            f"retrying with jitter {extra:.3g} added to the diagonal",
            JitterWarning,
            stacklevel=user_stacklevel(),
        )
    if not escalate:
        raise np.linalg.LinAlgError(f"{what} is not numerically positive definite (Cholesky failed)")
    raise np.linalg.LinAlgError(f"the Cholesky factorization of {what} failed even with jitter {extra:.3g}")


def symmetrize_lower(xp, A, block: int = 256):
    """Copy the strict lower triangle of the square ``A`` onto its upper one, in place.

    Blockwise, so the temporaries are (block, block) and (block, n) whatever n is:
    ``tril(A) + tril(A, -1).T`` makes three n x n arrays, fresh pages each
    (benchmarks/RESULTS_ONESTEP.md, "Symmetrizing the Gram").

    Parameters
    ----------
    xp : module
        The array namespace of ``A`` (``numpy``, ``cupy``, or an array-API namespace).
    A : array of shape (n, n), float32 or float64
        The matrix, of which only the lower triangle (diagonal included) is read; overwritten.
    block : int, default 256
        Rows per block, >= 1.

    Returns
    -------
    array of shape (n, n)
        ``A`` itself, now symmetric.

    Raises
    ------
    None
        The caller passes a square matrix of ``xp``; nothing is checked.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrep.ridge import symmetrize_lower
    >>> A = np.tril(np.arange(9.0).reshape(3, 3))
    >>> symmetrize_lower(np, A, block=2)
    array([[0., 3., 6.],
           [3., 4., 7.],
           [6., 7., 8.]])
    """
    n = A.shape[0]
    for s in range(0, n, block):
        e = min(s + block, n)
        blk = A[s:e, s:e]
        A[s:e, s:e] = xp.tril(blk) + xp.tril(blk, k=-1).T
        if e < n:
            A[s:e, e:] = A[e:, s:e].T
    return A


def cpu_precision(name, mode):
    """``precision(mode)`` of a CPU backend: 'highest' only (TF32 is a GPU tensor-core mode)."""
    import contextlib

    if mode == "highest":
        return contextlib.nullcontext()
    if mode == "tf32":
        raise ValueError(
            "precision='tf32' needs backend='cupy' and dtype=float32 (TF32 is a GPU tensor-core mode); "
            f"got backend {name!r}"
        )
    raise ValueError(f"precision must be 'highest' or 'tf32'; got {mode!r}")
