// The SIMD paths' body of hermite_features, written once for any vector width. No include guard:
// hermite.hpp includes this file once per instruction set, inside a namespace that first defines
//   FASTREP_HERMITE_FN    the attributes of every function here (the target);
//   Isa<T>                for T = float and double, the ISA's operations on one register:
//     vec, W              the register type and its lanes;
//     idx_t, index_width(two_regs)
//                         the permute-index entry type, and how many entries one output vector
//                         takes per column (lanes, then whatever else perm2 reads);
//     set_index<TwoRegs>(e, lane, deg)
//                         write the entries that make lane `lane` pick table entry `deg`;
//     perm(e, t), perm2(e, lo, hi)
//                         the W table entries the indices at e pick from a table of W entries
//                         (one register) or 2 W (two);
//     load mul store store_first(p, v, m) stream(p, aligned) sfence
//                         unaligned load, multiply, store, store of the first m lanes,
//                         non-temporal store of an aligned vector, store fence.
// and uses hermite.hpp's HermiteCoefficients, hermite_table, thread_num, kParallelMinOutputs
// and kStreamMinBytes. The products are those of hermite_features_generic in the same order
// (h_0 = 1 multiplied in like any other factor, no FMA), so every path's output is bit-identical
// to the portable one whatever W.

// h_{alpha[a, j]}(Z[i, j]) for the W features a of one output vector: a permute of column j's table.
template <bool TwoRegs, typename T>
FASTREP_HERMITE_FN inline typename Isa<T>::vec factor(const typename Isa<T>::idx_t* idx, const T* table) {
  using S = Isa<T>;
  if constexpr (TwoRegs) {
    return S::perm2(idx, S::load(table), S::load(table + S::W));
  } else {
    return S::perm(idx, S::load(table));
  }
}

// dst[0, count) = src[0, count) where src and dst have the same address modulo 64 bytes: whole
// cache lines with non-temporal stores, which skip reading each line before overwriting it.
template <typename T>
FASTREP_HERMITE_FN inline void stream_copy(T* dst, const T* src, index_t count) {
  constexpr index_t W = Isa<T>::W;
  index_t head = static_cast<index_t>((64 - (reinterpret_cast<std::uintptr_t>(dst) & 63)) & 63) / index_t(sizeof(T));
  head = std::min(head, count);
  index_t s = 0;
  for (; s < head; ++s) dst[s] = src[s];
  for (; s + W <= count; s += W) Isa<T>::stream(dst + s, src + s);
  for (; s < count; ++s) dst[s] = src[s];
}

// TwoRegs: the column table has W < p+1 <= 2W entries and needs a two-register permute.
// R > 0: r == R known at compile time, so the loop over columns unrolls (faster in cache, see
// benchmarks/RESULTS_HERMITE.md) and, with one-register tables, a row's R tables stay in
// registers across its output vectors; R == 0: any r.
template <typename T, bool TwoRegs, int R>
FASTREP_HERMITE_FN void features_impl(const T* Z, index_t n, index_t r_, const std::int32_t* alphas, index_t K,
                                      T* out, int p) {
  using S = Isa<T>;
  using L = typename S::idx_t;
  using vec = typename S::vec;
  constexpr index_t W = S::W;
  constexpr index_t TW = TwoRegs ? 2 * W : W;  // table width per column, zero padded
  constexpr index_t IW = S::index_width(TwoRegs);
  constexpr bool InRegs = R > 0 && !TwoRegs;
  const index_t r = R > 0 ? R : r_;
  const HermiteCoefficients<T> c(p);
  const T* sk = c.sqrt_k.data();
  const T* isk = c.inv_sqrt_k1.data();
  const index_t nv = (K + W - 1) / W;  // output vectors per row
  const index_t tail = K - (nv - 1) * W;
  // the entries of (vector v, column j) at idx[(v * r + j) * IW]; lanes past K read h_0 and are
  // never stored
  std::vector<L> idx(static_cast<std::size_t>(nv * r * IW), L(0));
  for (index_t a = 0; a < K; ++a)
    for (index_t j = 0; j < r; ++j) S::template set_index<TwoRegs>(idx.data() + ((a / W) * r + j) * IW, a % W, alphas[a * r + j]);
  const L* ix = idx.data();
  const bool stream = static_cast<std::size_t>(n) * static_cast<std::size_t>(K) * sizeof(T) >= kStreamMinBytes;
  // Tables of a block of rows are built first and read afterwards: reading a vector right
  // after writing its lanes one by one stalls on store forwarding (benchmarks/RESULTS_HERMITE.md).
  // A block's tables (and, when streaming, its staged rows) stay within ~16 KiB each, in L1.
  index_t B = std::max<index_t>(1, std::min<index_t>(64, (16384 / index_t(sizeof(T))) / (r * TW)));
  if (stream) B = std::max<index_t>(1, std::min<index_t>(B, (16384 / index_t(sizeof(T))) / K));
  const index_t nblocks = (n + B - 1) / B;
  // every thread's tables and staging rows are allocated here: an exception cannot leave an
  // OpenMP region. Staging: up to a cache line of offset, and a whole last vector's spill.
  const index_t tsize = B * r * TW, ssize = stream ? B * K + index_t(64 / sizeof(T)) + W : 0;
  std::vector<T> all_tables(static_cast<std::size_t>(num_threads() * tsize), T(0));
  std::vector<T> all_staging(static_cast<std::size_t>(num_threads() * ssize));
  FASTREP_OMP(parallel if (n * K >= kParallelMinOutputs)) {
    T* tab = all_tables.data() + thread_num() * tsize;
    // when streaming, rows are written here first, at dst's offset within a cache line
    T* staging = all_staging.data() + thread_num() * ssize;
    // dynamic: on a shared machine a thread that lost its core must not hold up the rest
    FASTREP_OMP(for schedule(dynamic, 16))
    for (index_t blk = 0; blk < nblocks; ++blk) {
      const index_t i0 = blk * B, m = std::min(B, n - i0);
      for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < r; ++j) hermite_table(Z[(i0 + i) * r + j], p, sk, isk, tab + (i * r + j) * TW);
      T* dst = out + i0 * K;
      T* rows = dst;
      if (stream) {
        const auto line = [](const void* q) { return static_cast<index_t>(reinterpret_cast<std::uintptr_t>(q) & 63); };
        rows = staging + ((64 - line(staging) + line(dst)) & 63) / index_t(sizeof(T));
      }
      for (index_t i = 0; i < m; ++i) {
        const T* ti = tab + i * r * TW;
        T* oi = rows + i * K;
        // a whole last vector may spill into the next row, which is written after it, or into the
        // staging buffer's padding; only the block's last row, in `out` itself, is stored masked
        const bool spill_ok = stream || (m - 1 - i) * K >= W;
        [[maybe_unused]] vec t[InRegs ? R : 1];  // the row's R tables, kept in registers
        if constexpr (InRegs)
          for (int j = 0; j < R; ++j) t[j] = S::load(ti + j * TW);
        for (index_t v = 0; v < nv; ++v) {
          const L* iv = ix + v * r * IW;
          vec acc;
          if constexpr (InRegs) {
            acc = S::perm(iv, t[0]);
            for (int j = 1; j < R; ++j) acc = S::mul(acc, S::perm(iv + j * IW, t[j]));
          } else {
            acc = factor<TwoRegs>(iv, ti);  // r >= 1 here
            for (index_t j = 1; j < r; ++j) acc = S::mul(acc, factor<TwoRegs>(iv + j * IW, ti + j * TW));
          }
          if (v + 1 < nv || spill_ok) {
            S::store(oi + v * W, acc);
          } else {
            S::store_first(oi + v * W, acc, tail);
          }
        }
      }
      if (stream) stream_copy(dst, rows, m * K);
    }
    if (stream) S::sfence();  // make this thread's streamed stores visible before the team joins
  }
}

template <typename T, bool TwoRegs>
void features_r(const T* Z, index_t n, index_t r, const std::int32_t* alphas, index_t K, T* out, int p) {
  switch (r) {
    case 1: return features_impl<T, TwoRegs, 1>(Z, n, r, alphas, K, out, p);
    case 2: return features_impl<T, TwoRegs, 2>(Z, n, r, alphas, K, out, p);
    case 3: return features_impl<T, TwoRegs, 3>(Z, n, r, alphas, K, out, p);
    case 4: return features_impl<T, TwoRegs, 4>(Z, n, r, alphas, K, out, p);
    default: return features_impl<T, TwoRegs, 0>(Z, n, r, alphas, K, out, p);
  }
}

// hermite_features on this path for maximal degree p (r >= 1): false, writing nothing, when the
// tables do not fit two registers (p >= 2 W).
template <typename T>
bool features(const T* Z, index_t n, index_t r, const std::int32_t* alphas, index_t K, T* out, int p) {
  if (p < Isa<T>::W) {
    features_r<T, false>(Z, n, r, alphas, K, out, p);
    return true;
  }
  if (p < 2 * Isa<T>::W) {
    features_r<T, true>(Z, n, r, alphas, K, out, p);
    return true;
  }
  return false;
}
