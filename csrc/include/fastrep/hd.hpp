// Functions written once for two targets: the C++ core (host) and the CUDA kernels (device).
//
// The scalar_*.hpp headers hold the per-element arithmetic of fastrep's kernels as FASTREP_HD
// functions. Under nvcc or NVRTC they are __host__ __device__; otherwise plain inline C++.
// They are the specification of each formula: the C++ loops call them and the CUDA sources in
// fastrep/_kernels/cuda/ include them, so a GPU and a CPU evaluate the same expression in the
// same order. Only +, -, *, / and sqrt are used, all correctly rounded on both targets; with
// contraction to FMA off (FASTREP_FP_BEGIN here, --fmad=false for NVRTC) the bits agree.
//
// The device-visible part of these headers includes nothing from the standard library (NVRTC
// has none): integer types are spelled below and math goes through compiler builtins on the
// host and the CUDA math functions NVRTC declares implicitly on the device.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define FASTREP_HD __host__ __device__ __forceinline__
#else
#define FASTREP_HD inline
#endif

// FASTREP_FP_BEGIN ... FASTREP_FP_END bracket every header with floating-point kernels:
//   * no contraction of a*b + c into an FMA: GCC contracts where the target has FMA (the
//     AVX-512 clones) and not elsewhere, which would change the last bits from one machine to
//     another and away from the GPU's;
//   * no-trapping-math: the code never reads FP exception flags, and without it GCC refuses to
//     if-convert clamps and selects, so loops would stay scalar.
// GCC does not inline a function compiled with other FP options into such a region (an
// out-of-line call stops vectorization), so callers and callees use the same bracket.
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define FASTREP_FP_BEGIN
#define FASTREP_FP_END
#elif defined(__GNUC__) && !defined(__clang__)
#define FASTREP_FP_BEGIN \
  _Pragma("GCC push_options") _Pragma("GCC optimize(\"fp-contract=off\", \"no-trapping-math\")")
#define FASTREP_FP_END _Pragma("GCC pop_options")
#elif defined(__clang__) && __clang_major__ >= 12
#define FASTREP_FP_BEGIN _Pragma("float_control(push)") _Pragma("clang fp contract(off)")
#define FASTREP_FP_END _Pragma("float_control(pop)")
#else
#define FASTREP_FP_BEGIN
#define FASTREP_FP_END
#endif

#if !defined(__CUDACC_RTC__) && !defined(__CUDA_ARCH__) && !defined(__GNUC__)
#include <cmath>
#include <cstring>
#endif

FASTREP_FP_BEGIN

namespace fastrep {
namespace hd {
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;
static_assert(sizeof(u32) == 4 && sizeof(u64) == 8 && sizeof(i64) == 8, "fastrep needs 32/64-bit integers");

// Correctly rounded square root (IEEE) on either target.
FASTREP_HD float sqrt(float x) {
#if defined(__CUDA_ARCH__)
  return ::sqrtf(x);
#elif defined(__GNUC__)
  return __builtin_sqrtf(x);
#else
  return std::sqrt(x);
#endif
}
FASTREP_HD double sqrt(double x) {
#if defined(__CUDA_ARCH__)
  return ::sqrt(x);
#elif defined(__GNUC__)
  return __builtin_sqrt(x);
#else
  return std::sqrt(x);
#endif
}
FASTREP_HD float abs(float x) {
#if defined(__CUDA_ARCH__)
  return ::fabsf(x);
#elif defined(__GNUC__)
  return __builtin_fabsf(x);
#else
  return std::fabs(x);
#endif
}
FASTREP_HD double abs(double x) {
#if defined(__CUDA_ARCH__)
  return ::fabs(x);
#elif defined(__GNUC__)
  return __builtin_fabs(x);
#else
  return std::fabs(x);
#endif
}
// |x| with the sign of y
FASTREP_HD float copysign(float x, float y) {
#if defined(__CUDA_ARCH__)
  return ::copysignf(x, y);
#elif defined(__GNUC__)
  return __builtin_copysignf(x, y);
#else
  return std::copysign(x, y);
#endif
}
FASTREP_HD double copysign(double x, double y) {
#if defined(__CUDA_ARCH__)
  return ::copysign(x, y);
#elif defined(__GNUC__)
  return __builtin_copysign(x, y);
#else
  return std::copysign(x, y);
#endif
}
// min/max as selects (b when the comparison says so), the same instruction on both targets.
template <typename T>
FASTREP_HD T min(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
FASTREP_HD T max(T a, T b) {
  return a < b ? b : a;
}

// The bits of a double and back.
FASTREP_HD double as_double(u64 b) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(b));
#elif defined(__GNUC__)
  double x;
  __builtin_memcpy(&x, &b, sizeof x);
  return x;
#else
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
#endif
}
FASTREP_HD u64 as_bits(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<u64>(__double_as_longlong(x));
#elif defined(__GNUC__)
  u64 b;
  __builtin_memcpy(&b, &x, sizeof b);
  return b;
#else
  u64 b;
  std::memcpy(&b, &x, sizeof b);
  return b;
#endif
}
}  // namespace hd
}  // namespace fastrep

FASTREP_FP_END
