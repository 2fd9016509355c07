// Fused elementwise passes of Algorithm 1 (one gradient step, then ridge on ReLU features).
//
// BLAS does the products (P = X W^T, G = C^T X, Phi^T Phi); these loops do what BLAS cannot,
// in one pass over an (n, m) block each:
//   mask_scale:  C[i, j] = r[i] * 1[P[i, j] + b[j] > 0]             (in place on P)
//   relu_bias:   Phi[i, j] = max(P[i, j] + b[j], 0)                  (m = P's columns), or, when
//                paired, Phi[i, j] = max(P[i, j] + b[j], 0) and Phi[i, j + h] = max(-P[i, j] + b[j + h], 0)
//                for h = P's columns: after one step from a symmetric initialization the second
//                half of W is exactly the negation of the first, so one product X W_half^T gives
//                every feature.
#pragma once
#include "common.hpp"

namespace fastrep {

template <typename T>
FASTREP_CLONES void mask_scale(T* P, index_t n, index_t m, const T* b, const T* r) {
  FASTREP_OMP(parallel for schedule(static))
  for (index_t i = 0; i < n; ++i) {
    T* p = P + i * m;
    const T ri = r[i];
    for (index_t j = 0; j < m; ++j) p[j] = (p[j] + b[j] > T(0)) ? ri : T(0);
  }
}

template <typename T>
FASTREP_CLONES void relu_bias(const T* P, index_t n, index_t h, const T* b, bool paired, T* out) {
  const index_t m = paired ? 2 * h : h;
  FASTREP_OMP(parallel for schedule(static))
  for (index_t i = 0; i < n; ++i) {
    const T* p = P + i * h;
    T* o = out + i * m;
    for (index_t j = 0; j < h; ++j) {
      const T v = p[j] + b[j];
      o[j] = v > T(0) ? v : T(0);
    }
    if (paired) {
      T* o2 = o + h;
      const T* b2 = b + h;
      for (index_t j = 0; j < h; ++j) {
        const T v = b2[j] - p[j];
        o2[j] = v > T(0) ? v : T(0);
      }
    }
  }
}

}  // namespace fastrep
