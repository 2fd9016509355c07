// The one file that includes pybind11: thin wrappers around csrc/include/fastrep/*.hpp.
//
// fastrep's public functions validate and convert first (fastrep/_validation.py); these
// wrappers check again, because fastrep._ext can be called directly: every array argument
// must be a NumPy array of exactly the right dtype, C-contiguous, aligned, of the right
// shape, writeable where it is written, and an output may not overlap an input; every
// integer is range-checked before any narrowing. A bad argument raises TypeError or
// ValueError naming the function and the argument. No C++ exception escapes: bad_alloc
// becomes MemoryError, the others ValueError. The GIL is released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

#include "fastrep/hermite.hpp"
#include "fastrep/ntk.hpp"
#include "fastrep/onestep.hpp"
#include "fastrep/philox.hpp"

namespace py = pybind11;
using fastrep::index_t;

namespace {

// Largest Hermite order the kernels accept (fastrep._validation.MAX_DEGREE).
constexpr std::int64_t kMaxDegree = 1000;

struct ArgError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct ArgTypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

[[noreturn]] void fail(const std::string& fn, const std::string& arg, const std::string& what) {
  throw ArgError(fn + ": " + arg + " " + what);
}

[[noreturn]] void fail_type(const std::string& fn, const std::string& arg, const std::string& what) {
  throw ArgTypeError(fn + ": " + arg + " " + what);
}

enum class Kind { f32, f64 };

// `obj` as a NumPy array (no conversion, no copy), with the checks every array argument gets.
py::array array_arg(py::handle obj, const std::string& fn, const std::string& arg, int ndim, bool writeable) {
  if (!py::isinstance<py::array>(obj)) fail_type(fn, arg, "must be a numpy.ndarray");
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (a.ndim() != ndim) fail(fn, arg, "must be " + std::to_string(ndim) + "-D; got " + std::to_string(a.ndim()) + "-D");
  const int flags = a.flags();
  if (!(flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_)) fail(fn, arg, "must be C-contiguous");
  if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) fail(fn, arg, "must be aligned");
  if (writeable && !(flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_)) fail(fn, arg, "must be writeable");
  return a;
}

// dtype equality by value (a dtype unpickled or built from a string is another object)
bool native(const py::dtype& dt, char kind, py::ssize_t itemsize) {
  const char bo = dt.byteorder();
  return dt.kind() == kind && dt.itemsize() == itemsize && (bo == '=' || bo == '|');
}

Kind float_kind(const py::array& a, const std::string& fn, const std::string& arg) {
  if (native(a.dtype(), 'f', 4)) return Kind::f32;
  if (native(a.dtype(), 'f', 8)) return Kind::f64;
  fail_type(fn, arg, "must have dtype float32 or float64; got " + std::string(py::str(a.dtype())));
}

void same_dtype(const py::array& a, const py::array& ref, const std::string& fn, const std::string& arg,
                const std::string& ref_name) {
  if (!(a.dtype().kind() == ref.dtype().kind() && a.dtype().itemsize() == ref.dtype().itemsize() &&
        a.dtype().byteorder() == ref.dtype().byteorder()))
    fail_type(fn, arg, "must have the dtype of " + ref_name + " (" + std::string(py::str(ref.dtype())) + "); got " +
                           std::string(py::str(a.dtype())));
}

bool overlaps(const py::array& a, const py::array& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  const auto* a0 = static_cast<const char*>(a.data());
  const auto* b0 = static_cast<const char*>(b.data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

void no_overlap(const py::array& out, const py::array& in, const std::string& fn, const std::string& out_name,
                const std::string& in_name) {
  if (overlaps(out, in)) fail(fn, out_name, "overlaps " + in_name + "; pass a separate buffer");
}

// A Python integer in [lo, hi], checked before any narrowing (no wrap-around).
template <typename I>
I int_arg(py::handle obj, const std::string& fn, const std::string& arg, I lo, I hi) {
  if (PyBool_Check(obj.ptr()) || !PyLong_Check(obj.ptr())) fail_type(fn, arg, "must be an int");
  const py::int_ v = py::reinterpret_borrow<py::int_>(obj);
  const py::int_ plo(lo), phi(hi);
  if (PyObject_RichCompareBool(v.ptr(), plo.ptr(), Py_LT) == 1 || PyObject_RichCompareBool(v.ptr(), phi.ptr(), Py_GT) == 1)
    fail(fn, arg, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]; got " + std::string(py::str(obj)));
  return v.cast<I>();
}

// A real number (Python or NumPy scalar), finite.
double float_arg(py::handle obj, const std::string& fn, const std::string& arg) {
  if (PyBool_Check(obj.ptr()) || PyUnicode_Check(obj.ptr()) || py::isinstance<py::array>(obj))
    fail_type(fn, arg, "must be a float");
  const double v = PyFloat_AsDouble(obj.ptr());
  if (v == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    fail_type(fn, arg, "must be a float");
  }
  if (!std::isfinite(v)) fail(fn, arg, "must be finite");
  return v;
}

// A Python or NumPy bool.
bool bool_arg(py::handle obj, const std::string& fn, const std::string& arg) {
  if (PyBool_Check(obj.ptr())) return obj.ptr() == Py_True;
  const std::string tn = py::str(py::type::handle_of(obj).attr("__name__"));
  if (tn != "bool_" && tn != "bool") fail_type(fn, arg, "must be a bool");
  return obj.cast<bool>();
}

// Runs `body` with the exceptions mapped to Python errors that name the function.
template <typename F>
void guarded(const std::string& fn, F&& body) {
  try {
    body();
  } catch (const ArgTypeError& e) {
    throw py::type_error(e.what());
  } catch (const ArgError& e) {
    throw py::value_error(e.what());
  } catch (const std::bad_alloc&) {
    PyErr_SetString(PyExc_MemoryError, (fn + ": out of memory for the kernel's work space").c_str());
    throw py::error_already_set();
  } catch (const py::error_already_set&) {
    throw;
  } catch (const py::builtin_exception&) {
    throw;
  } catch (const std::exception& e) {  // length_error, invalid_argument, ... from the library
    throw py::value_error(fn + ": " + e.what());
  }
}

template <typename T>
const T* cdata(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <typename T>
T* mdata(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}

// ---- hermite_features ----------------------------------------------------------------------
void hermite_features(py::object Zo, py::object alphas_o, py::object out_o) {
  const std::string fn = "hermite_features";
  guarded(fn, [&] {
    py::array Z = array_arg(Zo, fn, "Z", 2, false);
    py::array A = array_arg(alphas_o, fn, "alphas", 2, false);
    py::array out = array_arg(out_o, fn, "out", 2, true);
    const Kind kind = float_kind(Z, fn, "Z");
    if (!native(A.dtype(), 'i', 4)) fail_type(fn, "alphas", "must have dtype int32");
    same_dtype(out, Z, fn, "out", "Z");
    const index_t n = Z.shape(0), r = Z.shape(1), K = A.shape(0);
    if (A.shape(1) != r) fail(fn, "alphas", "must have Z.shape[1] = " + std::to_string(r) + " columns");
    if (out.shape(0) != n || out.shape(1) != K)
      fail(fn, "out", "must have shape (n, K) = (" + std::to_string(n) + ", " + std::to_string(K) + ")");
    no_overlap(out, Z, fn, "out", "Z");
    no_overlap(out, A, fn, "out", "alphas");
    const std::int32_t* a = cdata<std::int32_t>(A);
    std::int64_t p = 0;
    for (index_t i = 0; i < K * r; ++i) {
      if (a[i] < 0 || a[i] > kMaxDegree)
        fail(fn, "alphas", "entries must be in [0, " + std::to_string(kMaxDegree) + "]; got " + std::to_string(a[i]));
      p = a[i] > p ? a[i] : p;
    }
    // the kernels index a row's (r, p + 1) table with int32 offsets
    if (r > 0 && static_cast<double>(r) * static_cast<double>(p + 1) > std::numeric_limits<std::int32_t>::max())
      fail(fn, "Z", "has too many columns for the Hermite tables (r * (p + 1) must fit in int32)");
    if (kind == Kind::f32) {
      const float* z = cdata<float>(Z);
      float* o = mdata<float>(out);
      py::gil_scoped_release release;
      fastrep::hermite_features<float>(z, n, r, a, K, o);
    } else {
      const double* z = cdata<double>(Z);
      double* o = mdata<double>(out);
      py::gil_scoped_release release;
      fastrep::hermite_features<double>(z, n, r, a, K, o);
    }
  });
}

// ---- Algorithm 1's fused passes ------------------------------------------------------------
template <typename T>
void mask_scale_t(py::array& P, const py::array& b, const py::array& r) {
  const index_t n = P.shape(0), m = P.shape(1);
  T* p = mdata<T>(P);
  const T* bb = cdata<T>(b);
  const T* rr = cdata<T>(r);
  py::gil_scoped_release release;
  fastrep::mask_scale<T>(p, n, m, bb, rr);
}

void mask_scale(py::object Po, py::object bo, py::object ro) {
  const std::string fn = "mask_scale";
  guarded(fn, [&] {
    py::array P = array_arg(Po, fn, "P", 2, true);
    py::array b = array_arg(bo, fn, "b", 1, false);
    py::array r = array_arg(ro, fn, "r", 1, false);
    const Kind kind = float_kind(P, fn, "P");
    same_dtype(b, P, fn, "b", "P");
    same_dtype(r, P, fn, "r", "P");
    if (b.shape(0) != P.shape(1)) fail(fn, "b", "must have shape (m,) = (" + std::to_string(P.shape(1)) + ",)");
    if (r.shape(0) != P.shape(0)) fail(fn, "r", "must have shape (n,) = (" + std::to_string(P.shape(0)) + ",)");
    no_overlap(P, b, fn, "P", "b");
    no_overlap(P, r, fn, "P", "r");
    if (kind == Kind::f32) mask_scale_t<float>(P, b, r); else mask_scale_t<double>(P, b, r);
  });
}

template <typename T>
void relu_bias_t(const py::array& P, const py::array& b, bool paired, py::array& out) {
  const index_t n = P.shape(0), h = P.shape(1);
  const T* p = cdata<T>(P);
  const T* bb = cdata<T>(b);
  T* o = mdata<T>(out);
  py::gil_scoped_release release;
  fastrep::relu_bias<T>(p, n, h, bb, paired, o);
}

void relu_bias(py::object Po, py::object bo, py::object paired_o, py::object out_o) {
  const std::string fn = "relu_bias";
  guarded(fn, [&] {
    py::array P = array_arg(Po, fn, "P", 2, false);
    py::array b = array_arg(bo, fn, "b", 1, false);
    py::array out = array_arg(out_o, fn, "out", 2, true);
    const bool paired = bool_arg(paired_o, fn, "paired");
    const Kind kind = float_kind(P, fn, "P");
    same_dtype(b, P, fn, "b", "P");
    same_dtype(out, P, fn, "out", "P");
    const index_t n = P.shape(0), h = P.shape(1), m = paired ? 2 * h : h;
    if (b.shape(0) != m) fail(fn, "b", "must have shape (m,) = (" + std::to_string(m) + ",)");
    if (out.shape(0) != n || out.shape(1) != m)
      fail(fn, "out", "must have shape (n, m) = (" + std::to_string(n) + ", " + std::to_string(m) + ")");
    // unpaired, the pass may run in place (out is P); any other overlap would read written values
    const bool in_place = !paired && out.data() == P.data();
    if (!in_place) no_overlap(out, P, fn, "out", "P (only an unpaired call may pass out=P itself)");
    no_overlap(out, b, fn, "out", "b");
    if (kind == Kind::f32) relu_bias_t<float>(P, b, paired, out); else relu_bias_t<double>(P, b, paired, out);
  });
}

// ---- the Gaussian stream -------------------------------------------------------------------
// Rows start .. start + n - 1 of the normal stream (seed, stream) into out (n, d).
void gaussian_block(py::object seed_o, py::object stream_o, py::object start_o, py::object out_o) {
  const std::string fn = "gaussian_block";
  guarded(fn, [&] {
    const auto seed = int_arg<std::uint64_t>(seed_o, fn, "seed", 0, std::numeric_limits<std::uint64_t>::max());
    const auto stream = int_arg<std::uint32_t>(stream_o, fn, "stream", 0, std::numeric_limits<std::uint32_t>::max());
    const auto start = int_arg<std::uint64_t>(start_o, fn, "start", 0, std::numeric_limits<std::uint64_t>::max());
    py::array out = array_arg(out_o, fn, "out", 2, true);
    const Kind kind = float_kind(out, fn, "out");
    const index_t n = out.shape(0), d = out.shape(1);
    // the 64-bit row counter must not wrap: rows start .. start + n - 1 all exist
    if (n > 0 && static_cast<std::uint64_t>(n - 1) > std::numeric_limits<std::uint64_t>::max() - start)
      fail(fn, "start", "+ n must be <= 2**64 (the Philox row counter is 64 bits)");
    if (kind == Kind::f32) {
      float* o = mdata<float>(out);
      py::gil_scoped_release release;
      fastrep::gaussian_block<float>(seed, stream, start, n, d, o);
    } else {
      double* o = mdata<double>(out);
      py::gil_scoped_release release;
      fastrep::gaussian_block<double>(seed, stream, start, n, d, o);
    }
  });
}

// The generator's code path: "avx512", "avx2" or "generic" (philox::gaussian_block_path).
std::string gaussian_block_path() { return fastrep::philox::gaussian_block_path(); }

// Tests and benchmarks only: force the generator's path (0 portable, 1 AVX2, 2 AVX-512; -1 the
// CPU's best) for this process. A path this CPU lacks is refused, naming it. Returns the name of
// the path that now runs. Every path makes the same bits (tests/test_data.py).
std::string set_gaussian_block_path(py::object path_o) {
  const std::string fn = "_set_gaussian_block_path";
  std::string name;
  guarded(fn, [&] {
    const int path = int_arg<int>(path_o, fn, "path", -1, 2);
    if (path >= 0 && !fastrep::philox::path_available(path))
      fail(fn, "path", path == 1 ? "1 (AVX2) is not available on this CPU or build"
                                 : "2 (AVX-512) is not available on this CPU or build");
    fastrep::philox::path_override() = path;
    name = fastrep::philox::gaussian_block_path();
  });
  return name;
}

// ---- NTK / NNGP ----------------------------------------------------------------------------
// In place: G = X1 X2^T (n1, n2) becomes the NTK (ntk) or NNGP kernel. q1 (n1,), q2 (n2,) hold
// |x|^2/d + beta^2; pass two empty arrays for a symmetric G (q read from its diagonal).
template <typename T>
void kernel_from_inner_t(py::array& G, const py::array& q1, const py::array& q2, double inv_d, double beta2,
                         bool ntk, bool symmetric) {
  const index_t n1 = G.shape(0), n2 = G.shape(1);
  T* g = mdata<T>(G);
  const T* a = symmetric ? nullptr : cdata<T>(q1);
  const T* b = symmetric ? nullptr : cdata<T>(q2);
  py::gil_scoped_release release;
  fastrep::kernel_from_inner<T>(g, n1, n2, a, b, static_cast<T>(inv_d), static_cast<T>(beta2),
                                ntk ? fastrep::KernelKind::ntk : fastrep::KernelKind::nngp);
}

// inv_d > 0 and beta2 >= 0, with beta2 / inv_d (= d beta^2) finite in G's dtype.
void kernel_constants(py::object inv_d_o, py::object beta2_o, Kind kind, const std::string& fn, double* inv_d,
                      double* beta2) {
  *inv_d = float_arg(inv_d_o, fn, "inv_d");
  *beta2 = float_arg(beta2_o, fn, "beta2");
  if (!(*inv_d > 0)) fail(fn, "inv_d", "must be > 0");
  if (!(*beta2 >= 0)) fail(fn, "beta2", "must be >= 0");
  const double tmax = kind == Kind::f32 ? double(std::numeric_limits<float>::max()) : std::numeric_limits<double>::max();
  if (!(*beta2 / *inv_d < tmax)) fail(fn, "beta2", "/ inv_d overflows G's dtype");
}

void kernel_from_inner(py::object Go, py::object q1o, py::object q2o, py::object inv_d_o, py::object beta2_o,
                       py::object ntk_o) {
  const std::string fn = "kernel_from_inner";
  guarded(fn, [&] {
    py::array G = array_arg(Go, fn, "G", 2, true);
    py::array q1 = array_arg(q1o, fn, "q1", 1, false);
    py::array q2 = array_arg(q2o, fn, "q2", 1, false);
    const Kind kind = float_kind(G, fn, "G");
    same_dtype(q1, G, fn, "q1", "G");
    same_dtype(q2, G, fn, "q2", "G");
    double inv_d, beta2;
    kernel_constants(inv_d_o, beta2_o, kind, fn, &inv_d, &beta2);
    const bool ntk = bool_arg(ntk_o, fn, "ntk");
    const index_t n1 = G.shape(0), n2 = G.shape(1);
    const bool symmetric = q1.shape(0) == 0 && q2.shape(0) == 0;
    if (symmetric ? n1 != n2 : (q1.shape(0) != n1 || q2.shape(0) != n2))
      fail(fn, "q1", "must be (n1,) and q2 (n2,), or both empty for a square symmetric G");
    no_overlap(G, q1, fn, "G", "q1");
    no_overlap(G, q2, fn, "G", "q2");
    if (kind == Kind::f32) kernel_from_inner_t<float>(G, q1, q2, inv_d, beta2, ntk, symmetric);
    else kernel_from_inner_t<double>(G, q1, q2, inv_d, beta2, ntk, symmetric);
  });
}

// In place: G (n, n) whose lower triangle (diagonal included) holds X X^T becomes the symmetric
// K(X, X); the upper triangle is only written.
void kernel_from_inner_lower(py::object Go, py::object inv_d_o, py::object beta2_o, py::object ntk_o) {
  const std::string fn = "kernel_from_inner_lower";
  guarded(fn, [&] {
    py::array G = array_arg(Go, fn, "G", 2, true);
    const Kind kind = float_kind(G, fn, "G");
    double inv_d, beta2;
    kernel_constants(inv_d_o, beta2_o, kind, fn, &inv_d, &beta2);
    const bool ntk = bool_arg(ntk_o, fn, "ntk");
    const index_t n = G.shape(0);
    if (G.shape(1) != n) fail(fn, "G", "must be square");
    const auto k = ntk ? fastrep::KernelKind::ntk : fastrep::KernelKind::nngp;
    if (kind == Kind::f32) {
      float* g = mdata<float>(G);
      py::gil_scoped_release release;
      fastrep::kernel_from_inner_lower<float>(g, n, static_cast<float>(inv_d), static_cast<float>(beta2), k);
    } else {
      double* g = mdata<double>(G);
      py::gil_scoped_release release;
      fastrep::kernel_from_inner_lower<double>(g, n, inv_d, beta2, k);
    }
  });
}

// The NTK/NNGP entry pass's path: "avx512", "avx2" or "generic" (ntk.hpp's ntk_path).
std::string ntk_path_name() {
  switch (fastrep::detail::ntk_path()) {
    case 2: return "avx512";
    case 1: return "avx2";
    default: return "generic";
  }
}

// Tests and benchmarks only: force the NTK/NNGP entry pass's path (0 portable, 1 AVX2, 2 AVX-512;
// -1 the CPU's best) for this process, as _set_gaussian_block_path does the generator's. A path
// this CPU or build lacks is refused, naming it. Returns the name of the path that now runs.
// Every path makes the same bits (tests/cpp/test_ntk_embed.cpp, tests/test_ntk.py).
std::string set_ntk_path(py::object path_o) {
  const std::string fn = "_set_ntk_path";
  std::string name;
  guarded(fn, [&] {
    const int path = int_arg<int>(path_o, fn, "path", -1, 2);
    const int before = fastrep::detail::ntk_path_override();
    fastrep::detail::ntk_path_override() = path;
    if (path >= 0 && fastrep::detail::ntk_path() != path) {
      fastrep::detail::ntk_path_override() = before;
      fail(fn, "path", path == 1 ? "1 (AVX2) is not available on this CPU or build"
                                 : "2 (AVX-512) is not available on this CPU or build");
    }
    name = ntk_path_name();
  });
  return name;
}

}  // namespace

PYBIND11_MODULE(_ext, m) {
  m.doc() = "fastrep's compiled core (C++17, OpenMP). Private: use fastrep's public functions.";
  m.def("kernel_from_inner", &kernel_from_inner, py::arg("G"), py::arg("q1"), py::arg("q2"), py::arg("inv_d"),
        py::arg("beta2"), py::arg("ntk"));
  m.def("kernel_from_inner_lower", &kernel_from_inner_lower, py::arg("G"), py::arg("inv_d"), py::arg("beta2"),
        py::arg("ntk"));
  m.def("ntk_path", &ntk_path_name);
  m.def("_set_ntk_path", &set_ntk_path, py::arg("path"));
  m.def("gaussian_block", &gaussian_block, py::arg("seed"), py::arg("stream"), py::arg("start"), py::arg("out"));
  m.def("gaussian_block_path", &gaussian_block_path);
  m.def("_set_gaussian_block_path", &set_gaussian_block_path, py::arg("path"));
  m.def("mask_scale", &mask_scale, py::arg("P"), py::arg("b"), py::arg("r"));
  m.def("relu_bias", &relu_bias, py::arg("P"), py::arg("b"), py::arg("paired"), py::arg("out"));
  m.def("hermite_features", &hermite_features, py::arg("Z"), py::arg("alphas"), py::arg("out"));
  m.attr("MAX_DEGREE") = kMaxDegree;
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
