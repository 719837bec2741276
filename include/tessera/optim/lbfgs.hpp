// SPDX-License-Identifier: Apache-2.0
// L-BFGS with a strong-Wolfe line search (Nocedal & Wright, algorithms 7.4, 3.5 and 3.6) for
// deterministic, full-batch minimisation of a closure over a tensor or a list of param slots.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/core/tensor.hpp"
#include "tessera/ops/elementwise.hpp"
#include "tessera/optim/param.hpp"

namespace tessera::optim {

/// Why lbfgs stopped.
enum class lbfgs_status {
  gradient_tolerance,  ///< ‖g‖∞ ≤ grad_tolerance (converged)
  function_tolerance,  ///< the last step changed f by at most function_tolerance (converged)
  max_iterations,      ///< max_iterations line searches were done
  max_evaluations,     ///< max_evaluations calls of the objective were made
  line_search_failed,  ///< no step along steepest descent decreased f (often: at the
                       ///< limit of floating-point resolution near a minimum)
};

/// Settings of lbfgs.
template <floating_point_scalar T>
struct lbfgs_options {
  index_t history = 10;          ///< m, the number of (s, y) pairs kept, ≥ 1
  index_t max_iterations = 100;  ///< iterations (accepted line-search steps), ≥ 0
  index_t max_evaluations = 0;   ///< objective evaluations in all; 0: no limit
  T grad_tolerance = T(1e-7);    ///< converged when ‖g‖∞ ≤ this
  /// converged when |f_k − f_{k+1}| ≤ this · max(1, |f_k|, |f_{k+1}|)
  T function_tolerance = T(1e-9);
  T c1 = T(1e-4);  ///< sufficient-decrease constant of the Wolfe conditions
  T c2 = T(0.9);   ///< curvature constant, c1 < c2 < 1
  index_t max_line_search_evaluations = 25;  ///< evaluations per line search, ≥ 1
};

/// What lbfgs did. Non-convergence is reported here, not thrown.
template <floating_point_scalar T>
struct lbfgs_result {
  bool converged = false;  ///< status is gradient_tolerance or function_tolerance
  lbfgs_status status = lbfgs_status::max_iterations;
  index_t iterations = 0;   ///< accepted steps
  index_t evaluations = 0;  ///< calls of the objective, the first one included
  T value = T(0);           ///< f at the returned point
  T grad_norm = T(0);       ///< ‖g‖∞ at the returned point
};

namespace detail {

template <class R>
R cubic_minimizer(R x1, R f1, R g1, R x2, R f2, R g2, R lo, R hi) {
  // Minimiser of the cubic matching f and f' at x1 and x2 (N&W eq. 3.59), clamped to [lo, hi];
  // the midpoint when the cubic has no minimiser or the data are not finite.
  const R d1 = g1 + g2 - R(3) * (f1 - f2) / (x1 - x2);
  const R d2sq = d1 * d1 - g1 * g2;
  if (std::isfinite(d2sq) && d2sq >= R(0)) {
    const R d2 = std::sqrt(d2sq);
    const R m = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + R(2) * d2))
                         : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + R(2) * d2));
    if (std::isfinite(m)) return std::clamp(m, lo, hi);
  }
  return (lo + hi) / R(2);
}

/// xᵀy in accum_t precision with the fixed order of deterministic_sum (contiguous x, y of the
/// same size).
template <class T>
accum_t<T> dot_accum(const tensor<T>& x, const tensor<T>& y) {
  const T* a = x.data();
  const T* b = y.data();
  return deterministic_sum<accum_t<T>>(
      x.numel(), [a, b](index_t i) { return static_cast<accum_t<T>>(a[i]) * b[i]; });
}

/// ‖x‖∞ in accum_t precision; NaN when x holds one (contiguous x).
template <class T>
accum_t<T> norm_inf_accum(const tensor<T>& x) {
  const T* a = x.data();
  return deterministic_max<accum_t<T>>(
      x.numel(), [a](index_t i) { return std::abs(static_cast<accum_t<T>>(a[i])); });
}

/// The same on the device, reduced in double there and copied back (cuda/optim.cuh; each call
/// waits for the current stream).
template <class T>
double dot_accum(const tensor<T, cuda>& x, const tensor<T, cuda>& y);
template <class T>
double norm_inf_accum(const tensor<T, cuda>& x);

/// The L-BFGS engine over contiguous buffers shaped like `x`, in x's space: every vector
/// operation is a tensor op (copy_from, axpy_, scale_) or dot_accum / norm_inf_accum, so on
/// cuda the vectors stay on the device and only scalars reach the host. `eval(xe, ge,
/// iteration)` returns f(xe) and writes ∇f(xe) into ge. On return `x` holds the best point
/// found and `g_out` (same shape) its gradient.
template <class T, class Space, class Eval>
lbfgs_result<T> lbfgs_run(Eval&& eval, const tensor<T, Space>& x, const tensor<T, Space>& g_out,
                          const lbfgs_options<T>& o) {
  using V = tensor<T, Space>;
  using R = accum_t<T>;
  static_assert(std::is_floating_point_v<R>);
  constexpr const char* fn = "optim::lbfgs";
  const shape_t& shape = x.shape();
  const index_t m = o.history;

  lbfgs_result<T> res;
  index_t iteration = 0;
  auto evaluate = [&](const V& xe, const V& ge) -> R {
    const R f = static_cast<R>(eval(xe, ge, iteration));
    ++res.evaluations;
    if (std::isnan(f))
      throw_domain_error(fn, "the objective returned NaN at iteration ", iteration, " (evaluation ",
                         res.evaluations, ")");
    if (f == -std::numeric_limits<R>::infinity())
      throw_domain_error(fn, "the objective returned -inf at iteration ", iteration,
                         " (evaluation ", res.evaluations, "): it is unbounded below");
    return f;
  };
  auto dot = [](const V& a, const V& b) { return static_cast<R>(dot_accum(a, b)); };
  auto norm_inf = [](const V& a) { return static_cast<R>(norm_inf_accum(a)); };
  auto assign_diff = [](const V& out, const V& a, const V& b) {  // out = a − b
    out.copy_from(a);
    axpy_(out, T(-1), b);
  };

  // Current point (xc, gc), best point of the running line search (xb, gb), trial (xt, gt).
  V xc = x, gc = g_out;
  V xb(shape), gb(shape), xt(shape), gt(shape);
  V dir(shape);
  std::vector<V> s_hist(static_cast<std::size_t>(m)), y_hist(static_cast<std::size_t>(m));
  V s_new, y_new;  // a step's pair before its curvature test (then swapped into the history)
  std::vector<R> rho(static_cast<std::size_t>(m)), alpha(static_cast<std::size_t>(m));
  index_t hist_count = 0, hist_head = 0;  // pairs stored; slot of the next pair

  R f = evaluate(xc, gc);
  if (!std::isfinite(f)) throw_domain_error(fn, "the objective is ", f, " at the starting point");
  R gnorm = norm_inf(gc);
  auto check_gnorm = [&] {
    if (!std::isfinite(gnorm))
      throw_domain_error(fn, "the gradient is not finite (‖g‖∞ = ", gnorm, ") at iteration ",
                         iteration);
  };
  check_gnorm();

  auto finish = [&](lbfgs_status status) {
    res.status = status;
    res.converged =
        status == lbfgs_status::gradient_tolerance || status == lbfgs_status::function_tolerance;
    res.iterations = iteration;
    res.value = static_cast<T>(f);
    res.grad_norm = static_cast<T>(gnorm);
    if (xc.data() != x.data()) x.copy_from(xc);
    if (gc.data() != g_out.data()) g_out.copy_from(gc);
    return res;
  };
  if (gnorm <= static_cast<R>(o.grad_tolerance)) return finish(lbfgs_status::gradient_tolerance);

  const R c1 = o.c1, c2 = o.c2;
  const R eps = std::numeric_limits<T>::epsilon();
  auto budget_left = [&] { return o.max_evaluations <= 0 || res.evaluations < o.max_evaluations; };

  for (;;) {
    if (iteration >= o.max_iterations) return finish(lbfgs_status::max_iterations);
    if (!budget_left()) return finish(lbfgs_status::max_evaluations);

    // Search direction d = −H g by the two-loop recursion (N&W alg. 7.4), H₀ = γI with
    // γ = sᵀy / yᵀy of the newest pair; steepest descent when there is no history.
    const V& d = dir;
    const V& g = gc;
    R a0 = 1;
    d.copy_from(g);
    scale_(d, T(-1));  // d = −g (−1·g is exactly −g)
    if (hist_count == 0) {
      const R gn2 = std::sqrt(dot(g, g));
      a0 = std::min(R(1), R(1) / gn2);
    } else {
      for (index_t k = 0; k < hist_count; ++k) {
        const auto j = static_cast<std::size_t>((hist_head - 1 - k + m) % m);
        const R a = rho[j] * dot(s_hist[j], d);
        alpha[j] = a;
        axpy_(d, static_cast<T>(-a), y_hist[j]);  // d −= a y
      }
      {
        const auto j = static_cast<std::size_t>((hist_head - 1 + m) % m);
        scale_(d, static_cast<T>(R(1) / (rho[j] * dot(y_hist[j], y_hist[j]))));  // d ·= γ
      }
      for (index_t k = hist_count - 1; k >= 0; --k) {
        const auto j = static_cast<std::size_t>((hist_head - 1 - k + m) % m);
        axpy_(d, static_cast<T>(alpha[j] - rho[j] * dot(y_hist[j], d)), s_hist[j]);
      }
    }
    const R dg0 = dot(g, d);
    if (std::isnan(dg0))
      throw_domain_error(fn, "the gradient or search direction contains NaN at iteration ",
                         iteration);
    if (!(dg0 < 0)) {
      // Not a descent direction (rounding in H): restart from steepest descent.
      if (hist_count > 0) {
        hist_count = 0;
        continue;
      }
      return finish(lbfgs_status::line_search_failed);
    }

    // Strong-Wolfe line search on φ(a) = f(x + a d): bracketing (N&W alg. 3.5), then zoom
    // (alg. 3.6) with safeguarded cubic interpolation.
    ++iteration;  // evaluations below belong to this iteration
    const R f0 = f;
    const R dinf = norm_inf(d);
    const R xinf = norm_inf(xc);
    struct point {
      R a, f, dg;
    };
    bool best_is_origin = true;  // the best point so far is a = 0 (xc, gc)
    index_t ls_evals = 0;
    auto try_step = [&](R a) -> point {
      xt.copy_from(xc);
      axpy_(xt, static_cast<T>(a), d);  // xt = xc + a d
      const R ft = evaluate(xt, gt);
      ++ls_evals;
      const R dgt = dot(gt, d);
      if (std::isnan(dgt) && std::isfinite(ft))
        throw_domain_error(fn, "the gradient contains NaN at iteration ", iteration);
      return {a, ft, dgt};
    };
    auto keep_trial = [&] {  // the trial point becomes the best point
      std::swap(xb, xt);
      std::swap(gb, gt);
      best_is_origin = false;
    };
    auto armijo_fails = [&](const point& p) {
      return !std::isfinite(p.f) || p.f > f0 + c1 * p.a * dg0;
    };
    auto ls_budget = [&] { return ls_evals < o.max_line_search_evaluations && budget_left(); };

    bool found = false;
    point lo{0, f0, dg0}, hi{0, f0, dg0};
    bool zoom = false;
    R a = a0;
    point prev = lo;
    while (ls_budget()) {
      const point cur = try_step(a);
      if (armijo_fails(cur) || (ls_evals > 1 && cur.f >= prev.f)) {
        lo = prev;
        hi = cur;
        zoom = true;
        break;
      }
      if (std::abs(cur.dg) <= -c2 * dg0) {
        keep_trial();
        lo = cur;
        found = true;
        break;
      }
      keep_trial();
      if (cur.dg >= 0) {
        lo = cur;
        hi = prev;
        zoom = true;
        break;
      }
      // φ still decreasing: extrapolate to a longer step.
      const R next = cubic_minimizer(prev.a, prev.f, prev.dg, cur.a, cur.f, cur.dg,
                                     cur.a + R(0.01) * (cur.a - prev.a), R(10) * cur.a);
      prev = cur;
      lo = cur;
      a = next;
    }
    if (zoom) {
      while (ls_budget()) {
        const R w = std::abs(hi.a - lo.a);
        if (w * dinf <= eps * (R(1) + xinf)) break;  // the interval is below resolution
        const R left = std::min(lo.a, hi.a), right = std::max(lo.a, hi.a);
        R aj = std::isfinite(hi.f)
                   ? cubic_minimizer(lo.a, lo.f, lo.dg, hi.a, hi.f, hi.dg, left, right)
                   : (lo.a + hi.a) / R(2);
        // Keep away from the ends so that the interval shrinks by a fixed fraction.
        aj = std::clamp(aj, left + R(0.1) * w, right - R(0.1) * w);
        const point cur = try_step(aj);
        if (armijo_fails(cur) || cur.f >= lo.f) {
          hi = cur;
        } else {
          if (std::abs(cur.dg) <= -c2 * dg0) {
            keep_trial();
            lo = cur;
            found = true;
            break;
          }
          if (cur.dg * (hi.a - lo.a) >= 0) hi = lo;
          keep_trial();
          lo = cur;
        }
      }
    }
    // Without a strong-Wolfe point, a point with sufficient decrease (lo) is still a step.
    if (!found && best_is_origin) {
      --iteration;
      if (!budget_left()) return finish(lbfgs_status::max_evaluations);
      if (hist_count > 0) {
        hist_count = 0;
        continue;
      }
      return finish(lbfgs_status::line_search_failed);
    }

    // Accept (xb, gb); store s = x₊ − x, y = g₊ − g when the curvature sᵀy is positive. The
    // pair is formed outside the history: with the history full, the slot it goes to holds
    // the oldest pair still in use, which a rejected pair must not overwrite.
    {
      if (!s_new.defined()) {
        s_new = V(shape);
        y_new = V(shape);
      }
      assign_diff(s_new, xb, xc);
      assign_diff(y_new, gb, gc);
      const R sy = dot(s_new, y_new), yy = dot(y_new, y_new);
      if (sy > eps * yy && sy > 0) {
        const auto h = static_cast<std::size_t>(hist_head);
        std::swap(s_hist[h], s_new);  // the evicted pair's storage (if any) is the next scratch
        std::swap(y_hist[h], y_new);
        rho[hist_head] = R(1) / sy;
        hist_head = (hist_head + 1) % m;
        hist_count = std::min(hist_count + 1, m);
      }
    }
    std::swap(xc, xb);
    std::swap(gc, gb);
    const R f_old = f;
    f = lo.f;
    gnorm = norm_inf(gc);
    check_gnorm();
    if (gnorm <= static_cast<R>(o.grad_tolerance)) return finish(lbfgs_status::gradient_tolerance);
    if (std::abs(f_old - f) <=
        static_cast<R>(o.function_tolerance) * std::max({R(1), std::abs(f_old), std::abs(f)}))
      return finish(lbfgs_status::function_tolerance);
  }
}

template <class T>
void check_lbfgs_options(const lbfgs_options<T>& o) {
  constexpr const char* fn = "optim::lbfgs";
  if (o.history < 1) throw_invalid_argument(fn, "history ", o.history, " must be at least 1");
  if (o.max_iterations < 0)
    throw_invalid_argument(fn, "max_iterations ", o.max_iterations, " is negative");
  if (o.max_evaluations < 0)
    throw_invalid_argument(fn, "max_evaluations ", o.max_evaluations, " is negative");
  if (o.max_line_search_evaluations < 1)
    throw_invalid_argument(fn, "max_line_search_evaluations ", o.max_line_search_evaluations,
                           " must be at least 1");
  if (!(o.grad_tolerance >= T(0)))
    throw_invalid_argument(fn, "grad_tolerance ", o.grad_tolerance, " is negative or NaN");
  if (!(o.function_tolerance >= T(0)))
    throw_invalid_argument(fn, "function_tolerance ", o.function_tolerance, " is negative or NaN");
  if (!(T(0) < o.c1 && o.c1 < o.c2 && o.c2 < T(1)))
    throw_invalid_argument(fn, "line-search constants c1 ", o.c1, " and c2 ", o.c2,
                           " must satisfy 0 < c1 < c2 < 1");
}

}  // namespace detail

/// Minimises f over x with L-BFGS (Nocedal & Wright alg. 7.4/7.5) and a strong-Wolfe line
/// search (alg. 3.5/3.6, cubic interpolation). Each iteration, with the last m pairs
/// sᵢ = xᵢ₊₁ − xᵢ, yᵢ = ∇fᵢ₊₁ − ∇fᵢ (kept only when sᵢᵀyᵢ > 0):
///
///     d = −H g            (two-loop recursion, H₀ = (sᵀy / yᵀy) I from the newest pair)
///     x ← x + a d         where a satisfies  f(x + a d) ≤ f(x) + c₁ a gᵀd
///                                           |∇f(x + a d)ᵀd| ≤ c₂ |gᵀd|
///
/// The first step (and the first after a restart) is steepest descent with a ≤ 1/‖g‖₂; later
/// ones try a = 1 first. A failed line search restarts from steepest descent once.
/// Deterministic: dot products use a fixed summation order.
///
/// Cuda tensors (in a .cu file including <tessera/cuda.hpp>): the same algorithm with x, the
/// gradients, the direction and the (s, y) history as device tensors; the vector updates are
/// cuda ops and the dot products and ∞-norms are reduced in double on the device, so the host
/// holds only scalars (each reduction copies one double back and waits for the stream). The
/// iterates equal the host's up to floating-point rounding (summation order, FMA).
///
/// @param f the objective `T f(const tensor<T, Space>& x, tensor<T, Space>& grad_out)`:
///        returns f(x) and writes ∇f(x) into grad_out (preallocated, x's shape and space;
///        assigning a new tensor of that shape to grad_out is also accepted). x is a work
///        buffer, not the caller's tensor.
/// @param x the starting point (contiguous; any shape); overwritten with the best point.
/// @param options tolerances and limits.
/// @return convergence flag, status, iterations, evaluations, final f and ‖g‖∞.
/// @throws tessera::invalid_argument for a non-contiguous or undefined x, bad options, or a
///         grad_out of the wrong shape.
/// @throws tessera::domain_error when f returns NaN (or −∞, or a non-finite value at the
///         start) or the gradient holds NaN; the message names the iteration.
template <floating_point_scalar T, class Space, class F>
  requires std::is_invocable_r_v<T, F&, const tensor<T, Space>&, tensor<T, Space>&>
lbfgs_result<T> lbfgs(F&& f, const tensor<T, Space>& x, const lbfgs_options<T>& options = {}) {
  using V = tensor<T, Space>;
  constexpr const char* fn = "optim::lbfgs";
  detail::check_lbfgs_options(options);
  if (!x.defined()) throw_invalid_argument(fn, "x is undefined");
  if (!x.is_contiguous())
    throw_invalid_argument(fn, "x of shape ", x.shape().str(), " and strides ", x.strides().str(),
                           " is not contiguous");
  V g(x.shape());
  auto eval = [&](const V& xe, const V& ge, index_t iteration) -> T {
    V out = ge;
    const T v = f(xe, out);
    if (out.data() != ge.data() || !(out.shape() == ge.shape())) {
      if (!out.defined() || !(out.shape() == ge.shape()))
        throw_invalid_argument(fn, "the objective set grad_out to shape ",
                               out.defined() ? out.shape().str() : std::string("undefined"),
                               " for x of shape ", xe.shape().str(), " at iteration ", iteration);
      ge.copy_from(out);
    }
    return v;
  };
  return detail::lbfgs_run<T>(eval, x, g, options);
}

/// L-BFGS over parameter slots: the same algorithm on the concatenation of all values.
/// `closure()` must evaluate the objective at the slots' current values, fill their grads
/// and return f; a grad left undefined counts as zero. On return the values hold the best
/// point and the defined grads its gradient. Cuda slots work as the cuda tensor overload
/// (values and grads are gathered into one device vector with device copies).
/// @param closure `T closure()`.
/// @param slots the parameters (values contiguous; see param_slot).
/// @param options tolerances and limits.
/// @return as the tensor overload.
/// @throws tessera::invalid_argument for bad slots or options, or a grad whose shape differs
///         from its value's after the closure.
/// @throws tessera::domain_error when the closure returns NaN, naming the iteration.
template <floating_point_scalar T, class Closure, class Space = host>
  requires std::is_invocable_r_v<T, Closure&>
lbfgs_result<T> lbfgs(Closure&& closure, const std::vector<param_slot<T, Space>>& slots,
                      const lbfgs_options<T>& options = {}) {
  using V = tensor<T, Space>;
  constexpr const char* fn = "optim::lbfgs";
  detail::check_lbfgs_options(options);
  detail::check_slots(fn, slots);
  std::vector<index_t> offset(slots.size() + 1, 0);
  std::vector<shape_t> shapes(slots.size());
  for (std::size_t i = 0; i < slots.size(); ++i) {
    shapes[i] = slots[i].value->shape();
    offset[i + 1] = offset[i] + slots[i].value->numel();
  }
  const index_t n = offset.back();
  // Slot i's part of a flat vector v, as a contiguous view of slot i's shape.
  auto part = [&](const V& v, std::size_t i) {
    return V(v.storage(), shapes[i], contiguous_strides(shapes[i]), v.offset() + offset[i]);
  };
  auto empty = [&](std::size_t i) { return offset[i + 1] == offset[i]; };
  V x(shape_t{n}), g(shape_t{n});
  for (std::size_t i = 0; i < slots.size(); ++i)
    if (!empty(i)) part(x, i).copy_from(*slots[i].value);

  auto eval = [&](const V& xe, const V& ge, index_t iteration) -> T {
    for (std::size_t i = 0; i < slots.size(); ++i)
      if (!empty(i)) slots[i].value->copy_from(part(xe, i));
    const T v = closure();
    for (std::size_t i = 0; i < slots.size(); ++i) {
      detail::check_slot(fn, i, slots[i]);
      if (!(slots[i].value->shape() == shapes[i]))
        throw_invalid_argument(fn, "parameter ", i, ": the closure changed the value shape from ",
                               shapes[i].str(), " to ", slots[i].value->shape().str(),
                               " at iteration ", iteration);
      if (empty(i)) continue;
      if (detail::has_grad(slots[i]))
        part(ge, i).copy_from(*slots[i].grad);
      else
        part(ge, i).fill_(T(0));
    }
    return v;
  };
  lbfgs_result<T> r = detail::lbfgs_run<T>(eval, x, g, options);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (empty(i)) continue;
    slots[i].value->copy_from(part(x, i));
    if (detail::has_grad(slots[i])) slots[i].grad->copy_from(part(g, i));
  }
  return r;
}

}  // namespace tessera::optim
