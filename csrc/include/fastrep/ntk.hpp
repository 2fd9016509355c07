// The two-layer ReLU NTK and NNGP (random-features) kernels, as a fused elementwise pass
// over a matrix of inner products.
//
// Standard parametrization with first-layer bias (the paper): with
//     q(x) = |x|^2/d + beta^2,  c = x.x'/d + beta^2,  s = sqrt(q(x) q(x')),  u = c/s,
// and phi = pi - arccos(u), sin(theta) = sqrt(1 - u^2),
//     NNGP(x, x') = (s sin(theta) +   phi c) / (2 pi)   = 1/2 s kappa_1(u)
//     NTK(x, x')  = (s sin(theta) + 2 phi c) / (2 pi)   = 1/2 [s kappa_1(u) + c kappa_0(u)].
//
// kernel_from_inner() turns G = X1 X2^T (computed by BLAS) into K in place. It does the
// arithmetic in T (float stays float), and is careful where the kernel is ill-conditioned:
//   * u is clamped to [-1, 1], so rounding in G can never produce NaN;
//   * 1 - u^2 is formed from 1 - |u|, which is exact for |u| >= 1/2;
//   * arccos(a) = 2 asin(sqrt((1 - a)/2)), so the square-root singularity at u = +-1 is taken
//     analytically (from 1 - |u|, exact near 1), not by a polynomial;
//   * in the symmetric case (q from G's own diagonal) the diagonal is set to its exact value.
// asin is a polynomial (no libm call) and nothing branches, so the inner loop vectorizes in
// every FASTREP_CLONES target; explicit AVX2 and AVX-512 versions of it (ntk_lanes.hpp) are
// chosen at run time, bit-identical to it.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common.hpp"
#include "scalar_ntk.hpp"

// FASTREP_FP_BEGIN (hd.hpp): no FMA contraction, so every machine and the GPU make the same bits,
// and no-trapping-math, without which GCC threads the clamp at u = +-1 into branches and the
// loop stays scalar on AVX2/SSE.
FASTREP_FP_BEGIN

namespace fastrep {

enum class KernelKind : int { nngp = 0, ntk = 1 };

namespace detail {

// asin_poly, arccos_parts, kernel_entry, inner_to_c, root_pair, kernel_diagonal: scalar_ntk.hpp (the same
// code runs on the GPU).

template <typename T>
inline void roots(const T* q, index_t n, T* r, T* ir) {
  for (index_t i = 0; i < n; ++i) root_pair(q[i], r + i, ir + i);
}

// ---- SIMD paths: kernel_entry written out in intrinsics -----------------------------------------
//
// ntk_lanes.hpp holds the entry pass once for any vector width: each lane is scalar_ntk.hpp's
// kernel_entry operation for operation (same constants, same order, no FMA), so every path is
// bit-identical to the portable loop. Namespaces ntk_avx2 (8 floats or 4 doubles) and ntk_avx512
// (16 or 8, AVX-512F only) wrap the intrinsics as Isa<T>; the CPU chooses at run time (ntk_path
// below); FASTREP_NO_SIMD leaves both out. FASTREP_AVX512_ON_SIMDE (tests only) builds the
// AVX-512 namespace on SIMDe's portable AVX-512, run only when forced, as philox.hpp does
// (tests/cpp/test_ntk_embed.cpp). Their speed against GCC's clones of the portable loop:
// benchmarks/RESULTS_KERNELS.md.

// asin_poly's coefficients (scalar_ntk.hpp), highest degree first, for the vector Horner loop.
template <typename T>
struct AsinCoefficients;
template <>
struct AsinCoefficients<float> {
  static constexpr int n = 8;
  static constexpr float c[n] = {0.09469734959597223f,  -0.07972071595315332f, 0.06379697638268081f,
                                 0.010435325974988746f, 0.03199023922716213f,  0.044538813973175724f,
                                 0.07500252163633334f,  0.16666665678232892f};
};
template <>
struct AsinCoefficients<double> {
  static constexpr int n = 19;
  static constexpr double c[n] = {0.8387674099544927,    -3.0948547605199717,  5.436384462318588,
                                  -5.883233416999023,    4.3847119392409954,   -2.3535297860232123,
                                  0.952265420570822,     -0.2809947932275328,  0.07377343868679113,
                                  -0.0032941927380090922, 0.011310924828955462, 0.01139924601483468,
                                  0.013975730180211136,  0.017352221539201188, 0.0223721770065477,
                                  0.030381944084994415,  0.04464285714665563,  0.07499999999998412,
                                  0.16666666666666669};
};

#if !defined(FASTREP_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTREP_HAVE_NTK_SIMD 1
}  // namespace detail
}  // namespace fastrep
#include <immintrin.h>
#if defined(FASTREP_AVX512_ON_SIMDE)
#include <simde/x86/avx512.h>
#endif
namespace fastrep {
namespace detail {

// Isa<T> of one instruction set for T = float (SFX ps) and double (pd): the intrinsics differ by
// their suffix. P is the prefix (_mm256, _mm512), N the width in bits, X(name) spells an
// intrinsic or type (the CPU's, or SIMDe's), SQRT/MIN/MAX the ISA's forms of those (AVX-512's
// masked ones: the plain forms trip GCC 12's -Wmaybe-uninitialized inside avx512fintrin.h; the
// instructions are the same). min(a, b) is the instruction's min(b, a): b < a ? b : a, NaN
// included, like hd::min; max likewise. abs, neg and copysign work on the sign bit alone.
#define FASTREP_NTK_ISA(T, V, SFX, P, N, X, ALL, SQRT, MIN, MAX)                                      \
  template <>                                                                                      \
  struct Isa<T> {                                                                                  \
    using vec = X(V);                                                                              \
    using bits_t = X(__m##N##i);                                                                   \
    static constexpr index_t W = N / 8 / sizeof(T);                                                \
    FASTREP_NTK_FN static vec set1(T v) { return X(P##_set1_##SFX)(v); }                           \
    FASTREP_NTK_FN static vec loadu(const T* p) { return X(P##_loadu_##SFX)(p); }                  \
    FASTREP_NTK_FN static void storeu(T* p, vec v) { X(P##_storeu_##SFX)(p, v); }                   \
    FASTREP_NTK_FN static vec add(vec a, vec b) { return X(P##_add_##SFX)(a, b); }                 \
    FASTREP_NTK_FN static vec sub(vec a, vec b) { return X(P##_sub_##SFX)(a, b); }                 \
    FASTREP_NTK_FN static vec mul(vec a, vec b) { return X(P##_mul_##SFX)(a, b); }                 \
    FASTREP_NTK_FN static vec sqrt(vec a) { return SQRT(P, SFX, ALL, a); }                         \
    FASTREP_NTK_FN static vec min(vec a, vec b) { return MIN(P, SFX, ALL, b, a); }                 \
    FASTREP_NTK_FN static vec max(vec a, vec b) { return MAX(P, SFX, ALL, b, a); }                 \
    FASTREP_NTK_FN static bits_t bits(vec a) { return X(P##_cast##SFX##_si##N)(a); }               \
    FASTREP_NTK_FN static vec from_bits(bits_t a) { return X(P##_castsi##N##_##SFX)(a); }          \
    FASTREP_NTK_FN static bits_t sign() { return bits(set1(T(-0.0))); }                            \
    FASTREP_NTK_FN static bits_t clear_sign(bits_t a) {                                            \
      return X(P##_xor_si##N)(X(P##_or_si##N)(a, sign()), sign());                                 \
    }                                                                                              \
    FASTREP_NTK_FN static vec abs(vec a) { return from_bits(clear_sign(bits(a))); }                \
    FASTREP_NTK_FN static vec neg(vec a) { return from_bits(X(P##_xor_si##N)(bits(a), sign())); }  \
    FASTREP_NTK_FN static vec copysign(vec x, vec y) {                                             \
      return from_bits(X(P##_or_si##N)(clear_sign(bits(x)), X(P##_and_si##N)(bits(y), sign())));   \
    }                                                                                              \
  };
#define FASTREP_NTK_PLAIN(name) name

namespace ntk_avx2 {
#define FASTREP_NTK_FN __attribute__((target("avx2")))
#define FASTREP_NTK_SQRT(P, SFX, ALL, a) P##_sqrt_##SFX(a)
#define FASTREP_NTK_MIN(P, SFX, ALL, a, b) P##_min_##SFX(a, b)
#define FASTREP_NTK_MAX(P, SFX, ALL, a, b) P##_max_##SFX(a, b)
template <typename T>
struct Isa;
FASTREP_NTK_ISA(float, __m256, ps, _mm256, 256, FASTREP_NTK_PLAIN, 0, FASTREP_NTK_SQRT, FASTREP_NTK_MIN, FASTREP_NTK_MAX)
FASTREP_NTK_ISA(double, __m256d, pd, _mm256, 256, FASTREP_NTK_PLAIN, 0, FASTREP_NTK_SQRT, FASTREP_NTK_MIN, FASTREP_NTK_MAX)
#undef FASTREP_NTK_SQRT
#undef FASTREP_NTK_MIN
#undef FASTREP_NTK_MAX
#include "ntk_lanes.hpp"
#undef FASTREP_NTK_FN
}  // namespace ntk_avx2

namespace ntk_avx512 {
#if defined(FASTREP_AVX512_ON_SIMDE)
#define FASTREP_NTK_FN
#define FASTREP_NTK_X(name) simde##name
constexpr bool emulated = true;
#else
#define FASTREP_NTK_FN __attribute__((target("avx512f")))
#define FASTREP_NTK_X(name) name
constexpr bool emulated = false;
#endif
#define FASTREP_NTK_SQRT(P, SFX, ALL, a) FASTREP_NTK_X(P##_mask_sqrt_##SFX)(a, ALL, a)
#define FASTREP_NTK_MIN(P, SFX, ALL, a, b) FASTREP_NTK_X(P##_mask_min_##SFX)(a, ALL, a, b)
#define FASTREP_NTK_MAX(P, SFX, ALL, a, b) FASTREP_NTK_X(P##_mask_max_##SFX)(a, ALL, a, b)
template <typename T>
struct Isa;
FASTREP_NTK_ISA(float, __m512, ps, _mm512, 512, FASTREP_NTK_X, 0xFFFF, FASTREP_NTK_SQRT, FASTREP_NTK_MIN, FASTREP_NTK_MAX)
FASTREP_NTK_ISA(double, __m512d, pd, _mm512, 512, FASTREP_NTK_X, 0xFF, FASTREP_NTK_SQRT, FASTREP_NTK_MIN, FASTREP_NTK_MAX)
#undef FASTREP_NTK_SQRT
#undef FASTREP_NTK_MIN
#undef FASTREP_NTK_MAX
#include "ntk_lanes.hpp"
#undef FASTREP_NTK_FN
#undef FASTREP_NTK_X
}  // namespace ntk_avx512
#undef FASTREP_NTK_ISA
#undef FASTREP_NTK_PLAIN

// The paths: 0 the portable loop (FASTREP_CLONES), 1 AVX2, 2 AVX-512 (simd_path, common.hpp).
// ntk_path_override() forces one in tests (-1: the CPU's best).
inline int& ntk_path_override() {
  static int v = -1;
  return v;
}
inline int ntk_path() { return simd_path(ntk_path_override(), ntk_avx512::emulated); }
#else
#define FASTREP_HAVE_NTK_SIMD 0
inline int& ntk_path_override() {
  static int v = -1;
  return v;
}
inline int ntk_path() { return 0; }
#endif

// The entry pass of this path (ntk_lanes.hpp's entries), or nullptr for the portable loop.
template <typename T, bool NTK>
using EntriesFn = void (*)(const T*, index_t, T, T, const T*, const T*, T, T, T*, T*);
template <typename T, bool NTK>
EntriesFn<T, NTK> simd_entries() {
#if FASTREP_HAVE_NTK_SIMD
  switch (ntk_path()) {
    case 2: return &ntk_avx512::entries<T, NTK>;
    case 1: return &ntk_avx2::entries<T, NTK>;
    default: break;
  }
#endif
  return nullptr;
}

// row[j] := K entry from the inner product row[j], j < len, in place: the path's vector pass, or
// the portable loop (inlined into each FASTREP_CLONES caller, so GCC vectorizes it per ISA).
template <typename T, bool NTK>
__attribute__((always_inline)) inline void entries_row(EntriesFn<T, NTK> simd, T* row, index_t len, T ri, T iri,
                                                       const T* R, const T* IR, T inv_d, T d_beta2) {
  if (simd) {
    simd(row, len, ri, iri, R, IR, inv_d, d_beta2, row, nullptr);
  } else {
    for (index_t j = 0; j < len; ++j)
      row[j] = kernel_entry<T, NTK>(inner_to_c(row[j], inv_d, d_beta2), ri, iri, R[j], IR[j]);
  }
}

// q1 == nullptr: symmetric call. q comes from G's diagonal, and the diagonal is then set to
// its exact value at u = 1: NNGP = q/2, NTK = q (rounding in r * r could leave u = 1 - ulp, and
// the NTK has an infinite slope in u there).
template <typename T, bool NTK>
FASTREP_CLONES void kernel_rows(T* G, index_t n1, index_t n2, const T* q1, const T* q2, T inv_d, T beta2) {
  const T d_beta2 = beta2 / inv_d;
  const bool symmetric = q1 == nullptr;
  std::vector<T> qdiag;
  if (symmetric) {
    qdiag.resize(static_cast<std::size_t>(n1));
    for (index_t i = 0; i < n1; ++i) qdiag[i] = inner_to_c(G[i * n2 + i], inv_d, d_beta2);
    q1 = qdiag.data();
    q2 = qdiag.data();
  }
  std::vector<T> r1(static_cast<std::size_t>(n1)), ir1(static_cast<std::size_t>(n1));
  std::vector<T> r2(static_cast<std::size_t>(n2)), ir2(static_cast<std::size_t>(n2));
  roots(q1, n1, r1.data(), ir1.data());
  roots(q2, n2, r2.data(), ir2.data());
  const T* R2 = r2.data();
  const T* IR2 = ir2.data();
  const EntriesFn<T, NTK> simd = simd_entries<T, NTK>();
  // small blocks stay on one thread: waking the team costs more than it saves there
  FASTREP_OMP(parallel for schedule(static) if (n1 * n2 >= 65536))
  for (index_t i = 0; i < n1; ++i) {
    T* row = G + i * n2;
    const T ri = r1[i], iri = ir1[i];
    entries_row<T, NTK>(simd, row, n2, ri, iri, R2, IR2, inv_d, d_beta2);
    if (symmetric) row[i] = kernel_diagonal<T, NTK>(q1[i]);
  }
}

// Columns of the local copy kernel_lower_rows transposes from (a line-high strip of rows x 64
// columns: 4 KiB in float32).
constexpr index_t kMirrorColumns = 64;

// dst[k] = src[k] for k < len, where dst is a row of G outside the cache and src a column of the
// local copy in L1: the whole 64-byte lines of dst by non-temporal stores (SSE2, in every x86-64
// clone), the partial lines at its ends by plain ones. A plain store first reads its line from
// memory; the mirror's rows n apart defeat the prefetchers, and that read was the mirror's cost
// (benchmarks/RESULTS_KERNELS.md). The values are copied, not computed: bit-identical whatever
// the store. Always inlined: it runs once per mirrored line, and a call per line cost as much
// as the stores.
template <typename T>
__attribute__((always_inline)) inline void mirror_run(T* dst, const T* src, index_t len) {
  index_t k = 0;
#if defined(__SSE2__)
  constexpr index_t L = 64 / sizeof(T);
  while (k < len && (reinterpret_cast<std::uintptr_t>(dst + k) & 63u)) {
    dst[k] = src[k];
    ++k;
  }
  for (; k + L <= len; k += L) {
    if constexpr (sizeof(T) == 4) {
      for (index_t q = 0; q < L; q += 4)
        _mm_stream_ps(reinterpret_cast<float*>(dst + k + q), _mm_loadu_ps(reinterpret_cast<const float*>(src + k + q)));
    } else {
      for (index_t q = 0; q < L; q += 2)
        _mm_stream_pd(reinterpret_cast<double*>(dst + k + q), _mm_loadu_pd(reinterpret_cast<const double*>(src + k + q)));
    }
  }
#endif
  for (; k < len; ++k) dst[k] = src[k];
}

inline void mirror_fence() {
#if defined(__SSE2__)
  _mm_sfence();  // the non-temporal stores are visible before the pass returns
#endif
}

// G (n, n) row-major whose lower triangle (diagonal included) holds X X^T; the upper triangle is
// never read. The rows go in strips one cache line high (16 rows in float32, 8 in float64):
// each row's entries left of the diagonal in one long pass (half the full pass's work), then
// the strip's columns written transposed to the upper triangle, 64 columns at a time through a
// padded local copy, so that each mirrored run is one whole line (mirror_run), stored while the
// strip is still in cache. K comes out exactly symmetric. The strips start where G's rows start
// a line (the first one is shorter), so that when n is a multiple of a line every run is one
// line. (64 x 64 tiles, each mirrored by plain stores, cost as much as the full pass:
// benchmarks/RESULTS_KERNELS.md.)
template <typename T, bool NTK>
FASTREP_CLONES void kernel_lower_rows(T* G, index_t n, T inv_d, T beta2) {
  const T d_beta2 = beta2 / inv_d;
  std::vector<T> q(static_cast<std::size_t>(n)), r(static_cast<std::size_t>(n)), ir(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) q[i] = inner_to_c(G[i * n + i], inv_d, d_beta2);
  roots(q.data(), n, r.data(), ir.data());
  const T* R = r.data();
  const T* IR = ir.data();
  const T* Q = q.data();
  const EntriesFn<T, NTK> simd = simd_entries<T, NTK>();
  constexpr index_t line = 64 / static_cast<index_t>(sizeof(T));
  constexpr index_t B = line, C = kMirrorColumns, LD = B + 1;
  const auto mis = static_cast<index_t>((reinterpret_cast<std::uintptr_t>(G) / sizeof(T)) % line);
  const index_t s0 = mis == 0 ? B : line - mis;  // end of the first strip
  const index_t nb = n <= s0 ? 1 : 1 + (n - s0 + B - 1) / B;
  auto lo = [=](index_t t) { return t == 0 ? index_t(0) : std::min(n, s0 + (t - 1) * B); };
  // strip t holds ~t B^2 entries: dynamic scheduling, largest first, balances the triangle
  FASTREP_OMP(parallel for schedule(dynamic, 1) if (n >= 256))
  for (index_t t = 0; t < nb; ++t) {
    const index_t tb = nb - 1 - t;
    const index_t i0 = lo(tb), i1 = lo(tb + 1);
    for (index_t i = i0; i < i1; ++i) {
      T* row = G + i * n;
      const T ri = R[i], iri = IR[i];
      entries_row<T, NTK>(simd, row, i, ri, iri, R, IR, inv_d, d_beta2);
      row[i] = kernel_diagonal<T, NTK>(Q[i]);
    }
    T tile[C * LD];  // tile[(j - j0) * LD + (i - i0)] = K[i, j]
    for (index_t j0 = 0; j0 < i0; j0 += C) {
      const index_t j1 = std::min(j0 + C, i0);
      for (index_t i = i0; i < i1; ++i)
        for (index_t j = j0; j < j1; ++j) tile[(j - j0) * LD + (i - i0)] = G[i * n + j];
      for (index_t j = j0; j < j1; ++j) mirror_run(G + j * n + i0, tile + (j - j0) * LD, i1 - i0);
    }
    for (index_t j = i0; j < i1; ++j)  // the strip's own diagonal block
      for (index_t i = j + 1; i < i1; ++i) G[j * n + i] = G[i * n + j];
    mirror_fence();
  }
}

}  // namespace detail

// In place: G (n1, n2) row-major holding X1 X2^T becomes K(X1, X2), with d = 1/inv_d and
// beta2 = beta^2. q1 (n1), q2 (n2): q = |x|^2/d + beta^2 of the rows of X1 and X2. When
// q1 == nullptr the call is symmetric (X2 is X1, n1 == n2) and q is read from G's own diagonal
// before it is overwritten, which makes the diagonal exact.
template <typename T>
void kernel_from_inner(T* G, index_t n1, index_t n2, const T* q1, const T* q2, T inv_d, T beta2,
                       KernelKind kind) {
  if (kind == KernelKind::ntk)
    detail::kernel_rows<T, true>(G, n1, n2, q1, q2, inv_d, beta2);
  else
    detail::kernel_rows<T, false>(G, n1, n2, q1, q2, inv_d, beta2);
}

// In place: G (n, n) row-major whose lower triangle (diagonal included) holds X X^T becomes the
// symmetric K(X, X), both triangles written and equal bit for bit; q is read from the diagonal,
// which is exact, as in the symmetric kernel_from_inner.
template <typename T>
void kernel_from_inner_lower(T* G, index_t n, T inv_d, T beta2, KernelKind kind) {
  if (kind == KernelKind::ntk)
    detail::kernel_lower_rows<T, true>(G, n, inv_d, beta2);
  else
    detail::kernel_lower_rows<T, false>(G, n, inv_d, beta2);
}

}  // namespace fastrep

FASTREP_FP_END
