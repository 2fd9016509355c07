// The CUDA kernels of fastrep/_kernels/cuda/*.cu compiled by g++ as plain C++ (cuda_shim.hpp) and
// run over their grids on the CPU, one thread after another. Built as a shared library by
// tests/test_cuda_harness.py, which launches each kernel through fastrep._kernels._cuda.Kernels,
// the same Python launch code the CuPy backend uses, and compares with fastrep's reference.
//
//   c++ -std=c++17 -O1 -ffp-contract=off -shared -fPIC -I csrc/include -I fastrep/_kernels/cuda
//       tests/cpp/cuda_harness.cpp -o cuda_harness.so
//
// Each kernel K is exported as K_float and K_double with the kernel's own parameters after
// (blocks, threads). -ffp-contract=off matches NVRTC's --fmad=false.
#include "cuda_shim.hpp"

// The scalar headers at file scope first; the #includes inside the .cu files are then no-ops.
#include <fastrep/scalar_hermite.hpp>
#include <fastrep/scalar_ntk.hpp>
#include <fastrep/scalar_onestep.hpp>
#include <fastrep/scalar_philox.hpp>

namespace kf32 {
typedef float real_t;
#include "hermite.cu"
#include "ntk.cu"
#include "onestep.cu"
#include "philox.cu"
}  // namespace kf32

namespace kf64 {
typedef double real_t;
#include "hermite.cu"
#include "ntk.cu"
#include "onestep.cu"
#include "philox.cu"
}  // namespace kf64

#define FASTREP_EXPORT extern "C" __attribute__((visibility("default")))
#define FASTREP_RUN(call) fastrep_cuda_launch(blocks, threads, [&] { call; })

#define FASTREP_HARNESS(NS, T, SUFFIX)                                                                           \
  FASTREP_EXPORT void hermite_features_##SUFFIX(long long blocks, unsigned int threads, const T* Z,               \
                                                const int* alphas, long long n, long long r, long long K, T* out) { \
    FASTREP_RUN(NS::hermite_features(Z, alphas, n, r, K, out));                                                  \
  }                                                                                                              \
  FASTREP_EXPORT void gaussian_block_##SUFFIX(long long blocks, unsigned int threads, unsigned int key0,          \
                                              unsigned int key1, unsigned int stream, unsigned long long start,   \
                                              long long n, long long d, T* out) {                                 \
    FASTREP_RUN(NS::gaussian_block(key0, key1, stream, start, n, d, out));                                       \
  }                                                                                                              \
  FASTREP_EXPORT void mask_scale_##SUFFIX(long long blocks, unsigned int threads, T* P, const T* b, const T* r,   \
                                          long long n, long long m) {                                             \
    FASTREP_RUN(NS::mask_scale(P, b, r, n, m));                                                                  \
  }                                                                                                              \
  FASTREP_EXPORT void relu_bias_##SUFFIX(long long blocks, unsigned int threads, const T* P, const T* b,          \
                                         long long n, long long h, int paired, T* out) {                          \
    FASTREP_RUN(NS::relu_bias(P, b, n, h, paired, out));                                                         \
  }                                                                                                              \
  FASTREP_EXPORT void kernel_diag_q_##SUFFIX(long long blocks, unsigned int threads, const T* G, long long n,      \
                                             T inv_d, T d_beta2, T* q) {                                          \
    FASTREP_RUN(NS::kernel_diag_q(G, n, inv_d, d_beta2, q));                                                     \
  }                                                                                                              \
  FASTREP_EXPORT void kernel_roots_##SUFFIX(long long blocks, unsigned int threads, const T* q, long long n, T* r, \
                                            T* ir) {                                                              \
    FASTREP_RUN(NS::kernel_roots(q, n, r, ir));                                                                  \
  }                                                                                                              \
  FASTREP_EXPORT void kernel_from_inner_##SUFFIX(long long blocks, unsigned int threads, T* G, long long n1,     \
                                                 long long n2, const T* r1, const T* ir1, const T* r2,            \
                                                 const T* ir2, const T* q1, T inv_d, T d_beta2, int ntk,          \
                                                 int symmetric) {                                                 \
    FASTREP_RUN(NS::kernel_from_inner(G, n1, n2, r1, ir1, r2, ir2, q1, inv_d, d_beta2, ntk, symmetric));         \
  }

FASTREP_HARNESS(kf32, float, float)
FASTREP_HARNESS(kf64, double, double)
