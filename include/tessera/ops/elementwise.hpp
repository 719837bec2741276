// SPDX-License-Identifier: Apache-2.0
// Elementwise math on host tensors: unary functions, binary arithmetic with numpy
// broadcasting, comparisons (0/1 masks of the same scalar type), where and clamp.
#pragma once

#include <cmath>
#include <limits>

#include <Eigen/Core>

#include "tessera/config.hpp"
#include "tessera/core/vmath.hpp"
#include "tessera/ops/map.hpp"

namespace tessera {

namespace detail {
template <class T>
TESSERA_HOST_DEVICE T sigmoid_scalar(T v) {
  // Split by sign so exp never overflows.
  if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}
template <class T>
TESSERA_HOST_DEVICE T softplus_scalar(T v) {
  return v > T(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}
template <class T>
TESSERA_HOST_DEVICE T gelu_tanh_inner(T v) {
  constexpr T k = T(0.7978845608028654);  // sqrt(2/pi)
  return k * (v + T(0.044715) * v * v * v);
}
/// r = F(x) for contiguous x through Eigen's vectorised array functions (exp, log, tanh,
/// logistic use SIMD polynomial kernels: the scalar libm calls cost ~20 ns per element);
/// falls back to the scalar map for strided input.
template <class T, class ArrayFn, class ScalarFn>
tensor<T> vector_map(const tensor<T>& x, ArrayFn af, ScalarFn sf) {
  require_defined("elementwise op", "its input", x);
  if (!x.is_contiguous()) return unary_map<T>(x, sf);
  tensor<T> r(x.shape());
  using arr = Eigen::Array<T, Eigen::Dynamic, 1>;
  const T* xp = x.data();
  T* rp = r.data();
  parallel_for(0, x.numel(), default_grain / 4, [&](index_t lo, index_t hi) {
    Eigen::Map<arr>(rp + lo, hi - lo) = af(Eigen::Map<const arr>(xp + lo, hi - lo));
  });
  return r;
}
/// GELU (Tanh = false: exact, x·Φ(x); true: the tanh form) of one element, and its derivative.
template <bool Tanh, class T>
TESSERA_FORCEINLINE T gelu_value(T v) {
  if constexpr (Tanh)
    return vmath::gelu_tanh(v);
  else
    return vmath::gelu(v);
}
template <bool Tanh, class T>
TESSERA_FORCEINLINE T gelu_slope(T v) {
  if constexpr (Tanh)
    return vmath::gelu_tanh_derivative(v);
  else
    return vmath::gelu_derivative(v);
}
/// r = GELU(x) for contiguous x in `omp simd` loops over the vmath kernels (GCC's -O2 cost model
/// does not vectorise them on its own, nor through a functor it does not inline); the scalar map
/// for strided input.
template <bool Tanh, class T>
tensor<T> gelu_forward(const tensor<T>& x) {
  if (!x.is_contiguous()) return unary_map<T>(x, [](T v) { return gelu_value<Tanh>(v); });
  tensor<T> r(x.shape());
  const T* xp = x.data();
  T* rp = r.data();
  // Pointers captured by value and restrict-qualified, else GCC reloads them from the closure.
  parallel_for(0, x.numel(), default_grain / 4, [xp, rp](index_t lo, index_t hi) {
    const T* TESSERA_RESTRICT a = xp + lo;
    T* TESSERA_RESTRICT d = rp + lo;
    const index_t n = hi - lo;
    TESSERA_OMP_SIMD()
    for (index_t i = 0; i < n; ++i) d[i] = gelu_value<Tanh>(a[i]);
  });
  return r;
}
/// r = g·GELU'(x) in one pass (the backward of GELU; exact: Φ(x) + x·φ(x)); vectorised for
/// same-shape contiguous operands, else the broadcasting scalar map.
/// @throws tessera::invalid_argument when the shapes do not broadcast.
template <bool Tanh = false, class T>
tensor<T> gelu_backward(const tensor<T>& g, const tensor<T>& x) {
  if (!(g.shape() == x.shape() && g.is_contiguous() && x.is_contiguous()))
    return binary_map<T>("gelu_backward", g, x, [](T gv, T v) { return gv * gelu_slope<Tanh>(v); });
  tensor<T> r(x.shape());
  const T* gp = g.data();
  const T* xp = x.data();
  T* rp = r.data();
  parallel_for(0, x.numel(), default_grain / 4, [gp, xp, rp](index_t lo, index_t hi) {
    const T* TESSERA_RESTRICT a = gp + lo;
    const T* TESSERA_RESTRICT b = xp + lo;
    T* TESSERA_RESTRICT d = rp + lo;
    const index_t n = hi - lo;
    TESSERA_OMP_SIMD()
    for (index_t i = 0; i < n; ++i) d[i] = a[i] * gelu_slope<Tanh>(b[i]);
  });
  return r;
}

/// run_bias_layout (core/iterate.hpp) for two host tensors, both of which must be contiguous.
template <class T>
bool run_bias_layout(const tensor<T>& a, const tensor<T>& b, index_t& inner, index_t& period) {
  return a.is_contiguous() && b.is_contiguous() &&
         run_bias_layout(a.shape(), b.shape(), inner, period);
}

/// One stretch of add_gelu's pass: v = x[i] + y[i·YStep] (YStep 0: one bias for the stretch),
/// d[i] = gelu(v), or with Backward d[i] = g[i]·gelu'(v).
template <bool Backward, int YStep, class T>
TESSERA_FORCEINLINE void add_gelu_stretch(const T* TESSERA_RESTRICT g, const T* TESSERA_RESTRICT x,
                                          const T* TESSERA_RESTRICT y, T* TESSERA_RESTRICT d,
                                          index_t n) {
  TESSERA_OMP_SIMD()
  for (index_t i = 0; i < n; ++i) {
    const T v = x[i] + y[i * YStep];
    if constexpr (Backward)
      d[i] = g[i] * gelu_slope<false>(v);
    else
      d[i] = gelu_value<false>(v);
  }
}

/// gelu(a + b), or with Backward g·gelu'(a + b) (g contiguous, of a's shape), in one pass when
/// a and b have the same contiguous shape or b is a run bias of a (run_bias_layout); an
/// undefined tensor otherwise.
template <bool Backward, class T>
tensor<T> add_gelu_pass(const tensor<T>* g, const tensor<T>& a, const tensor<T>& b) {
  if constexpr (Backward)
    if (!(g->shape() == a.shape() && g->is_contiguous())) return {};
  const bool same = a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous();
  index_t inner = 0, period = 0;
  if (!same && !run_bias_layout(a, b, inner, period)) return {};
  tensor<T> r(a.shape());
  const T* gp = Backward ? g->data() : nullptr;
  const T* ap = a.data();
  const T* bp = b.data();
  T* rp = r.data();
  if (same) {
    parallel_for(0, a.numel(), default_grain / 4, [gp, ap, bp, rp](index_t lo, index_t hi) {
      add_gelu_stretch<Backward, 1>(Backward ? gp + lo : nullptr, ap + lo, bp + lo, rp + lo,
                                    hi - lo);
    });
    return r;
  }
  parallel_for(0, a.numel() / inner, std::max<index_t>(1, default_grain / 4 / inner),
               [gp, ap, bp, rp, inner, period](index_t lo, index_t hi) {
                 for (index_t row = lo; row < hi; ++row) {
                   const index_t o = row * inner;
                   add_gelu_stretch<Backward, 0>(Backward ? gp + o : nullptr, ap + o,
                                                 bp + row % period, rp + o, inner);
                 }
               });
  return r;
}
}  // namespace detail

// --- unary ------------------------------------------------------------------------------------

/// -x
template <class T>
tensor<T> neg(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return -v; });
}
/// |x|
template <class T>
tensor<T> abs(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return std::abs(v); });
}
/// sign(x) in {-1, 0, 1}
template <class T>
tensor<T> sign(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return T((v > T(0)) - (v < T(0))); });
}
/// e^x
template <class T>
tensor<T> exp(const tensor<T>& x) {
  tensor<T> r = detail::vector_map(
      x, [](const auto& a) { return a.exp(); }, [](T v) { return std::exp(v); });
  // Eigen 3.4's vectorised exp clamps its argument at log(min normal), so below that it
  // returns ~3e-39 (float) or ~6e-309 (double) instead of a subnormal or 0, even for -inf
  // (which would make logsumexp of all -inf finite). Those few elements are redone with std::exp.
  if (x.is_contiguous()) {
    const T lo = std::log(std::numeric_limits<T>::min());
    const T* xp = x.data();
    T* rp = r.data();
    parallel_for(0, x.numel(), default_grain, [&](index_t b, index_t e) {
      using arr = Eigen::Array<T, Eigen::Dynamic, 1>;
      if (!(Eigen::Map<const arr>(xp + b, e - b).minCoeff() < lo)) return;  // vectorised scan
      for (index_t i = b; i < e; ++i)
        if (xp[i] < lo) rp[i] = std::exp(xp[i]);
    });
  }
  return r;
}
/// e^x - 1, accurate near 0
template <class T>
tensor<T> expm1(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return std::expm1(v); });
}
/// natural logarithm
template <class T>
tensor<T> log(const tensor<T>& x) {
  return detail::vector_map(
      x, [](const auto& a) { return a.log(); }, [](T v) { return std::log(v); });
}
/// log(1 + x), accurate near 0
template <class T>
tensor<T> log1p(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return std::log1p(v); });
}
/// √x
template <class T>
tensor<T> sqrt(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return std::sqrt(v); });
}
/// 1/√x
template <class T>
tensor<T> rsqrt(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return T(1) / std::sqrt(v); });
}
/// x²
template <class T>
tensor<T> square(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return v * v; });
}
/// 1/x
template <class T>
tensor<T> reciprocal(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return T(1) / v; });
}
/// sin x
template <class T>
tensor<T> sin(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return std::sin(v); });
}
/// cos x
template <class T>
tensor<T> cos(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return std::cos(v); });
}
/// erf x
template <class T>
tensor<T> erf(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return std::erf(v); });
}
/// tanh x
template <class T>
tensor<T> tanh(const tensor<T>& x) {
  return detail::vector_map(
      x, [](const auto& a) { return a.tanh(); }, [](T v) { return std::tanh(v); });
}
/// 1/(1+e^-x), overflow-free
template <class T>
tensor<T> sigmoid(const tensor<T>& x) {
  return detail::vector_map(
      x, [](const auto& a) { return (T(1) + (-a).exp()).inverse(); },
      [](T v) { return detail::sigmoid_scalar(v); });
}
/// max(x, 0); NaN stays NaN
template <class T>
tensor<T> relu(const tensor<T>& x) {
  // `|` on the comparisons, not `||`: without the short circuit the map vectorises.
  return detail::unary_map<T>(x, [](T v) { return ((v > T(0)) | (v != v)) ? v : T(0); });
}
/// 1 where x > 0, else 0 (the derivative of relu; its own derivative is zero)
template <class T>
tensor<T> heaviside(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return v > T(0) ? T(1) : T(0); });
}
/// x·Φ(x), the exact (erf) GELU, vectorised (vmath::gelu: a few ulp, Φ accurate in the tails)
template <class T>
tensor<T> gelu(const tensor<T>& x) {
  return detail::gelu_forward<false>(x);
}
/// ½x(1 + tanh(√(2/π)(x + 0.044715x³))), the tanh approximation of GELU, vectorised
/// (vmath::gelu_tanh, as x·σ(2u): a few ulp, the left tail accurate)
template <class T>
tensor<T> gelu_tanh(const tensor<T>& x) {
  return detail::gelu_forward<true>(x);
}
/// gelu(x + y) with numpy broadcasting: a bias or residual added inside the activation. One
/// vectorised pass when the operands have the same contiguous shape or one is a bias that is
/// constant along runs of the other (a per-channel (C, 1) on (B, C, P), a scalar);
/// otherwise the sum is formed and gelu applied to it. One kernel on cuda.
template <class T>
tensor<T> add_gelu(const tensor<T>& x, const tensor<T>& y) {
  if (tensor<T> r = detail::add_gelu_pass<false, T>(nullptr, x, y); r.defined()) return r;
  if (tensor<T> r = detail::add_gelu_pass<false, T>(nullptr, y, x); r.defined()) return r;
  return gelu(add(x, y));
}
/// ȳ·gelu'(x + y), the backward pass of add_gelu, in one pass for the layouts add_gelu fuses
/// (on cuda always one kernel).
template <class T>
tensor<T> add_gelu_backward(const tensor<T>& gy, const tensor<T>& x, const tensor<T>& y) {
  if (tensor<T> r = detail::add_gelu_pass<true>(&gy, x, y); r.defined()) return r;
  if (tensor<T> r = detail::add_gelu_pass<true>(&gy, y, x); r.defined()) return r;
  return detail::gelu_backward(gy, add(x, y));
}
/// x·σ(x)
template <class T>
tensor<T> silu(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return v * detail::sigmoid_scalar(v); });
}
/// log(1 + e^x), overflow-free
template <class T>
tensor<T> softplus(const tensor<T>& x) {
  return detail::unary_map<T>(x, [](T v) { return detail::softplus_scalar(v); });
}
/// x^p for a scalar exponent
template <class T>
tensor<T> pow(const tensor<T>& x, T p) {
  if (p == T(2)) return square(x);
  return detail::unary_map<T>(x, [p](T v) { return std::pow(v, p); });
}
/// min(max(x, lo), hi)
/// @throws tessera::invalid_argument when lo > hi or either is NaN.
template <class T>
tensor<T> clamp(const tensor<T>& x, T lo, T hi) {
  if (!(lo <= hi)) throw_invalid_argument("clamp", "lo ", lo, " must not exceed hi ", hi);
  return detail::unary_map<T>(x, [lo, hi](T v) { return v < lo ? lo : (v > hi ? hi : v); });
}
/// 1 where lo <= x <= hi, else 0 (the derivative mask of clamp)
template <class T>
tensor<T> inside_mask(const tensor<T>& x, T lo, T hi) {
  return detail::unary_map<T>(x, [lo, hi](T v) { return v >= lo && v <= hi ? T(1) : T(0); });
}

// --- binary -----------------------------------------------------------------------------------

/// a + b (broadcasting)
template <class T>
tensor<T> add(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("add", a, b, [](T x, T y) { return x + y; });
}
/// a - b (broadcasting)
template <class T>
tensor<T> sub(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("sub", a, b, [](T x, T y) { return x - y; });
}
/// a · b (broadcasting)
template <class T>
tensor<T> mul(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("mul", a, b, [](T x, T y) { return x * y; });
}
/// a / b (broadcasting)
template <class T>
tensor<T> div(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("div", a, b, [](T x, T y) { return x / y; });
}
/// a^b (broadcasting)
template <class T>
tensor<T> pow(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("pow", a, b, [](T x, T y) { return std::pow(x, y); });
}
/// max(a, b) (broadcasting); a NaN in either operand gives NaN (numpy, PyTorch, and the max
/// reduction). Written as x < y ? y : (y != y ? y : x), a form GCC vectorises: the NaN check
/// then costs 0–4 % at 1M floats, against 1.9x for `x >= y || x != x ? x : y`
/// (benchmarks/ops/elementwise.cpp, BM_Maximum against BM_MaximumNoNanCheck). When both are
/// NaN the result is b's NaN (sign and payload are not specified beyond that).
template <class T>
tensor<T> maximum(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("maximum", a, b,
                               [](T x, T y) { return x < y ? y : (y != y ? y : x); });
}
/// min(a, b) (broadcasting); a NaN in either operand gives NaN (b's when both are; the form of
/// maximum's)
template <class T>
tensor<T> minimum(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("minimum", a, b,
                               [](T x, T y) { return x > y ? y : (y != y ? y : x); });
}
/// 1 where a == b else 0
template <class T>
tensor<T> eq(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("eq", a, b, [](T x, T y) { return T(x == y); });
}
/// 1 where a != b else 0
template <class T>
tensor<T> ne(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("ne", a, b, [](T x, T y) { return T(x != y); });
}
/// 1 where a < b else 0
template <class T>
tensor<T> lt(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("lt", a, b, [](T x, T y) { return T(x < y); });
}
/// 1 where a <= b else 0
template <class T>
tensor<T> le(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("le", a, b, [](T x, T y) { return T(x <= y); });
}
/// 1 where a > b else 0
template <class T>
tensor<T> gt(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("gt", a, b, [](T x, T y) { return T(x > y); });
}
/// 1 where a >= b else 0
template <class T>
tensor<T> ge(const tensor<T>& a, const tensor<T>& b) {
  return detail::binary_map<T>("ge", a, b, [](T x, T y) { return T(x >= y); });
}
/// cond != 0 ? a : b (all three broadcast)
template <class T>
tensor<T> where(const tensor<T>& cond, const tensor<T>& a, const tensor<T>& b) {
  return detail::ternary_map<T>("where", cond, a, b,
                                [](T c, T x, T y) { return c != T(0) ? x : y; });
}

// --- tensor-scalar ----------------------------------------------------------------------------

/// x + s
template <class T>
tensor<T> add(const tensor<T>& x, T s) {
  return detail::unary_map<T>(x, [s](T v) { return v + s; });
}
/// x · s
template <class T>
tensor<T> mul(const tensor<T>& x, T s) {
  return detail::unary_map<T>(x, [s](T v) { return v * s; });
}
/// s - x
template <class T>
tensor<T> rsub(const tensor<T>& x, T s) {
  return detail::unary_map<T>(x, [s](T v) { return s - v; });
}
/// s / x
template <class T>
tensor<T> rdiv(const tensor<T>& x, T s) {
  return detail::unary_map<T>(x, [s](T v) { return s / v; });
}

// --- in place ---------------------------------------------------------------------------------

/// dst += src (src broadcasts to dst); used to accumulate gradients.
template <class T>
void add_(const tensor<T>& dst, const tensor<T>& src) {
  detail::inplace_map("add_", dst, src, [](T x, T y) { return x + y; });
}
/// dst += alpha · src
template <class T>
void axpy_(const tensor<T>& dst, T alpha, const tensor<T>& src) {
  detail::inplace_map("axpy_", dst, src, [alpha](T x, T y) { return x + alpha * y; });
}
/// dst *= s
template <class T>
void scale_(const tensor<T>& dst, T s) {
  if (dst.is_contiguous()) {
    T* p = dst.data();
    for (index_t i = 0, n = dst.numel(); i < n; ++i) p[i] *= s;
    return;
  }
  dst.copy_from(mul(dst, s));
}

/// True when every element is finite (no NaN or ±inf).
template <class T>
bool all_finite(const tensor<T>& x) {
  const tensor<T> c = x.contiguous();
  const T* p = c.data();
  for (index_t i = 0, n = c.numel(); i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

// --- operators --------------------------------------------------------------------------------

template <class T>
tensor<T> operator+(const tensor<T>& a, const tensor<T>& b) {
  return add(a, b);
}
template <class T>
tensor<T> operator-(const tensor<T>& a, const tensor<T>& b) {
  return sub(a, b);
}
template <class T>
tensor<T> operator*(const tensor<T>& a, const tensor<T>& b) {
  return mul(a, b);
}
template <class T>
tensor<T> operator/(const tensor<T>& a, const tensor<T>& b) {
  return div(a, b);
}
template <class T>
tensor<T> operator-(const tensor<T>& a) {
  return neg(a);
}
template <class T>
tensor<T> operator+(const tensor<T>& a, std::type_identity_t<T> s) {
  return add(a, s);
}
template <class T>
tensor<T> operator+(std::type_identity_t<T> s, const tensor<T>& a) {
  return add(a, s);
}
template <class T>
tensor<T> operator-(const tensor<T>& a, std::type_identity_t<T> s) {
  return add(a, -s);
}
template <class T>
tensor<T> operator-(std::type_identity_t<T> s, const tensor<T>& a) {
  return rsub(a, s);
}
template <class T>
tensor<T> operator*(const tensor<T>& a, std::type_identity_t<T> s) {
  return mul(a, s);
}
template <class T>
tensor<T> operator*(std::type_identity_t<T> s, const tensor<T>& a) {
  return mul(a, s);
}
template <class T>
tensor<T> operator/(const tensor<T>& a, std::type_identity_t<T> s) {
  return mul(a, T(1) / s);
}
template <class T>
tensor<T> operator/(std::type_identity_t<T> s, const tensor<T>& a) {
  return rdiv(a, s);
}

}  // namespace tessera
