// SPDX-License-Identifier: Apache-2.0
// ad::var (a tensor-valued variable on the tape), its storage vari, and ad::parameter (a
// variable whose value and gradient outlive tape scopes).
#pragma once

#include <memory>
#include <type_traits>
#include <vector>

#include "tessera/ad/tape.hpp"
#include "tessera/core/creation.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::ad {

namespace detail {
/// A tensor of `shape` in space S filled with `value`: zeros/ones/full for the host, and the
/// space's own fill_ elsewhere (so this header needs no cuda declaration).
template <class T, class S>
tensor<T, S> filled(const shape_t& shape, T value) {
  if constexpr (std::is_same_v<S, host>) {
    return tessera::full<T>(shape, value);
  } else {
    tensor<T, S> t(shape);
    t.fill_(value);
    return t;
  }
}
}  // namespace detail

/// Storage of one variable: value, first-order adjoint, and (during a create-graph sweep)
/// the differentiable adjoint. Space is where the tensors live (host or cuda); the tape
/// itself, its nodes and the rules' bookkeeping are always host objects.
template <class T, class Space = host>
struct vari final : tape_object {
  vari(tensor<T, Space> v, bool rg) : value(std::move(v)), requires_grad(rg) {}
  tensor<T, Space> value;
  tensor<T, Space> adj;       // undefined until a reverse sweep reaches this variable
  vari* adj_graph = nullptr;  // differentiable adjoint during grad_graph()
  bool requires_grad;
  bool leaf = true;  // false for an op's output (detail::record)
};

/// A handle to a tensor-valued variable on this thread's tape. Copying copies the handle.
/// A var lives until the ad::scope it was created in ends; using it afterwards is undefined.
/// `var<T>` is a host variable; `var<T, cuda>` holds cuda tensors (in a .cu file) and runs
/// every rule with the cuda ops.
template <class T, class Space = host>
class var {
  static_assert(floating_point_scalar<T>,
                "ad::var holds float or double tensors: the tape has no rules for 16-bit "
                "(__nv_bfloat16/__half) storage; cast<float> the values first");

 public:
  using value_type = T;
  using space_type = Space;

  var() = default;
  /// Wraps existing storage (used by the library and custom ops).
  explicit var(vari<T, Space>* impl) noexcept : vi_(impl) {}
  /// A new variable on the current tape; requires_grad makes it a leaf gradients flow to.
  var(const tensor<T, Space>& value, bool requires_grad = false)  // NOLINT: implicit constants
      : vi_(current_tape().make<vari<T, Space>>(value, requires_grad)) {}

  [[nodiscard]] bool defined() const noexcept { return vi_ != nullptr; }
  [[nodiscard]] vari<T, Space>* impl() const noexcept { return vi_; }
  /// The value, shape, rank, … of a defined variable.
  /// @throws tessera::invalid_argument for an undefined (default-constructed) variable.
  [[nodiscard]] const tensor<T, Space>& value() const { return checked().value; }
  [[nodiscard]] const shape_t& shape() const { return checked().value.shape(); }
  [[nodiscard]] int rank() const { return checked().value.rank(); }
  [[nodiscard]] index_t numel() const { return checked().value.numel(); }
  [[nodiscard]] index_t size(int axis) const { return checked().value.size(axis); }
  [[nodiscard]] bool requires_grad() const { return checked().requires_grad; }
  /// The single value of a one-element host variable (cuda: go through to<host>(value())).
  [[nodiscard]] T item() const
    requires std::is_same_v<Space, host>
  {
    return checked().value.item();
  }
  /// The accumulated gradient (zeros when no reverse sweep reached this variable).
  [[nodiscard]] tensor<T, Space> grad() const {
    const vari<T, Space>& v = checked();
    return v.adj.defined() ? v.adj : detail::filled<T, Space>(v.value.shape(), T(0));
  }

 private:
  const vari<T, Space>& checked() const {
    if (vi_ == nullptr)
      throw_invalid_argument("ad::var", "the variable is undefined (default-constructed); ",
                             "ops and gradients need one made from a tensor");
    return *vi_;
  }
  vari<T, Space>* vi_ = nullptr;
};

/// A constant (no gradient) variable holding `value`.
template <class T, class S>
var<T, S> constant(const tensor<T, S>& value) {
  return var<T, S>(value, false);
}

/// A trainable variable whose value and gradient live outside any tape scope, so a training
/// step can be "open a scope, compute, backward, step, drop the scope". Gradients accumulate
/// across reverse sweeps until zero_grad(). Move-only; the handle stays valid when moved.
template <class T, class Space = host>
class parameter {
 public:
  using value_type = T;  // as var<T>, so wrt(p) and generic code accept parameters
  using space_type = Space;

  explicit parameter(tensor<T, Space> init)
      : vi_(std::make_unique<vari<T, Space>>(init.clone(), true)) {}
  parameter(parameter&&) noexcept = default;
  parameter& operator=(parameter&&) noexcept = default;

  /// The parameter's value, updated in place by optimizers.
  [[nodiscard]] tensor<T, Space>& value() noexcept { return vi_->value; }
  [[nodiscard]] const tensor<T, Space>& value() const noexcept { return vi_->value; }
  /// The accumulated gradient; undefined until a sweep reaches the parameter.
  [[nodiscard]] tensor<T, Space>& grad() noexcept { return vi_->adj; }
  [[nodiscard]] const tensor<T, Space>& grad() const noexcept { return vi_->adj; }
  [[nodiscard]] const shape_t& shape() const noexcept { return vi_->value.shape(); }
  [[nodiscard]] index_t numel() const noexcept { return vi_->value.numel(); }
  /// Sets the gradient to zero (keeping its storage).
  void zero_grad() {
    if (vi_->adj.defined()) vi_->adj.fill_(T(0));
  }
  /// The variable to use in a computation.
  [[nodiscard]] var<T, Space> operator()() const noexcept { return var<T, Space>(vi_.get()); }
  operator var<T, Space>() const noexcept {  // NOLINT: intended
    return var<T, Space>(vi_.get());
  }

 private:
  std::unique_ptr<vari<T, Space>> vi_;
};

}  // namespace tessera::ad
