// fastrep's C++ core inside another program: no Python, no pybind11, no NumPy at run time.
//
// Build it against the headers of the installed package:
//
//   INC="$(python -c 'import fastrep; print(fastrep.get_include())')"
//   c++ -std=c++17 -O2 -fopenmp -I"$INC" embed.cpp -o embed
//   ./embed SEED SPLIT N D BETA DTYPE          # e.g. ./embed 7 0 6 5 1.0 float32
//
// It prints, as hexadecimal floating-point literals (exact, one row per line):
//
//   1. "X": rows 0 .. N-1 of the inputs of fastrep.GaussianStream(target, SEED, split=SPLIT,
//      dtype=DTYPE) for any target with d = D (DTYPE float64 or float32; SPLIT 0 = train,
//      1 = val, 2 = test). The inputs of split s are Philox stream 2 s of the seed, so these
//      are bit for bit the rows Python gives, on any machine, thread count or chunking.
//   2. "K": the NTK Gram block K(X[:N/2], X[N/2:]) with bias scale BETA, what
//      fastrep.ntk_kernel(X[:N/2], X[N/2:], beta=BETA) gives up to rounding (the product
//      X1 X2^T is summed here in a plain loop, in BLAS there: the order differs).
//
// Without -fopenmp everything runs on one thread with the same results.
#include <fastrep/ntk.hpp>
#include <fastrep/philox.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

template <typename T>
static void print_rows(const char* name, const std::vector<T>& a, long rows, long cols) {
  std::printf("%s %ld %ld\n", name, rows, cols);
  for (long i = 0; i < rows; ++i) {
    for (long j = 0; j < cols; ++j) std::printf(j ? " %a" : "%a", static_cast<double>(a[i * cols + j]));
    std::printf("\n");
  }
}

template <typename T>
static void run(std::uint64_t seed, int split, long n, long d, T beta) {
  // 1. The stream: X of split s is Philox stream 2 s (its label noise is stream 2 s + 1). Each
  // value is computed in double and rounded once to T, as in every fastrep backend.
  std::vector<T> X(static_cast<std::size_t>(n * d));
  fastrep::gaussian_block<T>(seed, static_cast<std::uint32_t>(2 * split), /*start=*/0, n, d, X.data());
  print_rows("X", X, n, d);

  // 2. The NTK block: G = X1 X2^T and q = |x|^2/d + beta^2 per row, then the fused pass turns G
  // into K in place (KernelKind::nngp gives the random-features kernel instead). Arithmetic in T.
  const long n1 = n / 2, n2 = n - n1;
  const T* X1 = X.data();
  const T* X2 = X.data() + n1 * d;
  std::vector<T> G(static_cast<std::size_t>(n1 * n2)), q1(n1), q2(n2);
  for (long i = 0; i < n1; ++i)
    for (long j = 0; j < n2; ++j) {
      T s = 0;
      for (long k = 0; k < d; ++k) s += X1[i * d + k] * X2[j * d + k];
      G[i * n2 + j] = s;
    }
  const T inv_d = T(1) / static_cast<T>(d), beta2 = beta * beta;
  auto q = [&](const T* x) {
    T s = 0;
    for (long k = 0; k < d; ++k) s += x[k] * x[k];
    return (s + static_cast<T>(d) * beta2) * inv_d;
  };
  for (long i = 0; i < n1; ++i) q1[i] = q(X1 + i * d);
  for (long j = 0; j < n2; ++j) q2[j] = q(X2 + j * d);
  fastrep::kernel_from_inner<T>(G.data(), n1, n2, q1.data(), q2.data(), inv_d, beta2, fastrep::KernelKind::ntk);
  print_rows("K", G, n1, n2);
}

int main(int argc, char** argv) {
  const std::string dtype = argc == 7 ? argv[6] : "";
  if (argc != 7 || (dtype != "float64" && dtype != "float32")) {
    std::fprintf(stderr, "usage: %s SEED SPLIT N D BETA float64|float32   (SPLIT: 0 train, 1 val, 2 test)\n",
                 argv[0]);
    return 2;
  }
  const std::uint64_t seed = std::strtoull(argv[1], nullptr, 10);
  const int split = std::atoi(argv[2]);
  const long n = std::atol(argv[3]), d = std::atol(argv[4]);
  const double beta = std::atof(argv[5]);
  if (split < 0 || split > 2 || n < 2 || d < 1) {
    std::fprintf(stderr, "need SPLIT in 0..2, N >= 2, D >= 1\n");
    return 2;
  }
  if (dtype == "float64")
    run<double>(seed, split, n, d, beta);
  else
    run<float>(seed, split, n, d, static_cast<float>(beta));
  return 0;
}
