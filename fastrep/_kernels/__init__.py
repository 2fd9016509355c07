"""The kernel layer: one module per backend, each exporting the same functions.

The contract (every function takes already-validated arrays; dtype float32 or float64;
outputs keep the input dtype and array library):

``hermite_features(Z, alphas, out=None)``
    Z (n, r), alphas (K, r) int32 -> (n, K) with out[i, a] = prod_j h_{alphas[a, j]}(Z[i, j]).

The learners' and kernels' operations are added to this list as they land; see
``reference.py`` for the specification of each.
"""

CONTRACT = ("hermite_features",)
