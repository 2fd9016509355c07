// Orthonormal (probabilists') Hermite features.
//
// h_k(z) = He_k(z) / sqrt(k!), computed with the three-term recurrence on the
// normalized polynomials
//     h_0 = 1,  h_1 = z,  h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k+1),
// which never forms z^k or k!, so degree 30 at |z| <= 10 stays finite in float64.
//
// hermite_features(Z, n, r, alphas, K, out) writes out[i, a] = prod_j h_{alphas[a, j]}(Z[i, j])
// for row-major Z (n, r), alphas (K, r) and out (n, K). One fused pass: each row
// builds its own small (r, p+1) table on the stack; nothing of size (n, r, p+1) exists.
#pragma once
#include <cmath>
#include <vector>

#include "common.hpp"

namespace fastrep {

// sqrt(k) and 1/sqrt(k+1) for k = 0..p, shared by every row.
template <typename T>
struct HermiteCoefficients {
  std::vector<T> sqrt_k, inv_sqrt_k1;
  explicit HermiteCoefficients(int p) : sqrt_k(p + 1), inv_sqrt_k1(p + 1) {
    for (int k = 0; k <= p; ++k) {
      sqrt_k[k] = static_cast<T>(std::sqrt(static_cast<double>(k)));
      inv_sqrt_k1[k] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(k + 1)));
    }
  }
};

// table[k] = h_k(z) for k = 0..p
template <typename T>
inline void hermite_table(T z, int p, const T* sqrt_k, const T* inv_sqrt_k1, T* table) {
  table[0] = T(1);
  if (p >= 1) table[1] = z;
  for (int k = 1; k < p; ++k) table[k + 1] = (z * table[k] - sqrt_k[k] * table[k - 1]) * inv_sqrt_k1[k];
}

// The largest entry of a (K, r) multi-index array.
inline int max_degree(const std::int32_t* alphas, index_t K, index_t r) {
  int p = 0;
  for (index_t i = 0; i < K * r; ++i) p = alphas[i] > p ? alphas[i] : p;
  return p;
}

template <typename T>
FASTREP_CLONES void hermite_features(const T* Z, index_t n, index_t r, const std::int32_t* alphas,
                                     index_t K, T* out) {
  const int p = max_degree(alphas, K, r);
  const HermiteCoefficients<T> c(p);
  const T* sk = c.sqrt_k.data();
  const T* isk = c.inv_sqrt_k1.data();
  const index_t stride = p + 1;
  FASTREP_OMP(parallel) {
    std::vector<T> table(static_cast<std::size_t>(r * stride));
    T* tab = table.data();
    FASTREP_OMP(for schedule(static))
    for (index_t i = 0; i < n; ++i) {
      const T* zi = Z + i * r;
      for (index_t j = 0; j < r; ++j) hermite_table(zi[j], p, sk, isk, tab + j * stride);
      T* oi = out + i * K;
      for (index_t a = 0; a < K; ++a) {
        const std::int32_t* al = alphas + a * r;
        T v = tab[al[0]];
        for (index_t j = 1; j < r; ++j) v *= tab[j * stride + al[j]];
        oi[a] = v;
      }
    }
  }
}

}  // namespace fastrep
