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
}  // namespace fastrep
