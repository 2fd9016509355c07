"""The kernel layer: one module per backend, each exporting the same functions.

The contract (every function takes already-validated arrays; dtype float32 or float64;
outputs keep the input dtype and array library):

``hermite_features(Z, alphas, out=None)``
    Z (n, r), alphas (K, r) int32 -> (n, K) with out[i, a] = prod_j h_{alphas[a, j]}(Z[i, j]).

``gaussian_block(seed, stream, start, n, d, dtype)``
    -> (n, d) C-contiguous standard normals of ``dtype`` (NumPy on CPU backends, CuPy on
    cupy): rows start .. start+n-1 of the Philox4x32-10 + Box-Muller stream (seed, stream);
    row i depends only on (seed, stream, i). Used by ``fastrep.GaussianStream``.

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

The learners' and kernels' operations are added to this list as they land; see
``reference.py`` for the specification of each.
"""

CONTRACT = ("hermite_features", "gaussian_block", "kernel_gram", "kernel_matvec", "kernel_normal_matvec",)
