// SPDX-License-Identifier: Apache-2.0
// optimizer<T>: the interface shared by the first-order optimizers (slots, lr, step, zero_grad).
#pragma once

#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/optim/param.hpp"

namespace tessera::optim {

namespace detail {

/// @throws tessera::invalid_argument naming `fn` unless 0 <= v < inf.
template <class T>
void check_nonnegative(const char* fn, const char* what, T v) {
  if (!(v >= T(0)) || !std::isfinite(v))
    throw_invalid_argument(fn, what, " ", v, " must be non-negative and finite");
}

/// @throws tessera::invalid_argument naming `fn` unless 0 <= v < 1.
template <class T>
void check_unit_interval(const char* fn, const char* what, T v) {
  if (!(v >= T(0) && v < T(1))) throw_invalid_argument(fn, what, " ", v, " must lie in [0, 1)");
}

/// Throws tessera::invalid_argument naming `fn`, `what` and parameter `i` when the calling
/// thread's current stream of Space is being captured into a CUDA graph: optimizer state
/// (moments, momentum buffers) created inside a capture would be created again, zeroed, by
/// every replay, and reading state back synchronises. Nothing to check on the host; defined
/// for cuda in cuda/optim.cuh.
template <class Space>
void check_not_capturing(const char* fn, const char* what, std::size_t i);
template <>
inline void check_not_capturing<host>(const char*, const char*, std::size_t) {}

/// Whether the calling thread's current stream of Space is being captured into a CUDA graph
/// (never on the host; defined for cuda in cuda/optim.cuh).
template <class Space>
bool capturing_now();
template <>
inline bool capturing_now<host>() {
  return false;
}

}  // namespace detail

/// A first-order optimizer over a fixed list of parameter slots with one learning rate.
///
/// Usage per iteration: fill the grads (backward pass), call step(), then zero_grad() (or let
/// the next backward pass overwrite the grads). The learning rate may change between steps
/// (set_lr, e.g. from a schedule in <tessera/optim/schedule.hpp>). Optimizers own per-parameter
/// state and are move-only: a copy would share that state's storage. Space is where the
/// parameters live (host or cuda).
template <floating_point_scalar T, class Space = host>
class optimizer {
 public:
  using value_type = T;
  using space_type = Space;

  virtual ~optimizer() = default;
  optimizer(const optimizer&) = delete;
  optimizer& operator=(const optimizer&) = delete;

  /// Updates every parameter whose grad is defined, in place; others are skipped.
  /// @throws tessera::invalid_argument when a value is not contiguous, a grad's shape differs
  ///         from its value's, or a value's shape changed since the state was created.
  virtual void step() = 0;

  /// Sets every defined grad to zero.
  void zero_grad() const { optim::zero_grad(slots_); }

  /// The current learning rate.
  [[nodiscard]] T lr() const noexcept { return lr_; }

  /// Sets the learning rate for the following steps.
  /// @throws tessera::invalid_argument when lr is negative or not finite.
  void set_lr(T lr) {
    detail::check_nonnegative(name_, "lr", lr);
    const T old = lr_;
    lr_ = lr;
    try {
      lr_changed();
    } catch (...) {
      lr_ = old;  // nothing changed
      throw;
    }
  }

  /// The parameter slots, in construction order.
  [[nodiscard]] const std::vector<param_slot<T, Space>>& slots() const noexcept { return slots_; }

 protected:
  /// @throws tessera::invalid_argument naming `name` for a bad lr or slot.
  optimizer(const char* name, const char* step_name, std::vector<param_slot<T, Space>> slots, T lr)
      : slots_(std::move(slots)), lr_(lr), name_(name), step_name_(step_name) {
    detail::check_nonnegative(name_, "lr", lr);
    detail::check_slots(name_, slots_);
  }
  optimizer(optimizer&&) noexcept = default;
  optimizer& operator=(optimizer&&) noexcept = default;

  /// Called by set_lr after lr_ changed (capturable cuda optimizers copy it to the device).
  virtual void lr_changed() {}

  /// Checks that per-parameter state created with `shape` still fits slot `i`'s value.
  void check_state_shape(std::size_t i, const tensor<T, Space>& state) const {
    if (state.defined() && !(state.shape() == slots_[i].value->shape()))
      throw_invalid_argument(step_name_, "parameter ", i, ": value shape changed from ",
                             state.shape().str(), " to ", slots_[i].value->shape().str(),
                             " after the optimizer state was created");
  }

  std::vector<param_slot<T, Space>> slots_;
  T lr_;
  const char* name_;       // "optim::<name>", for constructor and set_lr errors
  const char* step_name_;  // "optim::<name>::step"
};

}  // namespace tessera::optim
