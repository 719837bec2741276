// SPDX-License-Identifier: Apache-2.0
// Elementwise math on cuda tensors: the same unary functions, broadcasting binary arithmetic,
// comparisons, where, clamp, tensor-scalar forms, in-place updates and operators as the host
// (ops/elementwise.hpp), through the engine of cuda/tensor.cuh. On __nv_bfloat16/__half tensors
// every op widens its inputs to float, computes in float and rounds the result once; scalar
// parameters are then float (cuda_compute_t<T>).
#pragma once

#include <cmath>

#include "tessera/cuda/detail/elementwise_ops.cuh"
#include "tessera/cuda/tensor.cuh"
#include "tessera/ops/elementwise.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// r = f(x) into a fresh contiguous tensor.
template <class T, class F>
tensor<T, cuda> unary(const tensor<T, cuda>& x, F f) {
  tessera::detail::require_defined("elementwise op", "its input", x);
  tensor<T, cuda> r(x.shape());
  const tensor<T, cuda>* ins[1] = {&x};
  launch_map<T, 1>(r, ins, f);
  return r;
}

/// r = f(a, b) with numpy broadcasting into a fresh contiguous tensor.
template <class T, class F>
tensor<T, cuda> binary(const char* fn, const tensor<T, cuda>& a, const tensor<T, cuda>& b, F f) {
  tessera::detail::require_defined(fn, "the first operand", a);
  tessera::detail::require_defined(fn, "the second operand", b);
  tensor<T, cuda> r(broadcast_shapes(fn, a.shape(), b.shape()));
  const tensor<T, cuda>* ins[2] = {&a, &b};
  launch_map<T, 2>(r, ins, f);
  return r;
}

/// dst = f(dst, src) in place; src broadcasts to dst's shape.
template <class T, class F>
void inplace(const char* fn, const tensor<T, cuda>& dst, const tensor<T, cuda>& src, F f) {
  tessera::detail::require_defined(fn, "the destination", dst);
  tessera::detail::require_defined(fn, "the source", src);
  if (!(broadcast_shapes(fn, dst.shape(), src.shape()) == dst.shape()))
    throw_invalid_argument(fn, "source shape ", src.shape().str(),
                           " does not broadcast to destination shape ", dst.shape().str());
  const tensor<T, cuda>* ins[2] = {&dst, &src};
  launch_map<T, 2>(dst, ins, f);
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera {

// --- unary ------------------------------------------------------------------------------------
#define TESSERA_CUDA_UNARY(name)                                  \
  /** name(x) elementwise on the current stream (as the host). */ \
  template <class T>                                              \
  tensor<T, cuda> name(const tensor<T, cuda>& x) {                \
    return cuda_kernels::unary(x, cuda_kernels::name##_op{});     \
  }
TESSERA_CUDA_UNARY(neg)
TESSERA_CUDA_UNARY(abs)
TESSERA_CUDA_UNARY(sign)
TESSERA_CUDA_UNARY(exp)
TESSERA_CUDA_UNARY(expm1)
TESSERA_CUDA_UNARY(log)
TESSERA_CUDA_UNARY(log1p)
TESSERA_CUDA_UNARY(sqrt)
TESSERA_CUDA_UNARY(rsqrt)
TESSERA_CUDA_UNARY(square)
TESSERA_CUDA_UNARY(reciprocal)
TESSERA_CUDA_UNARY(sin)
TESSERA_CUDA_UNARY(cos)
TESSERA_CUDA_UNARY(erf)
TESSERA_CUDA_UNARY(tanh)
TESSERA_CUDA_UNARY(sigmoid)
TESSERA_CUDA_UNARY(relu)
TESSERA_CUDA_UNARY(heaviside)
TESSERA_CUDA_UNARY(gelu)
TESSERA_CUDA_UNARY(gelu_tanh)
TESSERA_CUDA_UNARY(silu)
TESSERA_CUDA_UNARY(softplus)
#undef TESSERA_CUDA_UNARY

/// x^p for a scalar exponent
template <class T>
tensor<T, cuda> pow(const tensor<T, cuda>& x, cuda_compute_t<T> p) {
  if (p == cuda_compute_t<T>(2)) return square(x);
  return cuda_kernels::unary(x, cuda_kernels::pow_scalar_op<cuda_compute_t<T>>{p});
}
/// min(max(x, lo), hi). @throws tessera::invalid_argument when lo > hi or either is NaN.
template <class T>
tensor<T, cuda> clamp(const tensor<T, cuda>& x, cuda_compute_t<T> lo, cuda_compute_t<T> hi) {
  if (!(lo <= hi)) throw_invalid_argument("clamp", "lo ", lo, " must not exceed hi ", hi);
  return cuda_kernels::unary(x, cuda_kernels::clamp_op<cuda_compute_t<T>>{lo, hi});
}
/// 1 where lo <= x <= hi, else 0
template <class T>
tensor<T, cuda> inside_mask(const tensor<T, cuda>& x, cuda_compute_t<T> lo, cuda_compute_t<T> hi) {
  return cuda_kernels::unary(x, cuda_kernels::inside_mask_op<cuda_compute_t<T>>{lo, hi});
}

// --- binary -----------------------------------------------------------------------------------
#define TESSERA_CUDA_BINARY(name)                                                \
  /** name(a, b) with numpy broadcasting on the current stream (as the host). */ \
  template <class T>                                                             \
  tensor<T, cuda> name(const tensor<T, cuda>& a, const tensor<T, cuda>& b) {     \
    return cuda_kernels::binary(#name, a, b, cuda_kernels::name##_op{});         \
  }
TESSERA_CUDA_BINARY(add)
TESSERA_CUDA_BINARY(sub)
TESSERA_CUDA_BINARY(mul)
TESSERA_CUDA_BINARY(div)
TESSERA_CUDA_BINARY(pow)
TESSERA_CUDA_BINARY(maximum)
TESSERA_CUDA_BINARY(minimum)
TESSERA_CUDA_BINARY(eq)
TESSERA_CUDA_BINARY(ne)
TESSERA_CUDA_BINARY(lt)
TESSERA_CUDA_BINARY(le)
TESSERA_CUDA_BINARY(gt)
TESSERA_CUDA_BINARY(ge)
#undef TESSERA_CUDA_BINARY

/// gelu(x + y) with numpy broadcasting in one pass (ops/elementwise.hpp's add_gelu).
template <class T>
tensor<T, cuda> add_gelu(const tensor<T, cuda>& x, const tensor<T, cuda>& y) {
  return cuda_kernels::binary("add_gelu", x, y, cuda_kernels::add_gelu_op{});
}

/// ȳ·[x > 0], the backward pass of relu in one kernel (gy and x broadcast).
template <class T>
tensor<T, cuda> relu_backward(const tensor<T, cuda>& gy, const tensor<T, cuda>& x) {
  return cuda_kernels::binary("relu_backward", gy, x, cuda_kernels::relu_backward_op{});
}
/// ȳ·(1 - y²) for y = tanh x, the backward pass of tanh in one kernel.
template <class T>
tensor<T, cuda> tanh_backward(const tensor<T, cuda>& gy, const tensor<T, cuda>& y) {
  return cuda_kernels::binary("tanh_backward", gy, y, cuda_kernels::tanh_backward_op{});
}
/// ȳ·y·(1 - y) for y = σ(x), the backward pass of sigmoid in one kernel.
template <class T>
tensor<T, cuda> sigmoid_backward(const tensor<T, cuda>& gy, const tensor<T, cuda>& y) {
  return cuda_kernels::binary("sigmoid_backward", gy, y, cuda_kernels::sigmoid_backward_op{});
}
/// ȳ·(Φ(x) + x·φ(x)), the backward pass of gelu (erf form) in one kernel.
template <class T>
tensor<T, cuda> gelu_backward(const tensor<T, cuda>& gy, const tensor<T, cuda>& x) {
  return cuda_kernels::binary("gelu_backward", gy, x, cuda_kernels::gelu_backward_op{});
}
/// The backward pass of gelu_tanh in one kernel.
template <class T>
tensor<T, cuda> gelu_tanh_backward(const tensor<T, cuda>& gy, const tensor<T, cuda>& x) {
  return cuda_kernels::binary("gelu_tanh_backward", gy, x, cuda_kernels::gelu_tanh_backward_op{});
}

/// ȳ·gelu'(x + y) in one kernel (all three broadcast): the backward pass of add_gelu.
template <class T>
tensor<T, cuda> add_gelu_backward(const tensor<T, cuda>& gy, const tensor<T, cuda>& x,
                                  const tensor<T, cuda>& y) {
  tensor<T, cuda> r(broadcast_shapes("add_gelu_backward",
                                     broadcast_shapes("add_gelu_backward", gy.shape(), x.shape()),
                                     y.shape()));
  const tensor<T, cuda>* ins[3] = {&gy, &x, &y};
  cuda_kernels::launch_map<T, 3>(r, ins, cuda_kernels::add_gelu_backward_op{});
  return r;
}

/// cond != 0 ? a : b (all three broadcast)
template <class T>
tensor<T, cuda> where(const tensor<T, cuda>& cond, const tensor<T, cuda>& a,
                      const tensor<T, cuda>& b) {
  tensor<T, cuda> r(
      broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape()));
  const tensor<T, cuda>* ins[3] = {&cond, &a, &b};
  cuda_kernels::launch_map<T, 3>(r, ins, cuda_kernels::where_op{});
  return r;
}

// --- tensor-scalar ----------------------------------------------------------------------------
/// x + s
template <class T>
tensor<T, cuda> add(const tensor<T, cuda>& x, cuda_compute_t<T> s) {
  return cuda_kernels::unary(x, cuda_kernels::add_scalar_op<cuda_compute_t<T>>{s});
}
/// x · s
template <class T>
tensor<T, cuda> mul(const tensor<T, cuda>& x, cuda_compute_t<T> s) {
  return cuda_kernels::unary(x, cuda_kernels::mul_scalar_op<cuda_compute_t<T>>{s});
}
/// s - x
template <class T>
tensor<T, cuda> rsub(const tensor<T, cuda>& x, cuda_compute_t<T> s) {
  return cuda_kernels::unary(x, cuda_kernels::rsub_scalar_op<cuda_compute_t<T>>{s});
}
/// s / x
template <class T>
tensor<T, cuda> rdiv(const tensor<T, cuda>& x, cuda_compute_t<T> s) {
  return cuda_kernels::unary(x, cuda_kernels::rdiv_scalar_op<cuda_compute_t<T>>{s});
}

// --- in place ---------------------------------------------------------------------------------
/// dst += src (src broadcasts to dst)
template <class T>
void add_(const tensor<T, cuda>& dst, const tensor<T, cuda>& src) {
  cuda_kernels::inplace("add_", dst, src, cuda_kernels::add_op{});
}
/// dst += alpha · src
template <class T>
void axpy_(const tensor<T, cuda>& dst, cuda_compute_t<T> alpha, const tensor<T, cuda>& src) {
  cuda_kernels::inplace("axpy_", dst, src, cuda_kernels::axpy_op<cuda_compute_t<T>>{alpha});
}
/// dst *= s
template <class T>
void scale_(const tensor<T, cuda>& dst, cuda_compute_t<T> s) {
  const tensor<T, cuda>* ins[1] = {&dst};
  cuda_kernels::launch_map<T, 1>(dst, ins, cuda_kernels::mul_scalar_op<cuda_compute_t<T>>{s});
}

// --- operators --------------------------------------------------------------------------------
template <class T>
tensor<T, cuda> operator+(const tensor<T, cuda>& a, const tensor<T, cuda>& b) {
  return add(a, b);
}
template <class T>
tensor<T, cuda> operator-(const tensor<T, cuda>& a, const tensor<T, cuda>& b) {
  return sub(a, b);
}
template <class T>
tensor<T, cuda> operator*(const tensor<T, cuda>& a, const tensor<T, cuda>& b) {
  return mul(a, b);
}
template <class T>
tensor<T, cuda> operator/(const tensor<T, cuda>& a, const tensor<T, cuda>& b) {
  return div(a, b);
}
template <class T>
tensor<T, cuda> operator-(const tensor<T, cuda>& a) {
  return neg(a);
}
template <class T>
tensor<T, cuda> operator+(const tensor<T, cuda>& a, cuda_compute_t<T> s) {
  return add(a, s);
}
template <class T>
tensor<T, cuda> operator+(cuda_compute_t<T> s, const tensor<T, cuda>& a) {
  return add(a, s);
}
template <class T>
tensor<T, cuda> operator-(const tensor<T, cuda>& a, cuda_compute_t<T> s) {
  return add(a, -s);
}
template <class T>
tensor<T, cuda> operator-(cuda_compute_t<T> s, const tensor<T, cuda>& a) {
  return rsub(a, s);
}
template <class T>
tensor<T, cuda> operator*(const tensor<T, cuda>& a, cuda_compute_t<T> s) {
  return mul(a, s);
}
template <class T>
tensor<T, cuda> operator*(cuda_compute_t<T> s, const tensor<T, cuda>& a) {
  return mul(a, s);
}
template <class T>
tensor<T, cuda> operator/(const tensor<T, cuda>& a, cuda_compute_t<T> s) {
  return mul(a, cuda_compute_t<T>(1) / s);
}
template <class T>
tensor<T, cuda> operator/(cuda_compute_t<T> s, const tensor<T, cuda>& a) {
  return rdiv(a, s);
}

}  // namespace tessera
