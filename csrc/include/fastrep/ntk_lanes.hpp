// The SIMD paths' body of the NTK/NNGP entry pass, written once for any vector width. No include
// guard: ntk.hpp includes this file once per instruction set, inside a namespace that first
// defines
//   FASTREP_NTK_FN        the attributes of every function here (the target);
//   FASTREP_NTK_SMALL     those of the small ones (always_inline);
//   Isa<T>                for T = float and double: vec, W, set1 loadu storeu add sub mul sqrt,
//                         abs neg copysign (bit operations on the sign), and min/max with
//                         hd::min/hd::max's semantics (min(a, b) = b < a ? b : a,
//                         max(a, b) = a < b ? b : a, NaN included).
// Every function is scalar_ntk.hpp's operation for operation (same constants, same order, no FMA:
// contraction is off in ntk.hpp), so each lane is bit-identical to the portable pass whatever W.

// asin_poly (scalar_ntk.hpp) on W lanes: Horner in AsinCoefficients<T>'s order, then x + x z p.
template <typename T>
FASTREP_NTK_FN FASTREP_NTK_SMALL inline typename Isa<T>::vec asin_poly_v(typename Isa<T>::vec x) {
  using S = Isa<T>;
  const typename S::vec z = S::mul(x, x);
  typename S::vec p = S::set1(AsinCoefficients<T>::c[0]);
  for (int k = 1; k < AsinCoefficients<T>::n; ++k) p = S::add(S::mul(p, z), S::set1(AsinCoefficients<T>::c[k]));
  return S::add(x, S::mul(S::mul(x, z), p));
}

// kernel_entry(inner_to_c(g, inv_d, d_beta2), r1, ir1, r2, ir2) (scalar_ntk.hpp) on W lanes.
template <typename T, bool NTK>
FASTREP_NTK_FN FASTREP_NTK_SMALL inline typename Isa<T>::vec entry_v(typename Isa<T>::vec g, typename Isa<T>::vec r1,
                                                    typename Isa<T>::vec ir1, typename Isa<T>::vec r2,
                                                    typename Isa<T>::vec ir2, T inv_d, T d_beta2) {
  using S = Isa<T>;
  using vec = typename S::vec;
  const vec c = S::mul(S::add(g, S::set1(d_beta2)), S::set1(inv_d));
  const vec s = S::mul(r1, r2);
  const vec u = S::min(S::max(S::mul(S::mul(c, ir1), ir2), S::set1(T(-1))), S::set1(T(1)));
  // arccos_parts(-u): phi = arccos(-u), sin_theta = sqrt(1 - u^2)
  const vec v = S::neg(u);
  const vec half_pi = S::set1(T(1.57079632679489661923));
  const vec a = S::abs(v);
  const vec t = S::sqrt(S::mul(S::sub(S::set1(T(1)), a), S::set1(T(0.5))));
  const vec p = asin_poly_v<T>(t);
  const vec phi = S::add(S::sub(half_pi, S::copysign(half_pi, v)), S::copysign(S::mul(S::set1(T(2)), p), v));
  const vec sin_theta = S::mul(t, S::sqrt(S::mul(S::set1(T(2)), S::add(S::set1(T(1)), a))));
  const vec w_phi = NTK ? S::mul(S::set1(T(2)), phi) : S::mul(S::set1(T(1)), phi);
  return S::mul(S::add(S::mul(s, sin_theta), S::mul(w_phi, c)), S::set1(T(0.15915494309189533577)));
}

// out[j] (and out2[j] unless null) = the kernel value of g[j] against column j, for j < len:
// W lanes at a time, the last len % W entries by the scalar code. r1, ir1: this row's root pair;
// r2, ir2: the columns'. out may be g (in place).
template <typename T, bool NTK>
FASTREP_NTK_FN void entries(const T* g, index_t len, T r1, T ir1, const T* r2, const T* ir2, T inv_d, T d_beta2,
                            T* out, T* out2) {
  using S = Isa<T>;
  constexpr index_t W = S::W;
  const typename S::vec vr1 = S::set1(r1), vir1 = S::set1(ir1);
  index_t j = 0;
  for (; j + W <= len; j += W) {
    const typename S::vec k = entry_v<T, NTK>(S::loadu(g + j), vr1, vir1, S::loadu(r2 + j), S::loadu(ir2 + j), inv_d, d_beta2);
    S::storeu(out + j, k);
    if (out2) S::storeu(out2 + j, k);
  }
  for (; j < len; ++j) {
    const T k = kernel_entry<T, NTK>(inner_to_c(g[j], inv_d, d_beta2), r1, ir1, r2[j], ir2[j]);
    out[j] = k;
    if (out2) out2[j] = k;
  }
}
