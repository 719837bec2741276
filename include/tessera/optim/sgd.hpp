// SPDX-License-Identifier: Apache-2.0
// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay
// (PyTorch's torch.optim.SGD semantics).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "tessera/optim/optimizer.hpp"

namespace tessera::optim {

/// Hyper-parameters of sgd; designated initialisers read well: `{.lr = 0.1, .momentum = 0.9}`.
template <floating_point_scalar T>
struct sgd_options {
  T lr = T(1e-3);         ///< learning rate η ≥ 0
  T momentum = T(0);      ///< momentum μ ≥ 0 (0: plain SGD, no buffer)
  T dampening = T(0);     ///< dampening τ of the gradient entering the buffer, in [0, 1]
  T weight_decay = T(0);  ///< L2 penalty λ ≥ 0, added to the gradient
  bool nesterov = false;  ///< Nesterov momentum (needs μ > 0 and τ = 0)
  /// cuda: keep the learning rate in device memory, so that a step captured into a CUDA graph
  /// follows set_lr on every replay. Ignored on the host.
  bool capturable = false;
};

namespace detail {

/// The scalars of one SGD update: η, λ, μ and 1 − τ.
template <class T>
struct sgd_coefficients {
  T lr, wd, mu, keep;
};

/// Elements [lo, hi) of one SGD update (b, the momentum buffer, is unused without momentum).
/// The flags are std::bool_constant tags; restrict-qualified pointer parameters let the loop
/// vectorise.
template <class T, class L2, class Momentum, class First, class Nesterov>
void sgd_kernel(L2, Momentum, First, Nesterov, T* TESSERA_RESTRICT p, const T* TESSERA_RESTRICT g,
                T* TESSERA_RESTRICT b, index_t lo, index_t hi, const sgd_coefficients<T> c) {
  const T lr = c.lr, wd = c.wd, mu = c.mu, keep = c.keep;
  for (index_t k = lo; k < hi; ++k) {
    T d = g[k];
    if constexpr (L2::value) d += wd * p[k];
    if constexpr (Momentum::value) {
      T bk;
      if constexpr (First::value)
        bk = d;
      else
        bk = mu * b[k] + keep * d;
      b[k] = bk;
      if constexpr (Nesterov::value)
        d += mu * bk;
      else
        d = bk;
    }
    p[k] -= lr * d;
  }
}

}  // namespace detail

/// One fused SGD step of a cuda parameter (defined in cuda/optim.cuh; declared here so sgd can
/// call it for Space = cuda in a .cu file): sgd_kernel's update with the same flags. With
/// `lr_device` (one double in device memory) the kernel reads η there instead of c.lr.
template <class T>
void sgd_update_(const tensor<T, cuda>& p, const tensor<T, cuda>& g, const tensor<T, cuda>& buf,
                 const detail::sgd_coefficients<T>& c, bool l2, bool momentum, bool first,
                 bool nesterov, const double* lr_device = nullptr);

/// Stochastic gradient descent, with PyTorch's update rule. For each parameter p with grad g,
/// at its t-th update (t = 1, 2, ...):
///
///     g ← g + λ p                                  (if λ ≠ 0)
///     b ← g                                        (t = 1; if μ ≠ 0)
///     b ← μ b + (1 − τ) g                          (t > 1; if μ ≠ 0)
///     g ← g + μ b  (Nesterov)   or   g ← b          (if μ ≠ 0)
///     p ← p − η g
///
/// The buffer b is created at a parameter's first update. The grad tensor is not modified.
/// `sgd<T, cuda>` (in a .cu file) runs one kernel per parameter.
template <floating_point_scalar T, class Space = host>
class sgd final : public optimizer<T, Space> {
 public:
  /// @param slots the parameters to update (see param_slot).
  /// @param options hyper-parameters.
  /// @throws tessera::invalid_argument for a negative or non-finite lr, momentum or
  ///         weight_decay, a dampening outside [0, 1], Nesterov without momentum or with
  ///         dampening, or a bad slot (null/undefined/non-contiguous value, grad shape mismatch,
  ///         a value listed twice).
  explicit sgd(std::vector<param_slot<T, Space>> slots, const sgd_options<T>& options = {})
      : optimizer<T, Space>("optim::sgd", "optim::sgd::step", std::move(slots), options.lr),
        momentum_(options.momentum),
        dampening_(options.dampening),
        weight_decay_(options.weight_decay),
        nesterov_(options.nesterov),
        capturable_(options.capturable && !std::is_same_v<Space, host>),
        buffers_(this->slots_.size()) {
    detail::check_nonnegative("optim::sgd", "momentum", momentum_);
    detail::check_nonnegative("optim::sgd", "weight_decay", weight_decay_);
    if (!(dampening_ >= T(0) && dampening_ <= T(1)))
      throw_invalid_argument("optim::sgd", "dampening ", dampening_, " must lie in [0, 1]");
    if (nesterov_ && (momentum_ <= T(0) || dampening_ != T(0)))
      throw_invalid_argument("optim::sgd", "nesterov needs momentum > 0 and dampening 0 (got ",
                             "momentum ", momentum_, ", dampening ", dampening_, ")");
    if (capturable_) {
      lr_device_ = tensor<double, Space>(shape_t{1});
      lr_device_.fill_(static_cast<double>(this->lr_));
    }
  }

  /// As the vector overload; lets `sgd<float> opt({{&w, &gw}});` resolve without ambiguity.
  explicit sgd(std::initializer_list<param_slot<T, Space>> slots,
               const sgd_options<T>& options = {})
      : sgd(std::vector<param_slot<T, Space>>(slots), options) {}

  sgd(sgd&&) noexcept = default;
  sgd& operator=(sgd&&) noexcept = default;

  void step() override {
    for (std::size_t i = 0; i < this->slots_.size(); ++i) {
      const param_slot<T, Space>& s = this->slots_[i];
      detail::check_slot("optim::sgd::step", i, s);
      if (!detail::has_grad(s)) continue;
      update(i, s);
    }
  }

  /// The momentum buffer of parameter i (undefined before its first update or when μ = 0).
  [[nodiscard]] const tensor<T, Space>& momentum_buffer(std::size_t i) const {
    return buffers_.at(i);
  }

  /// Whether the learning rate lives in device memory (sgd_options::capturable on cuda).
  [[nodiscard]] bool capturable() const noexcept { return capturable_; }

 private:
  /// A capturable optimizer's device-side learning rate may not be set inside a capture: the
  /// fill would be replayed by every launch, undoing set_lr calls between replays.
  void lr_changed() override {
    if (!capturable_) return;
    if (detail::capturing_now<Space>())
      throw_invalid_argument(this->name_, "set_lr(", this->lr_,
                             ") while the current stream is being captured into a CUDA graph: "
                             "every replay would reset the learning rate; call set_lr between "
                             "replays");
    lr_device_.fill_(static_cast<double>(this->lr_));
  }

  void update(std::size_t i, const param_slot<T, Space>& s) {
    const tensor<T, Space> grad = s.grad->contiguous();  // a handle copy unless strided
    const detail::sgd_coefficients<T> c{
        .lr = this->lr_, .wd = weight_decay_, .mu = momentum_, .keep = T(1) - dampening_};
    bool first = false;
    if (momentum_ != T(0)) {
      tensor<T, Space>& buf = buffers_[i];
      this->check_state_shape(i, buf);
      first = !buf.defined();
      if (first) {
        // A buffer created in a capture would restart from the gradient at every replay.
        detail::check_not_capturing<Space>("optim::sgd::step", "creating the momentum buffer", i);
        buf = tensor<T, Space>(s.value->shape());
      }
    }
    if constexpr (!std::is_same_v<Space, host>) {
      optim::sgd_update_(*s.value, grad, buffers_[i], c, weight_decay_ != T(0), momentum_ != T(0),
                         first, nesterov_, capturable_ ? lr_device_.data() : nullptr);
    } else {
      update_host(s, grad, c, first, momentum_ != T(0) ? buffers_[i].data() : nullptr);
    }
  }

  void update_host(const param_slot<T, Space>& s, const tensor<T, Space>& grad,
                   const detail::sgd_coefficients<T>& c, bool first, T* b) {
    T* p = s.value->data();
    const T* g = grad.data();
    const index_t n = s.value->numel();
    auto run = [&](auto... flags) {
      detail::elementwise(
          n, 1, [&](index_t lo, index_t hi) { detail::sgd_kernel(flags..., p, g, b, lo, hi, c); });
    };
    const std::false_type no;
    const std::true_type yes;
    if (momentum_ == T(0))
      detail::dispatch_flags([&](auto l2) { run(l2, no, no, no); }, weight_decay_ != T(0));
    else
      detail::dispatch_flags(
          [&](auto l2, auto is_first, auto nesterov) { run(l2, yes, is_first, nesterov); },
          weight_decay_ != T(0), first, nesterov_);
  }

  T momentum_, dampening_, weight_decay_;
  bool nesterov_;
  bool capturable_;
  std::vector<tensor<T, Space>> buffers_;
  tensor<double, Space> lr_device_;  // capturable: the learning rate, one double
};

}  // namespace tessera::optim
