// Orthonormal (probabilists') Hermite features.
//
// h_k(z) = He_k(z) / sqrt(k!), computed with the three-term recurrence on the
// normalized polynomials
//     h_0 = 1,  h_1 = z,  h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k+1),
// which never forms z^k or k!, so degree 30 at |z| <= 10 stays finite in float64.
//
// hermite_features(Z, n, r, alphas, K, out) writes out[i, a] = prod_j h_{alphas[a, j]}(Z[i, j])
// for row-major Z (n, r), alphas (K, r) and out (n, K). One fused pass, OpenMP over rows:
// each row builds its own small (r, p+1) table; nothing of size (n, r, p+1) exists.
//
// Three implementations doing the same arithmetic in the same order:
//   hermite_features_generic  portable C++17; the inner loop over features reads the table
//                             through precomputed offsets.
//   hermite_features_avx512   x86-64 GCC/Clang only, chosen at run time when the CPU has
//                             AVX-512F and p < 32 (float) or p < 16 (double). The whole
//                             table of one column fits in one or two vector registers, so
//                             16 (8) features of a row are one permute per column plus r-1
//                             multiplies and one store. r <= 4 is specialized at compile time;
//                             outputs of 32 MiB and more go to memory with non-temporal stores.
//                             This is what makes the kernel run at the speed of writing its
//                             output (benchmarks/RESULTS_HERMITE.md).
//   hermite_features_avx2     the same code in 256-bit registers, chosen at run time on CPUs
//                             with AVX2 (and no AVX-512F) for p < 16 (float) or p < 8 (double);
//                             float with r <= 4 turns the layout around instead: 8 rows per
//                             register, plain multiplies, an 8 x 8 transpose per 8 features.
// The two SIMD paths are one body, hermite_lanes.hpp, instantiated per instruction set on a
// small wrapper of its intrinsics (the way philox_lanes.hpp serves the generator).
// hermite_features picks among them; define FASTREP_NO_SIMD to compile the generic one only.
// Every path computes the same products in the same order: their outputs are bit-identical.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "scalar_hermite.hpp"

#if !defined(FASTREP_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTREP_HAVE_AVX512_PATH 1
#include <immintrin.h>
#if defined(FASTREP_AVX512_ON_SIMDE)
// Tests only: the AVX-512 path built on SIMDe's portable AVX-512 (Debian's libsimde-dev), so
// that its source runs, and is checked bit for bit, on a CPU without AVX-512
// (tests/cpp/test_hermite_embed.cpp). Such a build runs it wherever the dispatcher would.
#include <simde/x86/avx512.h>
#define FASTREP_AVX512
#define FASTREP_HX(name) simde##name
#else
// Per-function target: the translation unit stays portable (no -mavx512f), and the
// function only runs after a run-time CPU check.
#define FASTREP_AVX512 __attribute__((target("avx512f")))
#define FASTREP_HX(name) name
#endif
#else
#define FASTREP_HAVE_AVX512_PATH 0
#endif

// FASTREP_FP_BEGIN (hd.hpp): no FMA contraction (the AVX-512 path would otherwise fuse the
// recurrence and differ in the last bits from other machines and from the GPU).
FASTREP_FP_BEGIN

namespace fastrep {

// sqrt(k) and 1/sqrt(k+1) for k = 0..p, shared by every row.
template <typename T>
struct HermiteCoefficients {
  std::vector<T> sqrt_k, inv_sqrt_k1;
  explicit HermiteCoefficients(int p) : sqrt_k(p + 1), inv_sqrt_k1(p + 1) {
    for (int k = 0; k <= p; ++k) {
      sqrt_k[k] = hermite_sqrt_k<T>(k);
      inv_sqrt_k1[k] = hermite_inv_sqrt_k1<T>(k);
    }
  }
};

// table[k] = h_k(z) for k = 0..p
template <typename T>
inline void hermite_table(T z, int p, const T* sqrt_k, const T* inv_sqrt_k1, T* table) {
  table[0] = T(1);
  if (p >= 1) table[1] = z;
  for (int k = 1; k < p; ++k) table[k + 1] = hermite_step(z, table[k], table[k - 1], sqrt_k[k], inv_sqrt_k1[k]);
}

// The largest entry of a (K, r) multi-index array.
inline int max_degree(const std::int32_t* alphas, index_t K, index_t r) {
  int p = 0;
  for (index_t i = 0; i < K * r; ++i) p = alphas[i] > p ? alphas[i] : p;
  return p;
}

// Smaller outputs are written by the calling thread alone: waking a team costs more than
// the work, and on a busy machine a sleeping thread can hold the call up for a time slice.
constexpr index_t kParallelMinOutputs = 1 << 15;

namespace detail {
// This thread's number in the current team (0 outside a parallel region).
inline index_t thread_num() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// r == 0: every feature is the empty product.
template <typename T>
inline void fill_ones(index_t n, index_t K, T* out) {
  for (index_t i = 0; i < n * K; ++i) out[i] = T(1);
}
}  // namespace detail

// Portable version; see the file comment. Same arguments as hermite_features.
template <typename T>
FASTREP_CLONES void hermite_features_generic(const T* Z, index_t n, index_t r, const std::int32_t* alphas,
                                             index_t K, T* out) {
  if (r == 0) return detail::fill_ones(n, K, out);
  const int p = max_degree(alphas, K, r);
  const HermiteCoefficients<T> c(p);
  const T* sk = c.sqrt_k.data();
  const T* isk = c.inv_sqrt_k1.data();
  const index_t stride = p + 1;
  // off[j * K + a] = where h_{alphas[a, j]}(Z[i, j]) sits in the row's table; column-major so
  // the loop over features is contiguous (the AVX2/AVX-512 clones turn it into gathers).
  std::vector<std::int32_t> offsets(static_cast<std::size_t>(r * K));
  for (index_t a = 0; a < K; ++a)
    for (index_t j = 0; j < r; ++j) offsets[j * K + a] = static_cast<std::int32_t>(j * stride + alphas[a * r + j]);
  const std::int32_t* off = offsets.data();
  // every thread's table is allocated here: an exception cannot leave an OpenMP region
  const index_t tsize = r * stride;
  std::vector<T> tables(static_cast<std::size_t>(num_threads() * tsize));
  FASTREP_OMP(parallel if (n * K >= kParallelMinOutputs)) {
    T* tab = tables.data() + detail::thread_num() * tsize;
    // dynamic: on a shared machine a thread that lost its core must not hold up the rest
    FASTREP_OMP(for schedule(dynamic, 1024))
    for (index_t i = 0; i < n; ++i) {
      const T* zi = Z + i * r;
      for (index_t j = 0; j < r; ++j) hermite_table(zi[j], p, sk, isk, tab + j * stride);
      T* oi = out + i * K;
      for (index_t a = 0; a < K; ++a) oi[a] = tab[off[a]];
      for (index_t j = 1; j < r; ++j) {
        const std::int32_t* oj = off + j * K;
        for (index_t a = 0; a < K; ++a) oi[a] *= tab[oj[a]];
      }
    }
  }
}

#if FASTREP_HAVE_AVX512_PATH
namespace detail {

// Outputs larger than this (bytes) are streamed past the cache (see stream_copy): they cannot
// stay in a last-level cache anyway, and not reading each line first saves a third of the traffic.
constexpr std::size_t kStreamMinBytes = std::size_t(32) << 20;

// ---- The SIMD paths: hermite_lanes.hpp once per instruction set --------------------------------
//
// A column's table of p + 1 entries sits in one register (p < W) or two (p < 2 W), and the W
// features of one output vector of a row are a permute of each column's table plus r - 1
// multiplies and one store. Namespaces avx512 (16 floats or 8 doubles, AVX-512F) and avx2 (8 or
// 4; doubles are permuted as pairs of 32-bit lanes, indices 2a and 2a + 1, AVX2 having no variable
// 64-bit permute, and two-register tables take a permute of each and a blend) wrap the intrinsics
// as Isa<T> and instantiate hermite_lanes.hpp on them. Float with r <= 4 on AVX2 takes the
// rows-in-lanes code further below instead: with 8 lanes, a permute per factor and feature
// vector left the loop bound by its permutes (benchmarks/RESULTS_HERMITE.md).

namespace avx512 {
#if defined(FASTREP_AVX512_ON_SIMDE)
#define FASTREP_HERMITE_FN
#else
#define FASTREP_HERMITE_FN FASTREP_AVX512
#endif

template <typename T>
struct Isa;

#if defined(FASTREP_AVX512_ON_SIMDE)
// The first m lanes of v to p (what the masked store does), through a buffer.
template <typename V, typename T>
inline void store_first_copy(T* p, V v, index_t m) {
  alignas(64) T buf[64 / sizeof(T)];
  std::memcpy(buf, &v, sizeof(buf));
  std::memcpy(p, buf, sizeof(T) * static_cast<std::size_t>(m));
}
// SIMDe 0.7 has neither the non-temporal nor the masked store: the same values, stored plainly.
#define FASTREP_HERMITE_512_STORES(T, SFX, MASK)                                               \
  static void stream(T* p, const T* aligned) { store(p, FASTREP_HX(_mm512_load_##SFX)(aligned)); } \
  static void store_first(T* p, vec v, index_t m) { store_first_copy(p, v, m); }
#else
#define FASTREP_HERMITE_512_STORES(T, SFX, MASK)                                                           \
  FASTREP_AVX512 static void stream(T* p, const T* aligned) { _mm512_stream_##SFX(p, _mm512_load_##SFX(aligned)); } \
  FASTREP_AVX512 static void store_first(T* p, vec v, index_t m) {                                         \
    _mm512_mask_storeu_##SFX(p, static_cast<MASK>((1u << m) - 1u), v);                                    \
  }
#endif

// Isa<T> for T = float (SFX ps, the permute's index lanes 32-bit, 16 lanes) and double (pd,
// 64-bit, 8): the intrinsics differ by their suffix only. The permute indices are one lane_int
// per lane (vpermps/vpermt2ps read 5 bits of it, vpermpd/vpermt2pd 4). The one-register permute
// is the all-lanes mask form: the plain one trips GCC 12's -Wmaybe-uninitialized inside
// avx512fintrin.h (_mm512_undefined_ps); the instruction is the same.
#define FASTREP_HERMITE_512_ISA(T, V, SFX, LANE_INT, MASK)                                                \
  template <>                                                                                             \
  struct Isa<T> {                                                                                         \
    using vec = FASTREP_HX(V);                                                                            \
    using idx_t = LANE_INT;                                                                               \
    static constexpr index_t W = 64 / sizeof(T);                                                          \
    static constexpr index_t index_width(bool) { return W; }                                              \
    template <bool TwoRegs>                                                                               \
    static void set_index(idx_t* e, index_t lane, std::int32_t deg) {                                     \
      e[lane] = static_cast<idx_t>(deg);                                                                  \
    }                                                                                                     \
    FASTREP_AVX512 static FASTREP_HX(__m512i) index(const idx_t* e) {                                     \
      return FASTREP_HX(_mm512_loadu_si512)(static_cast<const void*>(e));                                 \
    }                                                                                                     \
    FASTREP_AVX512 static vec load(const T* p) { return FASTREP_HX(_mm512_loadu_##SFX)(p); }              \
    FASTREP_AVX512 static vec perm(const idx_t* e, vec t) {                                               \
      return FASTREP_HX(_mm512_mask_permutexvar_##SFX)(t, static_cast<MASK>(~0u), index(e), t);           \
    }                                                                                                     \
    FASTREP_AVX512 static vec perm2(const idx_t* e, vec lo, vec hi) {                                     \
      return FASTREP_HX(_mm512_permutex2var_##SFX)(lo, index(e), hi);                                     \
    }                                                                                                     \
    FASTREP_AVX512 static vec mul(vec a, vec b) { return FASTREP_HX(_mm512_mul_##SFX)(a, b); }            \
    FASTREP_AVX512 static void store(T* p, vec v) { FASTREP_HX(_mm512_storeu_##SFX)(p, v); }              \
    FASTREP_HERMITE_512_STORES(T, SFX, MASK)                                                              \
    FASTREP_AVX512 static void sfence() { FASTREP_HX(_mm_sfence)(); }                                     \
  };
FASTREP_HERMITE_512_ISA(float, __m512, ps, std::int32_t, __mmask16)
FASTREP_HERMITE_512_ISA(double, __m512d, pd, std::int64_t, __mmask8)
#undef FASTREP_HERMITE_512_ISA
#undef FASTREP_HERMITE_512_STORES

#include "hermite_lanes.hpp"
#undef FASTREP_HERMITE_FN
}  // namespace avx512

namespace avx2 {
#define FASTREP_HERMITE_FN __attribute__((target("avx2")))

template <typename T>
struct Isa;

// Isa<T> for T = float (SFX ps, 8 lanes) and double (pd, 4). Permute indices are 8 32-bit lanes
// per vector, AVX2 having no variable 64-bit permute: a double is the pair of 32-bit lanes
// 2a, 2a + 1, permuted as floats (AS_PS, FROM_PS: the casts, or nothing for float). With
// two-register tables the blend mask (all ones where the entry is in the second register)
// follows the lanes. LANES_BELOW(m): all ones in the lanes below m, for the masked store.
#define FASTREP_HERMITE_256_ISA(T, V, SFX, AS_PS, FROM_PS, LANES_BELOW)                                     \
  template <>                                                                                             \
  struct Isa<T> {                                                                                         \
    using vec = V;                                                                                        \
    using idx_t = std::int32_t;                                                                           \
    static constexpr index_t W = 32 / sizeof(T);                                                          \
    static constexpr int lanes_per = sizeof(T) / 4; /* 32-bit permute lanes per element */                \
    static constexpr index_t index_width(bool two_regs) { return two_regs ? 16 : 8; }                     \
    template <bool TwoRegs>                                                                               \
    static void set_index(idx_t* e, index_t lane, std::int32_t deg) {                                     \
      for (int h = 0; h < lanes_per; ++h) {                                                               \
        const index_t l = lane * lanes_per + h;                                                           \
        e[l] = static_cast<std::int32_t>((deg % W) * lanes_per + h);                                      \
        if (TwoRegs) e[8 + l] = deg >= W ? -1 : 0;                                                        \
      }                                                                                                   \
    }                                                                                                     \
    FASTREP_HERMITE_FN static __m256i index(const idx_t* e) {                                             \
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e));                                     \
    }                                                                                                     \
    FASTREP_HERMITE_FN static vec load(const T* p) { return _mm256_loadu_##SFX(p); }                      \
    FASTREP_HERMITE_FN static vec perm(const idx_t* e, vec t) {                                           \
      return FROM_PS(_mm256_permutevar8x32_ps(AS_PS(t), index(e)));                                       \
    }                                                                                                     \
    FASTREP_HERMITE_FN static vec perm2(const idx_t* e, vec lo, vec hi) {                                 \
      return _mm256_blendv_##SFX(perm(e, lo), perm(e, hi), _mm256_castsi256_##SFX(index(e + 8)));         \
    }                                                                                                     \
    FASTREP_HERMITE_FN static vec mul(vec a, vec b) { return _mm256_mul_##SFX(a, b); }                    \
    FASTREP_HERMITE_FN static void store(T* p, vec v) { _mm256_storeu_##SFX(p, v); }                      \
    FASTREP_HERMITE_FN static void stream(T* p, const T* aligned) {                                       \
      _mm256_stream_##SFX(p, _mm256_load_##SFX(aligned));                                                 \
    }                                                                                                     \
    FASTREP_HERMITE_FN static void store_first(T* p, vec v, index_t m) { _mm256_maskstore_##SFX(p, LANES_BELOW(m), v); } \
    FASTREP_HERMITE_FN static void sfence() { _mm_sfence(); }                                             \
  };
#define FASTREP_HERMITE_LANES_BELOW_32(m) \
  _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(m)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define FASTREP_HERMITE_LANES_BELOW_64(m) _mm256_cmpgt_epi64(_mm256_set1_epi64x(m), _mm256_setr_epi64x(0, 1, 2, 3))
FASTREP_HERMITE_256_ISA(float, __m256, ps, , , FASTREP_HERMITE_LANES_BELOW_32)
FASTREP_HERMITE_256_ISA(double, __m256d, pd, _mm256_castpd_ps, _mm256_castps_pd, FASTREP_HERMITE_LANES_BELOW_64)
#undef FASTREP_HERMITE_256_ISA
#undef FASTREP_HERMITE_LANES_BELOW_32
#undef FASTREP_HERMITE_LANES_BELOW_64

#include "hermite_lanes.hpp"

// ---- Float rows in lanes: 8 rows per register -----------------------------------------------
//
// For float and r = R <= 4 the AVX2 path turns the problem around: a register holds one
// quantity for 8 rows. The recurrence runs on 8 rows at once (tab[j * (p + 1) + k] = h_k of
// column j for the 8 rows), each feature is then R - 1 multiplies of such vectors, read from
// L1 with no permute at all, and an 8 x 8 transpose turns 8 features of 8 rows into 8
// consecutive features of each row. The products keep the portable order (factor 0 times
// factor 1, times factor 2, ...; h_0 = 1 is multiplied in like any other factor), so the
// output is bit-identical.

// Lane l of the column vectors holds row kLaneRow<R>[l] of the 8 (R == 4 loads the rows with
// shuffles that interleave them; other R gather them in order).
template <int R>
constexpr int lane_row(int l) {
  return R == 4 ? (l < 4 ? 2 * l : 2 * (l - 4) + 1) : l;
}

// The column vectors z[j] (8 rows each) of 8 consecutive rows of R floats.
template <int R>
FASTREP_HERMITE_FN inline void load_columns8(const float* Z, __m256* z) {
  if constexpr (R == 4) {
    const __m256 a = _mm256_loadu_ps(Z), b = _mm256_loadu_ps(Z + 8);    // rows 0,1 | 2,3
    const __m256 c = _mm256_loadu_ps(Z + 16), d = _mm256_loadu_ps(Z + 24);  // rows 4,5 | 6,7
    const __m256 ablo = _mm256_unpacklo_ps(a, b), abhi = _mm256_unpackhi_ps(a, b);
    const __m256 cdlo = _mm256_unpacklo_ps(c, d), cdhi = _mm256_unpackhi_ps(c, d);
    z[0] = _mm256_shuffle_ps(ablo, cdlo, 0x44);
    z[1] = _mm256_shuffle_ps(ablo, cdlo, 0xEE);
    z[2] = _mm256_shuffle_ps(abhi, cdhi, 0x44);
    z[3] = _mm256_shuffle_ps(abhi, cdhi, 0xEE);
  } else {
    const __m256i rows = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(R));
    for (int j = 0; j < R; ++j) z[j] = _mm256_i32gather_ps(Z + j, rows, 4);
  }
}

// 8 rows: Z8 holds their R columns (row-major), rows8 receives them at stride K. Stores run in
// row order and reach up to 8 - (K - 8 * (G - 1)) floats past the last row; what spills into the
// next row is overwritten by that row's own stores, which come later.
// off[(g * 8 + l) * F + q] = the byte offset in tab of factor q of feature g * 8 + l (h_0 = 1 for
// lanes past K); byte offsets of pointer size save a sign extension and a scaling per factor.
// Without Pairs, F = R and factor j is h_{alphas[a, j]} of column j, at tab[j * (p + 1) + alpha].
// With Pairs (R >= 3), F = R - 1 and factor 0 is the product of the first two, h_{alpha_0}(z_0) *
// h_{alpha_1}(z_1), from a table of all (p + 1)^2 of them built per 8 rows at
// tab[R * (p + 1) + alpha_0 * (p + 1) + alpha_1]: the same first multiply, done once per pair.
template <int R, bool Pairs>
FASTREP_HERMITE_FN inline void lanes_block8(const float* Z8, int p, const float* sk, const float* isk, const std::ptrdiff_t* off,
                                      index_t G, index_t K, __m256* tab, float* rows8) {
  constexpr int F = Pairs ? R - 1 : R;
  __m256 z[R];
  load_columns8<R>(Z8, z);
  const index_t P1 = p + 1;
  for (int j = 0; j < R; ++j) {
    tab[j * P1] = _mm256_set1_ps(1.0f);
    if (p >= 1) tab[j * P1 + 1] = z[j];
  }
  // hermite_step on 8 rows: the same operations in the same order as the scalar code
  for (int k = 1; k < p; ++k) {
    const __m256 s = _mm256_set1_ps(sk[k]), is = _mm256_set1_ps(isk[k]);
    for (int j = 0; j < R; ++j) {
      const __m256 hk = tab[j * P1 + k], hkm1 = tab[j * P1 + k - 1];
      tab[j * P1 + k + 1] = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(z[j], hk), _mm256_mul_ps(s, hkm1)), is);
    }
  }
  if constexpr (Pairs) {
    __m256* pair = tab + R * P1;
    for (index_t a0 = 0; a0 < P1; ++a0) {
      const __m256 h0 = tab[a0];
      for (index_t a1 = 0; a1 < P1; ++a1) pair[a0 * P1 + a1] = _mm256_mul_ps(h0, tab[P1 + a1]);
    }
  }
  // the last (partial) group first: its spill into the next row is then overwritten by group 0
  for (index_t gg = 0; gg < G; ++gg) {
    const index_t g = gg == 0 ? G - 1 : gg - 1;
    const std::ptrdiff_t* o = off + g * 8 * F;
    const char* tb = reinterpret_cast<const char*>(tab);
    const auto at = [tb](std::ptrdiff_t bytes) { return _mm256_load_ps(reinterpret_cast<const float*>(tb + bytes)); };
    __m256 f[8];
    for (int l = 0; l < 8; ++l) {
      __m256 acc = at(o[l * F]);
      for (int q = 1; q < F; ++q) acc = _mm256_mul_ps(acc, at(o[l * F + q]));
      f[l] = acc;
    }
    // 8 x 8 transpose: t[k] = lane k of f[0..7], the features g*8.. of row lane_row<R>(k)
    const __m256 u0 = _mm256_unpacklo_ps(f[0], f[1]), u1 = _mm256_unpackhi_ps(f[0], f[1]);
    const __m256 u2 = _mm256_unpacklo_ps(f[2], f[3]), u3 = _mm256_unpackhi_ps(f[2], f[3]);
    const __m256 u4 = _mm256_unpacklo_ps(f[4], f[5]), u5 = _mm256_unpackhi_ps(f[4], f[5]);
    const __m256 u6 = _mm256_unpacklo_ps(f[6], f[7]), u7 = _mm256_unpackhi_ps(f[6], f[7]);
    const __m256 s0 = _mm256_shuffle_ps(u0, u2, 0x44), s1 = _mm256_shuffle_ps(u0, u2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(u1, u3, 0x44), s3 = _mm256_shuffle_ps(u1, u3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(u4, u6, 0x44), s5 = _mm256_shuffle_ps(u4, u6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(u5, u7, 0x44), s7 = _mm256_shuffle_ps(u5, u7, 0xEE);
    __m256 t[8];
    t[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    t[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    t[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    t[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    t[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    t[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    t[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    t[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
    float* dst = rows8 + g * 8;
    if constexpr (R == 4) {  // lanes hold rows 0, 2, 4, 6, 1, 3, 5, 7
      for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(dst + (2 * i) * K, t[i]);
        _mm256_storeu_ps(dst + (2 * i + 1) * K, t[i + 4]);
      }
    } else {
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * K, t[i]);
    }
  }
}

// The pair table is used while it stays this small ((p + 1)^2 vectors; p <= 7).
constexpr index_t kLanesMaxPairs = 64;

template <int R, bool Pairs>
FASTREP_HERMITE_FN void hermite_features_avx2_lanes(const float* Z, index_t n, const std::int32_t* alphas, index_t K,
                                              float* out, int p) {
  const HermiteCoefficients<float> c(p);
  const float* sk = c.sqrt_k.data();
  const float* isk = c.inv_sqrt_k1.data();
  const index_t G = (K + 7) / 8;
  constexpr int F = Pairs ? R - 1 : R;
  const index_t P1 = p + 1;
  std::vector<std::ptrdiff_t> offsets(static_cast<std::size_t>(G * 8 * F), 0);
  for (index_t a = 0; a < G * 8; ++a) {
    const auto alpha = [&](index_t j) { return a < K ? alphas[a * R + j] : 0; };
    std::ptrdiff_t* e = offsets.data() + a * F;
    if (Pairs) {
      e[0] = static_cast<std::ptrdiff_t>(sizeof(__m256) * (R * P1 + alpha(0) * P1 + alpha(1)));
      for (index_t j = 2; j < R; ++j) e[j - 1] = static_cast<std::ptrdiff_t>(sizeof(__m256) * (j * P1 + alpha(j)));
    } else {
      for (index_t j = 0; j < R; ++j) e[j] = static_cast<std::ptrdiff_t>(sizeof(__m256) * (j * P1 + alpha(j)));
    }
  }
  const std::ptrdiff_t* off = offsets.data();
  const bool stream = static_cast<std::size_t>(n) * static_cast<std::size_t>(K) * sizeof(float) >= kStreamMinBytes;
  // Rows are built in an L1-sized staging block, then copied (streamed when large) to `out`.
  const index_t B = std::max<index_t>(8, (2048 / K) / 8 * 8);
  const index_t nblocks = (n + B - 1) / B;
  const std::size_t ssize = static_cast<std::size_t>(B * K + 16 + 8);
  FASTREP_OMP(parallel if (n * K >= kParallelMinOutputs)) {
    alignas(32) __m256 tab[R * 16 + (Pairs ? kLanesMaxPairs : 0)];  // p < 16
    std::vector<float> staging(ssize);
    alignas(32) float zpad[8 * R];
    FASTREP_OMP(for schedule(dynamic, 16))
    for (index_t blk = 0; blk < nblocks; ++blk) {
      const index_t i0 = blk * B, m = std::min(B, n - i0);
      float* dst = out + i0 * K;
      const auto line = [](const void* q) { return static_cast<index_t>(reinterpret_cast<std::uintptr_t>(q) & 63); };
      float* rows = staging.data() + ((64 - line(staging.data()) + line(dst)) & 63) / index_t(sizeof(float));
      index_t i = 0;
      for (; i + 8 <= m; i += 8) lanes_block8<R, Pairs>(Z + (i0 + i) * R, p, sk, isk, off, G, K, tab, rows + i * K);
      if (i < m) {  // the last rows of the array, padded with z = 0 to 8 (B is a multiple of 8)
        for (index_t e = 0; e < 8 * R; ++e) zpad[e] = e < (m - i) * R ? Z[(i0 + i) * R + e] : 0.0f;
        lanes_block8<R, Pairs>(zpad, p, sk, isk, off, G, K, tab, rows + i * K);
      }
      if (stream) {
        stream_copy(dst, rows, m * K);
      } else {
        std::copy(rows, rows + m * K, dst);
      }
    }
    if (stream) _mm_sfence();
  }
}

#undef FASTREP_HERMITE_FN
}  // namespace avx2
}  // namespace detail

// Whether the CPU running this can execute the AVX-512 path (checked once; always, on SIMDe).
inline bool cpu_has_avx512f() {
#if defined(FASTREP_AVX512_ON_SIMDE)
  return true;
#else
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
#endif
}
// Whether the CPU running this can execute the AVX2 path (checked once).
inline bool cpu_has_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2");
  return ok;
}
#else
inline bool cpu_has_avx512f() { return false; }
inline bool cpu_has_avx2() { return false; }
#endif

// The AVX-512 version when it applies (see the file comment); returns false, writing
// nothing, when this CPU, compiler or degree rules it out (p >= 32 in float, p >= 16 in double).
template <typename T>
bool hermite_features_avx512(const T* Z, index_t n, index_t r, const std::int32_t* alphas, index_t K, T* out) {
#if FASTREP_HAVE_AVX512_PATH
  if (!cpu_has_avx512f() || r == 0) return false;
  return detail::avx512::features(Z, n, r, alphas, K, out, max_degree(alphas, K, r));
#else
  (void)Z, (void)n, (void)r, (void)alphas, (void)K, (void)out;
  return false;
#endif
}

// The AVX2 version when it applies: false, writing nothing, when this CPU, compiler or degree
// rules it out (p >= 16 in float, p >= 8 in double).
template <typename T>
bool hermite_features_avx2(const T* Z, index_t n, index_t r, const std::int32_t* alphas, index_t K, T* out) {
#if FASTREP_HAVE_AVX512_PATH
  if (!cpu_has_avx2() || r == 0) return false;
  const int p = max_degree(alphas, K, r);
  if constexpr (std::is_same_v<T, float>) {
    using namespace detail::avx2;
    if (p < 16 && r <= 4 && K > 0) {
      const bool pairs = (p + 1) * (p + 1) <= kLanesMaxPairs;
      switch (r) {
        case 1: hermite_features_avx2_lanes<1, false>(Z, n, alphas, K, out, p); return true;
        case 2: hermite_features_avx2_lanes<2, false>(Z, n, alphas, K, out, p); return true;
        case 3:
          pairs ? hermite_features_avx2_lanes<3, true>(Z, n, alphas, K, out, p)
                : hermite_features_avx2_lanes<3, false>(Z, n, alphas, K, out, p);
          return true;
        default:
          pairs ? hermite_features_avx2_lanes<4, true>(Z, n, alphas, K, out, p)
                : hermite_features_avx2_lanes<4, false>(Z, n, alphas, K, out, p);
          return true;
      }
    }
  }
  return detail::avx2::features(Z, n, r, alphas, K, out, p);
#else
  (void)Z, (void)n, (void)r, (void)alphas, (void)K, (void)out;
  return false;
#endif
}

// "avx512", "avx2" or "generic": the version hermite_features runs for maximal degree p.
template <typename T>
const char* hermite_features_path(int p) {
  if (cpu_has_avx512f() && FASTREP_HAVE_AVX512_PATH && p < 2 * int(64 / sizeof(T))) return "avx512";
  if (cpu_has_avx2() && FASTREP_HAVE_AVX512_PATH && p < 2 * int(32 / sizeof(T))) return "avx2";
  return "generic";
}

template <typename T>
void hermite_features(const T* Z, index_t n, index_t r, const std::int32_t* alphas, index_t K, T* out) {
  if (hermite_features_avx512(Z, n, r, alphas, K, out)) return;
  if (hermite_features_avx2(Z, n, r, alphas, K, out)) return;
  hermite_features_generic(Z, n, r, alphas, K, out);
}

}  // namespace fastrep

FASTREP_FP_END
