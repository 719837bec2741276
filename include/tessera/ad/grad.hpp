// SPDX-License-Identifier: Apache-2.0
// Reverse sweeps: backward, grad, derivatives(y, wrt(...)), grad_graph (differentiable
// gradients), vjp (a reusable pullback on its own tape) and Hessian-vector products.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/reduce.hpp"
#include "tessera/ad/shape.hpp"

namespace tessera::ad {

namespace detail {

/// Throws tessera::invalid_argument naming `fn` when a variable to differentiate with respect
/// to is undefined (default-constructed).
template <class V>
void check_wrt(const char* fn, const V& x) {
  if (!x.defined())
    throw_invalid_argument(fn, "a variable to differentiate with respect to is undefined ",
                           "(default-constructed)");
}

template <class T, class S>
void check_seed(const char* fn, const var<T, S>& y, const tensor<T, S>& seed) {
  if (!y.defined()) throw_invalid_argument(fn, "the output variable is undefined");
  if (!seed.defined()) {
    if (y.numel() != 1)
      throw_invalid_argument(fn, "output of shape ", y.shape().str(),
                             " is not a scalar; pass a seed (the output's cotangent)");
  } else if (!(seed.shape() == y.shape())) {
    throw_invalid_argument(fn, "seed shape ", seed.shape().str(), " differs from output shape ",
                           y.shape().str());
  }
}

/// First-order sweep over every node of `tp`: clears the adjoints of op outputs, seeds y,
/// and runs the nodes newest first. Leaf adjoints (parameters, requires_grad leaves)
/// accumulate across sweeps; with `targets`, only those leaves' do (sweep_targets).
template <class T, class S>
void sweep(tape& tp, const var<T, S>& y, const tensor<T, S>& seed,
           const std::vector<const tape_object*>* targets = nullptr) {
  const sweep_targets_guard guard(targets);
  const std::size_t n = tp.node_count();
  for (std::size_t i = 0; i < n; ++i) tp.node(i)->clear();
  vari<T, S>* out = y.impl();
  tensor<T, S> s = seed.defined() ? seed.clone() : filled<T, S>(y.shape(), T(1));
  if (out->adj.defined())
    add_(out->adj, s);
  else
    out->adj = std::move(s);
  for (std::size_t i = n; i-- > 0;) tp.node(i)->chain();
}

}  // namespace detail

/// Propagates d(y)/d(·) into the gradients of every leaf y depends on (requires_grad leaves
/// and parameters; they accumulate until cleared). y must be a scalar unless a seed (y's
/// cotangent, same shape) is given.
/// @throws tessera::invalid_argument for a non-scalar y without seed or a mismatched seed.
template <class T, class S>
void backward(const var<T, S>& y, const tensor<T, S>& seed = tensor<T, S>()) {
  detail::check_seed("ad::backward", y, seed);
  if (!y.requires_grad()) return;
  detail::sweep(current_tape(), y, seed);
}

/// The variables to differentiate with respect to, as in `derivatives(y, wrt(a, b))`.
template <class... V>
auto wrt(V&&... v) {
  return std::make_tuple(
      var<typename std::decay_t<V>::value_type, typename std::decay_t<V>::space_type>(v)...);
}

/// The gradients of scalar y with respect to each variable of `xs` (from wrt(...)), as a
/// std::array of tensors in the same order (zeros where y does not depend on one).
/// The wrt variables' stored adjoints are reset first, so earlier sweeps do not leak in, and
/// no other leaf's gradient changes: parameters and requires_grad variables y depends on keep
/// what backward accumulated (as torch.autograd.grad leaves .grad alone).
template <class T, class S, class... V>
std::array<tensor<T, S>, sizeof...(V)> derivatives(const var<T, S>& y, const std::tuple<V...>& xs) {
  detail::check_seed("ad::derivatives", y, tensor<T, S>());
  std::apply([](const auto&... x) { (detail::check_wrt("ad::derivatives", x), ...); }, xs);
  std::apply([](const auto&... x) { ((x.impl()->adj = tensor<T, S>()), ...); }, xs);
  const std::vector<const tape_object*> targets =
      std::apply([](const auto&... x) { return std::vector<const tape_object*>{x.impl()...}; }, xs);
  if (y.requires_grad()) detail::sweep(current_tape(), y, tensor<T, S>(), &targets);
  // Copies, not the adjoints themselves: a leaf's adjoint accumulates in place in later sweeps
  // (backward), and the gradients handed out must not change under the caller.
  return std::apply(
      [](const auto&... x) { return std::array<tensor<T, S>, sizeof...(V)>{x.grad().clone()...}; },
      xs);
}

/// d(y)/d(x) for scalar y.
template <class T, class S>
tensor<T, S> grad(const var<T, S>& y, const var<T, S>& x) {
  return derivatives(y, std::make_tuple(x))[0];
}

namespace detail {
/// Ends a create-graph sweep, normally or by an exception (a custom_vjp op refuses graph
/// mode): forgets the graph adjoints set since `touched_start`, so none dangles once this
/// scope's variables are gone or leaks into the next sweep, and clears the swept nodes.
template <class T, class S>
struct graph_sweep_end {
  tape& tp;
  std::size_t nodes;
  std::size_t touched_start;
  ~graph_sweep_end() {
    auto& touched = graph_touched();
    for (std::size_t i = touched_start; i < touched.size(); ++i)
      static_cast<vari<T, S>*>(touched[i])->adj_graph = nullptr;
    touched.resize(touched_start);
    for (std::size_t i = 0; i < nodes; ++i) tp.node(i)->clear();
  }
};
}  // namespace detail

/// Differentiable gradients (create-graph): returns d(y)/d(xs[i]) as variables recorded on the
/// tape, so they can be differentiated again (gradient penalties, Hessian-vector products,
/// Jacobian regularisation). Leaf adjoints are not touched.
/// @throws tessera::invalid_argument for a non-scalar y without seed or a mismatched seed;
///   tessera::domain_error when the sweep reaches an op without a generic rule (custom_vjp),
///   leaving no graph adjoint behind.
template <class T, class S>
std::vector<var<T, S>> grad_graph(const var<T, S>& y, const std::vector<var<T, S>>& xs,
                                  const tensor<T, S>& seed = tensor<T, S>()) {
  detail::check_seed("ad::grad_graph", y, seed);
  for (const auto& x : xs) detail::check_wrt("ad::grad_graph", x);
  tape& tp = current_tape();
  const std::size_t n = tp.node_count();
  for (std::size_t i = 0; i < n; ++i) tp.node(i)->clear();
  const detail::graph_sweep_end<T, S> end{tp, n, detail::graph_touched().size()};
  std::vector<var<T, S>> out;
  if (y.requires_grad()) {
    y.impl()->adj_graph =
        constant(seed.defined() ? seed : detail::filled<T, S>(y.shape(), T(1))).impl();
    detail::graph_touched().push_back(y.impl());
    for (std::size_t i = n; i-- > 0;) tp.node(i)->chain_graph();
  }
  for (const auto& x : xs) {
    vari<T, S>* g = x.impl()->adj_graph;
    out.push_back(g ? var<T, S>(g) : constant(detail::filled<T, S>(x.shape(), T(0))));
  }
  return out;
}

/// A pullback recorded once and applied many times: the function's computation lives on the
/// pullback's own tape. Calling it with an output cotangent returns the cotangents of every
/// input, in order. Variables the function captured from outside (instead of receiving them
/// as inputs) also receive adjoint contributions, and must outlive the pullback.
/// Thread safety: a call sweeps the pullback's own tape and writes its adjoints, so calls on
/// one pullback take a lock and run one at a time; threads may share it, but they take turns
/// (a pullback per thread runs in parallel).
template <class T, class S = host>
class pullback {
 public:
  pullback() = default;
  pullback(pullback&&) noexcept = default;
  pullback& operator=(pullback&&) noexcept = default;

  /// The function's value at the recorded inputs.
  [[nodiscard]] const tensor<T, S>& value() const { return out_.value(); }

  /// (∂f/∂xᵢ)ᵀ·ȳ for every input i.
  /// @throws tessera::invalid_argument when ȳ's shape differs from the output's.
  std::vector<tensor<T, S>> operator()(const tensor<T, S>& ybar) const {
    detail::check_seed("ad::pullback", out_, ybar);
    const std::lock_guard<std::mutex> lock(*mutex_);
    tape_switch sw(*tape_);
    for (const auto& x : inputs_) x.impl()->adj = tensor<T, S>();
    std::vector<tensor<T, S>> g;
    if (out_.requires_grad()) detail::sweep(*tape_, out_, ybar);
    g.reserve(inputs_.size());
    for (const auto& x : inputs_) g.push_back(x.grad());
    return g;
  }

  template <class F, class... X>
  friend auto vjp(F&& f, const X&... xs);

 private:
  std::unique_ptr<tape> tape_;
  std::unique_ptr<std::mutex> mutex_ = std::make_unique<std::mutex>();  // (movable: on the heap)
  std::vector<var<T, S>> inputs_;
  var<T, S> out_;
};

/// Records y = f(x₁, …, xₙ) (tensors in, an ad::var<T> out) on a private tape and returns
/// the pullback. f receives fresh variables holding copies of the inputs.
template <class F, class... X>
auto vjp(F&& f, const X&... xs) {
  using T = typename std::common_type_t<X...>::value_type;
  using S = typename std::common_type_t<X...>::space_type;
  pullback<T, S> pb;
  pb.tape_ = std::make_unique<tape>();
  tape_switch sw(*pb.tape_);
  (pb.inputs_.push_back(var<T, S>(xs, true)), ...);
  pb.out_ = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return var<T, S>(f(pb.inputs_[I]...));
  }(std::index_sequence_for<X...>{});
  return pb;
}

/// Hessian-vector product H·v of scalar f at x, by differentiating ⟨∇f, v⟩ (reverse over
/// reverse on the create-graph sweep).
template <class T, class S, class F>
tensor<T, S> hvp(F&& f, const tensor<T, S>& x, const tensor<T, S>& v) {
  if (!(x.shape() == v.shape()))
    throw_invalid_argument("ad::hvp", "x shape ", x.shape().str(), " and v shape ", v.shape().str(),
                           " differ");
  scope s;
  const var<T, S> xv(x, true);
  const var<T, S> y = f(xv);
  const var<T, S> g = grad_graph(y, {xv})[0];
  const var<T, S> gv = sum(g * constant(v));
  return grad(gv, xv);  // a copy already (derivatives hands out copies)
}

}  // namespace tessera::ad
