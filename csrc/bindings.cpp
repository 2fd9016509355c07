// The one file that includes pybind11: thin wrappers around csrc/include/fastrep/*.hpp.
// Every wrapper takes C-contiguous arrays of exactly the right dtype (the Python layer,
// fastrep/_kernels/cpp.py, converts and validates), releases the GIL and writes into
// an output array allocated by the caller or here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "fastrep/hermite.hpp"
#include "fastrep/ntk.hpp"
#include "fastrep/philox.hpp"
#include "fastrep/onestep.hpp"

namespace py = pybind11;
using fastrep::index_t;

template <typename T>
using carray = py::array_t<T, py::array::c_style>;

namespace {

void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

template <typename T>
void hermite_features(carray<T> Z, carray<std::int32_t> alphas, carray<T> out) {
  require(Z.ndim() == 2 && alphas.ndim() == 2 && out.ndim() == 2, "hermite_features: 2-D arrays expected");
  const index_t n = Z.shape(0), r = Z.shape(1), K = alphas.shape(0);
  require(alphas.shape(1) == r, "hermite_features: alphas must have Z.shape[1] columns");
  require(out.shape(0) == n && out.shape(1) == K, "hermite_features: out must be (n, K)");
  const T* z = Z.data();
  const std::int32_t* a = alphas.data();
  T* o = out.mutable_data();
  py::gil_scoped_release release;
  fastrep::hermite_features<T>(z, n, r, a, K, o);
}

template <typename T>
void mask_scale(carray<T> P, carray<T> b, carray<T> r) {
  require(P.ndim() == 2 && b.ndim() == 1 && r.ndim() == 1, "mask_scale: P 2-D, b and r 1-D expected");
  const index_t n = P.shape(0), m = P.shape(1);
  require(b.shape(0) == m && r.shape(0) == n, "mask_scale: b must be (m,), r must be (n,)");
  T* p = P.mutable_data();
  const T* bb = b.data();
  const T* rr = r.data();
  py::gil_scoped_release release;
  fastrep::mask_scale<T>(p, n, m, bb, rr);
}

template <typename T>
void relu_bias(carray<T> P, carray<T> b, bool paired, carray<T> out) {
  require(P.ndim() == 2 && b.ndim() == 1 && out.ndim() == 2, "relu_bias: P, out 2-D and b 1-D expected");
  const index_t n = P.shape(0), h = P.shape(1), m = paired ? 2 * h : h;
  require(b.shape(0) == m && out.shape(0) == n && out.shape(1) == m, "relu_bias: b must be (m,), out (n, m)");
  require(!paired || P.data() != out.data(), "relu_bias: paired output cannot alias P");
  const T* p = P.data();
  const T* bb = b.data();
  T* o = out.mutable_data();
  py::gil_scoped_release release;
  fastrep::relu_bias<T>(p, n, h, bb, paired, o);
}

// Rows start .. start + n - 1 of the normal stream (seed, stream) into out (n, d).
template <typename T>
void gaussian_block(std::uint64_t seed, std::uint32_t stream, std::uint64_t start, carray<T> out) {
  require(out.ndim() == 2, "gaussian_block: out must be 2-D (n, d)");
  const index_t n = out.shape(0), d = out.shape(1);
  T* o = out.mutable_data();
  py::gil_scoped_release release;
  fastrep::gaussian_block<T>(seed, stream, start, n, d, o);
}

// In place: G = X1 X2^T (n1, n2) becomes the NTK (ntk) or NNGP kernel. q1 (n1,), q2 (n2,) hold
// |x|^2/d + beta^2; pass two empty arrays for a symmetric G (q read from its diagonal).
template <typename T>
void kernel_from_inner(carray<T> G, carray<T> q1, carray<T> q2, T inv_d, T beta2, bool ntk) {
  require(G.ndim() == 2 && q1.ndim() == 1 && q2.ndim() == 1, "kernel_from_inner: G 2-D, q1 and q2 1-D expected");
  const index_t n1 = G.shape(0), n2 = G.shape(1);
  const bool symmetric = q1.shape(0) == 0 && q2.shape(0) == 0;
  require(symmetric ? n1 == n2 : (q1.shape(0) == n1 && q2.shape(0) == n2),
          "kernel_from_inner: q1 must be (n1,) and q2 (n2,), or both empty for a square symmetric G");
  T* g = G.mutable_data();
  const T* a = symmetric ? nullptr : q1.data();
  const T* b = symmetric ? nullptr : q2.data();
  py::gil_scoped_release release;
  fastrep::kernel_from_inner<T>(g, n1, n2, a, b, inv_d, beta2,
                                ntk ? fastrep::KernelKind::ntk : fastrep::KernelKind::nngp);
}

template <typename T>
void bind_all(py::module_& m) {
  m.def("kernel_from_inner", &kernel_from_inner<T>, py::arg("G").noconvert(), py::arg("q1").noconvert(),
        py::arg("q2").noconvert(), py::arg("inv_d"), py::arg("beta2"), py::arg("ntk"));
  m.def("gaussian_block", &gaussian_block<T>, py::arg("seed"), py::arg("stream"), py::arg("start"),
        py::arg("out").noconvert());
  m.def("mask_scale", &mask_scale<T>, py::arg("P").noconvert(), py::arg("b").noconvert(), py::arg("r").noconvert());
  m.def("relu_bias", &relu_bias<T>, py::arg("P").noconvert(), py::arg("b").noconvert(), py::arg("paired"),
        py::arg("out").noconvert());
  m.def("hermite_features", &hermite_features<T>, py::arg("Z").noconvert(), py::arg("alphas").noconvert(),
        py::arg("out").noconvert());
}

}  // namespace

PYBIND11_MODULE(_ext, m) {
  m.doc() = "fastrep's compiled core (C++17, OpenMP). Private: use fastrep's public functions.";
  bind_all<float>(m);
  bind_all<double>(m);
  m.def("num_threads", &fastrep::num_threads, "OpenMP threads the core will use.");
#if defined(_OPENMP)
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
#ifdef FASTREP_VERSION
  m.attr("__version__") = FASTREP_VERSION;
#endif
}
