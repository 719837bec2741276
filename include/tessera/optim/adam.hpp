// SPDX-License-Identifier: Apache-2.0
// Adam with bias correction, optional AMSGrad and L2 weight decay (PyTorch's torch.optim.Adam);
// the shared engine of adam and adamw.
#pragma once

#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/optim/optimizer.hpp"

namespace tessera::optim {

/// Hyper-parameters of adam: `{.lr = 1e-3, .betas = {0.9, 0.999}}`.
template <floating_point_scalar T>
struct adam_options {
  T lr = T(1e-3);                           ///< learning rate η ≥ 0
  std::pair<T, T> betas{T(0.9), T(0.999)};  ///< decay rates β₁, β₂ of the moments, in [0, 1)
  T eps = T(1e-8);                          ///< ε ≥ 0 added to the denominator
  T weight_decay = T(0);                    ///< L2 penalty λ ≥ 0, added to the gradient
  bool amsgrad = false;                     ///< use the running maximum of v (AMSGrad)
  /// cuda: keep each parameter's t and the learning rate in device memory, so that a step
  /// captured into a CUDA graph advances t and follows set_lr on every replay (one more tiny
  /// kernel per parameter and step). Ignored on the host.
  bool capturable = false;
};

/// Per-parameter Adam state: first and second moments, the AMSGrad maximum and the count of
/// updates made to this parameter (its t in the bias corrections).
template <floating_point_scalar T, class Space = host>
struct adam_state {
  tensor<T, Space> exp_avg;         ///< m, undefined before the first update
  tensor<T, Space> exp_avg_sq;      ///< v
  tensor<T, Space> max_exp_avg_sq;  ///< max over updates of v (AMSGrad only)
  index_t step = 0;                 ///< t
};

namespace detail {

/// The scalars of one Adam update of one parameter.
template <class T>
struct adam_coefficients {
  T b1, b2;        // β₁, β₂
  T c1, c2;        // 1 − β₁, 1 − β₂
  T eps, wd;       // ε, λ
  T shrink;        // 1 − ηλ (decoupled decay) or 1
  T step_size;     // η / (1 − β₁ᵗ)
  T inv_sqrt_bc2;  // 1 / √(1 − β₂ᵗ)
};

/// Elements [lo, hi) of one Adam update; the flags are std::bool_constant tags. A separate
/// function with restrict-qualified pointer parameters, so that the compiler may vectorise it
/// (GCC does at -O3 when sqrt need not set errno, i.e. with -fno-math-errno).
template <class T, class L2, class Amsgrad, class Decoupled>
void adam_kernel(L2, Amsgrad, Decoupled, T* TESSERA_RESTRICT p, const T* TESSERA_RESTRICT g,
                 T* TESSERA_RESTRICT m, T* TESSERA_RESTRICT v, T* TESSERA_RESTRICT vmax, index_t lo,
                 index_t hi, const adam_coefficients<T> c) {
  const T b1 = c.b1, b2 = c.b2, c1 = c.c1, c2 = c.c2, eps = c.eps, wd = c.wd;
  const T shrink = c.shrink, step_size = c.step_size, inv_sqrt_bc2 = c.inv_sqrt_bc2;
  for (index_t k = lo; k < hi; ++k) {
    const T pk = p[k];
    T gk = g[k];
    if constexpr (L2::value) gk += wd * pk;
    const T mk = b1 * m[k] + c1 * gk;
    T vk = b2 * v[k] + c2 * gk * gk;
    m[k] = mk;
    v[k] = vk;
    if constexpr (Amsgrad::value) {
      vk = vmax[k] > vk ? vmax[k] : vk;
      vmax[k] = vk;
    }
    const T denom = std::sqrt(vk) * inv_sqrt_bc2 + eps;
    if constexpr (Decoupled::value)
      p[k] = pk * shrink - step_size * mk / denom;
    else
      p[k] = pk - step_size * mk / denom;
  }
}

}  // namespace detail

/// One fused Adam/AdamW step of a cuda parameter (defined in cuda/optim.cuh; declared here so
/// the optimizer classes can call it for Space = cuda in a .cu file).
template <class T>
void adam_update_(const tensor<T, cuda>& p, const tensor<T, cuda>& g, const tensor<T, cuda>& m,
                  const tensor<T, cuda>& v, const tensor<T, cuda>& vmax,
                  const detail::adam_coefficients<T>& c, bool l2, bool amsgrad, bool decoupled);

namespace detail {
/// The capturable form of adam_update_ (defined in cuda/optim.cuh): `record` (device, 4
/// doubles) holds the parameter's t, then η/(1 − β₁ᵗ), 1/√(1 − β₂ᵗ) and 1 − ηλ of its last
/// step; a one-thread kernel advances t and recomputes them from the learning rate at `lr`
/// (device, one double), then the update kernel reads them. Only c's β, ε and λ are used.
template <class T>
void adam_capturable_update_(const tensor<T, cuda>& p, const tensor<T, cuda>& g,
                             const tensor<T, cuda>& m, const tensor<T, cuda>& v,
                             const tensor<T, cuda>& vmax, double* record, const double* lr,
                             const adam_coefficients<T>& c, bool l2, bool amsgrad, bool decoupled);
}  // namespace detail

namespace detail {

/// The Adam update loop shared by adam (Decoupled = false, L2 added to the gradient) and adamw
/// (Decoupled = true, p shrunk by 1 − ηλ before the step). One pass over each parameter: a
/// parallel host loop, or one kernel (adam_update_) on cuda.
template <floating_point_scalar T, bool Decoupled, class Space = host>
class adam_family : public optimizer<T, Space> {
 public:
  void step() override {
    for (std::size_t i = 0; i < this->slots_.size(); ++i) {
      const param_slot<T, Space>& s = this->slots_[i];
      detail::check_slot(this->step_name_, i, s);
      if (!detail::has_grad(s)) continue;
      update(i, s);
    }
  }

  /// The state of parameter i (tensor handles, not copies of the moments). For a capturable
  /// cuda optimizer, t is read from the device (one synchronisation; not while capturing).
  [[nodiscard]] adam_state<T, Space> state(std::size_t i) const {
    adam_state<T, Space> st = state_.at(i);
    if constexpr (!std::is_same_v<Space, host>)
      if (capturable_) {
        check_not_capturing<Space>(this->name_, "reading the step count", i);
        st.step =
            static_cast<index_t>(to<host>(records_.select(0, static_cast<index_t>(i))).data()[0]);
      }
    return st;
  }

  /// Replaces the state of parameter i, e.g. to resume from a checkpoint: with st.step = 0
  /// the moments must be undefined (the next update starts them), otherwise m and v (and with
  /// AMSGrad the maximum) must be contiguous tensors of the parameter's shape. The tensors are
  /// taken as they are (not copied).
  /// @throws tessera::invalid_argument for an index out of range, a negative step or tensors
  ///         that do not fit, naming the parameter and the shapes.
  void set_state(std::size_t i, adam_state<T, Space> st) {
    if (i >= state_.size())
      throw_invalid_argument(this->name_, "set_state: parameter ", i, " out of range (",
                             state_.size(), " parameters)");
    const shape_t& shape = this->slots_[i].value->shape();
    const auto fits = [&](const tensor<T, Space>& t) {
      return t.defined() && t.shape() == shape && t.is_contiguous();
    };
    const auto str = [](const tensor<T, Space>& t) {
      return t.defined() ? t.shape().str() : std::string("undefined");
    };
    if (st.step < 0 || st.step == std::numeric_limits<decltype(st.step)>::max())
      throw_invalid_argument(this->name_, "set_state: parameter ", i, ": step ", st.step,
                             st.step < 0 ? " is negative" : " has no next step");
    const bool ok =
        st.step == 0
            ? !st.exp_avg.defined() && !st.exp_avg_sq.defined() && !st.max_exp_avg_sq.defined()
            : fits(st.exp_avg) && fits(st.exp_avg_sq) && (!amsgrad_ || fits(st.max_exp_avg_sq));
    if (!ok)
      throw_invalid_argument(this->name_, "set_state: parameter ", i, " of shape ", shape.str(),
                             " at step ", st.step, ": moments ", str(st.exp_avg), " and ",
                             str(st.exp_avg_sq), amsgrad_ ? ", maximum " : "",
                             amsgrad_ ? str(st.max_exp_avg_sq) : std::string(),
                             st.step == 0 ? " (must be undefined at step 0)"
                                          : " (must be contiguous, of the parameter's shape)");
    if constexpr (std::is_same_v<Space, host>) {
      // A second moment below zero (or NaN) makes every later step NaN: sqrt of it.
      for (const tensor<T, Space>* t : {&st.exp_avg_sq, &st.max_exp_avg_sq}) {
        if (!t->defined()) continue;
        const T* v = t->data();
        for (index_t k = 0; k < t->numel(); ++k)
          if (!(v[k] >= T(0)))
            throw_invalid_argument(this->name_, "set_state: parameter ", i, ": ",
                                   t == &st.exp_avg_sq ? "exp_avg_sq" : "max_exp_avg_sq",
                                   " element ", k, " is ", v[k],
                                   " (a second moment is non-negative)");
      }
    }
    if (capturable_)
      check_not_capturing<Space>(this->name_, "set_state (the replays would reset t)", i);
    if constexpr (!std::is_same_v<Space, host>)
      if (capturable_)  // the device's t; the scalars of the record follow at the next step
        records_.select(0, static_cast<index_t>(i))
            .slice(0, 0, 1)
            .fill_(static_cast<double>(st.step));
    state_[i] = std::move(st);
  }

  /// β₁ and β₂.
  [[nodiscard]] std::pair<T, T> betas() const noexcept { return {beta1_, beta2_}; }

  /// Whether t and the learning rate live in device memory (adam_options::capturable on
  /// cuda; always false on the host).
  [[nodiscard]] bool capturable() const noexcept { return capturable_; }

 protected:
  adam_family(const char* name, const char* step_name, std::vector<param_slot<T, Space>> slots,
              T lr, std::pair<T, T> betas, T eps, T weight_decay, bool amsgrad, bool capturable)
      : optimizer<T, Space>(name, step_name, std::move(slots), lr),
        beta1_(betas.first),
        beta2_(betas.second),
        eps_(eps),
        weight_decay_(weight_decay),
        amsgrad_(amsgrad),
        capturable_(capturable && !std::is_same_v<Space, host>),
        state_(this->slots_.size()) {
    detail::check_unit_interval(name, "beta1", beta1_);
    detail::check_unit_interval(name, "beta2", beta2_);
    detail::check_nonnegative(name, "eps", eps_);
    detail::check_nonnegative(name, "weight_decay", weight_decay_);
    if (capturable_) {
      records_ = tensor<double, Space>(shape_t{static_cast<index_t>(this->slots_.size()), 4});
      records_.fill_(0.0);
      lr_device_ = tensor<double, Space>(shape_t{1});
      lr_device_.fill_(static_cast<double>(this->lr_));
    }
  }
  adam_family(adam_family&&) noexcept = default;
  adam_family& operator=(adam_family&&) noexcept = default;

 private:
  /// A capturable optimizer's device-side learning rate may not be set inside a capture: the
  /// fill would be replayed by every launch, undoing set_lr calls between replays.
  void lr_changed() override {
    if (!capturable_) return;
    if (capturing_now<Space>())
      throw_invalid_argument(this->name_, "set_lr(", this->lr_,
                             ") while the current stream is being captured into a CUDA graph: "
                             "every replay would reset the learning rate; call set_lr between "
                             "replays");
    lr_device_.fill_(static_cast<double>(this->lr_));
  }

  void update(std::size_t i, const param_slot<T, Space>& s) {
    adam_state<T, Space>& st = state_[i];
    this->check_state_shape(i, st.exp_avg);
    const index_t n = s.value->numel();
    if (!st.exp_avg.defined() || (amsgrad_ && !st.max_exp_avg_sq.defined()))
      check_not_capturing<Space>(this->step_name_, "creating the moments", i);
    if (!st.exp_avg.defined()) {
      st.exp_avg = tensor<T, Space>(s.value->shape());
      st.exp_avg_sq = tensor<T, Space>(s.value->shape());
      st.exp_avg.fill_(T(0));
      st.exp_avg_sq.fill_(T(0));
    }
    if (amsgrad_ && !st.max_exp_avg_sq.defined()) {
      st.max_exp_avg_sq = tensor<T, Space>(s.value->shape());
      st.max_exp_avg_sq.fill_(T(0));
    }
    // A capturable optimizer's t lives on the device (state() reads it back).
    const index_t t = capturable_ ? 1 : ++st.step;
    // Bias corrections in double: for β₂ = 0.999 and small t, 1 − β₂ᵗ loses digits in float.
    const double bc1 = 1.0 - std::pow(static_cast<double>(beta1_), static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(static_cast<double>(beta2_), static_cast<double>(t));
    const adam_coefficients<T> c{
        .b1 = beta1_,
        .b2 = beta2_,
        .c1 = T(1) - beta1_,
        .c2 = T(1) - beta2_,
        .eps = eps_,
        .wd = weight_decay_,
        .shrink = Decoupled ? T(1) - this->lr_ * weight_decay_ : T(1),
        .step_size = static_cast<T>(static_cast<double>(this->lr_) / bc1),
        .inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(bc2)),
    };

    const tensor<T, Space> grad = s.grad->contiguous();  // a handle copy unless strided
    const bool use_l2 = !Decoupled && weight_decay_ != T(0);
    if constexpr (!std::is_same_v<Space, host>) {
      (void)n;
      if (capturable_)
        adam_capturable_update_(*s.value, grad, st.exp_avg, st.exp_avg_sq, st.max_exp_avg_sq,
                                records_.data() + 4 * i, lr_device_.data(), c, use_l2, amsgrad_,
                                Decoupled);
      else
        optim::adam_update_(*s.value, grad, st.exp_avg, st.exp_avg_sq, st.max_exp_avg_sq, c, use_l2,
                            amsgrad_, Decoupled);
    } else {
      T* p = s.value->data();
      const T* g = grad.data();
      T* m = st.exp_avg.data();
      T* v = st.exp_avg_sq.data();
      T* vmax = amsgrad_ ? st.max_exp_avg_sq.data() : nullptr;
      detail::dispatch_flags(
          [&](auto l2, auto ams) {
            detail::elementwise(n, 4, [&](index_t lo, index_t hi) {
              adam_kernel(l2, ams, std::bool_constant<Decoupled>{}, p, g, m, v, vmax, lo, hi, c);
            });
          },
          use_l2, amsgrad_);
    }
  }

  T beta1_, beta2_, eps_, weight_decay_;
  bool amsgrad_;
  bool capturable_;
  std::vector<adam_state<T, Space>> state_;
  tensor<double, Space> records_;    // capturable: [parameters, 4] (see adam_capturable_update_)
  tensor<double, Space> lr_device_;  // capturable: the learning rate, one double
};

}  // namespace detail

/// Adam (Kingma & Ba) with PyTorch's update rule. For each parameter p with grad g, at its
/// t-th update (t = 1, 2, ...; m = v = v_max = 0 before the first):
///
///     g ← g + λ p                                   (L2 weight decay, if λ ≠ 0)
///     m ← β₁ m + (1 − β₁) g
///     v ← β₂ v + (1 − β₂) g²
///     v_max ← max(v_max, v)  and use v_max for v   (AMSGrad only)
///     p ← p − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// One fused pass per parameter, parallel over elements for large tensors; `adam<T, cuda>`
/// (in a .cu file) runs one kernel per parameter.
template <floating_point_scalar T, class Space = host>
class adam final : public detail::adam_family<T, false, Space> {
 public:
  /// @param slots the parameters to update (see param_slot).
  /// @param options hyper-parameters.
  /// @throws tessera::invalid_argument for a negative or non-finite lr, eps or weight_decay,
  ///         betas outside [0, 1), or a bad slot.
  explicit adam(std::vector<param_slot<T, Space>> slots, const adam_options<T>& options = {})
      : detail::adam_family<T, false, Space>(
            "optim::adam", "optim::adam::step", std::move(slots), options.lr, options.betas,
            options.eps, options.weight_decay, options.amsgrad, options.capturable) {}
  /// As the vector overload; lets `adam<float> opt({{&w, &gw}});` resolve without ambiguity.
  explicit adam(std::initializer_list<param_slot<T, Space>> slots,
                const adam_options<T>& options = {})
      : adam(std::vector<param_slot<T, Space>>(slots), options) {}
  adam(adam&&) noexcept = default;
  adam& operator=(adam&&) noexcept = default;
};

}  // namespace tessera::optim
