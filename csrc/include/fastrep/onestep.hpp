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
#include "scalar_onestep.hpp"

FASTREP_FP_BEGIN

namespace fastrep {

template <typename T>
FASTREP_CLONES void mask_scale(T* P, index_t n, index_t m, const T* b, const T* r) {
  FASTREP_OMP(parallel for schedule(static))
  for (index_t i = 0; i < n; ++i) {
    T* p = P + i * m;
    const T ri = r[i];
    for (index_t j = 0; j < m; ++j) p[j] = mask_scale_entry(p[j], b[j], ri);
  }
}

template <typename T>
FASTREP_CLONES void relu_bias(const T* P, index_t n, index_t h, const T* b, bool paired, T* out) {
  const index_t m = paired ? 2 * h : h;
  FASTREP_OMP(parallel for schedule(static))
  for (index_t i = 0; i < n; ++i) {
    const T* p = P + i * h;
    T* o = out + i * m;
    for (index_t j = 0; j < h; ++j) o[j] = relu_bias_entry(p[j], b[j]);
    if (paired) {
      T* o2 = o + h;
      const T* b2 = b + h;
      for (index_t j = 0; j < h; ++j) o2[j] = relu_pair_entry(p[j], b2[j]);
    }
  }
}

}  // namespace fastrep

FASTREP_FP_END
