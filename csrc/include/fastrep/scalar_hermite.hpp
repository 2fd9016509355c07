// The Hermite recurrence, for the host and the device (see hd.hpp):
//     h_0 = 1,  h_1 = z,  h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k+1),
// with sqrt(k) and 1/sqrt(k+1) rounded once from double to T. hermite.hpp builds per-row
// tables with hermite_step; fastrep/_kernels/cuda/hermite.cu evaluates hermite_value per output.
#pragma once
#include "hd.hpp"

FASTREP_FP_BEGIN

namespace fastrep {

// The recurrence's coefficients of step k, in T.
template <typename T>
FASTREP_HD T hermite_sqrt_k(int k) {
  return static_cast<T>(hd::sqrt(static_cast<double>(k)));
}
template <typename T>
FASTREP_HD T hermite_inv_sqrt_k1(int k) {
  return static_cast<T>(1.0 / hd::sqrt(static_cast<double>(k + 1)));
}

// h_{k+1} from h_k, h_{k-1} and step k's coefficients.
template <typename T>
FASTREP_HD T hermite_step(T z, T h_k, T h_km1, T sqrt_k, T inv_sqrt_k1) {
  return (z * h_k - sqrt_k * h_km1) * inv_sqrt_k1;
}

// h_deg(z), deg >= 0.
template <typename T>
FASTREP_HD T hermite_value(T z, int deg) {
  if (deg == 0) return T(1);
  T h_km1 = T(1), h_k = z;
  for (int k = 1; k < deg; ++k) {
    const T next = hermite_step(z, h_k, h_km1, hermite_sqrt_k<T>(k), hermite_inv_sqrt_k1<T>(k));
    h_km1 = h_k;
    h_k = next;
  }
  return h_k;
}

}  // namespace fastrep

FASTREP_FP_END
