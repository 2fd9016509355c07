// The normal stream's per-cell arithmetic, for the host and the device (see hd.hpp):
// one Philox4x32-10 block per (row, column group) cell and Box-Muller on its four words,
// with fastrep's own ln and sincos so that a GPU's stream equals the CPU's bit for bit.
// philox.hpp documents the stream and runs these functions over tiles on the CPU;
// fastrep/_kernels/cuda/philox.cu runs normals_cell once per CUDA thread.
#pragma once
#include "hd.hpp"

FASTREP_FP_BEGIN

namespace fastrep {
namespace philox {

// One Philox4x32-10 block, scalar: c (4 words) is replaced by the output.
FASTREP_HD void philox4x32_10(hd::u32 c[4], hd::u32 k0, hd::u32 k1) {
  const hd::u64 m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;  // round multipliers
  for (int rnd = 0; rnd < 10; ++rnd) {
    if (rnd) {
      k0 += 0x9E3779B9u;  // Weyl key increments
      k1 += 0xBB67AE85u;
    }
    const hd::u64 p0 = m0 * c[0], p1 = m1 * c[2];
    const hd::u32 o0 = static_cast<hd::u32>(p1 >> 32) ^ c[1] ^ k0;
    const hd::u32 o2 = static_cast<hd::u32>(p0 >> 32) ^ c[3] ^ k1;
    c[0] = o0;
    c[1] = static_cast<hd::u32>(p1);
    c[2] = o2;
    c[3] = static_cast<hd::u32>(p0);
  }
}

// ---- branch-free double math on the values Box-Muller needs (vectorizable on the CPU) -----

// Exact conversions by the 2^52 trick (AVX2 has no 64-bit integer <-> double instruction).
FASTREP_HD double small_u64_to_double(hd::u64 v) {  // v < 2^52
  return hd::as_double(v | 0x4330000000000000ull) - 4503599627370496.0;
}
FASTREP_HD double small_i64_to_double(hd::i64 v) {  // |v| < 2^51
  return hd::as_double(static_cast<hd::u64>(v) + 0x4338000000000000ull) - 6755399441055744.0;
}

// ln(u) for u = (x + 0.5) 2^-32 = (2x + 1) 2^-33, x a 32-bit word; fdlibm's e_log.c
// polynomial on the mantissa in [sqrt(1/2), sqrt(2)), error < 1 ulp.
FASTREP_HD double log_uniform(hd::u64 x) {
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
               Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
               Lg7 = 1.479819860511658591e-01;
  const hd::u64 bits = hd::as_bits(small_u64_to_double(2 * x + 1));  // exact: 2x + 1 < 2^33
  const double m1 = hd::as_double((bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);  // [1, 2)
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
FASTREP_HD void sincos_2pi_uniform(hd::u64 x, double& c_out, double& s_out) {
  const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
               S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
               S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
  const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
               C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
               C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
  const double half_pi_over_2_31 = 1.5707963267948966 / 2147483648.0;
  const hd::u64 q = (x + (1ull << 29)) >> 30;  // 0..4
  const hd::i64 tn = static_cast<hd::i64>(2 * x + 1) - static_cast<hd::i64>(q << 31);
  const double a = small_i64_to_double(tn) * half_pi_over_2_31;  // |a| <= pi/4
  const double z = a * a, w = z * z;
  const double rs = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  const double sn = a + (z * a) * (S1 + z * rs);
  const double rc = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
  const double hz = 0.5 * z, one_m_hz = 1.0 - hz;
  const double cs = one_m_hz + (((1.0 - one_m_hz) - hz) + z * rc);
  const hd::u64 qm = q & 3;
  // quadrant q: (cos, sin) = (cs, sn), (-sn, cs), (-cs, -sn), (sn, -cs)
  const double c_abs = (qm & 1) ? sn : cs, s_abs = (qm & 1) ? cs : sn;
  c_out = (qm == 1 || qm == 2) ? -c_abs : c_abs;
  s_out = (qm >= 2) ? -s_abs : s_abs;
}

// Box-Muller on one Philox output: z[0..3] = sqrt(-2 ln u_0) (cos, sin)(2 pi u_1) and
// sqrt(-2 ln u_2) (cos, sin)(2 pi u_3), u_k = (x_k + 0.5) 2^-32.
FASTREP_HD void box_muller(hd::u64 x0, hd::u64 x1, hd::u64 x2, hd::u64 x3, double z[4]) {
  const double r01 = hd::sqrt(-2.0 * log_uniform(x0));
  const double r23 = hd::sqrt(-2.0 * log_uniform(x2));
  double c, s;
  sincos_2pi_uniform(x1, c, s);
  z[0] = r01 * c;
  z[1] = r01 * s;
  sincos_2pi_uniform(x3, c, s);
  z[2] = r23 * c;
  z[3] = r23 * s;
}

// The four normals of cell (row, group) of the stream (seed, stream): columns 4 group + 0..3 of
// that row. key = (seed & 0xffffffff, seed >> 32), counter = (row lo, row hi, group, stream).
FASTREP_HD void normals_cell(hd::u64 row, hd::u64 group, hd::u32 stream, hd::u32 key0, hd::u32 key1,
                             double z[4]) {
  hd::u32 c[4] = {static_cast<hd::u32>(row), static_cast<hd::u32>(row >> 32), static_cast<hd::u32>(group),
                  stream};
  philox4x32_10(c, key0, key1);
  box_muller(c[0], c[1], c[2], c[3], z);
}

}  // namespace philox
}  // namespace fastrep

FASTREP_FP_END
