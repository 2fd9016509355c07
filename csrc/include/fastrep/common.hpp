// fastrep C++ core: shared helpers. Header-only, C++17, no Python.
#pragma once
#include <cstddef>
#include <cstdint>

// Hot loops are compiled for several instruction sets and chosen at load time
// (GCC function multiversioning), so one portable binary still uses AVX2/AVX-512
// where the CPU has it. No -march=native is needed (it would make a wheel or a
// build cache crash with "Illegal instruction" on an older CPU).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FASTREP_NO_MULTIVERSION)
#define FASTREP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTREP_CLONES
#endif

#if defined(_OPENMP)
#include <omp.h>
#define FASTREP_PRAGMA(x) _Pragma(#x)
#define FASTREP_OMP(x) FASTREP_PRAGMA(omp x)
#else
#define FASTREP_OMP(x)
#endif

namespace fastrep {
using index_t = std::int64_t;

inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Run-time choice of a kernel's vector path (philox.hpp, ntk.hpp): 0 the portable loop, 1 AVX2,
// 2 AVX-512F. `emulated`: the AVX-512 code was built on SIMDe (FASTREP_AVX512_ON_SIMDE, tests
// only), so it runs on any CPU but is never chosen on its own. `forced` >= 0 asks for one path
// (tests); a forced path the CPU lacks falls back to the portable one.
inline bool simd_path_available(int path, bool emulated) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool avx2 = __builtin_cpu_supports("avx2"), avx512 = __builtin_cpu_supports("avx512f");
  return path == 0 || (path == 1 && avx2) || (path == 2 && (avx512 || emulated));
#else
  (void)emulated;
  return path == 0;
#endif
}
inline int simd_path(int forced, bool emulated) {
  if (forced >= 0) return simd_path_available(forced, emulated) ? forced : 0;
  if (simd_path_available(2, emulated) && !emulated) return 2;
  return simd_path_available(1, emulated) ? 1 : 0;
}
}  // namespace fastrep
