// The SIMD paths' body of gaussian_block, written once for any vector width. No include guard:
// philox.hpp includes this file once per instruction set, inside a namespace that first defines
//   W                     lanes per vector (cells per Philox call of the vector code);
//   vi, vd, vm            a vector of W 64-bit integers, of W doubles, a lane mask;
//   FASTREP_LANES_INLINE  the attributes of the small functions (target, always_inline);
//   FASTREP_LANES_FN      the attributes of gaussian_block (the target);
//   set1 add sub mul div sqrt sel cmp_gt         double lanes (sel(mask, if_true, if_false));
//   iset1 iadd isub iand ior ixor isrli<N> islli<N> mul_epu32 ieq as_d as_i load store
//                         integer lanes (mul_epu32: low 32 bits x low 32 bits -> 64; as_d and
//                         as_i reinterpret the bits);
//   store_cells(T* o, z0, z1, z2, z3)            W cells' normals, cell by cell, to o[0, 4 W).
// and uses philox.hpp's Tiles, tile_counters and scatter_cells, shared with the portable loop.
// Every function here is the scalar one of scalar_philox.hpp operation for operation (same
// constants, same order, no FMA), so each lane is bit-identical to the portable path whatever W.

// small_u64_to_double, small_i64_to_double
FASTREP_LANES_INLINE vd u64_to_double(vi v) {
  return sub(as_d(ior(v, iset1(0x4330000000000000ull))), set1(4503599627370496.0));
}
FASTREP_LANES_INLINE vd i64_to_double(vi v) {
  return sub(as_d(iadd(v, iset1(0x4338000000000000ull))), set1(6755399441055744.0));
}

// log_uniform on W words (64-bit lanes < 2^32)
FASTREP_LANES_INLINE vd log_uniform(vi x) {
  const vd ln2_hi = set1(6.93147180369123816490e-01), ln2_lo = set1(1.90821492927058770002e-10);
  const vd Lg1 = set1(6.666666666666735130e-01), Lg2 = set1(3.999999999940941908e-01),
           Lg3 = set1(2.857142874366239149e-01), Lg4 = set1(2.222219843214978396e-01),
           Lg5 = set1(1.818357216161805012e-01), Lg6 = set1(1.531383769920937332e-01),
           Lg7 = set1(1.479819860511658591e-01);
  const vi bits = as_i(u64_to_double(iadd(iadd(x, x), iset1(1))));
  const vd m1 = as_d(ior(iand(bits, iset1(0x000FFFFFFFFFFFFFull)), iset1(0x3FF0000000000000ull)));
  const vd e = sub(u64_to_double(isrli<52>(bits)), set1(1023.0 + 33.0));
  const vm big = cmp_gt(m1, set1(1.4142135623730951));
  const vd m = sel(big, mul(set1(0.5), m1), m1);
  const vd k = sel(big, add(e, set1(1.0)), e);
  const vd f = sub(m, set1(1.0));
  const vd s = div(f, add(set1(2.0), f)), z = mul(s, s), w = mul(z, z);
  const vd t1 = mul(w, add(Lg2, mul(w, add(Lg4, mul(w, Lg6)))));
  const vd t2 = mul(z, add(Lg1, mul(w, add(Lg3, mul(w, add(Lg5, mul(w, Lg7)))))));
  const vd R = add(t2, t1), hfsq = mul(mul(set1(0.5), f), f);
  return sub(mul(k, ln2_hi), sub(sub(hfsq, add(mul(s, add(hfsq, R)), mul(k, ln2_lo))), f));
}

// sincos_2pi_uniform on W words
FASTREP_LANES_INLINE void sincos_2pi_uniform(vi x, vd& c_out, vd& s_out) {
  const vd S1 = set1(-1.66666666666666324348e-01), S2 = set1(8.33333333332248946124e-03),
           S3 = set1(-1.98412698298579493134e-04), S4 = set1(2.75573137070700676789e-06),
           S5 = set1(-2.50507602534068634195e-08), S6 = set1(1.58969099521155010221e-10);
  const vd C1 = set1(4.16666666666666019037e-02), C2 = set1(-1.38888888888741095749e-03),
           C3 = set1(2.48015872894767294178e-05), C4 = set1(-2.75573143513906633035e-07),
           C5 = set1(2.08757232129817482790e-09), C6 = set1(-1.13596475577881948265e-11);
  const vi q = isrli<30>(iadd(x, iset1(1ull << 29)));
  const vi tn = isub(iadd(iadd(x, x), iset1(1)), islli<31>(q));
  const vd a = mul(i64_to_double(tn), set1(1.5707963267948966 / 2147483648.0));
  const vd z = mul(a, a), w = mul(z, z);
  const vd rs = add(S2, mul(z, add(S3, mul(z, add(S4, mul(z, add(S5, mul(z, S6))))))));
  const vd sn = add(a, mul(mul(z, a), add(S1, mul(z, rs))));
  const vd rc = add(mul(z, add(C1, mul(z, add(C2, mul(z, C3))))), mul(mul(w, w), add(C4, mul(z, add(C5, mul(z, C6))))));
  const vd hz = mul(set1(0.5), z), one_m_hz = sub(set1(1.0), hz);
  const vd cs = add(one_m_hz, add(sub(sub(set1(1.0), one_m_hz), hz), mul(z, rc)));
  // quadrant q & 3: (cos, sin) = (cs, sn), (-sn, cs), (-cs, -sn), (sn, -cs)
  const vi one = iset1(1), two = iset1(2);
  const vm odd = ieq(iand(q, one), one);
  const vd c_abs = sel(odd, sn, cs), s_abs = sel(odd, cs, sn);
  // negate cos for q & 3 in {1, 2} (bit 1 of q + 1), sin for q & 3 in {2, 3} (bit 1 of q)
  const vi sign = iset1(0x8000000000000000ull);
  c_out = as_d(ixor(as_i(c_abs), iand(islli<62>(iadd(q, one)), sign)));
  s_out = as_d(ixor(as_i(s_abs), iand(islli<62>(iand(q, two)), sign)));
}

// Philox4x32-10 on W cells (each word a 64-bit lane < 2^32): the counters (x0, x1, x2, x3) are
// replaced by the output words.
FASTREP_LANES_INLINE void philox(vi& x0, vi& x1, vi& x2, vi& x3, std::uint32_t key0, std::uint32_t key1) {
  const vi mask = iset1(MASK32), m0 = iset1(M0), m1 = iset1(M1);
  std::uint32_t k0 = key0, k1 = key1;
  for (int rnd = 0; rnd < 10; ++rnd) {
    if (rnd) {
      k0 += W0;
      k1 += W1;
    }
    const vi p0 = mul_epu32(m0, x0), p1 = mul_epu32(m1, x2);
    const vi n0 = ixor(ixor(isrli<32>(p1), x1), iset1(k0));
    const vi n2 = ixor(ixor(isrli<32>(p0), x3), iset1(k1));
    x0 = n0;
    x1 = iand(p1, mask);
    x2 = n2;
    x3 = iand(p0, mask);
  }
}

// Box-Muller on W cells' output words: z0..z3 are the normals of column offsets 0..3.
FASTREP_LANES_INLINE void box_muller(vi x0, vi x1, vi x2, vi x3, vd& z0, vd& z1, vd& z2, vd& z3) {
  const vd r01 = sqrt(mul(set1(-2.0), log_uniform(x0)));
  const vd r23 = sqrt(mul(set1(-2.0), log_uniform(x2)));
  vd c, s;
  sincos_2pi_uniform(x1, c, s);
  z0 = mul(r01, c);
  z1 = mul(r01, s);
  sincos_2pi_uniform(x3, c, s);
  z2 = mul(r23, c);
  z3 = mul(r23, s);
}

// gaussian_block's loop for this path: the portable path's tiles of TILE cells (so OpenMP splits
// the work the same way), each written W cells at a time straight into `out` when d % 4 == 0.
template <typename T>
FASTREP_LANES_FN void gaussian_block(std::uint64_t seed, std::uint32_t stream, std::uint64_t start, index_t n,
                                     index_t d, T* out) {
  static_assert(TILE % W == 0, "a tile is whole vectors");
  const Tiles tiles(seed, n, d);
  const index_t G = tiles.G;
  const std::uint32_t key0 = tiles.key0, key1 = tiles.key1;
  FASTREP_OMP(parallel for schedule(static) if (tiles.count > 8))
  for (index_t tile = 0; tile < tiles.count; ++tile) {
    // counters of the tile's cells, padded to a whole vector with copies of cell 0 (never stored)
    alignas(64) std::uint64_t c0[TILE], c1[TILE], c2[TILE];
    alignas(64) T z[4 * TILE];  // the tile's normals cell by cell, when they cannot go to out directly
    const index_t t0 = tiles.first(tile), len = tiles.len(tile);
    tile_counters(start, G, t0, len, c0, c1, c2);
    for (index_t k = len; k < TILE && k % W; ++k) c0[k] = c0[0], c1[k] = c1[0], c2[k] = c2[0];
    const bool direct = d % 4 == 0;
    T* dst = direct ? out + 4 * t0 : z;  // cell k's four normals at dst + 4 k
    // Two passes over the tile, each a short loop: Philox (one long chain of integer products per
    // vector) leaves the output words in c0, c1, c2 and c3; Box-Muller (divisions, square roots,
    // polynomials) turns them into normals. Short loop bodies let the core overlap the chains of
    // several vectors; one fused body per vector is too long for its out-of-order window.
    alignas(64) std::uint64_t c3[TILE];
    const index_t padded = (len + W - 1) / W * W;
    for (index_t k = 0; k < padded; k += W) {
      vi x0 = load(c0 + k), x1 = load(c1 + k), x2 = load(c2 + k), x3 = iset1(stream);
      philox(x0, x1, x2, x3, key0, key1);
      store(c0 + k, x0);
      store(c1 + k, x1);
      store(c2 + k, x2);
      store(c3 + k, x3);
    }
    for (index_t k = 0; k < padded; k += W) {
      vd z0, z1, z2, z3;
      box_muller(load(c0 + k), load(c1 + k), load(c2 + k), load(c3 + k), z0, z1, z2, z3);
      if (k + W <= len || !direct) {
        store_cells(dst + 4 * k, z0, z1, z2, z3);
      } else {  // the block's last cells: only len - k of the W are out's
        alignas(64) T last[4 * W];
        store_cells(last, z0, z1, z2, z3);
        std::memcpy(dst + 4 * k, last, sizeof(T) * 4 * static_cast<std::size_t>(len - k));
      }
    }
    if (!direct) scatter_cells(out, d, G, t0, len, [&z](index_t k, index_t j) { return z[4 * k + j]; });
  }
}
