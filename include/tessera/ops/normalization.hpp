// SPDX-License-Identifier: Apache-2.0
// softmax / log-softmax along an axis, layer norm and RMS norm over the last axis (host).
#pragma once

#include <cmath>

#include "tessera/ops/reduce.hpp"

namespace tessera {

namespace detail {
/// Calls f(row_pointer, stride, length) for every 1-d row of `x` along `axis` (x contiguous).
template <class T, class F>
void for_each_lane(const tensor<T>& x, int axis, F f) {
  const index_t len = x.shape()[axis];
  const index_t inner = x.strides()[axis];
  const index_t outer = len > 0 ? x.numel() / (len * inner) : 0;
  T* base = x.data();
  parallel_for(0, outer * inner, std::max<index_t>(1, default_grain / std::max<index_t>(len, 1)),
               [&](index_t lo, index_t hi) {
                 for (index_t q = lo; q < hi; ++q) {
                   const index_t o = q / inner, i = q % inner;
                   f(base + o * len * inner + i, inner, len);
                 }
               });
}

/// The shift that keeps exp finite on the lane p[0], p[s], ..., p[(n−1)s]: its maximum (NaN
/// skipped), or 0 when that is not finite (all −∞, an ∞, or an empty or all-NaN lane).
template <class T>
T lane_shift(const T* p, index_t s, index_t n) {
  T m = -std::numeric_limits<T>::infinity();
  for (index_t i = 0; i < n; ++i) m = p[i * s] > m ? p[i * s] : m;
  return std::isfinite(m) ? m : T(0);
}
}  // namespace detail

/// exp(x) / Σ exp(x) along `axis` (max subtracted first).
template <class T>
tensor<T> softmax(const tensor<T>& x, int axis = -1) {
  const int a = normalize_axis("softmax", axis, x.rank());
  tensor<T> y = x.clone();
  detail::for_each_lane(y, a, [](T* p, index_t s, index_t n) {
    const T m = detail::lane_shift(p, s, n);
    T z = T(0);
    for (index_t i = 0; i < n; ++i) z += (p[i * s] = std::exp(p[i * s] - m));
    const T inv = T(1) / z;
    for (index_t i = 0; i < n; ++i) p[i * s] *= inv;
  });
  return y;
}

/// x - log Σ exp(x) along `axis`.
template <class T>
tensor<T> log_softmax(const tensor<T>& x, int axis = -1) {
  const int a = normalize_axis("log_softmax", axis, x.rank());
  tensor<T> y = x.clone();
  detail::for_each_lane(y, a, [](T* p, index_t s, index_t n) {
    const T m = detail::lane_shift(p, s, n);
    T z = T(0);
    for (index_t i = 0; i < n; ++i) z += std::exp(p[i * s] - m);
    const T lz = m + std::log(z);
    for (index_t i = 0; i < n; ++i) p[i * s] -= lz;
  });
  return y;
}

/// Layer normalisation over the last axis: (x - mean) / √(var + eps) · weight + bias, where
/// weight and bias (shape (D,)) may be undefined tensors to skip them.
/// @throws tessera::invalid_argument when weight/bias shapes differ from (D,) or eps < 0.
template <class T>
tensor<T> layer_norm(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias,
                     T eps = T(1e-5)) {
  if (x.rank() == 0) throw_invalid_argument("layer_norm", "x must have rank at least 1");
  const index_t D = x.size(-1);
  for (const tensor<T>* p : {&weight, &bias})
    if (p->defined() && !(p->shape() == shape_t{D}))
      throw_invalid_argument("layer_norm", "weight/bias shape ", p->shape().str(), " must be (", D,
                             ") for x of shape ", x.shape().str());
  if (!(eps >= T(0))) throw_invalid_argument("layer_norm", "eps ", eps, " must be >= 0");
  tensor<T> y = x.clone();
  const tensor<T> w = weight.defined() ? weight.contiguous() : weight;
  const tensor<T> b = bias.defined() ? bias.contiguous() : bias;
  detail::for_each_lane(y, y.rank() - 1, [&](T* p, index_t, index_t n) {
    T mu = T(0);
    for (index_t i = 0; i < n; ++i) mu += p[i];
    mu /= static_cast<T>(n);
    T v = T(0);
    for (index_t i = 0; i < n; ++i) v += (p[i] - mu) * (p[i] - mu);
    const T r = T(1) / std::sqrt(v / static_cast<T>(n) + eps);
    for (index_t i = 0; i < n; ++i) {
      T z = (p[i] - mu) * r;
      if (w.defined()) z *= w.data()[i];
      if (b.defined()) z += b.data()[i];
      p[i] = z;
    }
  });
  return y;
}

/// RMS normalisation over the last axis: x / √(mean(x²) + eps) · weight (weight optional).
template <class T>
tensor<T> rms_norm(const tensor<T>& x, const tensor<T>& weight, T eps = T(1e-6)) {
  if (x.rank() == 0) throw_invalid_argument("rms_norm", "x must have rank at least 1");
  const index_t D = x.size(-1);
  if (weight.defined() && !(weight.shape() == shape_t{D}))
    throw_invalid_argument("rms_norm", "weight shape ", weight.shape().str(), " must be (", D,
                           ") for x of shape ", x.shape().str());
  if (!(eps >= T(0))) throw_invalid_argument("rms_norm", "eps ", eps, " must be >= 0");
  tensor<T> y = x.clone();
  const tensor<T> w = weight.defined() ? weight.contiguous() : weight;
  detail::for_each_lane(y, y.rank() - 1, [&](T* p, index_t, index_t n) {
    T ss = T(0);
    for (index_t i = 0; i < n; ++i) ss += p[i] * p[i];
    const T r = T(1) / std::sqrt(ss / static_cast<T>(n) + eps);
    for (index_t i = 0; i < n; ++i) p[i] = p[i] * r * (w.defined() ? w.data()[i] : T(1));
  });
  return y;
}

}  // namespace tessera
