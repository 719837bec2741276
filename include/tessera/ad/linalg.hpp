// SPDX-License-Identifier: Apache-2.0
// Differentiable matmul on ad::var (numpy semantics, batched, broadcasting).
#pragma once

#include "tessera/ad/shape.hpp"
#include "tessera/ops/matmul.hpp"

namespace tessera::ad {

namespace detail {
/// The reverse pass of Y = A·B (inputs 0 and 1 of the node): Ā += Ȳ·Bᵀ, B̄ += Aᵀ·Ȳ, each
/// summed over broadcast batch axes; rank-2 operands accumulate in place (acc_matmul).
template <class Ctx>
void accumulate_product_grads(Ctx& c) {
  const bool plain = c.xv(0).rank() == 2 && c.xv(1).rank() == 2;
  if (c.needs(0)) {
    if (plain)
      c.acc_matmul(0, c.gy(), transpose(c.x(1), -1, -2));
    else
      c.acc(0, matmul(c.gy(), transpose(c.x(1), -1, -2)));
  }
  if (c.needs(1)) {
    if (plain)
      c.acc_matmul(1, transpose(c.x(0), -1, -2), c.gy());
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

}  // namespace tessera::ad
