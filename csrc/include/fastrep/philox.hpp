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

// ---- AVX2 path: the same arithmetic, written out in 256-bit intrinsics -----------------------
//
// GCC leaves the AVX2 clone of normals_tile scalar (vmulsd, imul: it vectorizes neither the
// 64-bit products nor the selects without AVX-512), several times slower than this path
// (benchmarks/RESULTS_STREAM.md). Here four cells are the four 64-bit lanes of one register from the counters to the
// stored normals: Philox's 32 x 32 -> 64-bit products are one vpmuludq, and log/sincos are the
// scalar functions of scalar_philox.hpp operation for operation (same constants, same order,
// no FMA: the target below has none), so every lane is bit-identical to the scalar path.
// Chosen at run time on CPUs with AVX2 and without AVX-512F (those keep the AVX-512 clone of
// normals_tile); FASTREP_NO_SIMD leaves it out.
#if !defined(FASTREP_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTREP_HAVE_PHILOX_AVX2 1
}  // namespace philox
}  // namespace fastrep
#include <immintrin.h>
namespace fastrep {
namespace philox {
#define FASTREP_PHILOX_AVX2 __attribute__((target("avx2"), always_inline)) inline
#define FASTREP_PHILOX_AVX2_FN __attribute__((target("avx2")))

namespace avx2 {
using vi = __m256i;
using vd = __m256d;

FASTREP_PHILOX_AVX2 vd set1(double v) { return _mm256_set1_pd(v); }
FASTREP_PHILOX_AVX2 vd add(vd a, vd b) { return _mm256_add_pd(a, b); }
FASTREP_PHILOX_AVX2 vd sub(vd a, vd b) { return _mm256_sub_pd(a, b); }
FASTREP_PHILOX_AVX2 vd mul(vd a, vd b) { return _mm256_mul_pd(a, b); }
FASTREP_PHILOX_AVX2 vd sel(vd mask, vd if_true, vd if_false) { return _mm256_blendv_pd(if_false, if_true, mask); }

// small_u64_to_double, small_i64_to_double
FASTREP_PHILOX_AVX2 vd u64_to_double(vi v) {
  return sub(_mm256_castsi256_pd(_mm256_or_si256(v, _mm256_set1_epi64x(0x4330000000000000ll))),
             set1(4503599627370496.0));
}
FASTREP_PHILOX_AVX2 vd i64_to_double(vi v) {
  return sub(_mm256_castsi256_pd(_mm256_add_epi64(v, _mm256_set1_epi64x(0x4338000000000000ll))),
             set1(6755399441055744.0));
}

// log_uniform on four words (64-bit lanes < 2^32)
FASTREP_PHILOX_AVX2 vd log_uniform(vi x) {
  const vd ln2_hi = set1(6.93147180369123816490e-01), ln2_lo = set1(1.90821492927058770002e-10);
  const vd Lg1 = set1(6.666666666666735130e-01), Lg2 = set1(3.999999999940941908e-01),
           Lg3 = set1(2.857142874366239149e-01), Lg4 = set1(2.222219843214978396e-01),
           Lg5 = set1(1.818357216161805012e-01), Lg6 = set1(1.531383769920937332e-01),
           Lg7 = set1(1.479819860511658591e-01);
  const vi one = _mm256_set1_epi64x(1);
  const vi bits = _mm256_castpd_si256(u64_to_double(_mm256_add_epi64(_mm256_add_epi64(x, x), one)));
  const vd m1 = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFll)),
                                                    _mm256_set1_epi64x(0x3FF0000000000000ll)));
  const vd e = sub(u64_to_double(_mm256_srli_epi64(bits, 52)), set1(1023.0 + 33.0));
  const vd big = _mm256_cmp_pd(m1, set1(1.4142135623730951), _CMP_GT_OQ);
  const vd m = sel(big, mul(set1(0.5), m1), m1);
  const vd k = sel(big, add(e, set1(1.0)), e);
  const vd f = sub(m, set1(1.0));
  const vd s = _mm256_div_pd(f, add(set1(2.0), f)), z = mul(s, s), w = mul(z, z);
  const vd t1 = mul(w, add(Lg2, mul(w, add(Lg4, mul(w, Lg6)))));
  const vd t2 = mul(z, add(Lg1, mul(w, add(Lg3, mul(w, add(Lg5, mul(w, Lg7)))))));
  const vd R = add(t2, t1), hfsq = mul(mul(set1(0.5), f), f);
  return sub(mul(k, ln2_hi), sub(sub(hfsq, add(mul(s, add(hfsq, R)), mul(k, ln2_lo))), f));
}

// sincos_2pi_uniform on four words
FASTREP_PHILOX_AVX2 void sincos_2pi_uniform(vi x, vd& c_out, vd& s_out) {
  const vd S1 = set1(-1.66666666666666324348e-01), S2 = set1(8.33333333332248946124e-03),
           S3 = set1(-1.98412698298579493134e-04), S4 = set1(2.75573137070700676789e-06),
           S5 = set1(-2.50507602534068634195e-08), S6 = set1(1.58969099521155010221e-10);
  const vd C1 = set1(4.16666666666666019037e-02), C2 = set1(-1.38888888888741095749e-03),
           C3 = set1(2.48015872894767294178e-05), C4 = set1(-2.75573143513906633035e-07),
           C5 = set1(2.08757232129817482790e-09), C6 = set1(-1.13596475577881948265e-11);
  const vi q = _mm256_srli_epi64(_mm256_add_epi64(x, _mm256_set1_epi64x(1ll << 29)), 30);
  const vi tn = _mm256_sub_epi64(_mm256_add_epi64(_mm256_add_epi64(x, x), _mm256_set1_epi64x(1)),
                                 _mm256_slli_epi64(q, 31));
  const vd a = mul(i64_to_double(tn), set1(1.5707963267948966 / 2147483648.0));
  const vd z = mul(a, a), w = mul(z, z);
  const vd rs = add(S2, mul(z, add(S3, mul(z, add(S4, mul(z, add(S5, mul(z, S6))))))));
  const vd sn = add(a, mul(mul(z, a), add(S1, mul(z, rs))));
  const vd rc = add(mul(z, add(C1, mul(z, add(C2, mul(z, C3))))), mul(mul(w, w), add(C4, mul(z, add(C5, mul(z, C6))))));
  const vd hz = mul(set1(0.5), z), one_m_hz = sub(set1(1.0), hz);
  const vd cs = add(one_m_hz, add(sub(sub(set1(1.0), one_m_hz), hz), mul(z, rc)));
  // quadrant q & 3: (cos, sin) = (cs, sn), (-sn, cs), (-cs, -sn), (sn, -cs)
  const vi one = _mm256_set1_epi64x(1), two = _mm256_set1_epi64x(2);
  const vd odd = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(q, one), one));
  const vd c_abs = sel(odd, sn, cs), s_abs = sel(odd, cs, sn);
  // negate cos for q & 3 in {1, 2} (bit 1 of q + 1), sin for q & 3 in {2, 3} (bit 1 of q)
  const vi sign = _mm256_set1_epi64x(static_cast<long long>(0x8000000000000000ull));
  const vi c_neg = _mm256_and_si256(_mm256_slli_epi64(_mm256_add_epi64(q, one), 62), sign);
  const vi s_neg = _mm256_and_si256(_mm256_slli_epi64(_mm256_and_si256(q, two), 62), sign);
  c_out = _mm256_xor_pd(c_abs, _mm256_castsi256_pd(c_neg));
  s_out = _mm256_xor_pd(s_abs, _mm256_castsi256_pd(s_neg));
}

// Philox4x32-10 on four cells (each word a 64-bit lane < 2^32) and Box-Muller: z0..z3 are the
// normals of column offsets 0..3 of the four cells.
FASTREP_PHILOX_AVX2 void normals4(vi x0, vi x1, vi x2, std::uint32_t stream, std::uint32_t key0, std::uint32_t key1,
                                  vd& z0, vd& z1, vd& z2, vd& z3) {
  const vi mask = _mm256_set1_epi64x(static_cast<long long>(MASK32));
  const vi m0 = _mm256_set1_epi64x(static_cast<long long>(M0)), m1 = _mm256_set1_epi64x(static_cast<long long>(M1));
  vi x3 = _mm256_set1_epi64x(stream);
  std::uint32_t k0 = key0, k1 = key1;
  for (int rnd = 0; rnd < 10; ++rnd) {
    if (rnd) {
      k0 += W0;
      k1 += W1;
    }
    const vi p0 = _mm256_mul_epu32(m0, x0), p1 = _mm256_mul_epu32(m1, x2);
    const vi n0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), x1), _mm256_set1_epi64x(k0));
    const vi n2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), x3), _mm256_set1_epi64x(k1));
    x0 = n0;
    x1 = _mm256_and_si256(p1, mask);
    x2 = n2;
    x3 = _mm256_and_si256(p0, mask);
  }
  const vd r01 = _mm256_sqrt_pd(mul(set1(-2.0), log_uniform(x0)));
  const vd r23 = _mm256_sqrt_pd(mul(set1(-2.0), log_uniform(x2)));
  vd c, s;
  sincos_2pi_uniform(x1, c, s);
  z0 = mul(r01, c);
  z1 = mul(r01, s);
  sincos_2pi_uniform(x3, c, s);
  z2 = mul(r23, c);
  z3 = mul(r23, s);
}

// The four cells' 16 normals, cell by cell (cell k's columns 0..3 together), to o[0, 16).
FASTREP_PHILOX_AVX2 void store_cells(float* o, vd z0, vd z1, vd z2, vd z3) {
  __m128 a = _mm256_cvtpd_ps(z0), b = _mm256_cvtpd_ps(z1), c = _mm256_cvtpd_ps(z2), d = _mm256_cvtpd_ps(z3);
  _MM_TRANSPOSE4_PS(a, b, c, d);
  _mm_storeu_ps(o, a);
  _mm_storeu_ps(o + 4, b);
  _mm_storeu_ps(o + 8, c);
  _mm_storeu_ps(o + 12, d);
}
FASTREP_PHILOX_AVX2 void store_cells(double* o, vd z0, vd z1, vd z2, vd z3) {
  const vd t0 = _mm256_unpacklo_pd(z0, z1), t1 = _mm256_unpackhi_pd(z0, z1);  // (a0 b0 a2 b2), (a1 b1 a3 b3)
  const vd t2 = _mm256_unpacklo_pd(z2, z3), t3 = _mm256_unpackhi_pd(z2, z3);
  _mm256_storeu_pd(o, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(o + 4, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(o + 8, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(o + 12, _mm256_permute2f128_pd(t1, t3, 0x31));
}

// gaussian_block's loop for the AVX2 path: the same tiles of TILE cells (so OpenMP splits the
// work the same way), each written four cells at a time straight into `out` when d % 4 == 0.
template <typename T>
FASTREP_PHILOX_AVX2_FN void gaussian_block(std::uint64_t seed, std::uint32_t stream, std::uint64_t start, index_t n,
                                           index_t d, T* out) {
  const index_t G = (d + 3) / 4;
  const index_t cells = n * G;
  const index_t tiles = (cells + TILE - 1) / TILE;
  const std::uint32_t key0 = static_cast<std::uint32_t>(seed), key1 = static_cast<std::uint32_t>(seed >> 32);
  FASTREP_OMP(parallel for schedule(static) if (tiles > 8))
  for (index_t tile = 0; tile < tiles; ++tile) {
    // counters of the tile's cells, padded to a whole vector with copies of cell 0 (never stored)
    alignas(64) std::uint64_t c0[TILE], c1[TILE], c2[TILE];
    alignas(64) T z[4 * TILE];  // the tile's normals cell by cell, when they cannot go to out directly
    const index_t t0 = tile * TILE, len = std::min<index_t>(TILE, cells - t0);
    index_t i = t0 / G, g = t0 - (t0 / G) * G;
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
    for (index_t k = len; k < TILE && k % 4; ++k) c0[k] = c0[0], c1[k] = c1[0], c2[k] = c2[0];
    const bool direct = d % 4 == 0;
    T* dst = direct ? out + 4 * t0 : z;  // cell k's four normals at dst + 4 k
    index_t k = 0;
    for (; k + 8 <= len; k += 8) {  // two independent groups: Philox's rounds are one long dependency chain
      vd a0, a1, a2, a3, b0, b1, b2, b3;
      normals4(_mm256_load_si256(reinterpret_cast<const vi*>(c0 + k)),
               _mm256_load_si256(reinterpret_cast<const vi*>(c1 + k)),
               _mm256_load_si256(reinterpret_cast<const vi*>(c2 + k)), stream, key0, key1, a0, a1, a2, a3);
      normals4(_mm256_load_si256(reinterpret_cast<const vi*>(c0 + k + 4)),
               _mm256_load_si256(reinterpret_cast<const vi*>(c1 + k + 4)),
               _mm256_load_si256(reinterpret_cast<const vi*>(c2 + k + 4)), stream, key0, key1, b0, b1, b2, b3);
      store_cells(dst + 4 * k, a0, a1, a2, a3);
      store_cells(dst + 4 * k + 16, b0, b1, b2, b3);
    }
    for (; k < len; k += 4) {
      vd z0, z1, z2, z3;
      normals4(_mm256_load_si256(reinterpret_cast<const vi*>(c0 + k)),
               _mm256_load_si256(reinterpret_cast<const vi*>(c1 + k)),
               _mm256_load_si256(reinterpret_cast<const vi*>(c2 + k)), stream, key0, key1, z0, z1, z2, z3);
      if (k + 4 <= len || !direct) {
        store_cells(dst + 4 * k, z0, z1, z2, z3);
      } else {  // the block's last cells: only len - k of the four are out's
        alignas(32) T last[16];
        store_cells(last, z0, z1, z2, z3);
        std::memcpy(dst + 4 * k, last, sizeof(T) * 4 * static_cast<std::size_t>(len - k));
      }
    }
    if (!direct) {  // the last group of each row is cut to d - 4 (G - 1) columns
      for (index_t k = 0; k < len; ++k) {
        const index_t t = t0 + k, row = t / G, grp = t - row * G;
        const index_t col = 4 * grp, m = std::min<index_t>(4, d - col);
        T* o = out + row * d + col;
        for (index_t j = 0; j < m; ++j) o[j] = z[4 * k + j];
      }
    }
  }
}
}  // namespace avx2

// Whether gaussian_block runs the AVX2 path on this CPU (AVX2 without AVX-512F; checked once).
// path_override() forces a path in tests: 0 the portable (cloned) one, 1 AVX2 where the CPU has it.
inline int& path_override() {
  static int v = -1;
  return v;
}
inline bool use_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && !__builtin_cpu_supports("avx512f");
  const int o = path_override();
  return o < 0 ? ok : (o == 1 && __builtin_cpu_supports("avx2"));
}
#undef FASTREP_PHILOX_AVX2
#else
#define FASTREP_HAVE_PHILOX_AVX2 0
inline int& path_override() {
  static int v = -1;
  return v;
}
inline bool use_avx2() { return false; }
#endif

// "avx2", "avx512" or "generic": the code gaussian_block runs on this CPU.
inline const char* gaussian_block_path() {
  if (use_avx2()) return "avx2";
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FASTREP_NO_MULTIVERSION)
  if (path_override() != 0 && __builtin_cpu_supports("avx512f")) return "avx512";
#endif
  return "generic";
}

}  // namespace philox

// out (n, d) row-major: rows start .. start + n - 1 of the standard-normal stream (seed, stream).
// OpenMP over tiles of (row, column-group) cells; each cell depends only on its counters.
template <typename T>
void gaussian_block(std::uint64_t seed, std::uint32_t stream, std::uint64_t start, index_t n, index_t d,
                    T* out) {
  using namespace philox;
  if (n <= 0 || d <= 0) return;
#if FASTREP_HAVE_PHILOX_AVX2
  if (use_avx2()) return avx2::gaussian_block<T>(seed, stream, start, n, d, out);
#endif
  const index_t G = (d + 3) / 4;
  const index_t cells = n * G;
  const index_t tiles = (cells + TILE - 1) / TILE;
  const std::uint32_t key0 = static_cast<std::uint32_t>(seed), key1 = static_cast<std::uint32_t>(seed >> 32);
  // a team costs more than it saves on a few tiles (the (n, 1) label-noise column)
  FASTREP_OMP(parallel for schedule(static) if (tiles > 8))
  for (index_t tile = 0; tile < tiles; ++tile) {
    alignas(64) std::uint64_t c0[TILE], c1[TILE], c2[TILE];
    alignas(64) double z[4][TILE];
    const index_t t0 = tile * TILE, len = std::min<index_t>(TILE, cells - t0);
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
    normals_tile(c0, c1, c2, stream, key0, key1, len, z[0], z[1], z[2], z[3]);
    if (d % 4 == 0) {  // the tile's cells fill out[4 t0, 4 (t0 + len)) in order
      T* o = out + 4 * t0;
      for (index_t k = 0; k < len; ++k) {
        o[4 * k + 0] = static_cast<T>(z[0][k]);
        o[4 * k + 1] = static_cast<T>(z[1][k]);
        o[4 * k + 2] = static_cast<T>(z[2][k]);
        o[4 * k + 3] = static_cast<T>(z[3][k]);
      }
    } else {  // the last group of each row is cut to d - 4 (G - 1) columns
      for (index_t k = 0; k < len; ++k) {
        const index_t t = t0 + k, row = t / G, grp = t - row * G;
        const index_t col = 4 * grp, m = std::min<index_t>(4, d - col);
        T* o = out + row * d + col;
        for (index_t j = 0; j < m; ++j) o[j] = static_cast<T>(z[j][k]);
      }
    }
  }
}

}  // namespace fastrep

FASTREP_FP_END
