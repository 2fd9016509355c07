// Reproducible standard normals: Philox4x32-10 counters turned into Gaussians by Box-Muller.
//
// The stream (seed, stream) is a function of the row index only:
//   key     = (seed & 0xffffffff, seed >> 32)
//   counter = (row & 0xffffffff, row >> 32, col / 4, stream)
// The four 32-bit output words x_0..x_3 become uniforms u_k = (x_k + 0.5) 2^-32 in (0, 1)
// and Box-Muller on the pairs (u_0, u_1), (u_2, u_3) gives the normals of columns
// 4 (col / 4) + 0..3:  sqrt(-2 ln u_0) cos(2 pi u_1), sqrt(-2 ln u_0) sin(2 pi u_1), and the
// same with (u_2, u_3). Everything is computed in double and cast to T at the end, so
// the C++, Numba, CuPy and NumPy implementations agree up to the rounding of that cast.
//
// Speed: libm's log/sin/cos do not vectorize without -ffast-math, so this file carries its
// own branch-free log and sincos (fdlibm's minimax polynomials, < 1 ulp on their ranges)
// and evaluates them on small SoA tiles that GCC vectorizes (one Philox call per lane).
// A cell's value is computed by the same instructions whatever the tiling or the thread
// count, so results are bit-identical for any chunking of the rows; with contraction to FMA
// turned off below, they are also the same on every x86-64 instruction-set level.
//
// Philox4x32: J. Salmon, M. Moraes, R. Dror, D. Shaw, "Parallel random numbers: as easy as
// 1, 2, 3", SC11; known-answer vectors from Random123's kat_vectors (tests/test_data.py).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.hpp"
#include "scalar_philox.hpp"

// No FMA contraction in this file (FASTREP_FP_BEGIN, hd.hpp): GCC contracts a*b + c where the
// target has FMA (the AVX-512 clone) and not elsewhere, which would change the last bits of the
// normals from one machine to another. Without it every machine, and the GPU, makes the same bits.
FASTREP_FP_BEGIN

namespace fastrep {
namespace philox {

constexpr std::uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;  // round multipliers
constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;  // Weyl key increments
constexpr std::uint64_t MASK32 = 0xFFFFFFFFu;

// philox4x32_10, log_uniform, sincos_2pi_uniform and box_muller: scalar_philox.hpp (the same
// code runs on the GPU); normals_tile below is their vectorizable loop form.

// Tile of cells handled at once by one thread: SoA buffers of this many lanes.
constexpr index_t TILE = 256;

// Inlined into each path's loop (also the SIMD paths' target functions, where GCC otherwise
// kept the scatter out of line, which slowed blocks with d % 4 != 0: benchmarks/RESULTS_STREAM.md).
#if defined(__GNUC__) || defined(__clang__)
#define FASTREP_TILE_INLINE __attribute__((always_inline)) inline
#else
#define FASTREP_TILE_INLINE inline
#endif

// gaussian_block's work, the same on every path: G column groups per row, cells = n G
// (row, group) cells, in `count` tiles of TILE cells; the Philox key from the seed.
struct Tiles {
  index_t G, cells, count;
  std::uint32_t key0, key1;
  FASTREP_TILE_INLINE Tiles(std::uint64_t seed, index_t n, index_t d)
      : G((d + 3) / 4), cells(n * G), count((cells + TILE - 1) / TILE), key0(static_cast<std::uint32_t>(seed)),
        key1(static_cast<std::uint32_t>(seed >> 32)) {}
  // the first cell of a tile, and how many cells it has
  FASTREP_TILE_INLINE index_t first(index_t tile) const { return tile * TILE; }
  FASTREP_TILE_INLINE index_t len(index_t tile) const { return std::min<index_t>(TILE, cells - tile * TILE); }
};

// The counters of cells t0 .. t0 + len - 1 of a block of rows start.. with G column groups per
// row (cell t = row G + group): c0 = row's low word, c1 = its high word, c2 = the group.
FASTREP_TILE_INLINE void tile_counters(std::uint64_t start, index_t G, index_t t0, index_t len, std::uint64_t* c0,
                          std::uint64_t* c1, std::uint64_t* c2) {
  index_t i = t0 / G, g = t0 - (t0 / G) * G;  // local row and column group of the first cell
  for (index_t k = 0; k < len; ++k) {
    const std::uint64_t row = start + static_cast<std::uint64_t>(i);
    c0[k] = row & MASK32;
    c1[k] = row >> 32;
    c2[k] = static_cast<std::uint64_t>(g);
    if (++g == G) {
      g = 0;
      ++i;
    }
  }
}

// When d % 4 != 0: the tile's cells into out (n, d), the last group of each row cut to
// d - 4 (G - 1) columns; value(k, j) is column offset j of the tile's cell k.
template <typename T, typename Value>
FASTREP_TILE_INLINE void scatter_cells(T* out, index_t d, index_t G, index_t t0, index_t len, Value value) {
  for (index_t k = 0; k < len; ++k) {
    const index_t t = t0 + k, row = t / G, grp = t - row * G;
    const index_t col = 4 * grp, m = std::min<index_t>(4, d - col);
    T* o = out + row * d + col;
    for (index_t j = 0; j < m; ++j) o[j] = value(k, j);
  }
}

// The normals of `len` cells (Philox calls) whose counters are (c0[k], c1[k], c2[k], stream),
// written to z0..z3 (column offsets 0..3 within the cell's group of four).
FASTREP_CLONES inline void normals_tile(const std::uint64_t* __restrict c0, const std::uint64_t* __restrict c1,
                                        const std::uint64_t* __restrict c2, std::uint32_t stream,
                                        std::uint32_t key0, std::uint32_t key1, index_t len,
                                        double* __restrict z0, double* __restrict z1, double* __restrict z2,
                                        double* __restrict z3) {
  for (index_t k = 0; k < len; ++k) {
    std::uint64_t x0 = c0[k], x1 = c1[k], x2 = c2[k], x3 = stream;
    std::uint64_t k0 = key0, k1 = key1;
    for (int rnd = 0; rnd < 10; ++rnd) {
      if (rnd) {
        k0 = (k0 + W0) & MASK32;
        k1 = (k1 + W1) & MASK32;
      }
      const std::uint64_t p0 = M0 * x0, p1 = M1 * x2;
      const std::uint64_t n0 = (p1 >> 32) ^ x1 ^ k0;
      const std::uint64_t n2 = (p0 >> 32) ^ x3 ^ k1;
      x0 = n0;
      x1 = p1 & MASK32;
      x2 = n2;
      x3 = p0 & MASK32;
    }
    const double r01 = hd::sqrt(-2.0 * log_uniform(x0));
    const double r23 = hd::sqrt(-2.0 * log_uniform(x2));
    double c, s;
    sincos_2pi_uniform(x1, c, s);
    z0[k] = r01 * c;
    z1[k] = r01 * s;
    sincos_2pi_uniform(x3, c, s);
    z2[k] = r23 * c;
    z3[k] = r23 * s;
  }
}

// ---- SIMD paths: the same arithmetic, written out in intrinsics --------------------------------
//
// GCC's clones of normals_tile vectorize poorly (a 32 x 32 -> 64-bit product becomes several
// instructions, and each cell is one long body), well below the explicit code's speed
// (benchmarks/RESULTS_STREAM.md).
// philox_lanes.hpp holds that code once for any vector width: W cells are the W 64-bit lanes of
// the registers from the counters to the stored normals; Philox's products are one vpmuludq
// each, and log/sincos are the scalar functions of scalar_philox.hpp operation for operation
// (same constants, same order, no FMA: contraction is off in this file), so every lane is
// bit-identical to the scalar path whatever the width.
//
// Layers: namespaces avx2 (256-bit registers, 4 lanes) and avx512 (512-bit, 8 lanes, AVX-512F
// only) wrap the intrinsics under common names; avx2x2 and avx512x2 make each operation issue for
// two registers back to back (FASTREP_PHILOX_PAIRS: two independent dependency chains
// interleaved) and instantiate philox_lanes.hpp on them, W = 8 and 16. The CPU chooses at run
// time (use_path below); FASTREP_NO_SIMD leaves both out.
//
// FASTREP_AVX512_ON_SIMDE (tests only) builds the AVX-512 namespaces on SIMDe's portable AVX-512
// (https://github.com/simd-everywhere/simde, Debian's libsimde-dev) instead of the CPU's: the
// same source, runnable and checked bit for bit on a CPU without AVX-512
// (tests/cpp/test_philox_embed.cpp); that build is slow and runs the path only when forced.

// The wrappers whose intrinsics are named alike at both widths (FASTREP_V(op): _mm256_op or _mm512_op).
#define FASTREP_PHILOX_W_HELPERS                                                         \
  FASTREP_LANES_INLINE vd set1(double v) { return FASTREP_V(set1_pd)(v); }              \
  FASTREP_LANES_INLINE vd add(vd a, vd b) { return FASTREP_V(add_pd)(a, b); }           \
  FASTREP_LANES_INLINE vd sub(vd a, vd b) { return FASTREP_V(sub_pd)(a, b); }           \
  FASTREP_LANES_INLINE vd mul(vd a, vd b) { return FASTREP_V(mul_pd)(a, b); }           \
  FASTREP_LANES_INLINE vd div(vd a, vd b) { return FASTREP_V(div_pd)(a, b); }           \
  FASTREP_LANES_INLINE vi iadd(vi a, vi b) { return FASTREP_V(add_epi64)(a, b); }       \
  FASTREP_LANES_INLINE vi isub(vi a, vi b) { return FASTREP_V(sub_epi64)(a, b); }

#if !defined(FASTREP_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTREP_HAVE_PHILOX_SIMD 1
}  // namespace philox
}  // namespace fastrep
#include <immintrin.h>
#if defined(FASTREP_AVX512_ON_SIMDE)
#include <simde/x86/avx512.h>
#endif
namespace fastrep {
namespace philox {

namespace avx2 {
#define FASTREP_LANES_INLINE __attribute__((target("avx2"), always_inline)) inline
#define FASTREP_V(op) _mm256_##op
constexpr index_t W = 4;
using vi = __m256i;
using vd = __m256d;
using vm = __m256d;  // all-ones lanes where true
FASTREP_PHILOX_W_HELPERS
FASTREP_LANES_INLINE vi iset1(std::uint64_t v) { return _mm256_set1_epi64x(static_cast<long long>(v)); }
FASTREP_LANES_INLINE vi mul_epu32(vi a, vi b) { return _mm256_mul_epu32(a, b); }
FASTREP_LANES_INLINE vd sqrt(vd a) { return _mm256_sqrt_pd(a); }
template <int N>
FASTREP_LANES_INLINE vi isrli(vi v) {
  return _mm256_srli_epi64(v, N);
}
template <int N>
FASTREP_LANES_INLINE vi islli(vi v) {
  return _mm256_slli_epi64(v, N);
}
FASTREP_LANES_INLINE vi iand(vi a, vi b) { return _mm256_and_si256(a, b); }
FASTREP_LANES_INLINE vi ior(vi a, vi b) { return _mm256_or_si256(a, b); }
FASTREP_LANES_INLINE vi ixor(vi a, vi b) { return _mm256_xor_si256(a, b); }
FASTREP_LANES_INLINE vd as_d(vi v) { return _mm256_castsi256_pd(v); }
FASTREP_LANES_INLINE vi as_i(vd v) { return _mm256_castpd_si256(v); }
FASTREP_LANES_INLINE vi load(const std::uint64_t* p) { return _mm256_load_si256(reinterpret_cast<const vi*>(p)); }
FASTREP_LANES_INLINE void store(std::uint64_t* p, vi v) { _mm256_store_si256(reinterpret_cast<vi*>(p), v); }
FASTREP_LANES_INLINE vd sel(vm mask, vd if_true, vd if_false) { return _mm256_blendv_pd(if_false, if_true, mask); }
FASTREP_LANES_INLINE vm cmp_gt(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
FASTREP_LANES_INLINE vm ieq(vi a, vi b) { return _mm256_castsi256_pd(_mm256_cmpeq_epi64(a, b)); }

// The four cells' 16 normals, cell by cell (cell k's columns 0..3 together), to o[0, 16).
FASTREP_LANES_INLINE void store_cells(float* o, vd z0, vd z1, vd z2, vd z3) {
  __m128 a = _mm256_cvtpd_ps(z0), b = _mm256_cvtpd_ps(z1), c = _mm256_cvtpd_ps(z2), d = _mm256_cvtpd_ps(z3);
  _MM_TRANSPOSE4_PS(a, b, c, d);
  _mm_storeu_ps(o, a);
  _mm_storeu_ps(o + 4, b);
  _mm_storeu_ps(o + 8, c);
  _mm_storeu_ps(o + 12, d);
}
FASTREP_LANES_INLINE void store_cells(double* o, vd z0, vd z1, vd z2, vd z3) {
  const vd t0 = _mm256_unpacklo_pd(z0, z1), t1 = _mm256_unpackhi_pd(z0, z1);  // (a0 b0 a2 b2), (a1 b1 a3 b3)
  const vd t2 = _mm256_unpacklo_pd(z2, z3), t3 = _mm256_unpackhi_pd(z2, z3);
  _mm256_storeu_pd(o, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(o + 4, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(o + 8, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(o + 12, _mm256_permute2f128_pd(t1, t3, 0x31));
}

#undef FASTREP_LANES_INLINE
#undef FASTREP_V
}  // namespace avx2

// The AVX-512 target, or none on SIMDe (its functions are portable code).
#if defined(FASTREP_AVX512_ON_SIMDE)
#define FASTREP_PHILOX_512_INLINE inline
#define FASTREP_PHILOX_512_FN
#else
#define FASTREP_PHILOX_512_INLINE __attribute__((target("avx512f"), always_inline)) inline
#define FASTREP_PHILOX_512_FN __attribute__((target("avx512f")))
#endif

namespace avx512 {
// FASTREP_X(name): the intrinsic or type `name`, from the CPU's immintrin.h or from SIMDe.
#if defined(FASTREP_AVX512_ON_SIMDE)
#define FASTREP_X(name) simde##name
#define FASTREP_X_CMP_GT_OQ SIMDE_CMP_GT_OQ
#define FASTREP_X_TRANSPOSE4_PS SIMDE_MM_TRANSPOSE4_PS
#define FASTREP_X_SHIFT(op, v, n) simde_mm512_##op##_epi64(v, n)
constexpr bool emulated = true;
#else
#define FASTREP_X(name) name
#define FASTREP_X_CMP_GT_OQ _CMP_GT_OQ
#define FASTREP_X_TRANSPOSE4_PS _MM_TRANSPOSE4_PS
#define FASTREP_X_SHIFT(op, v, n) _mm512_mask_##op##_epi64(v, 0xFF, v, n)
constexpr bool emulated = false;
#endif
#define FASTREP_V(op) FASTREP_X(_mm512_##op)
#define FASTREP_LANES_INLINE FASTREP_PHILOX_512_INLINE
constexpr index_t W = 8;
using vi = FASTREP_X(__m512i);
using vd = FASTREP_X(__m512d);
using vm = FASTREP_X(__mmask8);
FASTREP_PHILOX_W_HELPERS
FASTREP_LANES_INLINE vi iset1(std::uint64_t v) { return FASTREP_V(set1_epi64)(static_cast<long long>(v)); }
// The all-lanes mask forms: the plain ones trip GCC 12's -Wmaybe-uninitialized inside
// avx512fintrin.h (_mm512_undefined_epi32); the instructions are the same. (SIMDe 0.7 has no
// masked shifts; its plain ones do not warn.)
FASTREP_LANES_INLINE vi mul_epu32(vi a, vi b) { return FASTREP_V(mask_mul_epu32)(a, 0xFF, a, b); }
FASTREP_LANES_INLINE vd sqrt(vd a) { return FASTREP_V(mask_sqrt_pd)(a, 0xFF, a); }
template <int N>
FASTREP_LANES_INLINE vi isrli(vi v) {
  return FASTREP_X_SHIFT(srli, v, N);
}
template <int N>
FASTREP_LANES_INLINE vi islli(vi v) {
  return FASTREP_X_SHIFT(slli, v, N);
}
FASTREP_LANES_INLINE vi iand(vi a, vi b) { return FASTREP_V(and_si512)(a, b); }
FASTREP_LANES_INLINE vi ior(vi a, vi b) { return FASTREP_V(or_si512)(a, b); }
FASTREP_LANES_INLINE vi ixor(vi a, vi b) { return FASTREP_V(xor_si512)(a, b); }
FASTREP_LANES_INLINE vd as_d(vi v) { return FASTREP_V(castsi512_pd)(v); }
FASTREP_LANES_INLINE vi as_i(vd v) { return FASTREP_V(castpd_si512)(v); }
FASTREP_LANES_INLINE vi load(const std::uint64_t* p) { return FASTREP_V(load_si512)(p); }
FASTREP_LANES_INLINE void store(std::uint64_t* p, vi v) { FASTREP_V(store_si512)(p, v); }
FASTREP_LANES_INLINE vd sel(vm mask, vd if_true, vd if_false) { return FASTREP_V(mask_blend_pd)(mask, if_false, if_true); }
FASTREP_LANES_INLINE vm cmp_gt(vd a, vd b) { return FASTREP_V(cmp_pd_mask)(a, b, FASTREP_X_CMP_GT_OQ); }
FASTREP_LANES_INLINE vm ieq(vi a, vi b) { return FASTREP_V(cmpeq_epi64_mask)(a, b); }

// The eight cells' 32 normals, cell by cell, to o[0, 32): cells 0..3 from the low halves (H = 0)
// of z0..z3, cells 4..7 from the high halves (H = 1), each half transposed as in the AVX2 path.
// (The masked extract: GCC 12's plain extract and cast trip -Wmaybe-uninitialized as above.)
template <int H>
FASTREP_LANES_INLINE FASTREP_X(__m256d) half(vd z) {
  return FASTREP_V(mask_extractf64x4_pd)(FASTREP_X(_mm256_setzero_pd)(), 0x0F, z, H);
}
template <int H>
FASTREP_LANES_INLINE void store_half(float* o, vd z0, vd z1, vd z2, vd z3) {
  FASTREP_X(__m128) a = FASTREP_X(_mm256_cvtpd_ps)(half<H>(z0)), b = FASTREP_X(_mm256_cvtpd_ps)(half<H>(z1)),
                    c = FASTREP_X(_mm256_cvtpd_ps)(half<H>(z2)), d = FASTREP_X(_mm256_cvtpd_ps)(half<H>(z3));
  FASTREP_X_TRANSPOSE4_PS(a, b, c, d);
  FASTREP_X(_mm_storeu_ps)(o + 16 * H, a);
  FASTREP_X(_mm_storeu_ps)(o + 16 * H + 4, b);
  FASTREP_X(_mm_storeu_ps)(o + 16 * H + 8, c);
  FASTREP_X(_mm_storeu_ps)(o + 16 * H + 12, d);
}
template <int H>
FASTREP_LANES_INLINE void store_half(double* o, vd z0, vd z1, vd z2, vd z3) {
  const FASTREP_X(__m256d) a = half<H>(z0), b = half<H>(z1), c = half<H>(z2), d = half<H>(z3);
  const FASTREP_X(__m256d) t0 = FASTREP_X(_mm256_unpacklo_pd)(a, b), t1 = FASTREP_X(_mm256_unpackhi_pd)(a, b);
  const FASTREP_X(__m256d) t2 = FASTREP_X(_mm256_unpacklo_pd)(c, d), t3 = FASTREP_X(_mm256_unpackhi_pd)(c, d);
  FASTREP_X(_mm256_storeu_pd)(o + 16 * H, FASTREP_X(_mm256_permute2f128_pd)(t0, t2, 0x20));
  FASTREP_X(_mm256_storeu_pd)(o + 16 * H + 4, FASTREP_X(_mm256_permute2f128_pd)(t1, t3, 0x20));
  FASTREP_X(_mm256_storeu_pd)(o + 16 * H + 8, FASTREP_X(_mm256_permute2f128_pd)(t0, t2, 0x31));
  FASTREP_X(_mm256_storeu_pd)(o + 16 * H + 12, FASTREP_X(_mm256_permute2f128_pd)(t1, t3, 0x31));
}
template <typename T>
FASTREP_LANES_INLINE void store_cells(T* o, vd z0, vd z1, vd z2, vd z3) {
  store_half<0>(o, z0, z1, z2, z3);
  store_half<1>(o, z0, z1, z2, z3);
}

#undef FASTREP_LANES_INLINE
#undef FASTREP_V
#undef FASTREP_X
#undef FASTREP_X_CMP_GT_OQ
#undef FASTREP_X_TRANSPOSE4_PS
#undef FASTREP_X_SHIFT
}  // namespace avx512


// Two vectors as one: each operation issues for both halves back to back, so the instruction
// stream interleaves two independent dependency chains (Philox's products, Box-Muller's
// divisions, square roots and polynomials are long chains, and one vector's alone leaves the
// out-of-order window short of independent work). W = 2 BASE::W lanes.
#define FASTREP_PHILOX_PAIRS(BASE)                                                                            \
  constexpr index_t W = 2 * BASE::W;                                                                          \
  struct vi {                                                                                                 \
    BASE::vi a, b;                                                                                            \
  };                                                                                                          \
  struct vd {                                                                                                 \
    BASE::vd a, b;                                                                                            \
  };                                                                                                          \
  struct vm {                                                                                                 \
    BASE::vm a, b;                                                                                            \
  };                                                                                                          \
  FASTREP_LANES_INLINE vd set1(double v) { return {BASE::set1(v), BASE::set1(v)}; }                          \
  FASTREP_LANES_INLINE vi iset1(std::uint64_t v) { return {BASE::iset1(v), BASE::iset1(v)}; }                \
  FASTREP_LANES_INLINE vd add(vd x, vd y) { return {BASE::add(x.a, y.a), BASE::add(x.b, y.b)}; }            \
  FASTREP_LANES_INLINE vd sub(vd x, vd y) { return {BASE::sub(x.a, y.a), BASE::sub(x.b, y.b)}; }            \
  FASTREP_LANES_INLINE vd mul(vd x, vd y) { return {BASE::mul(x.a, y.a), BASE::mul(x.b, y.b)}; }            \
  FASTREP_LANES_INLINE vd div(vd x, vd y) { return {BASE::div(x.a, y.a), BASE::div(x.b, y.b)}; }            \
  FASTREP_LANES_INLINE vd sqrt(vd x) { return {BASE::sqrt(x.a), BASE::sqrt(x.b)}; }                         \
  FASTREP_LANES_INLINE vd sel(vm m, vd t, vd f) { return {BASE::sel(m.a, t.a, f.a), BASE::sel(m.b, t.b, f.b)}; } \
  FASTREP_LANES_INLINE vm cmp_gt(vd x, vd y) { return {BASE::cmp_gt(x.a, y.a), BASE::cmp_gt(x.b, y.b)}; }   \
  FASTREP_LANES_INLINE vi iadd(vi x, vi y) { return {BASE::iadd(x.a, y.a), BASE::iadd(x.b, y.b)}; }         \
  FASTREP_LANES_INLINE vi isub(vi x, vi y) { return {BASE::isub(x.a, y.a), BASE::isub(x.b, y.b)}; }         \
  FASTREP_LANES_INLINE vi iand(vi x, vi y) { return {BASE::iand(x.a, y.a), BASE::iand(x.b, y.b)}; }         \
  FASTREP_LANES_INLINE vi ior(vi x, vi y) { return {BASE::ior(x.a, y.a), BASE::ior(x.b, y.b)}; }            \
  FASTREP_LANES_INLINE vi ixor(vi x, vi y) { return {BASE::ixor(x.a, y.a), BASE::ixor(x.b, y.b)}; }         \
  FASTREP_LANES_INLINE vi mul_epu32(vi x, vi y) { return {BASE::mul_epu32(x.a, y.a), BASE::mul_epu32(x.b, y.b)}; } \
  FASTREP_LANES_INLINE vm ieq(vi x, vi y) { return {BASE::ieq(x.a, y.a), BASE::ieq(x.b, y.b)}; }            \
  FASTREP_LANES_INLINE vd as_d(vi x) { return {BASE::as_d(x.a), BASE::as_d(x.b)}; }                         \
  FASTREP_LANES_INLINE vi as_i(vd x) { return {BASE::as_i(x.a), BASE::as_i(x.b)}; }                         \
  template <int N>                                                                                            \
  FASTREP_LANES_INLINE vi isrli(vi x) {                                                                       \
    return {BASE::isrli<N>(x.a), BASE::isrli<N>(x.b)};                                                        \
  }                                                                                                           \
  template <int N>                                                                                            \
  FASTREP_LANES_INLINE vi islli(vi x) {                                                                       \
    return {BASE::islli<N>(x.a), BASE::islli<N>(x.b)};                                                        \
  }                                                                                                           \
  FASTREP_LANES_INLINE vi load(const std::uint64_t* p) { return {BASE::load(p), BASE::load(p + BASE::W)}; }  \
  FASTREP_LANES_INLINE void store(std::uint64_t* p, vi x) {                                                   \
    BASE::store(p, x.a);                                                                                      \
    BASE::store(p + BASE::W, x.b);                                                                            \
  }                                                                                                           \
  template <typename T>                                                                                       \
  FASTREP_LANES_INLINE void store_cells(T* o, vd z0, vd z1, vd z2, vd z3) {                                   \
    BASE::store_cells(o, z0.a, z1.a, z2.a, z3.a);                                                             \
    BASE::store_cells(o + 4 * BASE::W, z0.b, z1.b, z2.b, z3.b);                                               \
  }

namespace avx2x2 {
#define FASTREP_LANES_INLINE __attribute__((target("avx2"), always_inline)) inline
#define FASTREP_LANES_FN __attribute__((target("avx2")))
FASTREP_PHILOX_PAIRS(avx2)
#include "philox_lanes.hpp"
#undef FASTREP_LANES_INLINE
#undef FASTREP_LANES_FN
}  // namespace avx2x2

namespace avx512x2 {
#define FASTREP_LANES_INLINE FASTREP_PHILOX_512_INLINE
#define FASTREP_LANES_FN FASTREP_PHILOX_512_FN
FASTREP_PHILOX_PAIRS(avx512)
#include "philox_lanes.hpp"
#undef FASTREP_LANES_INLINE
#undef FASTREP_LANES_FN
}  // namespace avx512x2
#undef FASTREP_PHILOX_512_INLINE
#undef FASTREP_PHILOX_512_FN
#undef FASTREP_PHILOX_PAIRS

// The paths: 0 the portable one (normals_tile, multiversioned), 1 AVX2, 2 AVX-512 (simd_path,
// common.hpp). path_override() forces a path in tests (-1: the CPU's best).
inline int& path_override() {
  static int v = -1;
  return v;
}
inline bool path_available(int path) { return simd_path_available(path, avx512::emulated); }
inline int use_path() { return simd_path(path_override(), avx512::emulated); }
#undef FASTREP_PHILOX_W_HELPERS
#else
#define FASTREP_HAVE_PHILOX_SIMD 0
inline int& path_override() {
  static int v = -1;
  return v;
}
inline bool path_available(int path) { return path == 0; }
inline int use_path() { return 0; }
#endif

// "avx512", "avx512-simde" (the emulated test build), "avx2" or "generic": the code
// gaussian_block runs on this CPU ("generic" is normals_tile, itself cloned per instruction set).
inline const char* gaussian_block_path() {
  const int p = use_path();
#if FASTREP_HAVE_PHILOX_SIMD
  if (p == 2) return avx512::emulated ? "avx512-simde" : "avx512";
#endif
  return p == 1 ? "avx2" : "generic";
}

}  // namespace philox

// out (n, d) row-major: rows start .. start + n - 1 of the standard-normal stream (seed, stream).
// OpenMP over tiles of (row, column-group) cells; each cell depends only on its counters.
template <typename T>
void gaussian_block(std::uint64_t seed, std::uint32_t stream, std::uint64_t start, index_t n, index_t d,
                    T* out) {
  using namespace philox;
  if (n <= 0 || d <= 0) return;
#if FASTREP_HAVE_PHILOX_SIMD
  switch (use_path()) {
    case 2: return avx512x2::gaussian_block<T>(seed, stream, start, n, d, out);
    case 1: return avx2x2::gaussian_block<T>(seed, stream, start, n, d, out);
    default: break;
  }
#endif
  const Tiles tiles(seed, n, d);
  const index_t G = tiles.G;
  // a team costs more than it saves on a few tiles (the (n, 1) label-noise column)
  FASTREP_OMP(parallel for schedule(static) if (tiles.count > 8))
  for (index_t tile = 0; tile < tiles.count; ++tile) {
    alignas(64) std::uint64_t c0[TILE], c1[TILE], c2[TILE];
    alignas(64) double z[4][TILE];
    const index_t t0 = tiles.first(tile), len = tiles.len(tile);
    tile_counters(start, G, t0, len, c0, c1, c2);
    normals_tile(c0, c1, c2, stream, tiles.key0, tiles.key1, len, z[0], z[1], z[2], z[3]);
    if (d % 4 == 0) {  // the tile's cells fill out[4 t0, 4 (t0 + len)) in order
      T* o = out + 4 * t0;
      for (index_t k = 0; k < len; ++k) {
        o[4 * k + 0] = static_cast<T>(z[0][k]);
        o[4 * k + 1] = static_cast<T>(z[1][k]);
        o[4 * k + 2] = static_cast<T>(z[2][k]);
        o[4 * k + 3] = static_cast<T>(z[3][k]);
      }
    } else {
      scatter_cells(out, d, G, t0, len, [&z](index_t k, index_t j) { return static_cast<T>(z[j][k]); });
    }
  }
}

}  // namespace fastrep

FASTREP_FP_END
