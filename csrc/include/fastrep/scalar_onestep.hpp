// The fused per-element passes of Algorithm 1, for the host and the device (see hd.hpp).
// onestep.hpp runs them over (n, m) blocks on the CPU; fastrep/_kernels/cuda/onestep.cu runs
// them once per CUDA thread.
#pragma once
#include "hd.hpp"

FASTREP_FP_BEGIN

namespace fastrep {

// C[i, j] = r[i] 1[P[i, j] + b[j] > 0]: the masked, scaled residual of the gradient step.
template <typename T>
FASTREP_HD T mask_scale_entry(T p, T b, T r) {
  return (p + b > T(0)) ? r : T(0);
}

// max(v, 0)
template <typename T>
FASTREP_HD T relu(T v) {
  return v > T(0) ? v : T(0);
}

// Phi[i, j] = max(P[i, j] + b[j], 0), the features of the first half of W.
template <typename T>
FASTREP_HD T relu_bias_entry(T p, T b) {
  return relu(p + b);
}

// Phi[i, j + h] = max(-P[i, j] + b[j + h], 0): the paired second half, whose weights are -W.
template <typename T>
FASTREP_HD T relu_pair_entry(T p, T b2) {
  return relu(b2 - p);
}

}  // namespace fastrep

FASTREP_FP_END
