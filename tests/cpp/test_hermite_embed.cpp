// Embedding check: fastrep's C++ core used from plain C++17, with no Python anywhere.
//
//   c++ -std=c++17 -O2 [-fopenmp] -I csrc/include tests/cpp/test_hermite_embed.cpp -o embed && ./embed
//
// Hermite features from fastrep/hermite.hpp are compared with values computed here
// independently of the header:
//   * degree <= 6: the explicit polynomials He_2 = z^2 - 1, He_3 = z^3 - 3z, ... evaluated
//     in long double, divided by sqrt(k!);
//   * any degree: the *unnormalized* recurrence He_{k+1} = z He_k - k He_{k-1} in long double,
//     divided by sqrt(k!) at the end (the header uses the normalized recurrence instead);
//   * a few values worked out by hand.
// Every implementation (hermite_features_generic and, where the CPU has them, the AVX2 and
// AVX-512 ones, each called directly) is checked, each SIMD one also bit for bit against the
// generic one, with and without OpenMP (the test compiles this file both ways).
// Exit status 0 means every check passed; each failure prints one line.
#include <fastrep/hermite.hpp>
#include "expect.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

using fastrep::index_t;

namespace {

using embed_check::checks;
using embed_check::expect;
using embed_check::failures;

long double factorial(int k) {
  long double f = 1;
  for (int i = 2; i <= k; ++i) f *= i;
  return f;
}

// He_k(z) from its explicit coefficients (k <= 6).
long double he_explicit(int k, long double z) {
  const long double z2 = z * z;
  switch (k) {
    case 0: return 1;
    case 1: return z;
    case 2: return z2 - 1;
    case 3: return z * (z2 - 3);
    case 4: return z2 * z2 - 6 * z2 + 3;
    case 5: return z * (z2 * z2 - 10 * z2 + 15);
    case 6: return z2 * z2 * z2 - 15 * z2 * z2 + 45 * z2 - 15;
    default: return std::numeric_limits<long double>::quiet_NaN();
  }
}

// He_k(z) by the unnormalized three-term recurrence (any k).
long double he_recurrence(int k, long double z) {
  long double prev = 1, cur = z;
  if (k == 0) return prev;
  for (int m = 1; m < k; ++m) {
    const long double next = z * cur - m * prev;
    prev = cur;
    cur = next;
  }
  return cur;
}

// All alpha in N^r with |alpha| <= p, row-major (K, r); the order does not matter here.
std::vector<std::int32_t> all_multi_indices(int r, int p) {
  std::vector<std::int32_t> out;
  std::vector<std::int32_t> a(r, 0);
  while (true) {
    int deg = 0;
    for (int j = 0; j < r; ++j) deg += a[j];
    if (deg <= p) out.insert(out.end(), a.begin(), a.end());
    int j = 0;  // odometer over {0..p}^r
    while (j < r && a[j] == p) a[j++] = 0;
    if (j == r) break;
    ++a[j];
  }
  return out;
}

// Which implementation to call.
enum class Impl { dispatch, generic, avx512, avx2 };
const char* impl_name(Impl m) {
  return m == Impl::dispatch ? "dispatch" : m == Impl::generic ? "generic" : m == Impl::avx512 ? "avx512" : "avx2";
}
const Impl kImpls[] = {Impl::dispatch, Impl::generic, Impl::avx512, Impl::avx2};

// Returns false when the implementation does not apply (AVX-512 or AVX2 on a CPU without it).
template <typename T>
bool run(Impl m, const std::vector<T>& Z, index_t n, index_t r, const std::vector<std::int32_t>& al,
         std::vector<T>& out) {
  const index_t K = r ? static_cast<index_t>(al.size()) / r : static_cast<index_t>(al.size());
  out.assign(static_cast<std::size_t>(n * K), std::numeric_limits<T>::quiet_NaN());
  switch (m) {
    case Impl::dispatch: fastrep::hermite_features<T>(Z.data(), n, r, al.data(), K, out.data()); return true;
    case Impl::generic: fastrep::hermite_features_generic<T>(Z.data(), n, r, al.data(), K, out.data()); return true;
    case Impl::avx512: return fastrep::hermite_features_avx512<T>(Z.data(), n, r, al.data(), K, out.data());
    case Impl::avx2: return fastrep::hermite_features_avx2<T>(Z.data(), n, r, al.data(), K, out.data());
  }
  return false;
}

// Compare every entry with an independent evaluation; the error is scaled by max(1, |want|).
template <typename T, typename HeFn>
void check_against(Impl m, const char* label, index_t n, index_t r, int p, double zmax, double tol, HeFn he,
                   std::mt19937_64& gen) {
  std::uniform_real_distribution<double> unif(-zmax, zmax);
  std::vector<T> Z(static_cast<std::size_t>(n * r));
  for (auto& z : Z) z = static_cast<T>(unif(gen));
  const std::vector<std::int32_t> al = all_multi_indices(static_cast<int>(r), p);
  const index_t K = static_cast<index_t>(al.size()) / r;
  std::vector<T> out;
  if (!run<T>(m, Z, n, r, al, out)) return;
  double worst = 0;
  bool finite = true;
  for (index_t i = 0; i < n; ++i)
    for (index_t a = 0; a < K; ++a) {
      long double want = 1;
      for (index_t j = 0; j < r; ++j) {
        const int k = al[a * r + j];
        want *= he(k, static_cast<long double>(Z[i * r + j])) / std::sqrt(factorial(k));
      }
      const long double got = out[i * K + a];
      finite = finite && std::isfinite(static_cast<double>(got));
      const double err = static_cast<double>(std::fabs(got - want) / std::fmax(1.0L, std::fabs(want)));
      worst = err > worst ? err : worst;
    }
  char msg[256];
  std::snprintf(msg, sizeof msg, "%s %s %s n=%ld r=%ld p=%d K=%ld: worst scaled error %.3g > %.3g", label,
                impl_name(m), sizeof(T) == 4 ? "float" : "double", static_cast<long>(n), static_cast<long>(r), p,
                static_cast<long>(K), worst, tol);
  expect(finite && worst <= tol, msg);
}

template <typename T>
void check_type(std::mt19937_64& gen) {
  // tolerances as in tests/conftest.py (RTOL * 50): float32 5e-4, float64 5e-11
  const double tol = sizeof(T) == 4 ? 5e-4 : 5e-11;
  for (Impl m : kImpls) {
    // explicit polynomials; n spans several OpenMP chunks; K = 84 (r = 3, p = 6) is not a
    // multiple of the vector width, so the masked tail store is exercised
    check_against<T>(m, "explicit", 5000, 3, 6, 4.0, tol, he_explicit, gen);
    check_against<T>(m, "explicit", 257, 1, 6, 4.0, tol, he_explicit, gen);  // K = 7 < one vector
    check_against<T>(m, "explicit", 33, 5, 2, 3.0, tol, he_explicit, gen);   // K = 21
    // higher degrees: one- and two-register tables of the AVX-512 path, and beyond them
    for (int p : {7, 8, 15, 16, 20, 31, 34}) check_against<T>(m, "recurrence", 100, 1, p, 3.0, tol, he_recurrence, gen);
    check_against<T>(m, "recurrence", 64, 2, 12, 3.0, tol, he_recurrence, gen);
  }
}

// Hand-worked values: h_2(1.5) = (1.5^2 - 1)/sqrt(2), h_3(-2) = (-8 + 6)/sqrt(6), h_(2,1)(1.5, -2) = both.
template <typename T>
void check_by_hand() {
  const std::vector<T> Z = {T(1.5), T(-2)};
  const std::vector<std::int32_t> al = {0, 0, 2, 0, 0, 3, 2, 1};  // (K=4, r=2)
  const double want[4] = {1.0, 1.25 / std::sqrt(2.0), -2.0 / std::sqrt(6.0), 1.25 / std::sqrt(2.0) * -2.0};
  for (Impl m : kImpls) {
    std::vector<T> out;
    if (!run<T>(m, Z, 1, 2, al, out)) continue;
    for (int a = 0; a < 4; ++a) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "by hand %s %s: feature %d is %.9g, want %.9g", impl_name(m),
                    sizeof(T) == 4 ? "float" : "double", a, static_cast<double>(out[a]), want[a]);
      expect(std::fabs(out[a] - want[a]) <= (sizeof(T) == 4 ? 1e-6 : 1e-15), msg);
    }
  }
}

// Degree 30 at |z| = 10 in double: finite, and right to 1e-12 against the long double recurrence.
void check_high_degree_double() {
  const std::vector<double> Z = {-10.0, -3.5, 0.0, 7.25, 10.0};
  const std::vector<std::int32_t> al = {30};
  for (Impl m : kImpls) {
    std::vector<double> out;
    if (!run<double>(m, Z, 5, 1, al, out)) continue;
    for (int i = 0; i < 5; ++i) {
      const long double want = he_recurrence(30, Z[i]) / std::sqrt(factorial(30));
      char msg[160];
      std::snprintf(msg, sizeof msg, "degree 30 %s at z=%g: %.17g, want %.17Lg", impl_name(m), Z[i], out[i], want);
      expect(std::isfinite(out[i]) && std::fabs(out[i] - want) <= 1e-12 * std::fmax(1.0L, std::fabs(want)), msg);
    }
  }
}

// Outputs of 32 MiB and more are written with non-temporal stores through a staging buffer
// in the AVX-512 path: the dispatching call must equal the portable one entry for entry
// (same arithmetic in the same order), including rows that straddle cache lines.
template <typename T>
void check_streamed(index_t n, index_t r, int p, std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  std::vector<T> Z(static_cast<std::size_t>(n * r));
  for (auto& z : Z) z = static_cast<T>(normal(gen));
  const std::vector<std::int32_t> al = all_multi_indices(static_cast<int>(r), p);
  std::vector<T> got, want;
  run<T>(Impl::generic, Z, n, r, al, want);
  for (Impl m : {Impl::dispatch, Impl::avx2, Impl::avx512}) {
    if (!run<T>(m, Z, n, r, al, got)) continue;
    index_t differ = 0;
    for (std::size_t e = 0; e < got.size(); ++e) differ += !(got[e] == want[e]);
    char msg[160];
    std::snprintf(msg, sizeof msg, "streamed %s %s n=%ld r=%ld p=%d (%.0f MB): %ld entries differ from the portable code",
                  impl_name(m), sizeof(T) == 4 ? "float" : "double", static_cast<long>(n), static_cast<long>(r), p,
                  got.size() * sizeof(T) / 1e6, static_cast<long>(differ));
    expect(got.size() * sizeof(T) >= (std::size_t(32) << 20) && differ == 0, msg);
  }
}

// Every SIMD path equals the portable code entry for entry at every degree it takes (one- and
// two-register tables, masked tails), in cache (no streaming).
template <typename T>
void check_bit_identical(std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  for (int r : {1, 2, 3, 4, 6})
    for (int p : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31}) {
      if (r > 1 && p > 9) continue;  // K grows fast; one column covers the tables
      const index_t n = 97;
      std::vector<T> Z(static_cast<std::size_t>(n * r));
      for (auto& z : Z) z = static_cast<T>(2 * normal(gen));
      const std::vector<std::int32_t> al = all_multi_indices(r, p);
      std::vector<T> want, got;
      run<T>(Impl::generic, Z, n, r, al, want);
      for (Impl m : {Impl::avx2, Impl::avx512}) {
        if (!run<T>(m, Z, n, r, al, got)) continue;
        index_t differ = 0;
        for (std::size_t e = 0; e < got.size(); ++e) differ += !(got[e] == want[e]);
        char msg[160];
        std::snprintf(msg, sizeof msg, "%s %s r=%d p=%d: %ld entries differ from the portable code", impl_name(m),
                      sizeof(T) == 4 ? "float" : "double", r, p, static_cast<long>(differ));
        expect(differ == 0, msg);
      }
    }
}

// Multi-indices in no particular order, repeated, and K around one vector (8): the AVX2 float
// path works on groups of 8 features and 8 rows, with spills into the next row and padded rows.
template <typename T>
void check_any_alphas(std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  for (int r : {1, 2, 3, 4})
    for (int p : {2, 7, 8, 15})
      for (index_t K : {1, 7, 8, 9, 13}) {
        std::uniform_int_distribution<std::int32_t> deg(0, p);
        std::vector<std::int32_t> al(static_cast<std::size_t>(K * r));
        for (auto& a : al) a = deg(gen);
        al[0] = p;  // the largest degree is p
        for (index_t n : {1, 8, 23}) {
          std::vector<T> Z(static_cast<std::size_t>(n * r));
          for (auto& z : Z) z = static_cast<T>(2 * normal(gen));
          std::vector<T> want, got;
          run<T>(Impl::generic, Z, n, r, al, want);
          for (Impl m : {Impl::dispatch, Impl::avx2, Impl::avx512}) {
            if (!run<T>(m, Z, n, r, al, got)) continue;
            index_t differ = 0;
            for (std::size_t e = 0; e < got.size(); ++e) differ += !(got[e] == want[e]);
            char msg[160];
            std::snprintf(msg, sizeof msg, "any alphas %s %s r=%d p=%d K=%ld n=%ld: %ld entries differ from the portable code",
                          impl_name(m), sizeof(T) == 4 ? "float" : "double", r, p, static_cast<long>(K),
                          static_cast<long>(n), static_cast<long>(differ));
            expect(differ == 0, msg);
          }
        }
      }
}

// Empty shapes: n = 0 and K = 0 write nothing; r = 0 gives the empty product, 1.
void check_edges() {
  for (Impl m : kImpls) {
    std::vector<float> out;
    const std::vector<float> Z0;
    expect(!run<float>(m, Z0, 0, 2, {1, 1}, out) || out.empty(), std::string("n = 0 ") + impl_name(m));
    const std::vector<float> Z = {0.5f, 1.0f};
    expect(!run<float>(m, Z, 1, 2, {}, out) || out.empty(), std::string("K = 0 ") + impl_name(m));
    if (m != Impl::avx512 && m != Impl::avx2) {  // the SIMD paths decline r = 0 (the generic one does it)
      run<float>(m, Z0, 3, 0, {0, 0}, out);  // alphas (2, 0): K counts as al.size() here
      bool ones = out.size() == 6;
      for (float v : out) ones = ones && v == 1.0f;
      expect(ones, std::string("r = 0 gives ones ") + impl_name(m));
    }
  }
}

}  // namespace

int main() {
  std::mt19937_64 gen(20240601);
  check_type<float>(gen);
  check_type<double>(gen);
  check_by_hand<float>();
  check_by_hand<double>();
  check_high_degree_double();
  check_edges();
  check_bit_identical<float>(gen);
  check_bit_identical<double>(gen);
  check_any_alphas<float>(gen);
  check_any_alphas<double>(gen);
  check_streamed<float>(130003, 4, 4, gen);   // K = 70: the benchmark's shape, r = 4 specialized
  check_streamed<double>(300007, 2, 6, gen);  // K = 28
  check_streamed<float>(70001, 5, 4, gen);    // K = 126, r = 5 (any-r code)
  std::printf("fastrep embed: %d checks, %d failures; threads %d; float p=4 runs %s, double p=4 runs %s\n", checks,
              failures, fastrep::num_threads(), fastrep::hermite_features_path<float>(4),
              fastrep::hermite_features_path<double>(4));
  return failures == 0 ? 0 : 1;
}
