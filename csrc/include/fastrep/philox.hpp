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

FASTREP_FP_END
