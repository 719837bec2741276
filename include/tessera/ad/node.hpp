// SPDX-License-Identifier: Apache-2.0
// How an AD rule is recorded: the reverse-pass contexts (tensor adjoints for first order,
// differentiable adjoints for gradients of gradients), op_node, and make_op.
#pragma once

#include <initializer_list>
#include <vector>

#include "tessera/ad/var.hpp"
#include "tessera/ops/elementwise.hpp"
#include "tessera/ops/matmul.hpp"
#include "tessera/ops/reduce.hpp"

namespace tessera::ad {

template <class T>
var<T> add(const var<T>& a, const var<T>& b);
template <class T>
var<T> sum_to(const var<T>& g, const shape_t& shape);

namespace detail {
/// Varis whose differentiable adjoint was set during the current grad_graph sweep.
inline std::vector<tape_object*>& graph_touched() {
  thread_local std::vector<tape_object*> v;
  return v;
}
}  // namespace detail

/// The reverse-pass view of one recorded op, first order: adjoints are tensors.
/// AD rules are generic lambdas `[](auto& c) {...}` written against this interface, so the
/// same rule also runs under graph_context (gradients of gradients).
template <class T>
struct tensor_context {
  static constexpr bool graph = false;
  vari<T>* const* in;
  vari<T>* out;

  [[nodiscard]] const tensor<T>& gy() const noexcept { return out->adj; }
  [[nodiscard]] const tensor<T>& y() const noexcept { return out->value; }
  [[nodiscard]] const tensor<T>& x(int i) const noexcept { return in[i]->value; }
  [[nodiscard]] bool needs(int i) const noexcept { return in[i]->requires_grad; }
  /// Plain values (never differentiated), for masks and shapes.
  [[nodiscard]] const tensor<T>& xv(int i) const noexcept { return in[i]->value; }
  [[nodiscard]] const tensor<T>& yv() const noexcept { return out->value; }
  /// A constant tensor in this context's value type.
  [[nodiscard]] const tensor<T>& lift(const tensor<T>& t) const noexcept { return t; }

  /// in[i].adj += g, summing g down to in[i]'s shape when it was broadcast.
  void acc(int i, tensor<T> g) const {
    vari<T>* v = in[i];
    if (!v->requires_grad) return;
    if (!(g.shape() == v->value.shape())) g = tessera::sum_to(g, v->value.shape());
    if (!v->adj.defined()) {
      // A freshly computed gradient nobody else holds becomes the adjoint without a copy.
      if (g.use_count() == 1 && g.is_contiguous())
        v->adj = std::move(g);
      else
        v->adj = g.clone();
    } else {
      tessera::add_(v->adj, g);
    }
  }

  /// in[i].adj += a·b (rank-2 operands). When the adjoint already exists as a contiguous
  /// matrix of the product's shape, the GEMM accumulates straight into it (no temporary);
  /// otherwise this is acc(i, matmul(a, b)).
  void acc_matmul(int i, const tensor<T>& a, const tensor<T>& b) const {
    vari<T>* v = in[i];
    if (!v->requires_grad) return;
    tensor<T>& adj = v->adj;
    if (adj.defined() && adj.rank() == 2 && a.rank() == 2 && b.rank() == 2 && adj.is_contiguous() &&
        a.size(1) == b.size(0) && adj.size(0) == a.size(0) && adj.size(1) == b.size(1)) {
      tessera::detail::gemm(a.storage().get() + a.offset(), a.size(0), a.size(1), a.strides()[0],
                            a.strides()[1], b.storage().get() + b.offset(), b.size(1),
                            b.strides()[0], b.strides()[1], adj.data(), adj.size(1), true);
      return;
    }
    acc(i, tessera::matmul(a, b));
  }
};

/// The reverse-pass view for create-graph sweeps: adjoints are differentiable variables, and
/// every operation of the rule is itself recorded on the tape.
template <class T>
struct graph_context {
  static constexpr bool graph = true;
  vari<T>* const* in;
  vari<T>* out;

  [[nodiscard]] var<T> gy() const noexcept { return var<T>(out->adj_graph); }
  [[nodiscard]] var<T> y() const noexcept { return var<T>(out); }
  [[nodiscard]] var<T> x(int i) const noexcept { return var<T>(in[i]); }
  [[nodiscard]] bool needs(int i) const noexcept { return in[i]->requires_grad; }
  [[nodiscard]] const tensor<T>& xv(int i) const noexcept { return in[i]->value; }
  [[nodiscard]] const tensor<T>& yv() const noexcept { return out->value; }
  [[nodiscard]] var<T> lift(const tensor<T>& t) const { return constant(t); }

  void acc(int i, var<T> g) const {
    vari<T>* v = in[i];
    if (!v->requires_grad) return;
    if (!(g.shape() == v->value.shape())) g = sum_to(g, v->value.shape());
    if (v->adj_graph == nullptr) {
      v->adj_graph = g.impl();
      detail::graph_touched().push_back(v);
    } else {
      v->adj_graph = add(var<T>(v->adj_graph), g).impl();
    }
  }

  /// in[i].adj += a·b, recorded (the create-graph twin of tensor_context::acc_matmul).
  void acc_matmul(int i, const var<T>& a, const var<T>& b) const { acc(i, matmul(a, b)); }
};

/// A recorded op: its inputs, output and reverse rule.
template <class T, class Rule>
struct op_node final : node_base {
  op_node(vari<T>* const* i, vari<T>* o, Rule r) : in(i), out(o), rule(std::move(r)) {}
  vari<T>* const* in;
  vari<T>* out;
  Rule rule;

  void chain() override {
    if (!out->adj.defined()) return;
    tensor_context<T> c{in, out};
    rule(c);
  }
  void chain_graph() override {
    if (out->adj_graph == nullptr) return;
    graph_context<T> c{in, out};
    rule(c);
  }
  void clear() noexcept override {
    if (out->adj.defined()) out->adj = tensor<T>();
    out->adj_graph = nullptr;
  }
};

namespace detail {
template <class T, class Rule, class It>
var<T> record(tensor<T>&& value, It first, std::size_t n, Rule&& rule) {
  bool rg = false;
  if (!grad_disabled())
    for (std::size_t k = 0; k < n; ++k) rg = rg || first[k].requires_grad();
  tape& tp = current_tape();
  vari<T>* out = tp.make<vari<T>>(std::move(value), rg);
  if (rg) {
    vari<T>** in = tp.make_array<vari<T>*>(n);
    for (std::size_t k = 0; k < n; ++k) in[k] = first[k].impl();
    tp.push(tp.make<op_node<T, std::decay_t<Rule>>>(in, out, std::forward<Rule>(rule)));
  }
  return var<T>(out);
}
}  // namespace detail

/// Records an op with output `value`, computed from `inputs`, whose reverse rule is `rule`:
/// a generic callable `[captures](auto& c)` that, for each input i with c.needs(i), calls
/// c.acc(i, <adjoint contribution>) written in terms of c.gy() (output adjoint), c.y()
/// (output), c.x(i) (inputs) and c.lift(constant tensor). Because the rule is generic, it runs
/// on tensors for gradients and on variables for gradients of gradients. This is the public
/// way to define a new differentiable op with full higher-order support.
template <class T, class Rule>
var<T> make_op(tensor<T> value, std::initializer_list<var<T>> inputs, Rule&& rule) {
  return detail::record<T>(std::move(value), inputs.begin(), inputs.size(),
                           std::forward<Rule>(rule));
}

/// make_op with a runtime list of inputs.
template <class T, class Rule>
var<T> make_op(tensor<T> value, const std::vector<var<T>>& inputs, Rule&& rule) {
  return detail::record<T>(std::move(value), inputs.begin(), inputs.size(),
                           std::forward<Rule>(rule));
}

/// A first-order custom op: `pullback(gy)` returns one tensor per input (an undefined tensor
/// for "no gradient"). Gradients of gradients through it throw tessera::domain_error; use
/// make_op with a generic rule for those.
template <class T, class Pullback>
var<T> custom_vjp(tensor<T> value, const std::vector<var<T>>& inputs, Pullback pullback) {
  struct rule_t {
    Pullback pb;
    int n;
    void operator()(tensor_context<T>& c) const {
      std::vector<tensor<T>> g = pb(c.gy());
      if (static_cast<int>(g.size()) != n)
        throw_invalid_argument("ad::custom_vjp", "pullback returned ", g.size(), " gradients for ",
                               n, " inputs");
      for (int i = 0; i < n; ++i)
        if (g[static_cast<std::size_t>(i)].defined() && c.needs(i))
          c.acc(i, std::move(g[static_cast<std::size_t>(i)]));
    }
    void operator()(graph_context<T>&) const {
      throw_domain_error("ad::custom_vjp",
                         "this op has a first-order pullback only; define it with ad::make_op "
                         "and a generic rule to take gradients of its gradients");
    }
  };
  const int n = static_cast<int>(inputs.size());
  return make_op(std::move(value), inputs, rule_t{std::move(pullback), n});
}

}  // namespace tessera::ad
