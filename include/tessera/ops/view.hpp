// SPDX-License-Identifier: Apache-2.0
// Free-function forms of tensor's view methods, so generic code (AD rules that run on tensors
// and on ad::var alike) can call reshape(x, s), expand(x, s), transpose(x, a, b), ... Every
// space: views are metadata.
#pragma once

#include "tessera/core/tensor.hpp"

namespace tessera {

/// x.reshape(shape)
template <class T, class S>
tensor<T, S> reshape(const tensor<T, S>& x, const shape_t& shape) {
  return x.reshape(shape);
}
/// x.expand(shape)
template <class T, class S>
tensor<T, S> expand(const tensor<T, S>& x, const shape_t& shape) {
  return x.expand(shape);
}
/// x.transpose(a, b)
template <class T, class S>
tensor<T, S> transpose(const tensor<T, S>& x, int a, int b) {
  return x.transpose(a, b);
}
/// x.permute(order)
template <class T, class S>
tensor<T, S> permute(const tensor<T, S>& x, const shape_t& order) {
  return x.permute(order);
}
/// x.slice(axis, start, stop, step)
template <class T, class S>
tensor<T, S> slice(const tensor<T, S>& x, int axis, index_t start, index_t stop, index_t step = 1) {
  return x.slice(axis, start, stop, step);
}
/// x.unsqueeze(axis)
template <class T, class S>
tensor<T, S> unsqueeze(const tensor<T, S>& x, int axis) {
  return x.unsqueeze(axis);
}
/// x.squeeze(axis)
template <class T, class S>
tensor<T, S> squeeze(const tensor<T, S>& x, int axis) {
  return x.squeeze(axis);
}

/// Zeros of `shape` with `g` written into the elements that x.slice(axis, start, start +
/// g.size(axis)·step, step) would view (the adjoint of slice). Any space: only fill_, views
/// and copy_from.
template <class T, class S>
tensor<T, S> slice_scatter(const tensor<T, S>& g, const shape_t& shape, int axis, index_t start,
                           index_t step) {
  tensor<T, S> out(shape);
  out.fill_(T(0));
  const index_t n = g.shape()[axis];
  // Nothing to write for an empty slice; start + (n - 1)·step + 1 could even be negative then
  // and count from the end.
  if (n == 0) return out;
  out.slice(axis, start, start + (n - 1) * step + 1, step).copy_from(g);
  return out;
}

}  // namespace tessera
