// Hermite features on the device: out[i, a] = prod_j h_{alphas[a, j]}(Z[i, j]), one thread per
// output entry t = i K + a. Z (n, r), alphas (K, r) int32, out (n, K), all row-major.
// real_t and FASTREP_GLOBAL come from the prelude fastrep/_kernels/_cuda.py puts in front.
#include <fastrep/scalar_hermite.hpp>

FASTREP_GLOBAL void hermite_features(const real_t* __restrict__ Z, const int* __restrict__ alphas, long long n,
                                     long long r, long long K, real_t* __restrict__ out) {
  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n * K) return;
  const long long i = t / K, a = t - i * K;
  real_t v = 1;  // 1 * h is exact, so the product equals the CPU's, which starts from the first factor
  for (long long j = 0; j < r; ++j) v *= fastrep::hermite_value<real_t>(Z[i * r + j], alphas[a * r + j]);
  out[t] = v;
}
