// The fused passes of Algorithm 1 on the device (the products are cuBLAS), one thread per entry:
//   mask_scale:  P (n, m) in place, P[i, j] = r[i] 1[P[i, j] + b[j] > 0]
//   relu_bias:   out (n, m) = max(P + b, 0) for P (n, h), m = h; or, when paired, m = 2h and
//                out[:, h:] = max(b[h:] - P, 0) (see onestep.hpp)
// real_t and FASTREP_GLOBAL come from the prelude fastrep/_kernels/_cuda.py puts in front.
#include <fastrep/scalar_onestep.hpp>

FASTREP_GLOBAL void mask_scale(real_t* __restrict__ P, const real_t* __restrict__ b, const real_t* __restrict__ r,
                               long long n, long long m) {
  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n * m) return;
  const long long i = t / m, j = t - i * m;
  P[t] = fastrep::mask_scale_entry(P[t], b[j], r[i]);
}

// out may be P itself (unpaired, in place): neither pointer is __restrict__.
FASTREP_GLOBAL void relu_bias(const real_t* P, const real_t* __restrict__ b, long long n, long long h, int paired,
                              real_t* out) {
  const long long m = paired ? 2 * h : h;
  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n * m) return;
  const long long i = t / m, j = t - i * m;
  out[t] = j < h ? fastrep::relu_bias_entry(P[i * h + j], b[j]) : fastrep::relu_pair_entry(P[i * h + (j - h)], b[j]);
}
