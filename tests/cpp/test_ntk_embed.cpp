// Embedding check for csrc/include/fastrep/ntk.hpp: plain C++17, no Python.
//
//   c++ -std=c++17 -O2 [-fopenmp] -I csrc/include tests/cpp/test_ntk_embed.cpp -o ntk && ./ntk
//
// The NTK/NNGP entry pass on every path this build has (the portable loop, and where the CPU has
// them the AVX2 and AVX-512 ones; built with -DFASTREP_AVX512_ON_SIMDE, the AVX-512 one on
// SIMDe's portable AVX-512 on any CPU), forced in turn, must give the portable loop's values bit
// for bit: kernel_from_inner (two row sets, and symmetric) and kernel_from_inner_lower, float and
// double, NTK and NNGP, at sizes that leave partial vectors and tiles, on inputs that reach u = +-1
// (repeated and negated rows) and q = 0 (a zero row with beta = 0). The portable values are also
// checked against the formula in long double.
// Exit status 0 means every check passed; each failure prints one line.
#include <fastrep/ntk.hpp>
#include "expect.hpp"
#include <fastrep/hermite.hpp>  // both, as the extension has them: no clash of names

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using fastrep::index_t;
using fastrep::KernelKind;

namespace {

using embed_check::checks;
using embed_check::expect;
using embed_check::failures;

// n rows of d: random normals, then row 1 = row 0, row 2 = -row 0, row 3 = 0 (u = 1, u = -1, q = 0
// with beta = 0), and row 4 = 3 row 0 (u = 1 at another norm).
template <typename T>
std::vector<T> rows(index_t n, index_t d, std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  std::vector<T> X(static_cast<std::size_t>(n * d));
  for (auto& x : X) x = static_cast<T>(normal(gen));
  for (index_t k = 0; k < d && n >= 5; ++k) {
    X[1 * d + k] = X[k];
    X[2 * d + k] = -X[k];
    X[3 * d + k] = T(0);
    X[4 * d + k] = T(3) * X[k];
  }
  return X;
}

// A B^T (na, nb) and the rows' q = |x|^2 / d + beta^2, in T as BLAS would give them.
template <typename T>
std::vector<T> inner(const std::vector<T>& A, const std::vector<T>& B, index_t na, index_t nb, index_t d) {
  std::vector<T> G(static_cast<std::size_t>(na * nb));
  for (index_t i = 0; i < na; ++i)
    for (index_t j = 0; j < nb; ++j) {
      T s = 0;
      for (index_t k = 0; k < d; ++k) s += A[i * d + k] * B[j * d + k];
      G[i * nb + j] = s;
    }
  return G;
}
template <typename T>
std::vector<T> qs(const std::vector<T>& A, index_t n, index_t d, T beta2) {
  std::vector<T> q(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    T s = 0;
    for (index_t k = 0; k < d; ++k) s += A[i * d + k] * A[i * d + k];
    q[i] = fastrep::detail::inner_to_c(s, T(1) / T(d), beta2 / (T(1) / T(d)));
  }
  return q;
}

const char* tname(std::size_t size) { return size == 4 ? "float" : "double"; }

// The formula in long double (ntk.hpp's header), for the portable values.
long double formula(long double c, long double q1, long double q2, bool ntk) {
  const long double s = std::sqrt(q1 * q2);
  if (s == 0) return 0;
  long double u = c / s;
  u = u < -1 ? -1 : (u > 1 ? 1 : u);
  const long double phi = std::acos(-1.0L) - std::acos(u), sin_t = std::sqrt(1 - u * u);
  return (s * sin_t + (ntk ? 2 : 1) * phi * c) / (2 * std::acos(-1.0L));
}

template <typename T>
void check(index_t n1, index_t n2, index_t d, T beta2, std::mt19937_64& gen) {
  const std::vector<T> A = rows<T>(n1, d, gen), B = rows<T>(n2, d, gen);
  const T inv_d = T(1) / T(d);
  const std::vector<T> q1 = qs(A, n1, d, beta2), q2 = qs(B, n2, d, beta2);
  const std::vector<T> Gab = inner(A, B, n1, n2, d), Gaa = inner(A, A, n1, n1, d);
  for (KernelKind kind : {KernelKind::ntk, KernelKind::nngp}) {
    const char* kname = kind == KernelKind::ntk ? "ntk" : "nngp";
    // the portable results
    fastrep::detail::ntk_path_override() = 0;
    std::vector<T> want_ab = Gab, want_aa = Gaa, want_low = Gaa;
    fastrep::kernel_from_inner<T>(want_ab.data(), n1, n2, q1.data(), q2.data(), inv_d, beta2, kind);
    fastrep::kernel_from_inner<T>(want_aa.data(), n1, n1, nullptr, nullptr, inv_d, beta2, kind);
    fastrep::kernel_from_inner_lower<T>(want_low.data(), n1, inv_d, beta2, kind);
    double worst = 0;
    for (index_t i = 0; i < n1; ++i)
      for (index_t j = 0; j < n2; ++j) {
        const long double w = formula(static_cast<long double>(Gab[i * n2 + j]) * inv_d + beta2, q1[i], q2[j],
                                      kind == KernelKind::ntk);
        const double err = static_cast<double>(std::fabs(want_ab[i * n2 + j] - w) / std::fmax(1.0L, std::fabs(w)));
        worst = err > worst ? err : worst;
      }
    char msg[200];
    std::snprintf(msg, sizeof msg, "portable %s %s n1=%ld n2=%ld: worst scaled error %.3g against long double",
                  tname(sizeof(T)), kname, static_cast<long>(n1), static_cast<long>(n2), worst);
    // the rounding of G and q in T, through a kernel with an infinite slope at u = -1
    expect(worst < (sizeof(T) == 4 ? 2e-3 : 1e-9), msg);
    // the lower pass: exactly symmetric, its lower triangle the symmetric full pass's, and the same
    // bits from a buffer that does not start a cache line (its blocks and whole-line mirror runs shift)
    long asym = 0, off_lower = 0, moved = 0;
    for (index_t i = 0; i < n1; ++i)
      for (index_t j = 0; j <= i; ++j) {
        asym += std::memcmp(&want_low[i * n1 + j], &want_low[j * n1 + i], sizeof(T)) != 0;
        off_lower += std::memcmp(&want_low[i * n1 + j], &want_aa[i * n1 + j], sizeof(T)) != 0;
      }
    for (index_t shift : {1, 3}) {
      std::vector<T> buf(static_cast<std::size_t>(n1 * n1 + shift));
      std::copy(Gaa.begin(), Gaa.end(), buf.begin() + shift);
      fastrep::kernel_from_inner_lower<T>(buf.data() + shift, n1, inv_d, beta2, kind);
      moved += std::memcmp(buf.data() + shift, want_low.data(), want_low.size() * sizeof(T)) != 0;
    }
    std::snprintf(msg, sizeof msg, "lower pass %s %s n=%ld: %ld asymmetric pairs, %ld entries off the full pass, "
                  "%ld shifted buffers differ", tname(sizeof(T)), kname, static_cast<long>(n1), asym, off_lower, moved);
    expect(asym == 0 && off_lower == 0 && moved == 0, msg);
    for (int path : {1, 2}) {
      fastrep::detail::ntk_path_override() = path;
      if (fastrep::detail::ntk_path() != path) continue;  // this CPU or build lacks it
      std::vector<T> ab = Gab, aa = Gaa, low = Gaa;
      fastrep::kernel_from_inner<T>(ab.data(), n1, n2, q1.data(), q2.data(), inv_d, beta2, kind);
      fastrep::kernel_from_inner<T>(aa.data(), n1, n1, nullptr, nullptr, inv_d, beta2, kind);
      fastrep::kernel_from_inner_lower<T>(low.data(), n1, inv_d, beta2, kind);
      const auto differ = [](const std::vector<T>& x, const std::vector<T>& y) {
        long k = 0;
        for (std::size_t e = 0; e < x.size(); ++e) k += std::memcmp(&x[e], &y[e], sizeof(T)) != 0;
        return k;
      };
      std::snprintf(msg, sizeof msg, "path %d %s %s n1=%ld n2=%ld d=%ld beta2=%g: %ld, %ld, %ld entries differ "
                    "(rows, symmetric, lower)", path, tname(sizeof(T)), kname, static_cast<long>(n1),
                    static_cast<long>(n2), static_cast<long>(d), static_cast<double>(beta2), differ(ab, want_ab),
                    differ(aa, want_aa), differ(low, want_low));
      expect(differ(ab, want_ab) == 0 && differ(aa, want_aa) == 0 && differ(low, want_low) == 0, msg);
    }
    fastrep::detail::ntk_path_override() = -1;
  }
}

}  // namespace

int main() {
  std::mt19937_64 gen(20261206);
  // sizes around the vector widths (4, 8, 16) and the lower pass's 32-row blocks
  for (index_t n1 : {5, 17, 64, 131})
    for (index_t n2 : {5, 9, 33, 100}) {
      check<float>(n1, n2, 7, 1.0f, gen);
      check<double>(n1, n2, 7, 1.0, gen);
    }
  check<float>(70, 23, 3, 0.0f, gen);  // beta = 0: the zero row has q = 0
  check<double>(70, 23, 3, 0.0, gen);
  check<float>(300, 40, 128, 0.25f, gen);
  check<float>(160, 5, 9, 1.0f, gen);  // n a multiple of a cache line: whole-line mirror runs
  check<double>(160, 5, 9, 1.0, gen);
  check<float>(544, 5, 6, 1.0f, gen);  // many row blocks, n a multiple of a line and not
  check<double>(517, 5, 6, 1.0, gen);
  int best = fastrep::detail::ntk_path();
  std::printf("fastrep ntk embed: %d checks, %d failures; threads %d; path %d runs by default; path 2 %s\n",
              checks, failures, fastrep::num_threads(), best,
              (fastrep::detail::ntk_path_override() = 2, fastrep::detail::ntk_path() == 2) ? "available" : "absent");
  return failures == 0 ? 0 : 1;
}
