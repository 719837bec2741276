// SPDX-License-Identifier: Apache-2.0
// ad::var (a tensor-valued variable on the tape), its storage vari, and ad::parameter (a
// variable whose value and gradient outlive tape scopes).
#pragma once

#include <memory>
#include <vector>

#include "tessera/ad/tape.hpp"
#include "tessera/core/creation.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::ad {

/// Storage of one variable: value, first-order adjoint, and (during a create-graph sweep)
/// the differentiable adjoint.
template <class T>
struct vari final : tape_object {
  vari(tensor<T> v, bool rg) : value(std::move(v)), requires_grad(rg) {}
  tensor<T> value;
  tensor<T> adj;              // undefined until a reverse sweep reaches this variable
  vari* adj_graph = nullptr;  // differentiable adjoint during grad_graph()
  bool requires_grad;
};

/// A handle to a tensor-valued variable on this thread's tape. Copying copies the handle.
/// A var lives until the ad::scope it was created in ends; using it afterwards is undefined.
template <class T>
class var {
 public:
  using value_type = T;

  var() = default;
  /// Wraps existing storage (used by the library and custom ops).
  explicit var(vari<T>* impl) noexcept : vi_(impl) {}
  /// A new variable on the current tape; requires_grad makes it a leaf gradients flow to.
  var(const tensor<T>& value, bool requires_grad = false)  // NOLINT: implicit for constants
      : vi_(current_tape().make<vari<T>>(value, requires_grad)) {}

  [[nodiscard]] bool defined() const noexcept { return vi_ != nullptr; }
  [[nodiscard]] vari<T>* impl() const noexcept { return vi_; }
  [[nodiscard]] const tensor<T>& value() const noexcept { return vi_->value; }
  [[nodiscard]] const shape_t& shape() const noexcept { return vi_->value.shape(); }
  [[nodiscard]] int rank() const noexcept { return vi_->value.rank(); }
  [[nodiscard]] index_t numel() const noexcept { return vi_->value.numel(); }
  [[nodiscard]] index_t size(int axis) const { return vi_->value.size(axis); }
  [[nodiscard]] bool requires_grad() const noexcept { return vi_->requires_grad; }
  /// The single value of a one-element variable.
  [[nodiscard]] T item() const { return vi_->value.item(); }
  /// The accumulated gradient (zeros when no reverse sweep reached this variable).
  [[nodiscard]] tensor<T> grad() const {
    return vi_->adj.defined() ? vi_->adj : zeros<T>(vi_->value.shape());
  }

 private:
  vari<T>* vi_ = nullptr;
};

/// A constant (no gradient) variable holding `value`.
template <class T>
var<T> constant(const tensor<T>& value) {
  return var<T>(value, false);
}

/// A trainable variable whose value and gradient live outside any tape scope, so a training
/// step can be "open a scope, compute, backward, step, drop the scope". Gradients accumulate
/// across reverse sweeps until zero_grad(). Move-only; the handle stays valid when moved.
template <class T>
class parameter {
 public:
  using value_type = T;  // as var<T>, so wrt(p) and generic code accept parameters

  explicit parameter(tensor<T> init) : vi_(std::make_unique<vari<T>>(init.clone(), true)) {}
  parameter(parameter&&) noexcept = default;
  parameter& operator=(parameter&&) noexcept = default;

  /// The parameter's value, updated in place by optimizers.
  [[nodiscard]] tensor<T>& value() noexcept { return vi_->value; }
  [[nodiscard]] const tensor<T>& value() const noexcept { return vi_->value; }
  /// The accumulated gradient; undefined until a sweep reaches the parameter.
  [[nodiscard]] tensor<T>& grad() noexcept { return vi_->adj; }
  [[nodiscard]] const tensor<T>& grad() const noexcept { return vi_->adj; }
  [[nodiscard]] const shape_t& shape() const noexcept { return vi_->value.shape(); }
  [[nodiscard]] index_t numel() const noexcept { return vi_->value.numel(); }
  /// Sets the gradient to zero (keeping its storage).
  void zero_grad() {
    if (vi_->adj.defined()) vi_->adj.fill_(T(0));
  }
  /// The variable to use in a computation.
  [[nodiscard]] var<T> operator()() const noexcept { return var<T>(vi_.get()); }
  operator var<T>() const noexcept { return var<T>(vi_.get()); }  // NOLINT: intended

 private:
  std::unique_ptr<vari<T>> vi_;
};

}  // namespace tessera::ad
