// SPDX-License-Identifier: Apache-2.0
// Differentiable reductions on ad::var: sum, mean, var, max, min, logsumexp, norm.
#pragma once

#include <limits>

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/shape.hpp"

namespace tessera::ad {

/// y = Σ over `axes` (all when empty);  x̄ += ȳ broadcast back over the reduced axes
template <class T, class S>
var<T, S> sum(const var<T, S>& x, const shape_t& axes = {}, bool keepdim = false) {
  const auto plan = tessera::detail::plan_reduce("ad::sum", x.shape(), axes);
  return make_op(sum(x.value(), axes, keepdim), {x}, [kshape = plan.out_shape](auto& c) {
    c.acc(0, expand(reshape(c.gy(), kshape), c.xv(0).shape()));
  });
}
/// y = mean over `axes`;  x̄ += ȳ / count, broadcast back
template <class T, class S>
var<T, S> mean(const var<T, S>& x, const shape_t& axes = {}, bool keepdim = false) {
  const auto plan = tessera::detail::plan_reduce("ad::mean", x.shape(), axes);
  return sum(x, axes, keepdim) * (T(1) / static_cast<T>(plan.inner));
}
/// y = Σ(x - mean)² / (count - correction) over `axes`, composed from differentiable ops
/// (named variance because `var` is the variable type here; tessera::var is the plain op).
template <class T, class S>
var<T, S> variance(const var<T, S>& x, const shape_t& axes = {}, int correction = 0,
                   bool keepdim = false) {
  const auto plan = tessera::detail::plan_reduce("ad::variance", x.shape(), axes);
  const var<T, S> d = x - mean(x, axes, true);
  const index_t denom = plan.inner - correction;  // ≤ 0: NaN, as tessera::var
  return sum(square(d), axes, keepdim) *
         (denom > 0 ? T(1) / static_cast<T>(denom) : std::numeric_limits<T>::quiet_NaN());
}

namespace detail {
/// Shared rule of max and min: the adjoint is split evenly among the extremal elements. When
/// the extremum is NaN (max and min propagate a NaN of the reduced set), those are the NaN
/// elements, as in PyTorch: eq(x, NaN) is 0 everywhere, and the 0/0 share made every
/// element's gradient NaN.
/// `reduce` (max or min of a tensor) runs after the axes are checked, so a bad axis is named
/// as `fn`.
template <class T, class S, class Reduce>
var<T, S> extremum(const char* fn, const var<T, S>& x, const shape_t& axes, bool keepdim,
                   Reduce reduce) {
  const auto plan = tessera::detail::plan_reduce(fn, x.shape(), axes);
  tensor<T, S> y = reduce(x.value(), axes, keepdim);
  const tensor<T, S> yb = y.reshape(plan.out_shape);
  const tensor<T, S> mask = add(eq(x.value(), yb), mul(ne(x.value(), x.value()), ne(yb, yb)));
  const tensor<T, S> share = div(mask, sum(mask, axes, true));
  return make_op(std::move(y), {x}, [kshape = plan.out_shape, share](auto& c) {
    c.acc(0, expand(reshape(c.gy(), kshape), c.xv(0).shape()) * c.lift(share));
  });
}
}  // namespace detail

/// y = max over `axes`;  x̄ += ȳ / (number of maxima) at the maxima
template <class T, class S>
var<T, S> max(const var<T, S>& x, const shape_t& axes = {}, bool keepdim = false) {
  return detail::extremum("ad::max", x, axes, keepdim,
                          [](const auto& v, const shape_t& a, bool k) { return max(v, a, k); });
}
/// y = min over `axes`;  x̄ += ȳ / (number of minima) at the minima
template <class T, class S>
var<T, S> min(const var<T, S>& x, const shape_t& axes = {}, bool keepdim = false) {
  return detail::extremum("ad::min", x, axes, keepdim,
                          [](const auto& v, const shape_t& a, bool k) { return min(v, a, k); });
}
/// y = log Σ exp x over `axes`;  x̄ += ȳ·exp(x - y)
template <class T, class S>
var<T, S> logsumexp(const var<T, S>& x, const shape_t& axes = {}, bool keepdim = false) {
  const auto plan = tessera::detail::plan_reduce("ad::logsumexp", x.shape(), axes);
  return make_op(logsumexp(x.value(), axes, keepdim), {x}, [kshape = plan.out_shape](auto& c) {
    const auto yk = expand(reshape(c.y(), kshape), c.xv(0).shape());
    c.acc(0, expand(reshape(c.gy(), kshape), c.xv(0).shape()) * exp(c.x(0) - yk));
  });
}
/// y = ‖x‖_p over `axes` (p = 1, 2, ∞);  p=2: x̄ += ȳ·x/y (0 where y = 0), p=1: ȳ·sign x,
/// p=∞: split among the largest |x|
/// @throws tessera::invalid_argument for any other p (-∞ included, as in tessera::norm).
template <class T, class S>
var<T, S> norm(const var<T, S>& x, T p = T(2), const shape_t& axes = {}, bool keepdim = false) {
  if (p == T(1)) return sum(abs(x), axes, keepdim);
  if (std::isinf(p) && p > T(0)) {
    // Over an empty set the ∞-norm is 0, as tessera::norm (max would refuse the empty set),
    // with no elements to pass a gradient to.
    if (tessera::detail::plan_reduce("ad::norm", x.shape(), axes).inner == 0)
      return make_op(norm(x.value(), p, axes, keepdim), {x}, [](auto&) {});
    return max(abs(x), axes, keepdim);
  }
  if (p != T(2)) throw_invalid_argument("ad::norm", "p ", p, " is not supported (1, 2, inf)");
  const auto plan = tessera::detail::plan_reduce("ad::norm", x.shape(), axes);
  return make_op(norm(x.value(), p, axes, keepdim), {x}, [kshape = plan.out_shape](auto& c) {
    // Where y = 0 (so x = 0 on the whole lane) divide by 1 instead: subgradient 0.
    const tensor<T, S> at_origin =
        eq(c.yv().reshape(kshape), detail::filled<T, S>(shape_t{}, T(0)));
    const auto ys = reshape(c.y(), kshape) + c.lift(at_origin);
    c.acc(0, expand(reshape(c.gy(), kshape) / ys, c.xv(0).shape()) * c.x(0));
  });
}

}  // namespace tessera::ad
