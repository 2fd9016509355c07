// The two-layer ReLU NTK and NNGP (random-features) kernels, as a fused elementwise pass
// over a matrix of inner products.
//
// Standard parametrization with first-layer bias (paper.md section 4): with
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
#include <cmath>
#include <vector>

#include "common.hpp"

// The code below never reads FP exception flags, so GCC may assume arithmetic does not trap.
// Without this GCC threads the clamp at u = +-1 into branches, sinks arithmetic into them and
// then refuses to if-convert "trapping" operations: the loop would stay scalar on AVX2/SSE.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#define FASTREP_NTK_POP_OPTIONS
#endif

namespace fastrep {

enum class KernelKind : int { nngp = 0, ntk = 1 };

namespace detail {

// sqrt, fabs, copysign and min/max defined here rather than taken from <cmath>/<algorithm>: GCC
// does not inline a function compiled with other optimize options (the std:: wrappers) into
// this region, and an out-of-line call would stop vectorization.
#if defined(__GNUC__)
inline float vsqrt(float x) { return __builtin_sqrtf(x); }
inline double vsqrt(double x) { return __builtin_sqrt(x); }
inline float vabs(float x) { return __builtin_fabsf(x); }
inline double vabs(double x) { return __builtin_fabs(x); }
inline float vcopysign(float x, float y) { return __builtin_copysignf(x, y); }
inline double vcopysign(double x, double y) { return __builtin_copysign(x, y); }
#else
template <typename T>
inline T vsqrt(T x) { return std::sqrt(x); }
template <typename T>
inline T vabs(T x) { return std::fabs(x); }
template <typename T>
inline T vcopysign(T x, T y) { return std::copysign(x, y); }
#endif
template <typename T>
inline T vmin(T a, T b) { return b < a ? b : a; }
template <typename T>
inline T vmax(T a, T b) { return a < b ? b : a; }

// asin(x) = x + x z P(z), z = x^2, for 0 <= x <= sqrt(1/2). P interpolates
// (asin(sqrt z)/sqrt z - 1)/z at Chebyshev nodes of [0, 1/2] (computed in 60-digit arithmetic);
// the max error is <= 1 ulp (float: degree 7, 0.51 ulp; double: degree 18, 0.99 ulp), checked
// against mpmath on a grid of 2000 points.
inline float asin_poly(float x) {
  const float z = x * x;
  float p = 0.09469734959597223f;
  p = p * z + -0.07972071595315332f;
  p = p * z + 0.06379697638268081f;
  p = p * z + 0.010435325974988746f;
  p = p * z + 0.03199023922716213f;
  p = p * z + 0.044538813973175724f;
  p = p * z + 0.07500252163633334f;
  p = p * z + 0.16666665678232892f;
  return x + x * z * p;
}

inline double asin_poly(double x) {
  const double z = x * x;
  double p = 0.8387674099544927;
  p = p * z + -3.0948547605199717;
  p = p * z + 5.436384462318588;
  p = p * z + -5.883233416999023;
  p = p * z + 4.3847119392409954;
  p = p * z + -2.3535297860232123;
  p = p * z + 0.952265420570822;
  p = p * z + -0.2809947932275328;
  p = p * z + 0.07377343868679113;
  p = p * z + -0.0032941927380090922;
  p = p * z + 0.011310924828955462;
  p = p * z + 0.01139924601483468;
  p = p * z + 0.013975730180211136;
  p = p * z + 0.017352221539201188;
  p = p * z + 0.0223721770065477;
  p = p * z + 0.030381944084994415;
  p = p * z + 0.04464285714665563;
  p = p * z + 0.07499999999998412;
  p = p * z + 0.16666666666666669;
  return x + x * z * p;
}

// arccos(v) and sin(arccos(v)) = sqrt(1 - v^2) for v in [-1, 1], with no branch and no select
// (cheap to vectorize on every target). With a = |v| and t = sqrt((1 - a)/2) in [0, sqrt(1/2)]:
//   arccos(a) = 2 asin(t)  and  arccos(-a) = pi - 2 asin(t)
//     => arccos(v) = (pi/2 - copysign(pi/2, v)) + copysign(2 asin(t), v)   (exact 0 or pi base)
//   sqrt(1 - v^2) = sqrt(2 t^2 (1 + a)) = t sqrt(2 (1 + a)).
// Near a = 1 both come from 1 - a, which is exact there (Sterbenz), so the sqrt singularity
// at v = +-1 is handled analytically instead of by a polynomial in v.
template <typename T>
inline void arccos_parts(T v, T* arccos_v, T* sin_theta) {
  const T half_pi = T(1.57079632679489661923);
  const T a = vabs(v);
  const T t = vsqrt((T(1) - a) * T(0.5));
  const T p = asin_poly(t);
  *arccos_v = (half_pi - vcopysign(half_pi, v)) + vcopysign(T(2) * p, v);
  *sin_theta = t * vsqrt(T(2) * (T(1) + a));
}

// one kernel value from c = x.x'/d + beta^2, r = sqrt(q) and ir = 1/sqrt(q) (0 where q == 0,
// which only happens for x = 0 with beta = 0: then c == 0 and both kernels vanish). Per-row
// square roots and reciprocals leave one product per entry where s = sqrt(q q') and u = c/s
// would cost a sqrt and a division.
template <typename T, bool NTK>
inline T kernel_entry(T c, T r1, T ir1, T r2, T ir2) {
  const T inv_2pi = T(0.15915494309189533577);
  const T s = r1 * r2;
  const T u = vmin(vmax(c * ir1 * ir2, T(-1)), T(1));
  T phi, sin_theta;
  arccos_parts(-u, &phi, &sin_theta);  // phi = arccos(-u) = pi - arccos(u), accurate near u = -1
  const T w = NTK ? T(2) : T(1);
  return (s * sin_theta + w * phi * c) * inv_2pi;
}

// c = (g + d beta^2) / d, as an add then a multiply (the same expression gives q from |x|^2).
template <typename T>
inline T inner_to_c(T g, T inv_d, T d_beta2) {
  return (g + d_beta2) * inv_d;
}

template <typename T>
inline void roots(const T* q, index_t n, T* r, T* ir) {
  for (index_t i = 0; i < n; ++i) {
    r[i] = vsqrt(q[i]);
    ir[i] = q[i] > T(0) ? T(1) / r[i] : T(0);
  }
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
    if (symmetric) row[i] = NTK ? q1[i] : T(0.5) * q1[i];
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

}  // namespace fastrep

#ifdef FASTREP_NTK_POP_OPTIONS
#pragma GCC pop_options
#undef FASTREP_NTK_POP_OPTIONS
#endif
