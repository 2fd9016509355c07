"""The kernel layer: one module per backend, each exporting the same functions.

The contract (every function takes already-validated arrays; dtype float32 or float64;
outputs keep the input dtype and array library):

``hermite_features(Z, alphas, out=None)``
    Z (n, r), alphas (K, r) int32 -> (n, K) with out[i, a] = prod_j h_{alphas[a, j]}(Z[i, j]).

``gaussian_block(seed, stream, start, n, d, dtype)``
    -> (n, d) C-contiguous standard normals of ``dtype`` (NumPy on CPU backends, CuPy on
    cupy): rows start .. start+n-1 of the Philox4x32-10 + Box-Muller stream (seed, stream);
    row i depends only on (seed, stream, i). Used by ``fastrep.GaussianStream``.

The learners' and kernels' operations are added to this list as they land; see
``reference.py`` for the specification of each.
"""

CONTRACT = ("hermite_features", "gaussian_block",)
