// SPDX-License-Identifier: Apache-2.0
// Differentiable softmax, log-softmax, layer norm, RMS norm, indexing (index_select, gather,
// embedding) and losses (cross-entropy, MSE) on ad::var.
#pragma once

#include "tessera/ad/reduce.hpp"
#include "tessera/ops/loss.hpp"

namespace tessera::ad {

/// y = softmax(x) along `axis`;  x̄ += y·(ȳ - Σ(ȳ·y))
template <class T, class S>
var<T, S> softmax(const var<T, S>& x, int axis = -1) {
  const int a = normalize_axis("ad::softmax", axis, x.rank());
  return make_op(softmax(x.value(), a), {x}, [a](auto& c) {
    const auto gy = c.gy();
    const auto y = c.y();
    c.acc(0, y * (gy - sum(gy * y, shape_t{a}, true)));
  });
}
/// y = log_softmax(x) along `axis`;  x̄ += ȳ - eʸ·Σȳ
template <class T, class S>
var<T, S> log_softmax(const var<T, S>& x, int axis = -1) {
  const int a = normalize_axis("ad::log_softmax", axis, x.rank());
  return make_op(log_softmax(x.value(), a), {x}, [a](auto& c) {
    const auto gy = c.gy();
    c.acc(0, gy - exp(c.y()) * sum(gy, shape_t{a}, true));
  });
}

namespace detail {
/// The checks of layer_norm and rms_norm on variables: x of rank ≥ 1, each defined affine
/// variable of shape (D) for x's last extent D, eps ≥ 0; messages name `fn` and x's shape.
template <class T, class S>
void check_norm_args(const char* fn, const var<T, S>& x,
                     std::initializer_list<const var<T, S>*> affine, T eps) {
  if (x.rank() == 0) throw_invalid_argument(fn, "x must have rank at least 1");
  const index_t D = x.size(-1);
  for (const var<T, S>* p : affine)
    if (p->defined() && !(p->shape() == shape_t{D}))
      throw_invalid_argument(fn, "weight/bias shape ", p->shape().str(), " must be (", D,
                             ") for x of shape ", x.shape().str());
  if (!(eps >= T(0))) throw_invalid_argument(fn, "eps ", eps, " must be >= 0");
}
}  // namespace detail

/// Layer norm over the last axis, (x - μ)/√(σ² + eps)·w + b (w, b optional: pass undefined
/// vars). Composed from differentiable ops, so it has gradients of any order.
template <class T, class S>
var<T, S> layer_norm(const var<T, S>& x, const var<T, S>& weight, const var<T, S>& bias,
                     T eps = T(1e-5)) {
  detail::check_norm_args("ad::layer_norm", x, {&weight, &bias}, eps);
  const var<T, S> d = x - mean(x, shape_t{-1}, true);
  var<T, S> y = d * rsqrt(mean(square(d), shape_t{-1}, true) + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}
/// RMS norm over the last axis, x/√(mean(x²) + eps)·w (w optional).
template <class T, class S>
var<T, S> rms_norm(const var<T, S>& x, const var<T, S>& weight, T eps = T(1e-6)) {
  detail::check_norm_args("ad::rms_norm", x, {&weight}, eps);
  var<T, S> y = x * rsqrt(mean(square(x), shape_t{-1}, true) + eps);
  if (weight.defined()) y = y * weight;
  return y;
}

namespace detail {
template <class T, class S>
var<T, S> index_add_var(const shape_t& shape, int axis, const tensor<index_t, S>& index,
                        const var<T, S>& src);
template <class T, class S>
var<T, S> scatter_add_var(const shape_t& shape, int axis, const tensor<index_t, S>& index,
                          const var<T, S>& src);
}  // namespace detail

/// y = x rows `index` along `axis`;  x̄ += ȳ rows added back at `index`
template <class T, class S>
var<T, S> index_select(const var<T, S>& x, int axis, const tensor<index_t, S>& index) {
  const int a = normalize_axis("ad::index_select", axis, x.rank());
  return make_op(index_select(x.value(), a, index), {x}, [a, index](auto& c) {
    if constexpr (std::decay_t<decltype(c)>::graph)
      c.acc(0, detail::index_add_var(c.xv(0).shape(), a, index, c.gy()));
    else
      c.acc(0, index_add(c.xv(0).shape(), a, index, c.gy()));
  });
}
/// y = torch.gather(x, axis, index);  x̄ += scatter_add(ȳ)
template <class T, class S>
var<T, S> gather(const var<T, S>& x, int axis, const tensor<index_t, S>& index) {
  const int a = normalize_axis("ad::gather", axis, x.rank());
  return make_op(gather(x.value(), a, index), {x}, [a, index](auto& c) {
    if constexpr (std::decay_t<decltype(c)>::graph)
      c.acc(0, detail::scatter_add_var(c.xv(0).shape(), a, index, c.gy()));
    else
      c.acc(0, scatter_add(c.xv(0).shape(), a, index, c.gy()));
  });
}

namespace detail {
/// y = zeros(shape) with src rows added at index;  src̄ += index_select(ȳ)
template <class T, class S>
var<T, S> index_add_var(const shape_t& shape, int axis, const tensor<index_t, S>& index,
                        const var<T, S>& src) {
  return make_op(index_add(shape, axis, index, src.value()), {src},
                 [axis, index](auto& c) { c.acc(0, index_select(c.gy(), axis, index)); });
}
/// y = zeros(shape) with src scattered at index;  src̄ += gather(ȳ)
template <class T, class S>
var<T, S> scatter_add_var(const shape_t& shape, int axis, const tensor<index_t, S>& index,
                          const var<T, S>& src) {
  return make_op(scatter_add(shape, axis, index, src.value()), {src},
                 [axis, index](auto& c) { c.acc(0, gather(c.gy(), axis, index)); });
}
}  // namespace detail

/// Embedding lookup weight (V, D), ids (any shape) → (ids..., D).
template <class T, class S>
var<T, S> embedding(const var<T, S>& weight, const tensor<index_t, S>& ids) {
  if (weight.rank() != 2)
    throw_invalid_argument("ad::embedding", "weight must have rank 2, got shape ",
                           weight.shape().str());
  if constexpr (std::is_same_v<S, host>) {  // (on cuda the gather checks its indices)
    const tensor<index_t> flat_ids = ids.contiguous().flatten();
    for (index_t k = 0; k < flat_ids.numel(); ++k)
      if (const index_t id = flat_ids.data()[k]; id < 0 || id >= weight.size(0))
        throw_invalid_argument("ad::embedding", "id ", id, " is out of range for weight of shape ",
                               weight.shape().str());
  }
  shape_t out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  return reshape(index_select(weight, 0, ids.contiguous().flatten()), out_shape);
}

/// Mean cross-entropy of logits (N, C) against class ids (N,):
/// -mean(log_softmax(logits)[i, target_i]).
template <class T, class S>
var<T, S> cross_entropy(const var<T, S>& logits, const tensor<index_t, S>& target) {
  if (logits.rank() != 2 || target.rank() != 1 || target.size(0) != logits.size(0))
    throw_invalid_argument("ad::cross_entropy", "logits shape ", logits.shape().str(),
                           " and target shape ", target.shape().str(), " must be (N, C) and (N,)");
  // On cuda the gather below checks the ids on the device (cuda_rt::set_check_indices).
  if constexpr (std::is_same_v<S, host>)
    for (index_t i = 0; i < target.numel(); ++i)
      if (target(i) < 0 || target(i) >= logits.size(1))
        throw_invalid_argument("ad::cross_entropy", "target[", i, "] = ", target(i),
                               " is out of range for ", logits.size(1), " classes");
  const var<T, S> lp = log_softmax(logits, 1);
  return -mean(gather(lp, 1, target.reshape(shape_t{target.numel(), 1})));
}

/// Mean squared error mean((pred - target)²); target broadcasts to pred.
/// @throws tessera::invalid_argument when target does not broadcast to pred's shape (as
///   tessera::mse_loss; a target broadcasting pred up averaged over the larger shape).
template <class T, class S>
var<T, S> mse_loss(const var<T, S>& pred, const var<T, S>& target) {
  if (!(broadcast_shapes("ad::mse_loss", pred.shape(), target.shape()) == pred.shape()))
    throw_invalid_argument("ad::mse_loss", "target shape ", target.shape().str(),
                           " does not broadcast to pred shape ", pred.shape().str());
  return mean(square(pred - target));
}

}  // namespace tessera::ad
