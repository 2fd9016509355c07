// NTK / NNGP Gram blocks on the device: G (n1, n2) = X1 X2^T from cuBLAS becomes K in place, with
// scalar_ntk.hpp's entry (ntk.hpp documents the formulas). Three passes, as on the CPU:
//   kernel_diag_q      symmetric case: q_i = c_ii from G's diagonal, before it is overwritten
//   kernel_roots       r = sqrt(q), ir = 1/sqrt(q) per row
//   kernel_from_inner  one thread per entry; in the symmetric case the diagonal gets its exact value
// real_t and FASTREP_GLOBAL come from the prelude fastrep/_kernels/_cuda.py puts in front.
#include <fastrep/scalar_ntk.hpp>

FASTREP_GLOBAL void kernel_diag_q(const real_t* __restrict__ G, long long n, real_t inv_d, real_t d_beta2,
                                  real_t* __restrict__ q) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) q[i] = fastrep::detail::inner_to_c(G[i * n + i], inv_d, d_beta2);
}

FASTREP_GLOBAL void kernel_roots(const real_t* __restrict__ q, long long n, real_t* __restrict__ r,
                                 real_t* __restrict__ ir) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) fastrep::detail::root_pair(q[i], r + i, ir + i);
}

// q1 is read only when symmetric (then n1 == n2 and q1 is the diagonal's q).
FASTREP_GLOBAL void kernel_from_inner(real_t* __restrict__ G, long long n1, long long n2,
                                      const real_t* __restrict__ r1, const real_t* __restrict__ ir1,
                                      const real_t* __restrict__ r2, const real_t* __restrict__ ir2,
                                      const real_t* __restrict__ q1, real_t inv_d, real_t d_beta2, int ntk,
                                      int symmetric) {
  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n1 * n2) return;
  const long long i = t / n2, j = t - i * n2;
  using fastrep::detail::kernel_diagonal;
  using fastrep::detail::kernel_entry;
  if (symmetric && i == j) {
    G[t] = ntk ? kernel_diagonal<real_t, true>(q1[i]) : kernel_diagonal<real_t, false>(q1[i]);
    return;
  }
  const real_t c = fastrep::detail::inner_to_c(G[t], inv_d, d_beta2);
  G[t] = ntk ? kernel_entry<real_t, true>(c, r1[i], ir1[i], r2[j], ir2[j])
             : kernel_entry<real_t, false>(c, r1[i], ir1[i], r2[j], ir2[j]);
}
