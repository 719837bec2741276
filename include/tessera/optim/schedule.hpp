// SPDX-License-Identifier: Apache-2.0
// Learning-rate schedules as small value types: step -> learning rate (constant, cosine
// annealing, step decay, linear warm-up in front of any schedule).
#pragma once

#include <cmath>
#include <concepts>
#include <numbers>
#include <utility>

#include "tessera/core/error.hpp"
#include "tessera/core/shape.hpp"
#include "tessera/core/space.hpp"

namespace tessera::optim {

/// A learning-rate schedule: a copyable value `s` with `s(step)` giving the learning rate for
/// step = 0, 1, 2, ... (use as `opt.set_lr(s(step))` before `opt.step()`).
template <class S>
concept lr_schedule = std::copy_constructible<S> && floating_point_scalar<typename S::value_type> &&
                      requires(const S& s, index_t step) {
                        { s(step) } -> std::same_as<typename S::value_type>;
                      };

namespace detail {
inline void check_step(const char* fn, index_t step) {
  if (step < 0) throw_invalid_argument(fn, "step ", step, " is negative");
}
}  // namespace detail

/// The same learning rate at every step:  η(t) = η₀.
template <floating_point_scalar T>
class constant_schedule {
 public:
  using value_type = T;
  /// @throws tessera::invalid_argument when lr is negative or not finite.
  explicit constant_schedule(T lr) : lr_(lr) {
    if (!(lr >= T(0)) || !std::isfinite(lr))
      throw_invalid_argument("optim::constant_schedule", "lr ", lr,
                             " must be non-negative and finite");
  }
  /// @throws tessera::invalid_argument when step < 0.
  T operator()(index_t step) const {
    detail::check_step("optim::constant_schedule", step);
    return lr_;
  }

 private:
  T lr_;
};

/// Cosine annealing from η₀ down to η_min over T_max steps, then flat at η_min
/// (PyTorch's CosineAnnealingLR closed form, without its periodic continuation):
///
///     η(t) = η_min + (η₀ − η_min) (1 + cos(π t / T_max)) / 2     for 0 ≤ t ≤ T_max
///     η(t) = η_min                                                for t > T_max
template <floating_point_scalar T>
class cosine_annealing {
 public:
  using value_type = T;
  /// @param base_lr η₀ ≥ 0, the value at step 0.
  /// @param t_max T_max > 0, the step at which η_min is reached.
  /// @param eta_min η_min ≥ 0, the final value.
  /// @throws tessera::invalid_argument for negative or non-finite rates or t_max ≤ 0.
  cosine_annealing(T base_lr, index_t t_max, T eta_min = T(0))
      : base_(base_lr), eta_min_(eta_min), t_max_(t_max) {
    if (!(base_lr >= T(0)) || !std::isfinite(base_lr))
      throw_invalid_argument("optim::cosine_annealing", "base_lr ", base_lr,
                             " must be non-negative and finite");
    if (!(eta_min >= T(0)) || !std::isfinite(eta_min))
      throw_invalid_argument("optim::cosine_annealing", "eta_min ", eta_min,
                             " must be non-negative and finite");
    if (t_max <= 0)
      throw_invalid_argument("optim::cosine_annealing", "t_max ", t_max, " must be positive");
  }
  /// @throws tessera::invalid_argument when step < 0.
  T operator()(index_t step) const {
    detail::check_step("optim::cosine_annealing", step);
    if (step >= t_max_) return eta_min_;
    const double c =
        std::cos(std::numbers::pi * static_cast<double>(step) / static_cast<double>(t_max_));
    return static_cast<T>(static_cast<double>(eta_min_) +
                          (static_cast<double>(base_) - static_cast<double>(eta_min_)) * (1.0 + c) /
                              2.0);
  }

 private:
  T base_, eta_min_;
  index_t t_max_;
};

/// Multiplies the rate by γ every `step_size` steps (PyTorch's StepLR):
///
///     η(t) = η₀ · γ^⌊t / step_size⌋
template <floating_point_scalar T>
class step_decay {
 public:
  using value_type = T;
  /// @param base_lr η₀ ≥ 0.
  /// @param step_size steps between decays, > 0.
  /// @param gamma γ ≥ 0, the factor applied at each decay.
  /// @throws tessera::invalid_argument for a negative or non-finite rate or γ, step_size ≤ 0.
  step_decay(T base_lr, index_t step_size, T gamma = T(0.1))
      : base_(base_lr), gamma_(gamma), step_size_(step_size) {
    if (!(base_lr >= T(0)) || !std::isfinite(base_lr))
      throw_invalid_argument("optim::step_decay", "base_lr ", base_lr,
                             " must be non-negative and finite");
    if (!(gamma >= T(0)) || !std::isfinite(gamma))
      throw_invalid_argument("optim::step_decay", "gamma ", gamma,
                             " must be non-negative and finite");
    if (step_size <= 0)
      throw_invalid_argument("optim::step_decay", "step_size ", step_size, " must be positive");
  }
  /// @throws tessera::invalid_argument when step < 0, or when the rate overflows T (a gamma
  ///   above 1 after enough steps).
  T operator()(index_t step) const {
    detail::check_step("optim::step_decay", step);
    const T r = static_cast<T>(
        static_cast<double>(base_) *
        std::pow(static_cast<double>(gamma_), static_cast<double>(step / step_size_)));
    if (!std::isfinite(r))
      throw_invalid_argument("optim::step_decay", "the rate at step ", step, " overflows: ", base_,
                             " × ", gamma_, "^", step / step_size_);
    return r;
  }

 private:
  T base_, gamma_;
  index_t step_size_;
};

/// A linear warm-up of W steps in front of another schedule, which then runs from its own
/// step 0 (the pattern of "linear warm-up, then cosine decay"):
///
///     η(t) = s(0) · (f₀ + (1 − f₀) t / W)     for t < W
///     η(t) = s(t − W)                          for t ≥ W
///
/// so the ramp starts at f₀·s(0) and reaches s(0) exactly at t = W. With W = 0 it is s itself.
template <lr_schedule Schedule>
class linear_warmup {
 public:
  using value_type = typename Schedule::value_type;
  /// @param warmup_steps W ≥ 0.
  /// @param after the schedule that follows the warm-up.
  /// @param start_factor f₀ in [0, 1], the fraction of s(0) used at step 0.
  /// @throws tessera::invalid_argument when W < 0 or f₀ lies outside [0, 1].
  linear_warmup(index_t warmup_steps, Schedule after, value_type start_factor = value_type(0))
      : after_(std::move(after)), start_factor_(start_factor), warmup_(warmup_steps) {
    if (warmup_steps < 0)
      throw_invalid_argument("optim::linear_warmup", "warmup_steps ", warmup_steps, " is negative");
    if (!(start_factor >= value_type(0) && start_factor <= value_type(1)))
      throw_invalid_argument("optim::linear_warmup", "start_factor ", start_factor,
                             " must lie in [0, 1]");
  }
  /// @throws tessera::invalid_argument when step < 0.
  value_type operator()(index_t step) const {
    detail::check_step("optim::linear_warmup", step);
    if (step >= warmup_) return after_(step - warmup_);
    const double f0 = static_cast<double>(start_factor_);
    const double f = f0 + (1.0 - f0) * static_cast<double>(step) / static_cast<double>(warmup_);
    return static_cast<value_type>(static_cast<double>(after_(0)) * f);
  }

 private:
  Schedule after_;
  value_type start_factor_;
  index_t warmup_;
};

}  // namespace tessera::optim
