// The NTK/NNGP kernel entry, for the host and the device (see hd.hpp): arccos and sin(theta)
// without a libm call, one kernel value from c and the rows' square roots, and the exact diagonal.
// ntk.hpp documents the formulas and runs these over a Gram block on the CPU;
// fastrep/_kernels/cuda/ntk.cu runs them once per CUDA thread.
#pragma once
#include "hd.hpp"

FASTREP_FP_BEGIN

namespace fastrep {
namespace detail {

// asin(x) = x + x z P(z), z = x^2, for 0 <= x <= sqrt(1/2). P interpolates
// (asin(sqrt z)/sqrt z - 1)/z at Chebyshev nodes of [0, 1/2] (computed in 60-digit arithmetic);
// the max error is <= 1 ulp (float: degree 7, 0.51 ulp; double: degree 18, 0.99 ulp), checked
// against mpmath on a grid of 2000 points.
FASTREP_HD float asin_poly(float x) {
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

FASTREP_HD double asin_poly(double x) {
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
FASTREP_HD void arccos_parts(T v, T* arccos_v, T* sin_theta) {
  const T half_pi = T(1.57079632679489661923);
  const T a = hd::abs(v);
  const T t = hd::sqrt((T(1) - a) * T(0.5));
  const T p = asin_poly(t);
  *arccos_v = (half_pi - hd::copysign(half_pi, v)) + hd::copysign(T(2) * p, v);
  *sin_theta = t * hd::sqrt(T(2) * (T(1) + a));
}

// one kernel value from c = x.x'/d + beta^2, r = sqrt(q) and ir = 1/sqrt(q) (0 where q == 0,
// which only happens for x = 0 with beta = 0: then c == 0 and both kernels vanish). Per-row
// square roots and reciprocals leave one product per entry where s = sqrt(q q') and u = c/s
// would cost a sqrt and a division.
template <typename T, bool NTK>
FASTREP_HD T kernel_entry(T c, T r1, T ir1, T r2, T ir2) {
  const T inv_2pi = T(0.15915494309189533577);
  const T s = r1 * r2;
  const T u = hd::min(hd::max(c * ir1 * ir2, T(-1)), T(1));
  T phi, sin_theta;
  arccos_parts(-u, &phi, &sin_theta);  // phi = arccos(-u) = pi - arccos(u), accurate near u = -1
  const T w = NTK ? T(2) : T(1);
  return (s * sin_theta + w * phi * c) * inv_2pi;
}

// c = (g + d beta^2) / d, as an add then a multiply (the same expression gives q from |x|^2).
template <typename T>
FASTREP_HD T inner_to_c(T g, T inv_d, T d_beta2) {
  return (g + d_beta2) * inv_d;
}

// r = sqrt(q) and ir = 1/sqrt(q) of one row (ir = 0 where q == 0; see kernel_entry).
template <typename T>
FASTREP_HD void root_pair(T q, T* r, T* ir) {
  *r = hd::sqrt(q);
  *ir = q > T(0) ? T(1) / *r : T(0);
}

// The exact diagonal of a symmetric block, at u = 1: NNGP = q/2, NTK = q (rounding in r * r could
// leave u = 1 - ulp, and the NTK has an infinite slope in u there).
template <typename T, bool NTK>
FASTREP_HD T kernel_diagonal(T q) {
  return NTK ? q : T(0.5) * q;
}

}  // namespace detail
}  // namespace fastrep

FASTREP_FP_END
