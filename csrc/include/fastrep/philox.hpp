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

// No fused multiply-add contraction in this file: GCC contracts a*b + c where the target has
// FMA (the AVX-512 clone) and not elsewhere, which would change the last bits of the normals
// from one machine to another. Without it every x86-64 machine makes the same bits.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#define FASTREP_PHILOX_POP_OPTIONS
#elif defined(__clang__) && __clang_major__ >= 12
#pragma float_control(push)
#pragma clang fp contract(off)
#define FASTREP_PHILOX_POP_FLOAT_CONTROL
#endif

namespace fastrep {
namespace philox {

constexpr std::uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;  // round multipliers
constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;  // Weyl key increments
constexpr std::uint64_t MASK32 = 0xFFFFFFFFu;

// One Philox4x32-10 block, scalar: c (4 words) is replaced by the output.
inline void philox4x32_10(std::uint32_t c[4], std::uint32_t k0, std::uint32_t k1) {
  for (int rnd = 0; rnd < 10; ++rnd) {
    if (rnd) {
      k0 += W0;
      k1 += W1;
    }
    const std::uint64_t p0 = M0 * c[0], p1 = M1 * c[2];
    const std::uint32_t o0 = static_cast<std::uint32_t>(p1 >> 32) ^ c[1] ^ k0;
    const std::uint32_t o2 = static_cast<std::uint32_t>(p0 >> 32) ^ c[3] ^ k1;
    c[0] = o0;
    c[1] = static_cast<std::uint32_t>(p1);
    c[2] = o2;
    c[3] = static_cast<std::uint32_t>(p0);
  }
}

// ---- branch-free double math on the values Box-Muller needs (vectorizable) -------------------

inline double as_double(std::uint64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}
inline std::uint64_t as_bits(double x) {
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// Exact conversions by the 2^52 trick (AVX2 has no 64-bit integer <-> double instruction).
inline double small_u64_to_double(std::uint64_t v) {  // v < 2^52
  return as_double(v | 0x4330000000000000ull) - 4503599627370496.0;
}
inline double small_i64_to_double(std::int64_t v) {  // |v| < 2^51
  return as_double(static_cast<std::uint64_t>(v) + 0x4338000000000000ull) - 6755399441055744.0;
}

// ln(u) for u = (x + 0.5) 2^-32 = (2x + 1) 2^-33, x a 32-bit word; fdlibm's e_log.c
// polynomial on the mantissa in [sqrt(1/2), sqrt(2)), error < 1 ulp.
inline double log_uniform(std::uint64_t x) {
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  constexpr double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
                   Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
                   Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                   Lg7 = 1.479819860511658591e-01;
  const std::uint64_t bits = as_bits(small_u64_to_double(2 * x + 1));  // exact: 2x + 1 < 2^33
  const double m1 = as_double((bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);  // [1, 2)
  const double e = small_u64_to_double(bits >> 52) - (1023.0 + 33.0);
  const bool big = m1 > 1.4142135623730951;
  const double m = big ? 0.5 * m1 : m1;  // [sqrt(1/2), sqrt(2))
  const double k = big ? e + 1.0 : e;
  const double f = m - 1.0;
  const double s = f / (2.0 + f), z = s * s, w = z * z;
  const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  const double R = t2 + t1, hfsq = 0.5 * f * f;
  return k * ln2_hi - ((hfsq - (s * (hfsq + R) + k * ln2_lo)) - f);
}

// (cos, sin)(2 pi u) for u = (x + 0.5) 2^-32. The reduction is exact in the integer domain:
// 4u = q + t with q = round(4u) and t in [-1/2, 1/2); then 2 pi u = (pi/2) q + (pi/2) t and
// the fdlibm k_sin/k_cos polynomials (|angle| <= pi/4, < 1 ulp) are rotated by quadrant q.
inline void sincos_2pi_uniform(std::uint64_t x, double& c_out, double& s_out) {
  constexpr double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                   S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                   S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
  constexpr double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                   C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                   C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
  constexpr double half_pi_over_2_31 = 1.5707963267948966 / 2147483648.0;
  const std::uint64_t q = (x + (1ull << 29)) >> 30;  // 0..4
  const std::int64_t tn = static_cast<std::int64_t>(2 * x + 1) - static_cast<std::int64_t>(q << 31);
  const double a = small_i64_to_double(tn) * half_pi_over_2_31;  // |a| <= pi/4
  const double z = a * a, w = z * z;
  const double rs = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  const double sn = a + (z * a) * (S1 + z * rs);
  const double rc = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
  const double hz = 0.5 * z, one_m_hz = 1.0 - hz;
  const double cs = one_m_hz + (((1.0 - one_m_hz) - hz) + z * rc);
  const std::uint64_t qm = q & 3;
  // quadrant q: (cos, sin) = (cs, sn), (-sn, cs), (-cs, -sn), (sn, -cs)
  const double c_abs = (qm & 1) ? sn : cs, s_abs = (qm & 1) ? cs : sn;
  c_out = (qm == 1 || qm == 2) ? -c_abs : c_abs;
  s_out = (qm >= 2) ? -s_abs : s_abs;
}

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
    const double r01 = std::sqrt(-2.0 * log_uniform(x0));
    const double r23 = std::sqrt(-2.0 * log_uniform(x2));
    double c, s;
    sincos_2pi_uniform(x1, c, s);
    z0[k] = r01 * c;
    z1[k] = r01 * s;
    sincos_2pi_uniform(x3, c, s);
    z2[k] = r23 * c;
    z3[k] = r23 * s;
  }
}

}  // namespace philox

// out (n, d) row-major: rows start .. start + n - 1 of the standard-normal stream (seed, stream).
// OpenMP over tiles of (row, column-group) cells; each cell depends only on its counters.
template <typename T>
void gaussian_block(std::uint64_t seed, std::uint32_t stream, std::uint64_t start, index_t n, index_t d,
                    T* out) {
  using namespace philox;
  if (n <= 0 || d <= 0) return;
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

#if defined(FASTREP_PHILOX_POP_OPTIONS)
#pragma GCC pop_options
#undef FASTREP_PHILOX_POP_OPTIONS
#endif
#if defined(FASTREP_PHILOX_POP_FLOAT_CONTROL)
#pragma float_control(pop)
#undef FASTREP_PHILOX_POP_FLOAT_CONTROL
#endif
