// The two-layer ReLU NTK and NNGP (random-features) kernels, as a fused elementwise pass
// over a matrix of inner products.
//
// Standard parametrization with first-layer bias (the paper): with
//     q(x) = |x|^2/d + beta^2,  c = x.x'/d + beta^2,  s = sqrt(q(x) q(x')),  u = c/s,
// and phi = pi - arccos(u), sin(theta) = sqrt(1 - u^2),
//     NNGP(x, x') = (s sin(theta) +   phi c) / (2 pi)   = 1/2 s kappa_1(u)
//     NTK(x, x')  = (s sin(theta) + 2 phi c) / (2 pi)   = 1/2 [s kappa_1(u) + c kappa_0(u)].
//
// kernel_from_inner() turns G = X1 X2^T (computed by BLAS) into K in place. It does the
// arithmetic in T (float stays float), and is careful where the kernel is ill-conditioned:
//   * u is clamped to [-1, 1], so rounding in G can never produce NaN;
//   * 1 - u^2 is formed from 1 - |u|, which is exact for |u| >= 1/2;
//   * arccos(a) = 2 asin(sqrt((1 - a)/2)), so the square-root singularity at u = +-1 is taken
//     analytically (from 1 - |u|, exact near 1), not by a polynomial;
//   * in the symmetric case (q from G's own diagonal) the diagonal is set to its exact value.
// asin is a polynomial (no libm call) and nothing branches, so the inner loop vectorizes in
// every FASTREP_CLONES target.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "common.hpp"
#include "scalar_ntk.hpp"

// FASTREP_FP_BEGIN (hd.hpp): no FMA contraction, so every machine and the GPU make the same bits,
// and no-trapping-math, without which GCC threads the clamp at u = +-1 into branches and the
// loop stays scalar on AVX2/SSE.
FASTREP_FP_BEGIN

namespace fastrep {

enum class KernelKind : int { nngp = 0, ntk = 1 };

namespace detail {

// asin_poly, arccos_parts, kernel_entry, inner_to_c, root_pair, kernel_diagonal: scalar_ntk.hpp (the same
// code runs on the GPU).

template <typename T>
inline void roots(const T* q, index_t n, T* r, T* ir) {
  for (index_t i = 0; i < n; ++i) root_pair(q[i], r + i, ir + i);
}

// q1 == nullptr: symmetric call. q comes from G's diagonal, and the diagonal is then set to
// its exact value at u = 1: NNGP = q/2, NTK = q (rounding in r * r could leave u = 1 - ulp, and
// the NTK has an infinite slope in u there).
template <typename T, bool NTK>
FASTREP_CLONES void kernel_rows(T* G, index_t n1, index_t n2, const T* q1, const T* q2, T inv_d, T beta2) {
  const T d_beta2 = beta2 / inv_d;
  const bool symmetric = q1 == nullptr;
  std::vector<T> qdiag;
  if (symmetric) {
    qdiag.resize(static_cast<std::size_t>(n1));
    for (index_t i = 0; i < n1; ++i) qdiag[i] = inner_to_c(G[i * n2 + i], inv_d, d_beta2);
    q1 = qdiag.data();
    q2 = qdiag.data();
  }
  std::vector<T> r1(static_cast<std::size_t>(n1)), ir1(static_cast<std::size_t>(n1));
  std::vector<T> r2(static_cast<std::size_t>(n2)), ir2(static_cast<std::size_t>(n2));
  roots(q1, n1, r1.data(), ir1.data());
  roots(q2, n2, r2.data(), ir2.data());
  const T* R2 = r2.data();
  const T* IR2 = ir2.data();
  // small blocks stay on one thread: waking the team costs more than it saves there
  FASTREP_OMP(parallel for schedule(static) if (n1 * n2 >= 65536))
  for (index_t i = 0; i < n1; ++i) {
    T* row = G + i * n2;
    const T ri = r1[i], iri = ir1[i];
    for (index_t j = 0; j < n2; ++j)
      row[j] = kernel_entry<T, NTK>(inner_to_c(row[j], inv_d, d_beta2), ri, iri, R2[j], IR2[j]);
    if (symmetric) row[i] = kernel_diagonal<T, NTK>(q1[i]);
  }
}

// One tile edge of kernel_lower_rows: a 64 x 64 tile (16 KiB in float32) stays in L1 between
// the kernel pass and the transposed write.
constexpr index_t kLowerTile = 64;

// G (n, n) row-major whose lower triangle (diagonal included) holds X X^T; the upper triangle is
// never read. Each lower tile is turned into K while it is in cache and written transposed to
// its mirror, so the pass does half the elementwise work and K is exactly symmetric. The tile
// goes through a padded local copy: reading a column of G itself would touch rows n apart, which
// for n a power of two all fall into one cache set.
template <typename T, bool NTK>
FASTREP_CLONES void kernel_lower_rows(T* G, index_t n, T inv_d, T beta2) {
  const T d_beta2 = beta2 / inv_d;
  std::vector<T> q(static_cast<std::size_t>(n)), r(static_cast<std::size_t>(n)), ir(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) q[i] = inner_to_c(G[i * n + i], inv_d, d_beta2);
  roots(q.data(), n, r.data(), ir.data());
  const T* R = r.data();
  const T* IR = ir.data();
  const T* Q = q.data();
  constexpr index_t B = kLowerTile, LD = kLowerTile + 1;
  const index_t nb = (n + B - 1) / B;
  // row blocks hold 1, 2, ... tiles: dynamic scheduling, largest first, balances the triangle
  FASTREP_OMP(parallel for schedule(dynamic, 1) if (n >= 256))
  for (index_t t = 0; t < nb; ++t) {
    T tile[B * LD];
    const index_t i0 = (nb - 1 - t) * B, i1 = std::min(i0 + B, n);
    for (index_t j0 = 0; j0 <= i0; j0 += B) {
      const index_t j1 = std::min(j0 + B, n);
      const bool diag = j0 == i0;
      for (index_t i = i0; i < i1; ++i) {
        T* row = G + i * n;
        T* trow = tile + (i - i0) * LD - j0;
        const T ri = R[i], iri = IR[i];
        const index_t je = diag ? i : j1;  // the diagonal tile: strictly below the diagonal
        for (index_t j = j0; j < je; ++j) {
          const T k = kernel_entry<T, NTK>(inner_to_c(row[j], inv_d, d_beta2), ri, iri, R[j], IR[j]);
          row[j] = k;
          trow[j] = k;
        }
        if (diag) row[i] = kernel_diagonal<T, NTK>(Q[i]);
      }
      for (index_t j = j0; j < j1; ++j) {  // the mirror: G[j, i] = K[i, j] for i > j
        T* col = G + j * n;
        for (index_t i = std::max(i0, j + 1); i < i1; ++i) col[i] = tile[(i - i0) * LD + (j - j0)];
      }
    }
  }
}

}  // namespace detail

// In place: G (n1, n2) row-major holding X1 X2^T becomes K(X1, X2), with d = 1/inv_d and
// beta2 = beta^2. q1 (n1), q2 (n2): q = |x|^2/d + beta^2 of the rows of X1 and X2. When
// q1 == nullptr the call is symmetric (X2 is X1, n1 == n2) and q is read from G's own diagonal
// before it is overwritten, which makes the diagonal exact.
template <typename T>
void kernel_from_inner(T* G, index_t n1, index_t n2, const T* q1, const T* q2, T inv_d, T beta2,
                       KernelKind kind) {
  if (kind == KernelKind::ntk)
    detail::kernel_rows<T, true>(G, n1, n2, q1, q2, inv_d, beta2);
  else
    detail::kernel_rows<T, false>(G, n1, n2, q1, q2, inv_d, beta2);
}

// In place: G (n, n) row-major whose lower triangle (diagonal included) holds X X^T becomes the
// symmetric K(X, X), both triangles written and equal bit for bit; q is read from the diagonal,
// which is exact, as in the symmetric kernel_from_inner.
template <typename T>
void kernel_from_inner_lower(T* G, index_t n, T inv_d, T beta2, KernelKind kind) {
  if (kind == KernelKind::ntk)
    detail::kernel_lower_rows<T, true>(G, n, inv_d, beta2);
  else
    detail::kernel_lower_rows<T, false>(G, n, inv_d, beta2);
}

}  // namespace fastrep

FASTREP_FP_END
