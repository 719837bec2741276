// SPDX-License-Identifier: Apache-2.0
// Jacobian-norm regularisation of fixed-point maps: a Hutchinson estimate of ‖∂f/∂z‖_F² that
// is differentiable with respect to the parameters (Bai et al., "Stabilizing equilibrium
// models by Jacobian regularization", 2021).
#pragma once

#include <string>
#include <vector>

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/grad.hpp"
#include "tessera/ad/node.hpp"
#include "tessera/ad/reduce.hpp"
#include "tessera/core/creation.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/philox.hpp"
#include "tessera/implicit/fixed_point.hpp"
#include "tessera/ops/elementwise.hpp"

namespace tessera::implicit {

/// Hutchinson estimate of the squared Frobenius norm of J = ∂f/∂z at (z, θ):
///     ‖J‖_F² = E_ε ‖εᵀ J‖²,  ε ~ N(0, I),   estimate = (1/S) Σ_s ‖Jᵀ ε_s‖²,
/// with S = `samples` draws of ε from `gen` (tessera::randn), returned as a scalar variable
/// whose gradient flows to θ (z is treated as detached, as in DEQ training).
///
/// Jᵀε is a VJP recorded with ad::grad_graph (a create-graph sweep), so ‖Jᵀε‖² is itself
/// differentiable; all of this happens on a private tape, and the result is recorded on the
/// caller's tape as one first-order node with inputs θ whose gradients were computed there.
/// Divide by z.numel() for the per-dimension normalisation of Bai et al.; when batched, the
/// estimate is the sum over samples (J is block diagonal).
/// @param f       callable ad::var<T> f(const ad::var<T>& z, const std::vector<ad::var<T>>& θ)
/// @param z       the point (usually z* from fixed_point: pass result.z.value())
/// @param params  θ
/// @param gen     the generator the probes ε are drawn from (advanced by `samples` draws)
/// @param samples S ≥ 1
/// @return the estimate, a rank-0 scalar
/// @throws tessera::invalid_argument for samples < 1, an undefined or empty z, an undefined
///         parameter, an f whose result has another shape, or a call inside ad::no_grad
template <floating_point_scalar T, class F>
ad::var<T> jacobian_penalty(F&& f, const tensor<T>& z, const std::vector<ad::var<T>>& params,
                            generator& gen, int samples = 1) {
  constexpr const char* fn = "implicit::jacobian_penalty";
  detail::check_map<T>(fn, f);
  detail::check_count(fn, "samples", samples, 1);
  (void)detail::layout_of(fn, z, false, "z");
  for (std::size_t i = 0; i < params.size(); ++i)
    if (!params[i].defined()) throw_invalid_argument(fn, "params[", i, "] is undefined");
  if (ad::grad_disabled())
    throw_invalid_argument(fn, "called inside ad::no_grad: the estimate needs recorded VJPs of f");

  tensor<T> value;
  std::vector<tensor<T>> grads(params.size());
  {
    ad::tape private_tape;
    ad::tape_switch sw(private_tape);
    const ad::var<T> zl(z.contiguous(), true);
    std::vector<ad::var<T>> leaves;
    for (const auto& p : params) leaves.emplace_back(p.value(), p.requires_grad());
    const ad::var<T> y = f(zl, leaves);
    detail::check_output(fn, y, z.shape());
    // One probe at a time, each in a scope on the private tape: the probe's create-graph
    // nodes are dropped after its gradient has been accumulated into the θ leaves, so every
    // sweep stays as short as f's own recording (S probes cost O(S · |f|), not O(S² · |f|)).
    double total = 0;
    for (int s = 0; s < samples; ++s) {
      const tensor<T> eps = randn<T>(z.shape(), gen);
      ad::scope probe;
      const ad::var<T> jte = ad::grad_graph(y, {zl}, eps)[0];  // Jᵀε, differentiable
      const ad::var<T> term = ad::sum(ad::square(jte));
      total += static_cast<double>(term.item());
      if (term.requires_grad()) ad::backward(term);  // θ leaves accumulate ∂‖Jᵀε‖²/∂θ
    }
    value = full<T>(shape_t{}, static_cast<T>(total / samples));
    for (std::size_t i = 0; i < params.size(); ++i)
      if (leaves[i].requires_grad() && leaves[i].impl()->adj.defined())
        grads[i] = tessera::mul(leaves[i].grad(), scalar<T>(static_cast<T>(1.0 / samples)));
  }
  return ad::custom_vjp(value, params, [grads](const tensor<T>& gy) {
    std::vector<tensor<T>> out;
    out.reserve(grads.size());
    for (const auto& g : grads) out.push_back(g.defined() ? tessera::mul(g, gy) : tensor<T>());
    return out;
  });
}

}  // namespace tessera::implicit
