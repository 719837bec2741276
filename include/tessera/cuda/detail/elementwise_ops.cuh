// SPDX-License-Identifier: Apache-2.0
// The device functors of the elementwise ops (cuda/elementwise.cuh), one per op with the same
// formula as the host lambda of the same name; kernel-only (detail/kernel_prelude.cuh), so that
// the kernels using them also run in the host emulation of tests/cuda_emulated.
#pragma once

#include <cmath>

#include "tessera/cuda/detail/kernel_prelude.cuh"
#include "tessera/ops/elementwise.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

#define TESSERA_CUDA_UNARY_OP(name, expr)                \
  struct name##_op {                                     \
    template <class T>                                   \
    __device__ __forceinline__ T operator()(T v) const { \
      return expr;                                       \
    }                                                    \
  };
TESSERA_CUDA_UNARY_OP(neg, -v)
TESSERA_CUDA_UNARY_OP(abs, std::abs(v))
TESSERA_CUDA_UNARY_OP(sign, T((v > T(0)) - (v < T(0))))
TESSERA_CUDA_UNARY_OP(exp, std::exp(v))
TESSERA_CUDA_UNARY_OP(expm1, std::expm1(v))
TESSERA_CUDA_UNARY_OP(log, std::log(v))
TESSERA_CUDA_UNARY_OP(log1p, std::log1p(v))
TESSERA_CUDA_UNARY_OP(sqrt, std::sqrt(v))
TESSERA_CUDA_UNARY_OP(rsqrt, T(1) / std::sqrt(v))
TESSERA_CUDA_UNARY_OP(square, v* v)
TESSERA_CUDA_UNARY_OP(reciprocal, T(1) / v)
TESSERA_CUDA_UNARY_OP(sin, std::sin(v))
TESSERA_CUDA_UNARY_OP(cos, std::cos(v))
TESSERA_CUDA_UNARY_OP(erf, std::erf(v))
TESSERA_CUDA_UNARY_OP(tanh, std::tanh(v))
TESSERA_CUDA_UNARY_OP(sigmoid, tessera::detail::sigmoid_scalar(v))
TESSERA_CUDA_UNARY_OP(relu, v > T(0) || v != v ? v : T(0))
TESSERA_CUDA_UNARY_OP(heaviside, v > T(0) ? T(1) : T(0))
TESSERA_CUDA_UNARY_OP(gelu, T(0.5) * v * (T(1) + std::erf(v * T(0.7071067811865476))))
TESSERA_CUDA_UNARY_OP(gelu_tanh,
                      T(0.5) * v * (T(1) + std::tanh(tessera::detail::gelu_tanh_inner(v))))
TESSERA_CUDA_UNARY_OP(silu, v* tessera::detail::sigmoid_scalar(v))
TESSERA_CUDA_UNARY_OP(softplus, tessera::detail::softplus_scalar(v))
#undef TESSERA_CUDA_UNARY_OP

#define TESSERA_CUDA_BINARY_OP(name, expr)                    \
  struct name##_op {                                          \
    template <class T>                                        \
    __device__ __forceinline__ T operator()(T x, T y) const { \
      return expr;                                            \
    }                                                         \
  };
TESSERA_CUDA_BINARY_OP(add, x + y)
TESSERA_CUDA_BINARY_OP(sub, x - y)
TESSERA_CUDA_BINARY_OP(mul, x* y)
TESSERA_CUDA_BINARY_OP(div, x / y)
TESSERA_CUDA_BINARY_OP(pow, std::pow(x, y))
TESSERA_CUDA_BINARY_OP(maximum, x >= y || x != x ? x : y)
TESSERA_CUDA_BINARY_OP(minimum, x <= y || x != x ? x : y)
TESSERA_CUDA_BINARY_OP(eq, T(x == y))
TESSERA_CUDA_BINARY_OP(ne, T(x != y))
TESSERA_CUDA_BINARY_OP(lt, T(x < y))
TESSERA_CUDA_BINARY_OP(le, T(x <= y))
TESSERA_CUDA_BINARY_OP(gt, T(x > y))
TESSERA_CUDA_BINARY_OP(ge, T(x >= y))
// Backward passes of the activations, x = ȳ and y = the activation's input (ad/elementwise.hpp).
TESSERA_CUDA_BINARY_OP(relu_backward, y > T(0) ? x : T(0))
// ... and of tanh and sigmoid, with y = their output.
TESSERA_CUDA_BINARY_OP(tanh_backward, x*(T(1) - y * y))
TESSERA_CUDA_BINARY_OP(sigmoid_backward, x* y*(T(1) - y))
TESSERA_CUDA_BINARY_OP(gelu_backward, x*(T(0.5) * (T(1) + std::erf(y * T(0.7071067811865476))) +
                                         y * std::exp(T(-0.5) * y * y) * T(0.3989422804014327)))
TESSERA_CUDA_BINARY_OP(add_gelu,
                       T(0.5) * (x + y) * (T(1) + std::erf((x + y) * T(0.7071067811865476))))
#undef TESSERA_CUDA_BINARY_OP

/// ȳ·d/dv[½v(1 + tanh u)], u = √(2/π)(v + 0.044715v³)
struct gelu_tanh_backward_op {
  template <class T>
  __device__ __forceinline__ T operator()(T g, T v) const {
    constexpr T k = T(0.7978845608028654), a = T(0.044715);
    const T t = std::tanh(k * (v + a * v * v * v));
    return g * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * k * (T(1) + T(3) * a * v * v));
  }
};

/// ȳ·gelu'(x + y): the backward pass of add_gelu, from its inputs.
struct add_gelu_backward_op {
  template <class T>
  __device__ __forceinline__ T operator()(T g, T x, T y) const {
    const T v = x + y;
    return g * (T(0.5) * (T(1) + std::erf(v * T(0.7071067811865476))) +
                v * std::exp(T(-0.5) * v * v) * T(0.3989422804014327));
  }
};

struct where_op {
  template <class T>
  __device__ __forceinline__ T operator()(T c, T x, T y) const {
    return c != T(0) ? x : y;
  }
};

// Ops with a scalar parameter.
template <class T>
struct add_scalar_op {
  T s;
  __device__ __forceinline__ T operator()(T v) const { return v + s; }
};
template <class T>
struct mul_scalar_op {
  T s;
  __device__ __forceinline__ T operator()(T v) const { return v * s; }
};
template <class T>
struct rsub_scalar_op {
  T s;
  __device__ __forceinline__ T operator()(T v) const { return s - v; }
};
template <class T>
struct rdiv_scalar_op {
  T s;
  __device__ __forceinline__ T operator()(T v) const { return s / v; }
};
template <class T>
struct pow_scalar_op {
  T p;
  __device__ __forceinline__ T operator()(T v) const { return std::pow(v, p); }
};
template <class T>
struct clamp_op {
  T lo, hi;
  __device__ __forceinline__ T operator()(T v) const { return v < lo ? lo : (v > hi ? hi : v); }
};
template <class T>
struct inside_mask_op {
  T lo, hi;
  __device__ __forceinline__ T operator()(T v) const { return v >= lo && v <= hi ? T(1) : T(0); }
};
template <class T>
struct axpy_op {
  T alpha;
  __device__ __forceinline__ T operator()(T x, T y) const { return x + alpha * y; }
};

TESSERA_CUDA_NAMESPACE_END
