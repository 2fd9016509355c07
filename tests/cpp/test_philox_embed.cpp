// Embedding check for csrc/include/fastrep/philox.hpp: plain C++17, no Python.
//
//   c++ -std=c++17 -O2 [-fopenmp] -I csrc/include tests/cpp/test_philox_embed.cpp -o philox && ./philox
//
//   * Philox4x32-10 against Random123's known-answer vectors (kat_vectors);
//   * the header's branch-free ln(u) and (cos, sin)(2 pi u) against long-double libm on
//     every 32-bit word near both ends of (0, 1), near every quadrant boundary and at
//     random words: error within 2 ulp (log, relative) and 2^-52 (sin/cos, absolute);
//   * gaussian_block against the documented recipe evaluated here with long-double libm;
//   * bit-identical blocks for every chunking of the rows and (with OpenMP) thread count;
//   * the AVX2 and AVX-512 paths (where the CPU has them; built with -DFASTREP_AVX512_ON_SIMDE, the
//     AVX-512 one on SIMDe's portable AVX-512 on any CPU) bit-identical to the portable one.
// It prints a checksum of one block, the same for builds for any instruction-set level.
// Exit status 0 means every check passed; each failure prints one line.
#include <fastrep/philox.hpp>
#include "expect.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using embed_check::checks;
using embed_check::expect;
using embed_check::failures;

const long double PI_L = 3.141592653589793238462643383279502884L;

double worst_log = 0, worst_cos = 0, worst_sin = 0;

void check_word(std::uint64_t x) {
  using namespace fastrep::philox;
  const long double u = (static_cast<long double>(x) + 0.5L) * 0x1p-32L;
  const long double L = logl(u);
  const double got = log_uniform(x);
  worst_log = std::fmax(worst_log, static_cast<double>(fabsl((got - L) / L)) / 2.220446049250313e-16);
  double c, s;
  sincos_2pi_uniform(x, c, s);
  worst_cos = std::fmax(worst_cos, static_cast<double>(fabsl(c - cosl(2 * PI_L * u))) / 2.220446049250313e-16);
  worst_sin = std::fmax(worst_sin, static_cast<double>(fabsl(s - sinl(2 * PI_L * u))) / 2.220446049250313e-16);
}

// One row of the stream by the recipe in the header comment, with long-double libm.
void recipe_row(std::uint64_t seed, std::uint32_t stream, std::uint64_t row, int d, std::vector<long double>& out) {
  out.assign(d, 0);
  for (int g = 0; 4 * g < d; ++g) {
    std::uint32_t c[4] = {static_cast<std::uint32_t>(row), static_cast<std::uint32_t>(row >> 32),
                          static_cast<std::uint32_t>(g), stream};
    fastrep::philox::philox4x32_10(c, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
    long double u[4];
    for (int k = 0; k < 4; ++k) u[k] = (static_cast<long double>(c[k]) + 0.5L) * 0x1p-32L;
    const long double v[4] = {sqrtl(-2 * logl(u[0])) * cosl(2 * PI_L * u[1]), sqrtl(-2 * logl(u[0])) * sinl(2 * PI_L * u[1]),
                              sqrtl(-2 * logl(u[2])) * cosl(2 * PI_L * u[3]), sqrtl(-2 * logl(u[2])) * sinl(2 * PI_L * u[3])};
    for (int j = 0; j < 4 && 4 * g + j < d; ++j) out[4 * g + j] = v[j];
  }
}

}  // namespace

int main() {
  using namespace fastrep::philox;
  // Random123 kat_vectors: philox4x32 10 <ctr x4> <key x2> <out x4>
  const std::uint32_t kat[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
       0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
       0x24126ea1}};
  for (const auto& v : kat) {
    std::uint32_t c[4] = {v[0], v[1], v[2], v[3]};
    philox4x32_10(c, v[4], v[5]);
    expect(c[0] == v[6] && c[1] == v[7] && c[2] == v[8] && c[3] == v[9], "Philox4x32-10 known answer");
  }

  for (std::uint64_t x = 0; x < 20000; ++x) check_word(x);
  for (std::uint64_t x = 0xFFFFFFFFull - 20000; x <= 0xFFFFFFFFull; ++x) check_word(x);
  for (std::int64_t q = 0; q <= 4; ++q)
    for (std::int64_t o = -5000; o < 5000; ++o) {
      const std::int64_t x = q * (std::int64_t(1) << 30) + o;
      if (x >= 0 && x <= 0xFFFFFFFFll) check_word(static_cast<std::uint64_t>(x));
    }
  std::mt19937_64 gen(7);
  for (int k = 0; k < 300000; ++k) check_word(gen() & 0xFFFFFFFFull);
  std::printf("log max rel err %.2f ulp, cos %.2f, sin %.2f (units 2^-52)\n", worst_log, worst_cos, worst_sin);
  expect(worst_log <= 2.0, "log_uniform within 2 ulp");
  expect(worst_cos <= 2.0 && worst_sin <= 2.0, "sincos_2pi_uniform within 2^-51");

  // blocks: against the recipe, and identical for every chunking
  const std::uint64_t seed = 0x123456789abcdefull, start = 0xFFFFFFFFull - 300;  // crosses the high word
  const std::uint32_t stream = 5;
  const fastrep::index_t n = 700, d = 37;
  std::vector<double> whole(n * d);
  fastrep::gaussian_block<double>(seed, stream, start, n, d, whole.data());
  std::vector<long double> row;
  double worst = 0;
  for (fastrep::index_t i = 0; i < n; ++i) {
    recipe_row(seed, stream, start + i, static_cast<int>(d), row);
    for (fastrep::index_t j = 0; j < d; ++j)
      worst = std::fmax(worst, static_cast<double>(fabsl(whole[i * d + j] - row[j])));
  }
  std::printf("block vs long-double recipe: max abs err %.2e\n", worst);
  expect(worst < 1e-13, "gaussian_block<double> follows the recipe");
  for (fastrep::index_t chunk : {1, 3, 64, 255, 256, 257, 699}) {
    std::vector<double> parts(n * d);
    for (fastrep::index_t a = 0; a < n; a += chunk) {
      const fastrep::index_t m = std::min(chunk, n - a);
      fastrep::gaussian_block<double>(seed, stream, start + a, m, d, parts.data() + a * d);
    }
    expect(std::memcmp(parts.data(), whole.data(), sizeof(double) * n * d) == 0,
           "chunk " + std::to_string(chunk) + " is bit-identical");
  }
  // FNV-1a of the block's bytes: tests/test_data.py compares it between builds for different
  // instruction sets (the header turns off FMA contraction so that they agree)
  // (10^6 normals: a contraction changes the last bit of only a small fraction of them)
  std::vector<double> big(25000 * 40);
  fastrep::gaussian_block<double>(seed, stream, 0, 25000, 40, big.data());
  std::uint64_t h = 1469598103934665603ull;
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(big.data());
  for (std::size_t k = 0; k < sizeof(double) * big.size(); ++k) h = (h ^ bytes[k]) * 1099511628211ull;
  std::printf("checksum %016llx\n", static_cast<unsigned long long>(h));
  std::vector<float> f(n * d);
  fastrep::gaussian_block<float>(seed, stream, start, n, d, f.data());
  bool cast_ok = true;
  for (fastrep::index_t k = 0; k < n * d; ++k) cast_ok = cast_ok && f[k] == static_cast<float>(whole[k]);
  expect(cast_ok, "float block is the double block cast");
  // each SIMD path the CPU has (AVX2, AVX-512; with -DFASTREP_AVX512_ON_SIMDE the AVX-512 path on
  // SIMDe, on any CPU) against the portable one, bit for bit: both dtypes, d a multiple of 4
  // (written straight to out) or not, blocks that end inside a vector of cells
  std::printf("gaussian_block runs %s\n", gaussian_block_path());
  for (int path : {1, 2}) {
    if (!path_available(path)) {
      std::printf("path %d not on this CPU\n", path);
      continue;
    }
    path_override() = path;
    std::printf("path %d runs %s\n", path, gaussian_block_path());
    path_override() = -1;
    for (fastrep::index_t dd : {1, 3, 4, 8, 37, 200})
      for (fastrep::index_t nn : {1, 5, 63, 700}) {
        std::vector<double> a(nn * dd), b(nn * dd);
        std::vector<float> fa(nn * dd), fb(nn * dd);
        path_override() = 0;
        fastrep::gaussian_block<double>(seed, stream, start, nn, dd, a.data());
        fastrep::gaussian_block<float>(seed, stream, start, nn, dd, fa.data());
        path_override() = path;
        fastrep::gaussian_block<double>(seed, stream, start, nn, dd, b.data());
        fastrep::gaussian_block<float>(seed, stream, start, nn, dd, fb.data());
        path_override() = -1;
        expect(std::memcmp(a.data(), b.data(), sizeof(double) * nn * dd) == 0 &&
                   std::memcmp(fa.data(), fb.data(), sizeof(float) * nn * dd) == 0,
               std::string(path == 1 ? "AVX2" : "AVX-512") + " path is bit-identical to the portable one at n=" +
                   std::to_string(nn) + " d=" + std::to_string(dd));
      }
  }
#if defined(_OPENMP)
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<double> one(n * d);
  fastrep::gaussian_block<double>(seed, stream, start, n, d, one.data());
  omp_set_num_threads(threads);
  expect(std::memcmp(one.data(), whole.data(), sizeof(double) * n * d) == 0, "1 thread is bit-identical");
  std::printf("threads %d\n", threads);
#endif
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
