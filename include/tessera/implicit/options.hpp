// SPDX-License-Identifier: Apache-2.0
// Settings and reports of tessera::implicit: which solver, tolerances and budgets, which
// backward mode, and the solve_result every solve returns (non-convergence is data).
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "tessera/core/error.hpp"

namespace tessera::implicit {

/// The forward (values-only) solver of z = f(z).
enum class solver_method {
  picard,    ///< damped fixed-point iteration z ← z + β (f(z) − z)
  anderson,  ///< Anderson acceleration (type II, history m, Tikhonov λ, mixing β)
  broyden,   ///< limited-memory good Broyden on g(z) = f(z) − z (inverse-Jacobian updates)
};

/// The solver of the adjoint system w = J_fᵀ w + z̄ in the implicit backward.
enum class adjoint_method {
  picard,    ///< w ← w + β (J_fᵀ w + z̄ − w) (converges when J_f is contractive)
  anderson,  ///< Anderson acceleration on the same map (the FNO-DEQ reference)
  gmres,     ///< restarted GMRES on (I − J_fᵀ) w = z̄ (needs only I − J_f invertible)
};

/// How gradients flow through a fixed point.
enum class backward_mode {
  implicit,  ///< exact: implicit function theorem, adjoint solve on VJPs of f at z*
  phantom,   ///< k damped steps z ← (1−τ) z + τ f(z, θ) from the detached z*, recorded
  unroll,    ///< n steps of damped Picard from z0, all recorded (no forward solve)
};

/// Settings of the forward solver (tessera::implicit::solve and the forward pass of
/// fixed_point / root). A solve stops when every sample satisfies
/// ‖f(z) − z‖ ≤ max(abs_tol, rel_tol · ‖f(z)‖) (Frobenius norms; per sample when batched)
/// or after max_iter evaluations of f; it returns the lowest-residual iterate either way.
struct solver_options {
  solver_method method = solver_method::anderson;
  int max_iter = 50;         ///< evaluations of f at most, ≥ 1
  double abs_tol = 1e-10;    ///< absolute residual tolerance, ≥ 0
  double rel_tol = 1e-6;     ///< residual tolerance relative to ‖f(z)‖, ≥ 0
  bool full_budget = false;  ///< run all max_iter evaluations even after converging (the
                             ///< FNO-DEQ reference's behaviour); still returns the best iterate
  bool batched = false;      ///< axis 0 indexes independent samples: per-sample residuals,
                             ///< tolerances, Anderson/Broyden coefficients and best iterates
  double damping = 1.0;      ///< Picard β in (0, 1]
  int history = 5;           ///< Anderson m, 1 … 1024
  double lambda = 1e-8;      ///< Anderson Tikhonov λ, ≥ 0 (see relative_lambda)
  /// Anderson: regularise G Gᵀ with λ · max_i ‖g_i‖² · I (scale-invariant) rather than with
  /// λ · I. The FNO-DEQ reference uses the absolute form with λ = 1e-4 (set false for parity);
  /// an absolute λ dominates once residuals fall below √λ, and Anderson then degrades to an
  /// average of past iterates (slower than Picard near the solution, and from the start in
  /// adjoint solves whose z̄ is small).
  bool relative_lambda = true;
  double mixing = 1.0;           ///< Anderson β in (0, 1]
  int broyden_memory = 30;       ///< Broyden rank-one updates kept, 1 … 1024
  double broyden_restart = 1e3;  ///< Broyden safeguard: a step whose residual exceeds this
                                 ///< factor times the best one restarts from the best iterate
                                 ///< with an empty memory, > 1
  /// cuda: from the second evaluation of f on, replay one CUDA graph capture of f per solve
  /// (one launch for all of f's kernels; the same kernels, so the same results). f must then
  /// keep cuda_rt::graph's rules: no copies to the host, no synchronisation, temporaries that
  /// die inside f, and only tensors that outlive the solve read. The host ignores it, and so
  /// do the adjoint solves of fixed_point's implicit backward.
  bool graph = false;
  /// cuda, Picard and Anderson (history ≤ 7): keep every per-iteration decision on the device
  /// (residuals, tolerances, the best iterate, Anderson's small systems and safeguards), so the
  /// host enqueues the whole solve without waiting and reads its report once, at the end. The
  /// solve then always runs all max_iter evaluations (as full_budget) and returns the iterate
  /// and report of the synchronised solve with full_budget, up to rounding: the device fuses
  /// multiply-adds in the small systems (Picard, which has none, gives the same bits while
  /// every residual is finite). The host ignores it, and so do Broyden and the adjoint solves
  /// of the implicit backward.
  bool device_resident = false;
};

/// Settings of the backward pass of fixed_point / root.
struct backward_options {
  backward_mode mode = backward_mode::implicit;
  adjoint_method method = adjoint_method::gmres;  ///< implicit mode's adjoint solver
  int max_iter = 100;      ///< adjoint VJP applications at most, ≥ 1 (≥ 2 with GMRES)
  double abs_tol = 1e-10;  ///< ‖w − J_fᵀ w − z̄‖ ≤ max(abs_tol, rel_tol ‖z̄‖), ≥ 0
  double rel_tol = 1e-8;     ///< see abs_tol, ≥ 0
  int restart = 20;          ///< GMRES Krylov dimension before a restart, 1 … 4096
  int phantom_steps = 1;     ///< phantom mode's k, ≥ 1
  double phantom_tau = 0.5;  ///< phantom mode's τ in (0, 1]
  int unroll_steps = 8;      ///< unroll mode's n, ≥ 1 (the step uses solver.damping)
};

/// Everything fixed_point needs: the forward solver and the backward mode.
struct options {
  solver_options solver{};
  backward_options backward{};
};

/// Everything root needs. The solvers work on f(z) = z − α g(z), whose fixed points are the
/// roots of g; residuals are reported as ‖g(z)‖ and rel_tol is relative to ‖g(z0)‖.
struct root_options {
  solver_options solver = {.method = solver_method::broyden};
  backward_options backward{};
  double alpha = 1.0;  ///< α ≠ 0: step of the Picard/Anderson map and scale of the adjoint
};

/// What a solve did. Residuals are Frobenius norms ‖f(z) − z‖ (‖g(z)‖ for root; the linear
/// residual ‖z̄ − (w − J_fᵀ w)‖ for adjoint solves), accumulated in double.
struct solve_result {
  bool converged = false;  ///< every sample met its tolerance
  int iterations = 0;      ///< evaluations of f (or adjoint VJPs); 0: not run yet
  double residual = std::numeric_limits<double>::infinity();  ///< of the returned iterate
  std::vector<double> residual_history;  ///< residual of each evaluated iterate, in order
  std::vector<double> sample_residuals;  ///< per sample (axis 0) when batched, else one entry
  std::vector<bool> sample_converged;    ///< per sample, as sample_residuals
  int safeguard_steps = 0;  ///< steps that left the plain update: Anderson λ raised or Picard
                            ///< fallback, Broyden update skipped or memory reset, restarts
                            ///< from the best iterate after a non-finite residual
};

namespace detail {

inline void check_count(const char* fn, const char* name, long long v, long long lo) {
  if (v < lo) throw_invalid_argument(fn, name, " = ", v, " must be at least ", lo);
}

/// The largest Anderson history and Broyden memory, and the largest GMRES Krylov dimension:
/// beyond them the solvers' small dense systems (m² per sample, (m + 1)·m) only cost memory
/// (a history of 100000 asked for 80 GB up front, and a restart above 46340 overflowed int).
inline constexpr long long max_history = 1024, max_restart = 4096;

inline void check_count(const char* fn, const char* name, long long v, long long lo, long long hi) {
  check_count(fn, name, v, lo);
  if (v > hi) throw_invalid_argument(fn, name, " = ", v, " must be at most ", hi);
}

inline void check_tol(const char* fn, const char* name, double v) {
  if (!(v >= 0) || !std::isfinite(v))
    throw_invalid_argument(fn, name, " = ", v, " must be finite and non-negative");
}

inline void check_unit(const char* fn, const char* name, double v) {
  if (!(v > 0 && v <= 1)) throw_invalid_argument(fn, name, " = ", v, " must lie in (0, 1]");
}

inline void validate(const char* fn, const solver_options& o) {
  check_count(fn, "solver.max_iter", o.max_iter, 1);
  check_tol(fn, "solver.abs_tol", o.abs_tol);
  check_tol(fn, "solver.rel_tol", o.rel_tol);
  check_unit(fn, "solver.damping", o.damping);
  check_count(fn, "solver.history (Anderson m)", o.history, 1, max_history);
  check_tol(fn, "solver.lambda (Anderson Tikhonov)", o.lambda);
  check_unit(fn, "solver.mixing (Anderson beta)", o.mixing);
  check_count(fn, "solver.broyden_memory", o.broyden_memory, 1, max_history);
  if (!(o.broyden_restart > 1))
    throw_invalid_argument(fn, "solver.broyden_restart = ", o.broyden_restart,
                           " must be greater than 1");
  if (o.method != solver_method::picard && o.method != solver_method::anderson &&
      o.method != solver_method::broyden)
    throw_invalid_argument(fn, "solver.method = ", static_cast<int>(o.method),
                           " is not a solver_method");
}

inline void validate(const char* fn, const backward_options& o) {
  if (o.mode != backward_mode::implicit && o.mode != backward_mode::phantom &&
      o.mode != backward_mode::unroll)
    throw_invalid_argument(fn, "backward.mode = ", static_cast<int>(o.mode),
                           " is not a backward_mode");
  if (o.method != adjoint_method::picard && o.method != adjoint_method::anderson &&
      o.method != adjoint_method::gmres)
    throw_invalid_argument(fn, "backward.method = ", static_cast<int>(o.method),
                           " is not an adjoint_method");
  check_count(fn, "backward.max_iter", o.max_iter, 1);
  // GMRES spends one VJP on a Krylov step and one on the true residual at the cycle's end.
  if (o.mode == backward_mode::implicit && o.method == adjoint_method::gmres)
    check_count(fn, "backward.max_iter (GMRES adjoint)", o.max_iter, 2);
  check_tol(fn, "backward.abs_tol", o.abs_tol);
  check_tol(fn, "backward.rel_tol", o.rel_tol);
  check_count(fn, "backward.restart", o.restart, 1, max_restart);
  check_count(fn, "backward.phantom_steps", o.phantom_steps, 1);
  check_unit(fn, "backward.phantom_tau", o.phantom_tau);
  check_count(fn, "backward.unroll_steps", o.unroll_steps, 1);
}

}  // namespace detail

}  // namespace tessera::implicit
