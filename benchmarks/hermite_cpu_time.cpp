// Single-thread CPU time of the AVX2 Hermite kernel against memcpy, in plain C++ (no Python):
//
//   c++ -std=c++17 -O3 -fopenmp -I csrc/include benchmarks/hermite_cpu_time.cpp -o hcpu
//   OMP_NUM_THREADS=1 ./hcpu            # n = 2e6, r = 4, |alpha| <= 4 (K = 70), float, 7 runs
//   OMP_NUM_THREADS=1 ./hcpu 20000 101  # n = 2e4 (the output fits in L3), 101 runs
//
// Process CPU time (CLOCK_PROCESS_CPUTIME_ID), which a shared machine's other jobs do not
// inflate the way they inflate wall time; medians after one warm-up; the output is checked
// entry for entry against hermite_features_generic. Results: benchmarks/RESULTS_HERMITE.md.
#include <fastrep/hermite.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

using fastrep::index_t;

namespace {

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// All alpha in N^r with |alpha| <= p, row-major (K, r).
std::vector<std::int32_t> multi_indices(int r, int p) {
  std::vector<std::int32_t> out, a(r, 0);
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

template <class F>
double median_cpu(F f, int reps) {
  f();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = cpu_seconds();
    f();
    t.push_back(cpu_seconds() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const index_t n = argc > 1 ? std::atol(argv[1]) : 2000000;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 7;
  const int r = 4, p = 4;
  const std::vector<std::int32_t> al = multi_indices(r, p);
  const index_t K = static_cast<index_t>(al.size()) / r;
  std::vector<float> Z(static_cast<std::size_t>(n * r));
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  for (auto& z : Z) z = normal(gen);
  const std::size_t size = static_cast<std::size_t>(n * K);
  std::vector<float> out(size, 0.f), want(size, 0.f), src(size, 1.f), dst(size, 0.f);
  const double t_kernel = median_cpu([&] {
    if (!fastrep::hermite_features_avx2<float>(Z.data(), n, r, al.data(), K, out.data())) std::abort();  // no AVX2
  }, reps);
  const double t_copy = median_cpu([&] { std::memcpy(dst.data(), src.data(), size * sizeof(float)); }, reps);
  fastrep::hermite_features_generic<float>(Z.data(), n, r, al.data(), K, want.data());
  long differ = 0;
  for (std::size_t e = 0; e < size; ++e) differ += !(out[e] == want[e]);
  std::printf("n=%ld K=%ld: avx2 %.2f ms, memcpy %.2f ms (copy/kernel %.0f%%), %.2f ns per row; %ld entries differ\n",
              static_cast<long>(n), static_cast<long>(K), t_kernel * 1e3, t_copy * 1e3, 100 * t_copy / t_kernel,
              t_kernel / n * 1e9, differ);
  return differ == 0 ? 0 : 1;
}
