// SPDX-License-Identifier: Apache-2.0
// Differentiable fixed points and roots: implicit::fixed_point and implicit::root solve on
// values, then record one tape node whose reverse pass is exact implicit differentiation, or
// record phantom / unrolled steps instead.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/grad.hpp"
#include "tessera/ad/node.hpp"
#include "tessera/ad/var.hpp"
#include "tessera/core/error.hpp"
#include "tessera/implicit/gmres.hpp"
#include "tessera/implicit/options.hpp"
#include "tessera/implicit/solve.hpp"
#include "tessera/ops/elementwise.hpp"

namespace tessera::implicit {

/// A callable f(z, θ) → ad::var<T>: a differentiable function of z and of the list θ.
template <class F, class T>
concept differentiable_map =
    std::invocable<const F&, const ad::var<T>&, const std::vector<ad::var<T>>&> &&
    std::convertible_to<
        std::invoke_result_t<const F&, const ad::var<T>&, const std::vector<ad::var<T>>&>,
        ad::var<T>>;

/// What fixed_point and root return (S: the memory space of z).
template <class T, class S = host>
struct fixed_point_result {
  /// z* on the current tape (a constant when no parameter needs a gradient or inside
  /// ad::no_grad). Implicit mode: one node whose inputs are the parameters. Phantom mode: the
  /// last phantom step. Unroll mode: the last unrolled step.
  ad::var<T, S> z;
  /// The forward solve (unroll mode: the unrolled steps; see fixed_point).
  solve_result info;
  /// Implicit mode with a recorded node: the adjoint solve of the latest reverse sweep
  /// (iterations == 0 until a sweep reaches z); null in the other cases.
  std::shared_ptr<const solve_result> adjoint;
};

namespace detail {

template <class T, class F>
void check_map(const char* fn, const F&) {
  static_assert(differentiable_map<F, T>,
                "implicit: f must be callable as ad::var<T> f(const ad::var<T>& z, const "
                "std::vector<ad::var<T>>& params)");
  (void)fn;
}

/// f(z, θ) on values: no recording, and everything f puts on the tape is dropped.
template <class T, class S, class F>
tensor<T, S> eval_values(const F& f, const tensor<T, S>& z,
                         const std::vector<ad::var<T, S>>& params) {
  ad::no_grad ng;
  ad::scope s;
  const ad::var<T, S> y = f(ad::constant(z), params);
  return y.defined() ? y.value() : tensor<T, S>();
}

template <class T, class S>
void check_output(const char* fn, const ad::var<T, S>& y, const shape_t& shape) {
  if (!y.defined() || !(y.shape() == shape))
    throw_invalid_argument(fn, "f returned ", y.defined() ? "shape " : "an undefined variable",
                           y.defined() ? y.shape().str() : std::string(), " for z of shape ",
                           shape.str(), "; f must map z to a tensor of the same shape");
}

/// z ← (1 − β) z + β f(z, θ), recorded.
template <class T, class S, class F>
ad::var<T, S> damped_step(const char* fn, const F& f, const ad::var<T, S>& z,
                          const std::vector<ad::var<T, S>>& params, double beta,
                          ad::var<T, S>* fz_out) {
  ad::var<T, S> fz = f(z, params);
  check_output(fn, fz, z.shape());
  if (fz_out) *fz_out = fz;
  if (beta == 1.0) return fz;
  return z * static_cast<T>(1.0 - beta) + fz * static_cast<T>(beta);
}

/// Per-sample residuals of (z, f(z)) under a convention, into a report's running fields.
template <class T>
void measure(const tensor<T>& z, const tensor<T>& fz, row_layout L, const solver_options& o,
             const convention& cv, std::vector<double>& ref0, bool first, solve_result& info) {
  const tensor<T> a = z.contiguous(), b = fz.contiguous();
  tensor<T> r = tessera::sub(b, a);
  std::vector<double> rr(static_cast<std::size_t>(L.rows)), ff(static_cast<std::size_t>(L.rows));
  row_dots(r.data(), r.data(), L.rows, L.n, rr.data());
  row_dots(b.data(), b.data(), L.rows, L.n, ff.data());
  info.sample_residuals.assign(rr.size(), 0.0);
  info.sample_converged.assign(rr.size(), false);
  double total = 0;
  if (first) ref0.assign(rr.size(), 0.0);
  for (std::size_t i = 0; i < rr.size(); ++i) {
    const double res = std::sqrt(rr[i]) * cv.scale;
    if (first) ref0[i] = res;
    const double ref = cv.ref == reference::map_value ? std::sqrt(ff[i]) * cv.scale : ref0[i];
    info.sample_residuals[i] = res;
    info.sample_converged[i] = std::isfinite(res) && res <= std::max(o.abs_tol, o.rel_tol * ref);
    total += res * res;
  }
  info.residual = std::sqrt(total);
  info.residual_history.push_back(info.residual);
  info.converged = std::all_of(info.sample_converged.begin(), info.sample_converged.end(),
                               [](bool c) { return c; });
}

/// Per-row ‖t‖ (rows of L) in double: row_dots on the host, one solver pass elsewhere.
template <class T, class S>
std::vector<double> row_norms(const tensor<T, S>& t, row_layout L) {
  std::vector<double> out(static_cast<std::size_t>(L.rows));
  krylov_ops<T, S>(t.shape()).row_sq_norms(t, L, out.data());
  for (double& v : out) v = std::sqrt(v);
  return out;
}

/// The state behind one implicit node: the pullback of f at (z*, θ), recorded once on its
/// own tape, and the adjoint solver settings. S: the space of z and θ (host or cuda).
template <class T, class S = host>
struct implicit_state {
  const char* fn = nullptr;
  ad::pullback<T, S> pb;
  std::vector<ad::var<T, S>> leaves;  // copies of θ on pb's tape
  solver_options so;
  backward_options bo;
  std::shared_ptr<solve_result> info = std::make_shared<solve_result>();

  /// Switches the θ leaves off (so the reverse rules skip their gradients, read through
  /// c.needs / requires_grad at sweep time) while only J_zᵀ w is needed.
  struct leaves_off {
    std::vector<ad::var<T, S>>& l;
    std::vector<char> was;
    explicit leaves_off(std::vector<ad::var<T, S>>& v) : l(v) {
      for (auto& x : l) {
        was.push_back(x.impl()->requires_grad ? 1 : 0);
        x.impl()->requires_grad = false;
      }
    }
    leaves_off(const leaves_off&) = delete;
    leaves_off& operator=(const leaves_off&) = delete;
    ~leaves_off() {
      for (std::size_t i = 0; i < l.size(); ++i) l[i].impl()->requires_grad = was[i] != 0;
    }
  };

  /// θ̄_i = (∂f/∂θ_i)ᵀ w where w solves w = J_zᵀ w + z̄ (J_z = ∂f/∂z at (z*, θ)).
  std::vector<tensor<T, S>> theta_bar(const tensor<T, S>& zbar_in) {
    constexpr bool on_host = std::is_same_v<S, host>;
    const tensor<T, S> zbar = zbar_in.contiguous();
    solution<T, S> w;
    {
      leaves_off off(leaves);
      const auto jt = [this](const tensor<T, S>& v) { return pb(v)[0]; };
      if (bo.method == adjoint_method::gmres) {
        const gmres_options go{.restart = bo.restart,
                               .max_iter = bo.max_iter,
                               .abs_tol = bo.abs_tol,
                               .rel_tol = bo.rel_tol,
                               .batched = so.batched};
        w = gmres(
            [&](const tensor<T, S>& v) {
              if constexpr (on_host)
                return tessera::sub(v, jt(v));
              else
                return v - jt(v);
            },
            zbar, go);
      } else {
        solver_options ao = so;
        ao.method =
            bo.method == adjoint_method::picard ? solver_method::picard : solver_method::anderson;
        ao.max_iter = bo.max_iter;
        ao.abs_tol = bo.abs_tol;
        ao.rel_tol = bo.rel_tol;
        ao.full_budget = false;
        ao.graph = false;  // the pullback keeps what it makes (the leaves' adjoints)
        ao.device_resident = false;
        convention cv;
        cv.ref = reference::given;
        cv.given = row_norms(zbar, layout_of(fn, zbar, so.batched, "the incoming gradient z̄"));
        // The residual of w is z̄ − (w − J_zᵀ w): the linear adjoint residual.
        if constexpr (on_host)
          w = solve_values<T>(
              fn, [&](const tensor<T>& v) { return tessera::add(jt(v), zbar); }, zbar, ao, cv);
        else
          w = solve_values_space<T, S>(
              fn, [&](const tensor<T, S>& v) { return jt(v) + zbar; }, zbar, ao, cv);
      }
    }
    *info = w.info;
    for (auto& l : leaves) l.impl()->adj = tensor<T, S>();
    (void)pb(w.z);
    std::vector<tensor<T, S>> g;
    g.reserve(leaves.size());
    for (auto& l : leaves) g.push_back(std::move(l.impl()->adj));
    return g;
  }
};

/// The implicit mode's node: records the pullback of f at (z*, θ) on its own tape and returns
/// z* as one op of θ whose reverse pass is implicit_state::theta_bar; sets res.z and
/// res.adjoint.
template <class T, class S, class F>
void record_implicit(const char* fn, const F& f, const tensor<T, S>& zstar,
                     const std::vector<ad::var<T, S>>& params, const solver_options& so,
                     const backward_options& bo, fixed_point_result<T, S>& res) {
  auto st = std::make_shared<implicit_state<T, S>>();
  st->fn = fn;
  st->so = so;
  st->bo = bo;
  implicit_state<T, S>* raw = st.get();
  st->pb = ad::vjp(
      [&f, &params, raw](const ad::var<T, S>& z) -> ad::var<T, S> {
        // Fresh leaves on the pullback's tape (vjp switched to it), so the adjoint sweeps
        // never touch the caller's variables.
        for (const auto& p : params) raw->leaves.emplace_back(p.value(), p.requires_grad());
        return f(z, raw->leaves);
      },
      zstar);
  res.adjoint = st->info;
  res.z = ad::make_op(zstar, params, [st](auto& c) {
    if constexpr (std::remove_cvref_t<decltype(c)>::graph) {
      throw_domain_error(st->fn,
                         "gradients of gradients through an implicit fixed point are not "
                         "supported; use backward_mode::phantom or unroll for them");
    } else {
      std::vector<tensor<T, S>> g = st->theta_bar(c.gy());
      for (std::size_t i = 0; i < g.size(); ++i) {
        const int k = static_cast<int>(i);
        if (c.needs(k) && g[i].defined()) c.acc(k, std::move(g[i]));
      }
    }
  });
}

template <class T, class F>
fixed_point_result<T> fixed_point_impl(const char* fn, const F& f, const tensor<T>& z0,
                                       const std::vector<ad::var<T>>& params,
                                       const solver_options& so, const backward_options& bo,
                                       const convention& cv) {
  validate(fn, so);
  validate(fn, bo);
  const row_layout L = layout_of(fn, z0, so.batched);
  check_finite(fn, "z0", z0);
  for (std::size_t i = 0; i < params.size(); ++i)
    if (!params[i].defined()) throw_invalid_argument(fn, "params[", i, "] is undefined");
  const bool needs_grad =
      !ad::grad_disabled() && std::any_of(params.begin(), params.end(),
                                          [](const ad::var<T>& p) { return p.requires_grad(); });

  fixed_point_result<T> res;
  if (bo.mode == backward_mode::unroll) {
    std::vector<double> ref0;
    ad::var<T> z = ad::constant(z0.contiguous());
    for (int k = 0; k < bo.unroll_steps; ++k) {
      ad::var<T> fz;
      ad::var<T> next = damped_step(fn, f, z, params, so.damping, &fz);
      measure(z.value(), fz.value(), L, so, cv, ref0, k == 0, res.info);
      res.info.iterations = k + 1;
      z = next;
    }
    res.z = z;
    return res;
  }

  solution<T> sol = solve_values<T>(
      fn, [&](const tensor<T>& z) { return eval_values(f, z, params); }, z0, so, cv);
  res.info = std::move(sol.info);
  if (!needs_grad) {
    res.z = ad::constant(sol.z);
    return res;
  }

  if (bo.mode == backward_mode::phantom) {
    ad::var<T> z = ad::constant(sol.z);
    for (int k = 0; k < bo.phantom_steps; ++k)
      z = damped_step(fn, f, z, params, bo.phantom_tau, static_cast<ad::var<T>*>(nullptr));
    res.z = z;
    return res;
  }

  record_implicit<T, host>(fn, f, sol.z, params, so, bo, res);
  return res;
}

/// fixed_point_impl on a space other than host (cuda): the same three backward modes (the
/// unroll and phantom steps are ad ops; the implicit node's adjoint solves run
/// solve_values_space or gmres on the pullback's VJPs in that space), the values-only solve of
/// solve_values_space (every solver method).
template <class T, class S, class F>
fixed_point_result<T, S> fixed_point_impl_space(const char* fn, const F& f, const tensor<T, S>& z0,
                                                const std::vector<ad::var<T, S>>& params,
                                                const solver_options& so,
                                                const backward_options& bo, const convention& cv) {
  validate(fn, so);
  validate(fn, bo);
  const row_layout L = layout_of(fn, z0, so.batched);
  check_finite(fn, "z0", z0);
  for (std::size_t i = 0; i < params.size(); ++i)
    if (!params[i].defined()) throw_invalid_argument(fn, "params[", i, "] is undefined");
  const bool needs_grad =
      !ad::grad_disabled() && std::any_of(params.begin(), params.end(),
                                          [](const ad::var<T, S>& p) { return p.requires_grad(); });

  fixed_point_result<T, S> res;
  if (bo.mode == backward_mode::unroll) {
    std::vector<double> ref0;
    ad::var<T, S> z = ad::constant(z0.contiguous());
    for (int k = 0; k < bo.unroll_steps; ++k) {
      ad::var<T, S> fz;
      ad::var<T, S> next = damped_step(fn, f, z, params, so.damping, &fz);
      // measure()'s bookkeeping with the dot products taken on the device (one pass).
      const residual_pass_result<T, S> p = solver_kernels<S>::template residual_pass<T>(
          fz.value().contiguous(), z.value().contiguous(), 1.0, {}, L.rows, true);
      const std::size_t R = static_cast<std::size_t>(L.rows);
      const std::vector<double> rr(p.dots.begin(), p.dots.begin() + R),
          ff(p.dots.begin() + R, p.dots.begin() + 2 * R);
      solve_result& info = res.info;
      info.sample_residuals.assign(rr.size(), 0.0);
      info.sample_converged.assign(rr.size(), false);
      double total = 0;
      if (k == 0) ref0.assign(rr.size(), 0.0);
      for (std::size_t i = 0; i < rr.size(); ++i) {
        const double rv = std::sqrt(rr[i]) * cv.scale;
        if (k == 0) ref0[i] = rv;
        const double ref = cv.ref == reference::map_value ? std::sqrt(ff[i]) * cv.scale : ref0[i];
        info.sample_residuals[i] = rv;
        info.sample_converged[i] =
            std::isfinite(rv) && rv <= std::max(so.abs_tol, so.rel_tol * ref);
        total += rv * rv;
      }
      info.residual = std::sqrt(total);
      info.residual_history.push_back(info.residual);
      info.converged = std::all_of(info.sample_converged.begin(), info.sample_converged.end(),
                                   [](bool c) { return c; });
      info.iterations = k + 1;
      z = next;
    }
    res.z = z;
    return res;
  }
  solution<T, S> sol = solve_values_space<T, S>(
      fn, [&](const tensor<T, S>& z) { return eval_values(f, z, params); }, z0, so, cv);
  res.info = std::move(sol.info);
  if (!needs_grad) {
    res.z = ad::constant(sol.z);
    return res;
  }
  if (bo.mode == backward_mode::implicit) {
    record_implicit<T, S>(fn, f, sol.z, params, so, bo, res);
    return res;
  }
  ad::var<T, S> z = ad::constant(sol.z);
  for (int k = 0; k < bo.phantom_steps; ++k)
    z = damped_step(fn, f, z, params, bo.phantom_tau, static_cast<ad::var<T, S>*>(nullptr));
  res.z = z;
  return res;
}

/// root in space S: fixed_point_impl(_space) on f(z) = z − α g(z, θ) with residuals ‖g(z)‖
/// relative to ‖g(z0)‖.
template <class T, class S, class G>
fixed_point_result<T, S> root_impl(const G& g, const tensor<T, S>& z0,
                                   const std::vector<ad::var<T, S>>& params,
                                   const root_options& o) {
  constexpr const char* fn = "implicit::root";
  if (!(o.alpha != 0) || !std::isfinite(o.alpha))
    throw_invalid_argument(fn, "alpha = ", o.alpha, " must be finite and non-zero");
  const T a = static_cast<T>(o.alpha);
  const auto f = [&g, a](const ad::var<T, S>& z,
                         const std::vector<ad::var<T, S>>& th) -> ad::var<T, S> {
    const ad::var<T, S> gz = g(z, th);
    if (!gz.defined() || !(gz.shape() == z.shape()))
      throw_invalid_argument(fn, "g returned ", gz.defined() ? "shape " : "an undefined variable",
                             gz.defined() ? gz.shape().str() : std::string(), " for z of shape ",
                             z.shape().str(), "; g must map z to a tensor of the same shape");
    return z - gz * a;
  };
  convention cv;
  cv.scale = 1.0 / std::abs(o.alpha);
  cv.ref = reference::initial_residual;
  if constexpr (std::is_same_v<S, host>)
    return fixed_point_impl<T>(fn, f, z0, params, o.solver, o.backward, cv);
  else
    return fixed_point_impl_space<T, S>(fn, f, z0, params, o.solver, o.backward, cv);
}

}  // namespace detail

/// Solves z* = f(z*, θ) and returns z* as a differentiable variable of θ.
///
/// Forward: the solver of o.solver (Picard, Anderson or Broyden) runs on values only (f is
/// evaluated under ad::no_grad inside a scope, so nothing is recorded), stopping when
/// ‖f(z) − z‖ ≤ max(abs_tol, rel_tol ‖f(z)‖) or after max_iter evaluations, and returns the
/// lowest-residual iterate. Non-convergence is reported in `info`, never thrown.
///
/// Backward (o.backward.mode):
/// - implicit: records ONE node with inputs θ. By the implicit function theorem
///   dz*/dθ = (I − J_z)⁻¹ ∂f/∂θ with J_z = ∂f/∂z at (z*, θ), so for an incoming z̄
///       w = J_zᵀ w + z̄   (solved by Picard, Anderson or restarted GMRES on (I − J_zᵀ) w = z̄),
///       θ̄ᵢ += (∂f/∂θᵢ)ᵀ w.
///   All VJPs come from one ad::vjp pullback of f at (z*, θ), recorded when fixed_point runs on
///   its own tape and applied once per adjoint iteration; `adjoint` reports the last solve.
///   First order only (a create-graph sweep through the node throws tessera::domain_error).
/// - phantom: from the detached z*, k steps z ← (1 − τ) z + τ f(z, θ) recorded on the tape;
///   gradients flow through those steps only (an inexact gradient that approaches the exact
///   one as k grows). The returned value is the last step, not z*.
/// - unroll: no solve; n recorded steps z ← (1 − β) z + β f(z, θ) from z0 (β =
///   solver.damping). `info` then reports the steps: residual_history[k] = ‖f(z_k) − z_k‖,
///   and residual / converged refer to z_{n−1} (the input of the last step; z_n is returned).
/// Without any parameter needing a gradient (or inside ad::no_grad), implicit and phantom modes
/// return z* as a constant.
///
/// Every differentiable input of f must be passed in `params`: f receives them as its second
/// argument (in implicit mode, copies on the pullback's tape). Variables that f captures
/// instead are seen as constants by the forward solve and would receive wrong gradients.
/// @param f      callable ad::var<T> f(const ad::var<T>& z, const std::vector<ad::var<T>>& θ)
///               returning a variable of z's shape
/// @param z0     the initial iterate (no gradient flows to it)
/// @param params θ: ad::var<T> or ad::parameter<T> handles (parameters convert)
/// @param o      solver and backward settings
/// @return z, the forward report, and (implicit mode) the adjoint report
/// @throws tessera::invalid_argument for invalid settings, an empty or non-finite z0, an
///         undefined parameter, or an f whose result has another shape
template <floating_point_scalar T, class F>
fixed_point_result<T> fixed_point(F&& f, const tensor<T>& z0, const std::vector<ad::var<T>>& params,
                                  const options& o = {}) {
  detail::check_map<T>("implicit::fixed_point", f);
  const auto g = [&f](const ad::var<T>& z, const std::vector<ad::var<T>>& th) -> ad::var<T> {
    return f(z, th);
  };
  return detail::fixed_point_impl<T>("implicit::fixed_point", g, z0, params, o.solver, o.backward,
                                     detail::convention{});
}

/// fixed_point on another memory space (z0 and θ on cuda, in a .cu file including
/// tessera/cuda/implicit.cuh): the same forward solvers (fused passes on the device; the small
/// Anderson system and Broyden's per-sample coefficients on the host, from dot products copied
/// once per iteration for Picard and Anderson, twice for Broyden; with solver.device_resident,
/// Picard's and Anderson's on the device, the host waiting once per solve) and the same
/// backward modes,
/// the implicit one with every adjoint method (Picard/Anderson as the forward solver, GMRES with
/// device inner products) on the device pullback's VJPs.
/// @throws tessera::invalid_argument as the host form.
template <floating_point_scalar T, class S, class F>
  requires(!std::is_same_v<S, host>)
fixed_point_result<T, S> fixed_point(F&& f, const tensor<T, S>& z0,
                                     const std::vector<ad::var<T, S>>& params,
                                     const options& o = {}) {
  static_assert(std::is_invocable_r_v<ad::var<T, S>, const F&, const ad::var<T, S>&,
                                      const std::vector<ad::var<T, S>>&>,
                "implicit: f must be callable as ad::var<T, S> f(const ad::var<T, S>& z, const "
                "std::vector<ad::var<T, S>>& params)");
  const auto g = [&f](const ad::var<T, S>& z,
                      const std::vector<ad::var<T, S>>& th) -> ad::var<T, S> { return f(z, th); };
  return detail::fixed_point_impl_space<T, S>("implicit::fixed_point", g, z0, params, o.solver,
                                              o.backward, detail::convention{});
}

/// Finds z* with g(z*, θ) = 0 and returns it as a differentiable variable of θ.
///
/// The solvers run on the fixed-point map f(z) = z − α g(z, θ) (Broyden on f(z) − z = −α g is
/// Broyden on g with initial inverse Jacobian −α I). Residuals are reported as ‖g(z)‖ (per
/// sample when batched) and rel_tol is relative to ‖g(z0)‖. The implicit backward solves
/// (I − J_fᵀ) w = z̄, i.e. α J_gᵀ w = z̄, and accumulates θ̄ += −α (∂g/∂θ)ᵀ w = −(∂g/∂θ)ᵀ J_g⁻ᵀ z̄
/// (GMRES needs only J_g invertible; Picard/Anderson adjoints need f contractive).
/// @param g      callable ad::var<T> g(const ad::var<T>& z, const std::vector<ad::var<T>>& θ)
///               returning a variable of z's shape
/// @param z0     the initial iterate
/// @param params θ
/// @param o      solver, backward settings and α (default solver: Broyden)
/// @throws tessera::invalid_argument as fixed_point, and for α zero or not finite
template <floating_point_scalar T, class G>
fixed_point_result<T> root(G&& g, const tensor<T>& z0, const std::vector<ad::var<T>>& params,
                           const root_options& o = {}) {
  detail::check_map<T>("implicit::root", g);
  return detail::root_impl<T, host>(g, z0, params, o);
}

/// root on another memory space (z0 and θ on cuda, in a .cu file including
/// tessera/cuda/implicit.cuh), as fixed_point there: every solver on z − α g(z) (the default
/// Broyden included, two synchronisations per iteration), every backward mode.
/// @throws tessera::invalid_argument as the host form.
template <floating_point_scalar T, class S, class G>
  requires(!std::is_same_v<S, host>)
fixed_point_result<T, S> root(G&& g, const tensor<T, S>& z0,
                              const std::vector<ad::var<T, S>>& params,
                              const root_options& o = {}) {
  static_assert(std::is_invocable_r_v<ad::var<T, S>, const G&, const ad::var<T, S>&,
                                      const std::vector<ad::var<T, S>>&>,
                "implicit: g must be callable as ad::var<T, S> g(const ad::var<T, S>& z, const "
                "std::vector<ad::var<T, S>>& params)");
  return detail::root_impl<T, S>(g, z0, params, o);
}

}  // namespace tessera::implicit
