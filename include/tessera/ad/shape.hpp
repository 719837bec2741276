// SPDX-License-Identifier: Apache-2.0
// Differentiable view and joining ops on ad::var: reshape, expand, sum_to, transpose, permute,
// slice, select, (un)squeeze, concat, stack, split.
#pragma once

#include <vector>

#include "tessera/ad/node.hpp"
#include "tessera/ops/indexing.hpp"
#include "tessera/ops/view.hpp"

namespace tessera::ad {

/// y = x viewed (or copied) with a new shape;  x̄ += reshape(ȳ, shape(x))
template <class T, class S>
var<T, S> reshape(const var<T, S>& x, const shape_t& shape) {
  return make_op(x.value().reshape(shape), {x},
                 [](auto& c) { c.acc(0, reshape(c.gy(), c.xv(0).shape())); });
}
/// rank-1 view of all elements
template <class T, class S>
var<T, S> flatten(const var<T, S>& x) {
  return reshape(x, shape_t{x.numel()});
}
/// y = x broadcast to `shape`;  x̄ += sum_to(ȳ, shape(x))
template <class T, class S>
var<T, S> expand(const var<T, S>& x, const shape_t& shape) {
  return make_op(x.value().expand(shape), {x},
                 [](auto& c) { c.acc(0, sum_to(c.gy(), c.xv(0).shape())); });
}
/// y = g summed down to `shape` (adjoint of broadcasting);  ḡ += expand(ȳ, shape(g))
template <class T, class S>
var<T, S> sum_to(const var<T, S>& g, const shape_t& shape) {
  if (g.shape() == shape) return g;
  return make_op(sum_to(g.value(), shape), {g},
                 [](auto& c) { c.acc(0, expand(c.gy(), c.xv(0).shape())); });
}
/// y = x with axes a and b swapped;  x̄ += transpose(ȳ, a, b)
template <class T, class S>
var<T, S> transpose(const var<T, S>& x, int a, int b) {
  return make_op(x.value().transpose(a, b), {x},
                 [a, b](auto& c) { c.acc(0, transpose(c.gy(), a, b)); });
}
/// y = x with axes reordered;  x̄ += permute(ȳ, inverse order)
template <class T, class S>
var<T, S> permute(const var<T, S>& x, const shape_t& order) {
  tensor<T, S> y = x.value().permute(order);
  shape_t inv = order;
  for (int i = 0; i < order.rank(); ++i) {
    const index_t o = order[i] < 0 ? order[i] + order.rank() : order[i];
    inv[static_cast<int>(o)] = i;
  }
  return make_op(std::move(y), {x}, [inv](auto& c) { c.acc(0, permute(c.gy(), inv)); });
}
/// y = x with a size-1 axis inserted;  x̄ += reshape(ȳ, shape(x))
template <class T, class S>
var<T, S> unsqueeze(const var<T, S>& x, int axis) {
  return reshape(x, x.value().unsqueeze(axis).shape());
}
/// y = x without size-1 axis `axis`;  x̄ += reshape(ȳ, shape(x))
template <class T, class S>
var<T, S> squeeze(const var<T, S>& x, int axis) {
  return reshape(x, x.value().squeeze(axis).shape());
}

namespace detail {
/// Start and count of x[start:stop:step] along an axis of extent n (Python rules).
inline std::pair<index_t, index_t> slice_range(index_t n, index_t start, index_t stop,
                                               index_t step) {
  if (start < 0) start += n;
  if (stop < 0) stop += n;
  start = std::clamp<index_t>(start, 0, n);
  stop = std::clamp<index_t>(stop, start, n);
  return {start, stop > start ? (stop - start - 1) / step + 1 : 0};  // (no overflow for any step)
}
template <class T, class S>
var<T, S> slice_scatter_var(const var<T, S>& g, const shape_t& shape, int axis, index_t start,
                            index_t step);
}  // namespace detail

/// y = x[start:stop:step] along `axis`;  x̄ += ȳ placed back into zeros of shape(x)
template <class T, class S>
var<T, S> slice(const var<T, S>& x, int axis, index_t start, index_t stop, index_t step = 1) {
  tensor<T, S> y = x.value().slice(axis, start, stop, step);
  const int a = normalize_axis("ad::slice", axis, x.rank());
  const index_t s0 = detail::slice_range(x.shape()[a], start, stop, step).first;
  return make_op(std::move(y), {x}, [a, s0, step](auto& c) {
    if constexpr (std::decay_t<decltype(c)>::graph)
      c.acc(0, detail::slice_scatter_var(c.gy(), c.xv(0).shape(), a, s0, step));
    else
      c.acc(0, slice_scatter(c.gy(), c.xv(0).shape(), a, s0, step));
  });
}

namespace detail {
/// y = g written into zeros of `shape` at a strided slice;  ḡ += slice of ȳ
template <class T, class S>
var<T, S> slice_scatter_var(const var<T, S>& g, const shape_t& shape, int axis, index_t start,
                            index_t step) {
  const index_t n = g.shape()[axis];
  return make_op(slice_scatter(g.value(), shape, axis, start, step), {g},
                 [axis, start, step, n](auto& c) {
                   // For n = 0 the stop must not go negative (it would count from the end).
                   const index_t stop = n > 0 ? start + (n - 1) * step + 1 : start;
                   c.acc(0, slice(c.gy(), axis, start, stop, step));
                 });
}
}  // namespace detail

/// y = x[..., index, ...] along `axis` (rank drops);  x̄ += ȳ placed back at `index`
template <class T, class S>
var<T, S> select(const var<T, S>& x, int axis, index_t index) {
  const int a = normalize_axis("ad::select", axis, x.rank());
  const index_t n = x.shape()[a];
  if (index < -n || index >= n)
    throw_invalid_argument("ad::select", "index ", index, " is out of range for axis ", axis,
                           " of extent ", n, " (shape ", x.shape().str(), ")");
  if (index < 0) index += n;
  return squeeze(slice(x, a, index, index + 1), a);
}

/// y = the parts joined along `axis`;  part̄ᵢ += the matching slice of ȳ
template <class T, class S = host>  // S defaults so that concat<T>({a, b}) works
var<T, S> concat(const std::vector<var<T, S>>& parts, int axis = 0) {
  std::vector<tensor<T, S>> values;
  values.reserve(parts.size());
  for (const auto& p : parts) values.push_back(p.value());
  tensor<T, S> y = concat(values, axis);
  const int a = normalize_axis("ad::concat", axis, y.rank());
  return make_op(std::move(y), parts, [a, n = static_cast<int>(parts.size())](auto& c) {
    index_t at = 0;
    for (int i = 0; i < n; ++i) {
      const index_t len = c.xv(i).shape()[a];
      if (c.needs(i)) c.acc(i, slice(c.gy(), a, at, at + len));
      at += len;
    }
  });
}

/// y = the parts stacked along a new axis
template <class T, class S = host>  // S defaults so that stack<T>({a, b}) works
var<T, S> stack(const std::vector<var<T, S>>& parts, int axis = 0) {
  if (parts.empty()) throw_invalid_argument("ad::stack", "no variables given");
  std::vector<var<T, S>> u;
  u.reserve(parts.size());
  const int a = normalize_axis("ad::stack", axis, parts[0].rank() + 1);
  for (const auto& p : parts) u.push_back(unsqueeze(p, a));
  return concat(u, a);
}

/// Pieces of x along `axis` with the given sizes.
template <class T, class S>
std::vector<var<T, S>> split(const var<T, S>& x, const std::vector<index_t>& sizes, int axis = 0) {
  (void)split(x.value(), sizes, axis);  // validates
  std::vector<var<T, S>> out;
  index_t at = 0;
  for (index_t s : sizes) {
    out.push_back(slice(x, axis, at, at + s));
    at += s;
  }
  return out;
}

}  // namespace tessera::ad
