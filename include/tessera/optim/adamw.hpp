// SPDX-License-Identifier: Apache-2.0
// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter; PyTorch's torch.optim.AdamW).
#pragma once

#include <initializer_list>
#include <utility>
#include <vector>

#include "tessera/optim/adam.hpp"

namespace tessera::optim {

/// Hyper-parameters of adamw (as adam_options, but weight decay defaults to 0.01 as in PyTorch).
template <floating_point_scalar T>
struct adamw_options {
  T lr = T(1e-3);                           ///< learning rate η ≥ 0
  std::pair<T, T> betas{T(0.9), T(0.999)};  ///< decay rates β₁, β₂ of the moments, in [0, 1)
  T eps = T(1e-8);                          ///< ε ≥ 0 added to the denominator
  T weight_decay = T(1e-2);                 ///< decoupled decay λ ≥ 0
  bool amsgrad = false;                     ///< use the running maximum of v (AMSGrad)
  bool capturable = false;                  ///< cuda: t and lr on the device (adam_options)
};

/// AdamW with PyTorch's update rule: the decay shrinks the parameter directly instead of
/// entering the gradient (so it is not rescaled by the adaptive denominator). For each
/// parameter p with grad g, at its t-th update:
///
///     p ← p (1 − η λ)
///     m ← β₁ m + (1 − β₁) g
///     v ← β₂ v + (1 − β₂) g²
///     v_max ← max(v_max, v)  and use v_max for v   (AMSGrad only)
///     p ← p − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// One fused pass per parameter, parallel over elements for large tensors (one kernel on cuda).
template <floating_point_scalar T, class Space = host>
class adamw final : public detail::adam_family<T, true, Space> {
 public:
  /// @param slots the parameters to update (see param_slot).
  /// @param options hyper-parameters.
  /// @throws tessera::invalid_argument for a negative or non-finite lr, eps or weight_decay,
  ///         betas outside [0, 1), or a bad slot.
  explicit adamw(std::vector<param_slot<T, Space>> slots, const adamw_options<T>& options = {})
      : detail::adam_family<T, true, Space>(
            "optim::adamw", "optim::adamw::step", std::move(slots), options.lr, options.betas,
            options.eps, options.weight_decay, options.amsgrad, options.capturable) {}
  /// As the vector overload; lets `adamw<float> opt({{&w, &gw}});` resolve without ambiguity.
  explicit adamw(std::initializer_list<param_slot<T, Space>> slots,
                 const adamw_options<T>& options = {})
      : adamw(std::vector<param_slot<T, Space>>(slots), options) {}
  adamw(adamw&&) noexcept = default;
  adamw& operator=(adamw&&) noexcept = default;
};

}  // namespace tessera::optim
