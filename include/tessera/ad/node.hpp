// SPDX-License-Identifier: Apache-2.0
// How an AD rule is recorded: the reverse-pass contexts (tensor adjoints for first order,
// differentiable adjoints for gradients of gradients), op_node, and make_op.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "tessera/ad/var.hpp"
#include "tessera/ops/elementwise.hpp"
#include "tessera/ops/matmul.hpp"
#include "tessera/ops/reduce.hpp"

namespace tessera::ad {

template <class T, class S>
var<T, S> add(const var<T, S>& a, const var<T, S>& b);
template <class T, class S>
var<T, S> sum_to(const var<T, S>& g, const shape_t& shape);

namespace detail {
/// Varis whose differentiable adjoint was set during the current grad_graph sweep.
inline std::vector<tape_object*>& graph_touched() {
  thread_local std::vector<tape_object*> v;
  return v;
}

/// During a sweep of derivatives() (grad, hvp): the leaves whose adjoints the sweep may change,
/// its wrt variables; every other leaf (parameters, requires_grad variables) keeps its
/// accumulated gradient, as torch.autograd.grad leaves .grad alone. Null (backward, pullbacks):
/// every leaf accumulates. Set for one sweep by sweep_targets_guard.
inline const std::vector<const tape_object*>*& sweep_targets() {
  thread_local const std::vector<const tape_object*>* t = nullptr;
  return t;
}
/// Whether an adjoint contribution to v (a leaf or not) is dropped by the current sweep's
/// targets.
inline bool excluded_leaf(const tape_object* v, bool leaf) {
  if (!leaf) return false;  // (op outputs, most of a sweep's calls: no thread-local read)
  const std::vector<const tape_object*>* t = sweep_targets();
  return t != nullptr && std::find(t->begin(), t->end(), v) == t->end();
}
/// Sets sweep_targets for one sweep and restores the enclosing sweep's (a rule may run a sweep
/// of its own, such as a pullback's, which must reach its own leaves).
struct sweep_targets_guard {
  const std::vector<const tape_object*>* saved;
  explicit sweep_targets_guard(const std::vector<const tape_object*>* t) noexcept
      : saved(sweep_targets()) {
    sweep_targets() = t;
  }
  sweep_targets_guard(const sweep_targets_guard&) = delete;
  sweep_targets_guard& operator=(const sweep_targets_guard&) = delete;
  ~sweep_targets_guard() { sweep_targets() = saved; }
};
}  // namespace detail

/// The reverse-pass view of one recorded op, first order: adjoints are tensors.
/// AD rules are generic lambdas `[](auto& c) {...}` written against this interface, so the
/// same rule also runs under graph_context (gradients of gradients). Rules call tensor ops
/// unqualified, so that on Space = cuda argument-dependent lookup finds the cuda overloads
/// (declared later, in the .cuh headers a .cu file includes).
template <class T, class S = host>
struct tensor_context {
  static constexpr bool graph = false;
  using space_type = S;
  vari<T, S>* const* in;
  vari<T, S>* out;

  [[nodiscard]] const tensor<T, S>& gy() const noexcept { return out->adj; }
  [[nodiscard]] const tensor<T, S>& y() const noexcept { return out->value; }
  [[nodiscard]] const tensor<T, S>& x(int i) const noexcept { return in[i]->value; }
  [[nodiscard]] bool needs(int i) const noexcept { return in[i]->requires_grad; }
  /// Plain values (never differentiated), for masks and shapes.
  [[nodiscard]] const tensor<T, S>& xv(int i) const noexcept { return in[i]->value; }
  [[nodiscard]] const tensor<T, S>& yv() const noexcept { return out->value; }
  /// A constant tensor in this context's value type.
  [[nodiscard]] const tensor<T, S>& lift(const tensor<T, S>& t) const noexcept { return t; }

  /// in[i].adj += g, summing g down to in[i]'s shape when it was broadcast.
  void acc(int i, tensor<T, S> g) const {
    vari<T, S>* v = in[i];
    if (!v->requires_grad || detail::excluded_leaf(v, v->leaf)) return;
    if (!(g.shape() == v->value.shape())) g = sum_to(g, v->value.shape());
    if (!v->adj.defined()) {
      // A freshly computed gradient nobody else holds becomes the adjoint without a copy.
      if (g.use_count() == 1 && g.is_contiguous())
        v->adj = std::move(g);
      else
        v->adj = g.clone();
    } else {
      add_(v->adj, g);
    }
  }

  /// in[i].adj += a·b (rank-2 operands). When the adjoint already exists as a contiguous
  /// matrix of the product's shape, the GEMM accumulates straight into it (no temporary);
  /// otherwise this is acc(i, matmul(a, b)). On cuda the accumulating GEMM is cuBLAS with
  /// β = 1 (matmul_acc_ in cuda/matmul.cuh).
  void acc_matmul(int i, const tensor<T, S>& a, const tensor<T, S>& b) const {
    vari<T, S>* v = in[i];
    if (!v->requires_grad || detail::excluded_leaf(v, v->leaf)) return;
    tensor<T, S>& adj = v->adj;
    if (adj.defined() && adj.rank() == 2 && a.rank() == 2 && b.rank() == 2 && adj.is_contiguous() &&
        a.size(1) == b.size(0) && adj.size(0) == a.size(0) && adj.size(1) == b.size(1)) {
      if constexpr (std::is_same_v<S, host>)
        tessera::detail::gemm(a.storage().get() + a.offset(), a.size(0), a.size(1), a.strides()[0],
                              a.strides()[1], b.storage().get() + b.offset(), b.size(1),
                              b.strides()[0], b.strides()[1], adj.data(), adj.size(1), true);
      else
        matmul_acc_(adj, a, b);
      return;
    }
    acc(i, matmul(a, b));
  }
};

/// The reverse-pass view for create-graph sweeps: adjoints are differentiable variables, and
/// every operation of the rule is itself recorded on the tape.
template <class T, class S = host>
struct graph_context {
  static constexpr bool graph = true;
  using space_type = S;
  vari<T, S>* const* in;
  vari<T, S>* out;

  [[nodiscard]] var<T, S> gy() const noexcept { return var<T, S>(out->adj_graph); }
  [[nodiscard]] var<T, S> y() const noexcept { return var<T, S>(out); }
  [[nodiscard]] var<T, S> x(int i) const noexcept { return var<T, S>(in[i]); }
  [[nodiscard]] bool needs(int i) const noexcept { return in[i]->requires_grad; }
  [[nodiscard]] const tensor<T, S>& xv(int i) const noexcept { return in[i]->value; }
  [[nodiscard]] const tensor<T, S>& yv() const noexcept { return out->value; }
  [[nodiscard]] var<T, S> lift(const tensor<T, S>& t) const { return constant(t); }

  void acc(int i, var<T, S> g) const {
    vari<T, S>* v = in[i];
    if (!v->requires_grad) return;
    if (!(g.shape() == v->value.shape())) g = sum_to(g, v->value.shape());
    if (v->adj_graph == nullptr) {
      v->adj_graph = g.impl();
      detail::graph_touched().push_back(v);
    } else {
      v->adj_graph = add(var<T, S>(v->adj_graph), g).impl();
    }
  }

  /// in[i].adj += a·b, recorded (the create-graph twin of tensor_context::acc_matmul).
  void acc_matmul(int i, const var<T, S>& a, const var<T, S>& b) const { acc(i, matmul(a, b)); }
};

/// A recorded op: its inputs, output and reverse rule.
template <class T, class S, class Rule>
struct op_node final : node_base {
  op_node(vari<T, S>* const* i, vari<T, S>* o, Rule r) : in(i), out(o), rule(std::move(r)) {}
  vari<T, S>* const* in;
  vari<T, S>* out;
  Rule rule;

  void chain() override {
    if (!out->adj.defined()) return;
    tensor_context<T, S> c{in, out};
    rule(c);
  }
  void chain_graph() override {
    if (out->adj_graph == nullptr) return;
    graph_context<T, S> c{in, out};
    rule(c);
  }
  void clear() noexcept override {
    if (out->adj.defined()) out->adj = tensor<T, S>();
    out->adj_graph = nullptr;
  }
};

namespace detail {
template <class T, class S, class Rule, class It>
var<T, S> record(tensor<T, S>&& value, It first, std::size_t n, Rule&& rule) {
  bool rg = false;
  if (!grad_disabled())
    for (std::size_t k = 0; k < n; ++k)
      rg = rg || first[static_cast<std::ptrdiff_t>(k)].requires_grad();
  tape& tp = current_tape();
  vari<T, S>* out = tp.make<vari<T, S>>(std::move(value), rg);
  out->leaf = false;
  if (rg) {
    vari<T, S>** in = tp.make_array<vari<T, S>*>(n);
    for (std::size_t k = 0; k < n; ++k) in[k] = first[static_cast<std::ptrdiff_t>(k)].impl();
    tp.push(tp.make<op_node<T, S, std::decay_t<Rule>>>(in, out, std::forward<Rule>(rule)));
  }
  return var<T, S>(out);
}
}  // namespace detail

/// Records an op with output `value`, computed from `inputs`, whose reverse rule is `rule`:
/// a generic callable `[captures](auto& c)` that, for each input i with c.needs(i), calls
/// c.acc(i, <adjoint contribution>) written in terms of c.gy() (output adjoint), c.y()
/// (output), c.x(i) (inputs) and c.lift(constant tensor). Because the rule is generic, it runs
/// on tensors for gradients and on variables for gradients of gradients. This is the public
/// way to define a new differentiable op with full higher-order support. The same rule runs
/// on host and on cuda variables when it calls tensor ops unqualified.
template <class T, class S, class Rule>
var<T, S> make_op(tensor<T, S> value, std::initializer_list<var<T, S>> inputs, Rule&& rule) {
  return detail::record<T, S>(std::move(value), inputs.begin(), inputs.size(),
                              std::forward<Rule>(rule));
}

/// make_op with a runtime list of inputs.
template <class T, class S, class Rule>
var<T, S> make_op(tensor<T, S> value, const std::vector<var<T, S>>& inputs, Rule&& rule) {
  return detail::record<T, S>(std::move(value), inputs.begin(), inputs.size(),
                              std::forward<Rule>(rule));
}

/// A first-order custom op: `pullback(gy)` returns one tensor per input (an undefined tensor
/// for "no gradient"). Gradients of gradients through it throw tessera::domain_error; use
/// make_op with a generic rule for those.
template <class T, class S, class Pullback>
var<T, S> custom_vjp(tensor<T, S> value, const std::vector<var<T, S>>& inputs, Pullback pullback) {
  struct rule_t {
    Pullback pb;
    int n;
    void operator()(tensor_context<T, S>& c) const {
      std::vector<tensor<T, S>> g = pb(c.gy());
      if (static_cast<int>(g.size()) != n)
        throw_invalid_argument("ad::custom_vjp", "pullback returned ", g.size(), " gradients for ",
                               n, " inputs");
      for (int i = 0; i < n; ++i)
        if (g[static_cast<std::size_t>(i)].defined() && c.needs(i))
          c.acc(i, std::move(g[static_cast<std::size_t>(i)]));
    }
    void operator()(graph_context<T, S>&) const {
      throw_domain_error("ad::custom_vjp",
                         "this op has a first-order pullback only; define it with ad::make_op "
                         "and a generic rule to take gradients of its gradients");
    }
  };
  const int n = static_cast<int>(inputs.size());
  return make_op(std::move(value), inputs, rule_t{std::move(pullback), n});
}

}  // namespace tessera::ad
