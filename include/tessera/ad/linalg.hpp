// SPDX-License-Identifier: Apache-2.0
// Differentiable matmul on ad::var (numpy semantics, batched, broadcasting).
#pragma once

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/shape.hpp"
#include "tessera/ops/matmul.hpp"

namespace tessera::ad {

namespace detail {
/// The reverse pass of Y = A·B (inputs 0 and 1 of the node): Ā += Ȳ·Bᵀ, B̄ += Aᵀ·Ȳ, each
/// summed over broadcast batch axes; rank-2 operands accumulate in place (acc_matmul). A matrix
/// applied to a batch (A rank 2, B batched, or the other way round) gets its sum over the batch
/// from matmul_batch_sum, without the batch of products (outside create-graph sweeps).
template <class Ctx>
void accumulate_product_grads(Ctx& c) {
  const int ra = c.xv(0).rank(), rb = c.xv(1).rank();
  const bool plain = ra == 2 && rb == 2;
  if (c.needs(0)) {
    if (plain)
      c.acc_matmul(0, c.gy(), transpose(c.x(1), -1, -2));
    else if constexpr (!Ctx::graph)
      c.acc(0, ra == 2 ? matmul_batch_sum(c.gy(), transpose(c.x(1), -1, -2))
                       : matmul(c.gy(), transpose(c.x(1), -1, -2)));
    else
      c.acc(0, matmul(c.gy(), transpose(c.x(1), -1, -2)));
  }
  if (c.needs(1)) {
    if (plain)
      c.acc_matmul(1, transpose(c.x(0), -1, -2), c.gy());
    else if constexpr (!Ctx::graph)
      c.acc(1, rb == 2 ? matmul_batch_sum(transpose(c.x(0), -1, -2), c.gy())
                       : matmul(transpose(c.x(0), -1, -2), c.gy()));
    else
      c.acc(1, matmul(transpose(c.x(0), -1, -2), c.gy()));
  }
}
}  // namespace detail

/// Y = A·B for rank ≥ 2 operands (batch axes broadcast);
/// Ā += Ȳ·Bᵀ, B̄ += Aᵀ·Ȳ (each summed over broadcast batch axes).
/// Rank-1 operands are promoted to a row (lhs) or column (rhs) and the axis dropped after;
/// two vectors give their dot product as a rank-0 variable.
template <class T, class S>
var<T, S> matmul(const var<T, S>& a, const var<T, S>& b) {
  if (a.rank() == 1 && b.rank() == 1)
    return reshape(matmul(unsqueeze(a, 0), unsqueeze(b, 1)), shape_t{});
  if (a.rank() == 1 && b.rank() >= 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.rank() == 1 && a.rank() >= 2) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  return make_op(matmul(a.value(), b.value()), {a, b},
                 [](auto& c) { detail::accumulate_product_grads(c); });
}

/// Y = A·B + C for rank ≥ 2 operands (batch axes broadcast, C broadcasting to the product;
/// see tessera::matmul_add); Ā and B̄ as matmul, C̄ += Ȳ summed to C's shape.
template <class T, class S>
var<T, S> matmul_add(const var<T, S>& a, const var<T, S>& b, const var<T, S>& c) {
  return make_op(matmul_add(a.value(), b.value(), c.value()), {a, b, c}, [](auto& ctx) {
    detail::accumulate_product_grads(ctx);
    if (ctx.needs(2)) ctx.acc(2, ctx.gy());
  });
}

/// gelu(A·B + C + bias) (C optional: an undefined variable for none). When a gradient is
/// needed it is recorded as add_gelu(matmul_add(A, B, C), bias), so the reverse pass is theirs;
/// otherwise (ad::no_grad, or no input requiring a gradient: a fixed-point solve's forward
/// iterations) it is tessera::matmul_add_gelu, one kernel on cuda for a small A applied to a
/// batch (B, K, P) with a per-row bias. The value is the same either way up to rounding.
template <class T, class S>
var<T, S> matmul_add_gelu(const var<T, S>& a, const var<T, S>& b, const var<T, S>& c,
                          const var<T, S>& bias) {
  const bool rg = !grad_disabled() && (a.requires_grad() || b.requires_grad() ||
                                       (c.defined() && c.requires_grad()) || bias.requires_grad());
  if (rg) return tessera::detail::matmul_add_gelu_composite(a, b, c, bias);
  return constant(matmul_add_gelu(a.value(), b.value(), c.defined() ? c.value() : tensor<T, S>(),
                                  bias.value()));
}

/// gelu(A·B + (A₂·B₂ + C) + bias) (C optional), as matmul_add_gelu: recorded as
/// matmul_add_gelu(A, B, matmul_add(A₂, B₂, C), bias) when a gradient is needed, otherwise
/// tessera::matmul_pair_add_gelu (one kernel on cuda for the FNO layer's last product and its
/// skip path). The value is the same either way up to rounding.
template <class T, class S>
var<T, S> matmul_pair_add_gelu(const var<T, S>& a, const var<T, S>& b, const var<T, S>& a2,
                               const var<T, S>& b2, const var<T, S>& c, const var<T, S>& bias) {
  const bool rg = !grad_disabled() && (a.requires_grad() || b.requires_grad() ||
                                       a2.requires_grad() || b2.requires_grad() ||
                                       (c.defined() && c.requires_grad()) || bias.requires_grad());
  if (rg) return tessera::detail::matmul_pair_add_gelu_composite(a, b, a2, b2, c, bias);
  return constant(matmul_pair_add_gelu(a.value(), b.value(), a2.value(), b2.value(),
                                       c.defined() ? c.value() : tensor<T, S>(), bias.value()));
}

}  // namespace tessera::ad
