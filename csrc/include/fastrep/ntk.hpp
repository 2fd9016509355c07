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
#include <cstring>
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
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec set1(T v) { return X(P##_set1_##SFX)(v); }                           \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec loadu(const T* p) { return X(P##_loadu_##SFX)(p); }                  \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static void storeu(T* p, vec v) { X(P##_storeu_##SFX)(p, v); }                   \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec add(vec a, vec b) { return X(P##_add_##SFX)(a, b); }                 \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec sub(vec a, vec b) { return X(P##_sub_##SFX)(a, b); }                 \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec mul(vec a, vec b) { return X(P##_mul_##SFX)(a, b); }                 \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec sqrt(vec a) { return SQRT(P, SFX, ALL, a); }                         \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec min(vec a, vec b) { return MIN(P, SFX, ALL, b, a); }                 \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec max(vec a, vec b) { return MAX(P, SFX, ALL, b, a); }                 \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static bits_t bits(vec a) { return X(P##_cast##SFX##_si##N)(a); }               \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec from_bits(bits_t a) { return X(P##_castsi##N##_##SFX)(a); }          \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static bits_t sign() { return bits(set1(T(-0.0))); }                            \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static bits_t clear_sign(bits_t a) {                                            \
      return X(P##_xor_si##N)(X(P##_or_si##N)(a, sign()), sign());                                 \
    }                                                                                              \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec abs(vec a) { return from_bits(clear_sign(bits(a))); }                \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec neg(vec a) { return from_bits(X(P##_xor_si##N)(bits(a), sign())); }  \
    FASTREP_NTK_FN FASTREP_NTK_SMALL static vec copysign(vec x, vec y) {                                             \
      return from_bits(X(P##_or_si##N)(clear_sign(bits(x)), X(P##_and_si##N)(bits(y), sign())));   \
    }                                                                                              \
  };
#define FASTREP_NTK_PLAIN(name) name
// The small functions are always inlined: left to the inliner, GCC's budget for the translation
// unit decided, and an out-of-line SIMDe vector return trips -Wpsabi in the tests' build.
#define FASTREP_NTK_SMALL __attribute__((always_inline))

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
#undef FASTREP_NTK_SMALL

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

// row[j] := K entry from the inner product row[j], j < len, in place, and copy[j] the same value
// unless copy is null: the path's vector pass, or the portable loop (inlined into each
// FASTREP_CLONES caller, so GCC vectorizes it per ISA).
template <typename T, bool NTK>
__attribute__((always_inline)) inline void entries_row(EntriesFn<T, NTK> simd, T* row, index_t len, T ri, T iri,
                                                       const T* R, const T* IR, T inv_d, T d_beta2,
                                                       T* copy = nullptr) {
  if (simd) {
    simd(row, len, ri, iri, R, IR, inv_d, d_beta2, row, copy);
  } else if (copy) {
    for (index_t j = 0; j < len; ++j) {
      const T k = kernel_entry<T, NTK>(inner_to_c(row[j], inv_d, d_beta2), ri, iri, R[j], IR[j]);
      row[j] = k;
      copy[j] = k;
    }
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

// dst[k] = src[k] for k < len, where dst is a run of a row of G's upper triangle and src a row of
// the local copy in L1: the whole 64-byte lines of dst by non-temporal stores (SSE2, in every
// x86-64 clone), the partial lines at its ends by plain ones. A plain store first reads its line
// from memory, and the mirror's lines are never read again by the pass. The values are copied,
// not computed: bit-identical whatever the store. Always inlined (a call per run cost as much as
// the stores).
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

// tile[j * ldt + i] = src[i * lds + j] for i < rows, j < cols: the block's transpose, by 16-byte
// vectors (4 x 4 floats, 2 x 2 doubles) in GCC's generic vector types, which every
// FASTREP_CLONES target compiles to its own shuffles (SSE2 included); the edges element by
// element. The values are moved, not computed: bit-identical. Four times fewer instructions
// than the scalar loop, which was a third of the lower pass (benchmarks/RESULTS_KERNELS.md).
template <typename T>
__attribute__((always_inline)) inline void transpose_block(const T* src, index_t lds, T* tile, index_t ldt,
                                                           index_t rows, index_t cols) {
  index_t r4 = 0, c4 = 0;
#if defined(__GNUC__) && !defined(__clang__)
  if constexpr (sizeof(T) == 4) {
    typedef float v4f __attribute__((vector_size(16)));
    typedef int v4i __attribute__((vector_size(16)));
    typedef long long v2l __attribute__((vector_size(16)));
    r4 = rows / 4 * 4;
    c4 = cols / 4 * 4;
    for (index_t i = 0; i < r4; i += 4)
      for (index_t j = 0; j < c4; j += 4) {
        v4f a, b, c, d;
        std::memcpy(&a, src + i * lds + j, 16);
        std::memcpy(&b, src + (i + 1) * lds + j, 16);
        std::memcpy(&c, src + (i + 2) * lds + j, 16);
        std::memcpy(&d, src + (i + 3) * lds + j, 16);
        const v4i lo = {0, 4, 1, 5}, hi = {2, 6, 3, 7};
        const v2l ab0 = reinterpret_cast<v2l>(__builtin_shuffle(a, b, lo));  // a0 b0 a1 b1
        const v2l ab1 = reinterpret_cast<v2l>(__builtin_shuffle(a, b, hi));  // a2 b2 a3 b3
        const v2l cd0 = reinterpret_cast<v2l>(__builtin_shuffle(c, d, lo));
        const v2l cd1 = reinterpret_cast<v2l>(__builtin_shuffle(c, d, hi));
        const v2l even = {0, 2}, odd = {1, 3};
        const v2l col0 = __builtin_shuffle(ab0, cd0, even), col1 = __builtin_shuffle(ab0, cd0, odd);
        const v2l col2 = __builtin_shuffle(ab1, cd1, even), col3 = __builtin_shuffle(ab1, cd1, odd);
        std::memcpy(tile + j * ldt + i, &col0, 16);
        std::memcpy(tile + (j + 1) * ldt + i, &col1, 16);
        std::memcpy(tile + (j + 2) * ldt + i, &col2, 16);
        std::memcpy(tile + (j + 3) * ldt + i, &col3, 16);
      }
  } else {
    typedef double v2d __attribute__((vector_size(16)));
    typedef long long v2l __attribute__((vector_size(16)));
    r4 = rows / 2 * 2;
    c4 = cols / 2 * 2;
    for (index_t i = 0; i < r4; i += 2)
      for (index_t j = 0; j < c4; j += 2) {
        v2d a, b;
        std::memcpy(&a, src + i * lds + j, 16);
        std::memcpy(&b, src + (i + 1) * lds + j, 16);
        const v2l even = {0, 2}, odd = {1, 3};
        const v2d col0 = __builtin_shuffle(a, b, even), col1 = __builtin_shuffle(a, b, odd);
        std::memcpy(tile + j * ldt + i, &col0, 16);
        std::memcpy(tile + (j + 1) * ldt + i, &col1, 16);
      }
  }
#endif
  for (index_t i = 0; i < rows; ++i)  // the edges: rows r4.., and columns c4.. of the first r4 rows
    for (index_t j = i < r4 ? c4 : 0; j < cols; ++j) tile[j * ldt + i] = src[i * lds + j];
}

// The lower pass works in blocks of kBlockRows rows x kBlockColumns<T> columns (512 bytes of
// each row; 16 KiB in all). Few rows per block: at a power-of-two n, G's rows are a multiple of
// 4 KiB apart and fall into the same cache sets, so a block 64 rows high thrashed L1 and cost
// 2.3x the entries' time in whole rows (benchmarks/RESULTS_KERNELS.md, session 8).
constexpr index_t kBlockRows = 32;
template <typename T>
constexpr index_t kBlockColumns = 512 / static_cast<index_t>(sizeof(T));

// G (n, n) row-major whose lower triangle (diagonal included) holds X X^T; the upper triangle is
// never read. Each row becomes kernel values left of the diagonal (half the full pass's work: the
// same entry function, so the same bits) and the exact diagonal, and is written transposed to
// the upper triangle, K[j, i] = K[i, j] for j < i: K comes out exactly symmetric. Block by block
// (kBlockRows x kBlockColumns<T>): the entries go to G and to a contiguous local copy, which is
// transposed in L1 into runs of kBlockRows entries of the upper triangle's rows, stored by
// mirror_run; each block of G is read once.
template <typename T, bool NTK>
FASTREP_CLONES void kernel_lower_rows(T* G, index_t n, T inv_d, T beta2) {
  const T d_beta2 = beta2 / inv_d;
  std::vector<T> q(static_cast<std::size_t>(n)), r(static_cast<std::size_t>(n)), ir(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) q[i] = inner_to_c(G[i * n + i], inv_d, d_beta2);
  roots(q.data(), n, r.data(), ir.data());
  const T* Q = q.data();
  const T* R = r.data();
  const T* IR = ir.data();
  const EntriesFn<T, NTK> simd = simd_entries<T, NTK>();
  constexpr index_t RB = kBlockRows, CB = kBlockColumns<T>, LD = RB;
  // Row blocks start where G's rows start a cache line (the first one is shorter), so that, when
  // n is a multiple of a line, every mirrored run is whole lines. A run that starts inside a line
  // ends in plain stores to two partial lines of each upper row, each first read from memory:
  // NumPy's arrays start 16 bytes past a line, and with blocks from row 0 the pass took 3x as
  // long in the extension as in a test on aligned buffers (benchmarks/RESULTS_KERNELS.md).
  constexpr index_t line = 64 / static_cast<index_t>(sizeof(T));
  static_assert(RB % line == 0, "row blocks are whole lines");
  const auto mis = static_cast<index_t>((reinterpret_cast<std::uintptr_t>(G) / sizeof(T)) % line);
  const index_t a0 = std::min(n, (line - mis) % line);  // the first row that starts a line
  const index_t nblocks = (a0 > 0) + (n - a0 + RB - 1) / RB;
  // block b holds ~b RB^2 entries: dynamic scheduling, largest first, balances the triangle
  FASTREP_OMP(parallel for schedule(dynamic, 1) if (n >= 256))
  for (index_t t = 0; t < nblocks; ++t) {
    alignas(64) T copy[RB * CB];  // copy[(i - ib) * CB + (j - j0)] = K[i, j]
    T tile[CB * LD];               // tile[(j - j0) * LD + (i - ib)] = K[i, j]
    const index_t k = nblocks - 1 - t - (a0 > 0);  // aligned blocks before this one (-1: the first)
    const index_t ib = k < 0 ? 0 : a0 + k * RB, ie = k < 0 ? a0 : std::min(a0 + (k + 1) * RB, n);
    for (index_t j0 = 0; j0 < ie; j0 += CB) {  // along the block's rows: the hardware prefetches them
      const index_t je = std::min(j0 + CB, ie);
      for (index_t i = ib; i < ie; ++i) {
        T* row = G + i * n;
        const index_t len = std::min(je, i) - j0;
        if (len > 0)
          entries_row<T, NTK>(simd, row + j0, len, R[i], IR[i], R + j0, IR + j0, inv_d, d_beta2,
                              copy + (i - ib) * CB);
        if (i >= j0 && i < je) row[i] = kernel_diagonal<T, NTK>(Q[i]);
      }
      const index_t jf = std::min(je, ib);  // the block's columns left of its rows: whole runs
      if (jf > j0) {
        transpose_block(copy, CB, tile, LD, ie - ib, jf - j0);
        for (index_t j = j0; j < jf; ++j) mirror_run(G + j * n + ib, tile + (j - j0) * LD, ie - ib);
      }
      for (index_t j = std::max(j0, ib); j < je; ++j)  // the block's own diagonal part
        for (index_t i = j + 1; i < ie; ++i) G[j * n + i] = G[i * n + j];
    }
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
