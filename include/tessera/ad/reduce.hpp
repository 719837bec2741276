// SPDX-License-Identifier: Apache-2.0
// Differentiable reductions on ad::var: sum, mean, var, max, min, logsumexp, norm.
#pragma once

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/shape.hpp"

namespace tessera::ad {

/// y = Σ over `axes` (all when empty);  x̄ += ȳ broadcast back over the reduced axes
template <class T>
var<T> sum(const var<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  const auto plan = tessera::detail::plan_reduce("ad::sum", x.shape(), axes);
  return make_op(tessera::sum(x.value(), axes, keepdim), {x}, [kshape = plan.out_shape](auto& c) {
    c.acc(0, expand(reshape(c.gy(), kshape), c.xv(0).shape()));
  });
}
/// y = mean over `axes`;  x̄ += ȳ / count, broadcast back
template <class T>
var<T> mean(const var<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  const auto plan = tessera::detail::plan_reduce("ad::mean", x.shape(), axes);
  return sum(x, axes, keepdim) * (T(1) / static_cast<T>(plan.inner));
}
/// y = Σ(x - mean)² / (count - correction) over `axes`, composed from differentiable ops
/// (named variance because `var` is the variable type here; tessera::var is the plain op).
template <class T>
var<T> variance(const var<T>& x, const shape_t& axes = {}, int correction = 0,
                bool keepdim = false) {
  const auto plan = tessera::detail::plan_reduce("ad::variance", x.shape(), axes);
  const var<T> d = x - mean(x, axes, true);
  return sum(square(d), axes, keepdim) * (T(1) / static_cast<T>(plan.inner - correction));
}

namespace detail {
/// Shared rule of max and min: the adjoint is split evenly among the extremal elements.
template <class T>
var<T> extremum(const var<T>& x, const shape_t& axes, tensor<T> y) {
  const auto plan = tessera::detail::plan_reduce("ad::max", x.shape(), axes);
  const tensor<T> mask = tessera::eq(x.value(), y.reshape(plan.out_shape));
  const tensor<T> share = tessera::div(mask, tessera::sum(mask, axes, true));
  return make_op(std::move(y), {x}, [kshape = plan.out_shape, share](auto& c) {
    c.acc(0, expand(reshape(c.gy(), kshape), c.xv(0).shape()) * c.lift(share));
  });
}
}  // namespace detail

/// y = max over `axes`;  x̄ += ȳ / (number of maxima) at the maxima
template <class T>
var<T> max(const var<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  return detail::extremum(x, axes, tessera::max(x.value(), axes, keepdim));
}
/// y = min over `axes`;  x̄ += ȳ / (number of minima) at the minima
template <class T>
var<T> min(const var<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  return detail::extremum(x, axes, tessera::min(x.value(), axes, keepdim));
}
/// y = log Σ exp x over `axes`;  x̄ += ȳ·exp(x - y)
template <class T>
var<T> logsumexp(const var<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  const auto plan = tessera::detail::plan_reduce("ad::logsumexp", x.shape(), axes);
  return make_op(tessera::logsumexp(x.value(), axes, keepdim), {x},
                 [kshape = plan.out_shape](auto& c) {
                   const auto yk = expand(reshape(c.y(), kshape), c.xv(0).shape());
                   c.acc(0, expand(reshape(c.gy(), kshape), c.xv(0).shape()) * exp(c.x(0) - yk));
                 });
}
/// y = ‖x‖_p over `axes` (p = 1, 2, ∞);  p=2: x̄ += ȳ·x/y (0 where y = 0), p=1: ȳ·sign x,
/// p=∞: split among the largest |x|
/// @throws tessera::invalid_argument for any other p (-∞ included, as in tessera::norm).
template <class T>
var<T> norm(const var<T>& x, T p = T(2), const shape_t& axes = {}, bool keepdim = false) {
  if (p == T(1)) return sum(abs(x), axes, keepdim);
  if (std::isinf(p) && p > T(0)) return max(abs(x), axes, keepdim);
  if (p != T(2)) throw_invalid_argument("ad::norm", "p ", p, " is not supported (1, 2, inf)");
  const auto plan = tessera::detail::plan_reduce("ad::norm", x.shape(), axes);
  return make_op(tessera::norm(x.value(), p, axes, keepdim), {x},
                 [kshape = plan.out_shape](auto& c) {
                   // Where y = 0 (so x = 0 on the whole lane) divide by 1 instead: subgradient 0.
                   const tensor<T> at_origin =
                       tessera::eq(c.yv().reshape(kshape), tessera::zeros<T>(shape_t{}));
                   const auto ys = reshape(c.y(), kshape) + c.lift(at_origin);
                   c.acc(0, expand(reshape(c.gy(), kshape) / ys, c.xv(0).shape()) * c.x(0));
                 });
}

}  // namespace tessera::ad
