// SPDX-License-Identifier: Apache-2.0
// Restarted GMRES on a matrix-free linear operator over tensors: the Krylov solver of the
// implicit backward's adjoint system (I − J_fᵀ) w = z̄.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "tessera/core/creation.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/tensor.hpp"
#include "tessera/implicit/detail/rows.hpp"
#include "tessera/implicit/options.hpp"
#include "tessera/implicit/solve.hpp"

namespace tessera::implicit {

/// Settings of gmres.
struct gmres_options {
  int restart = 20;        ///< Krylov dimension before a restart, 1 … 4096
  int max_iter = 100;      ///< applications of A at most (restart residuals included), ≥ 2
  double abs_tol = 1e-10;  ///< stop when ‖b − A x‖ ≤ max(abs_tol, rel_tol ‖b‖), ≥ 0
  double rel_tol = 1e-8;   ///< see abs_tol, ≥ 0
  bool batched = false;    ///< the tolerance per sample along axis 0 (‖b_i − (A x)_i‖ ≤
                           ///< max(abs_tol, rel_tol ‖b_i‖) for every sample i), with per-sample
                           ///< residuals in the report (the Krylov space is still built over
                           ///< the whole tensor)
};

namespace detail {

template <class T>
double norm2(const tensor<T>& t) {
  double d = 0;
  row_dots(t.data(), t.data(), 1, t.numel(), &d);
  return std::sqrt(d);
}

/// y = a + c·x (fresh tensor; a, x contiguous of the same shape).
template <class T>
tensor<T> axpy(const tensor<T>& a, double c, const tensor<T>& x) {
  tensor<T> y(a.shape());
  T* py = y.data();
  const T *pa = a.data(), *px = x.data();
  const T cc = static_cast<T>(c);
  for_rows(1, a.numel(), [&](index_t, index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) py[i] = pa[i] + cc * px[i];
  });
  return y;
}

/// y = c·x (fresh tensor).
template <class T>
tensor<T> scaled(const tensor<T>& x, double c) {
  tensor<T> y(x.shape());
  T* py = y.data();
  const T* px = x.data();
  const T cc = static_cast<T>(c);
  for_rows(1, x.numel(), [&](index_t, index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) py[i] = cc * px[i];
  });
  return y;
}

/// In place: x += c·v.
template <class T>
void axpy_(tensor<T>& x, double c, const tensor<T>& v) {
  T* px = x.data();
  const T* pv = v.data();
  const T cc = static_cast<T>(c);
  for_rows(1, x.numel(), [&](index_t, index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) px[i] += cc * pv[i];
  });
}

/// The vector operations of gmres on spaces other than host (cuda): the solver passes of
/// solver_kernels<S> (residual_pass for every inner product of one vector with a list of
/// vectors at once, in double; combine for linear combinations), orthogonalising by classical
/// Gram–Schmidt applied twice (CGS2: as accurate as MGS, three synchronisations per Arnoldi step
/// instead of j + 2). Written for any S that has solver_kernels<S>, so a test can run it on the
/// host too.
template <class T, class S>
struct krylov_ops_space {
  using kernels = solver_kernels<S>;
  tensor<T, S> zero;  // x of the residual passes (r = f − 0 = f exactly)

  explicit krylov_ops_space(const shape_t& shape) : zero(shape) { zero.fill_(T(0)); }

  /// Per-row ⟨f, f⟩ (rows of the layout) and ⟨f, others_j⟩ for one row.
  residual_pass_result<T, S> pass(const tensor<T, S>& f, const std::vector<tensor<T, S>>& others,
                                  index_t rows) const {
    return kernels::template residual_pass<T>(f, zero, 0.0, others, rows, false);
  }
  void row_sq_norms(const tensor<T, S>& t, row_layout L, double* out) const {
    const residual_pass_result<T, S> p = pass(t, {}, L.rows);
    std::copy(p.dots.begin(), p.dots.begin() + L.rows, out);
  }
  double norm2(const tensor<T, S>& t) const { return std::sqrt(pass(t, {}, 1).dots[0]); }
  static tensor<T, S> zeros_like(const shape_t& shape) {
    tensor<T, S> t(shape);
    t.fill_(T(0));
    return t;
  }
  static tensor<T, S> scaled(const tensor<T, S>& x, double c) { return x * static_cast<T>(c); }
  static tensor<T, S> minus(const tensor<T, S>& a, const tensor<T, S>& b) { return a - b; }
  /// w − Σ_i c_i V_i over the first n basis vectors.
  static tensor<T, S> subtract(const tensor<T, S>& w, const std::vector<tensor<T, S>>& V, int n,
                               const std::vector<double>& c, double sign) {
    std::vector<tensor<T, S>> terms{w};
    std::vector<double> coef{1.0};
    for (int i = 0; i < n; ++i) {
      terms.push_back(V[static_cast<std::size_t>(i)]);
      coef.push_back(sign * c[static_cast<std::size_t>(i)]);
    }
    return kernels::template combine<T>(terms, coef, 1);
  }
  /// Orthogonalises w against V[0..j] (h[i] = ⟨w, V_i⟩, summed over both passes) and returns
  /// ‖w‖ afterwards.
  double orthogonalize(tensor<T, S>& w, const std::vector<tensor<T, S>>& V, int j,
                       double* h) const {
    const std::vector<tensor<T, S>> basis(V.begin(), V.begin() + j + 1);
    std::vector<double> c(static_cast<std::size_t>(j + 1));
    for (int i = 0; i <= j; ++i) h[i] = 0;
    for (int twice = 0; twice < 2; ++twice) {
      const residual_pass_result<T, S> p = pass(w, basis, 1);
      for (int i = 0; i <= j; ++i) {
        c[static_cast<std::size_t>(i)] = p.dots[static_cast<std::size_t>(2 + i)];
        h[i] += c[static_cast<std::size_t>(i)];
      }
      w = subtract(w, V, j + 1, c, -1.0);
    }
    return norm2(w);
  }
  /// x + Σ_i y_i V_i over the first k basis vectors.
  static tensor<T, S> update(const tensor<T, S>& x, const std::vector<tensor<T, S>>& V, int k,
                             const std::vector<double>& y) {
    return subtract(x, V, k, y, 1.0);
  }
};

/// The vector operations of gmres in space S: krylov_ops_space, or on the host modified
/// Gram–Schmidt with the deterministic row_dots.
template <class T, class S>
struct krylov_ops : krylov_ops_space<T, S> {
  using krylov_ops_space<T, S>::krylov_ops_space;
};

template <class T>
struct krylov_ops<T, host> {
  explicit krylov_ops(const shape_t&) {}
  static void row_sq_norms(const tensor<T>& t, row_layout L, double* out) {
    row_dots(t.data(), t.data(), L.rows, L.n, out);
  }
  static double norm2(const tensor<T>& t) { return detail::norm2(t); }
  static tensor<T> zeros_like(const shape_t& shape) { return zeros<T>(shape); }
  static tensor<T> scaled(const tensor<T>& x, double c) { return detail::scaled(x, c); }
  static tensor<T> minus(const tensor<T>& a, const tensor<T>& b) { return axpy(a, -1.0, b); }
  /// Modified Gram–Schmidt of w (a fresh copy) against V[0..j]; returns ‖w‖ afterwards.
  static double orthogonalize(tensor<T>& w, const std::vector<tensor<T>>& V, int j, double* h) {
    w = w.clone();
    for (int i = 0; i <= j; ++i) {
      double d = 0;
      row_dots(w.data(), V[static_cast<std::size_t>(i)].data(), 1, w.numel(), &d);
      h[i] = d;
      axpy_(w, -d, V[static_cast<std::size_t>(i)]);
    }
    return detail::norm2(w);
  }
  /// x + Σ_i y_i V_i in a fresh tensor (A may have kept the x it was given).
  static tensor<T> update(const tensor<T>& x_in, const std::vector<tensor<T>>& V, int k,
                          const std::vector<double>& y) {
    tensor<T> x = x_in.clone();
    for (int i = 0; i < k; ++i)
      axpy_(x, y[static_cast<std::size_t>(i)], V[static_cast<std::size_t>(i)]);
    return x;
  }
};

/// gmres with the vector operations of Ops (krylov_ops<T, S> there).
template <class Ops, class T, class S, class Op>
solution<T, S> gmres_with(Op& A, const tensor<T, S>& b_in, const gmres_options& o) {
  constexpr const char* fn = "implicit::gmres";
  detail::check_count(fn, "restart", o.restart, 1, detail::max_restart);
  // One application for a Krylov step and one for the true residual at the cycle's end.
  detail::check_count(fn, "max_iter", o.max_iter, 2);
  detail::check_tol(fn, "abs_tol", o.abs_tol);
  detail::check_tol(fn, "rel_tol", o.rel_tol);
  const detail::row_layout L = detail::layout_of(fn, b_in, o.batched, "b");
  const tensor<T, S> b = b_in.contiguous();
  const shape_t shape = b.shape();
  const auto sz = [](index_t i) { return static_cast<std::size_t>(i); };
  const Ops ops(shape);

  int applies = 0;
  const auto apply = [&](const tensor<T, S>& v) {
    tensor<T, S> y = A(v);
    ++applies;
    if (!y.defined() || !(y.shape() == shape))
      throw_invalid_argument(fn, "A returned ", y.defined() ? y.shape().str() : "undefined",
                             " for x of shape ", shape.str());
    return y.contiguous();
  };

  solution<T, S> out;
  solve_result& info = out.info;
  tensor<T, S> x = ops.zeros_like(shape);
  tensor<T, S> r = b;
  // Each sample's tolerance (one sample unless batched). A cycle ends early once the residual
  // estimate (of the whole tensor) meets the smallest of them, which every sample then meets;
  // restarts go on until each sample's true residual meets its own.
  std::vector<double> rs(sz(L.rows)), row_tol(sz(L.rows));
  ops.row_sq_norms(b, L, rs.data());
  for (index_t i = 0; i < L.rows; ++i)
    row_tol[sz(i)] = std::max(o.abs_tol, o.rel_tol * std::sqrt(rs[sz(i)]));
  const double tol = *std::min_element(row_tol.begin(), row_tol.end());
  // Sets beta (the whole residual) from the per-sample squared norms in rs; true when every
  // sample meets its tolerance.
  double beta = 0;
  const auto measure = [&] {
    double total = 0;
    bool all = true;
    for (index_t i = 0; i < L.rows; ++i) {
      total += rs[sz(i)];
      all = all && std::sqrt(rs[sz(i)]) <= row_tol[sz(i)];
    }
    beta = std::sqrt(total);
    return all;
  };
  bool done = measure();
  info.residual_history.push_back(beta);
  // The iterate with the lowest true residual so far (x = 0 at first): what is returned. In
  // float the Krylov basis loses orthogonality near the type's precision, and a cycle past it
  // can land far from the solution.
  tensor<T, S> best_x = x, best_r = r;
  std::vector<double> best_rs = rs;
  double best_beta = beta;
  // An Arnoldi step whose new direction is this small against ‖A v_j‖ is a breakdown: what is
  // left is rounding, not a direction of the Krylov space.
  const double breakdown = 64 * static_cast<double>(std::numeric_limits<T>::epsilon());

  const int m = o.restart;
  std::vector<double> H(sz((m + 1) * m)), cs(sz(m)), sn(sz(m)), g(sz(m + 1)), y(sz(m)), hcol(sz(m));
  const auto h = [&](int i, int j) -> double& { return H[sz(i * m + j)]; };
  // Keep one application in reserve for the true residual at the end of a cycle.
  while (!done && std::isfinite(beta) && applies + 1 < o.max_iter) {
    std::vector<tensor<T, S>> V;
    V.push_back(ops.scaled(r, 1.0 / beta));
    std::fill(g.begin(), g.end(), 0.0);
    g[0] = beta;
    int k = 0;
    for (int j = 0; j < m && applies + 1 < o.max_iter; ++j) {
      tensor<T, S> w = apply(V[sz(j)]);
      const double hn = ops.orthogonalize(w, V, j, hcol.data());
      double wnorm = hn * hn;  // ‖A v_j‖², the basis being orthonormal
      for (int i = 0; i <= j; ++i) wnorm += hcol[sz(i)] * hcol[sz(i)];
      wnorm = std::sqrt(wnorm);
      for (int i = 0; i <= j; ++i) h(i, j) = hcol[sz(i)];
      h(j + 1, j) = hn;
      for (int i = 0; i < j; ++i) {
        const double t = cs[sz(i)] * h(i, j) + sn[sz(i)] * h(i + 1, j);
        h(i + 1, j) = -sn[sz(i)] * h(i, j) + cs[sz(i)] * h(i + 1, j);
        h(i, j) = t;
      }
      const double den = std::hypot(h(j, j), hn);
      if (!(den > 0) || !std::isfinite(den)) break;  // A V_j = 0 or non-finite: stop the cycle
      cs[sz(j)] = h(j, j) / den;
      sn[sz(j)] = hn / den;
      h(j, j) = den;
      h(j + 1, j) = 0;
      g[sz(j + 1)] = -sn[sz(j)] * g[sz(j)];
      g[sz(j)] = cs[sz(j)] * g[sz(j)];
      k = j + 1;
      info.residual_history.push_back(std::abs(g[sz(j + 1)]));
      if (std::abs(g[sz(j + 1)]) <= tol || hn <= breakdown * wnorm) break;  // converged/breakdown
      V.push_back(ops.scaled(w, 1.0 / hn));
    }
    if (k == 0) break;
    for (int i = k; i-- > 0;) {
      double s = g[sz(i)];
      for (int l = i + 1; l < k; ++l) s -= h(i, l) * y[sz(l)];
      y[sz(i)] = s / h(i, i);
    }
    x = ops.update(x, V, k, y);
    const tensor<T, S> ax = apply(x);
    r = ops.minus(b, ax);
    ops.row_sq_norms(r, L, rs.data());
    done = measure();
    info.residual_history.push_back(beta);
    if (!(beta < best_beta)) {
      // No better than where the cycle started: the same cycle again would do the same (it is
      // deterministic), so stop at the best iterate.
      x = best_x;
      r = best_r;
      rs = best_rs;
      done = measure();
      break;
    }
    best_x = x;
    best_r = r;
    best_rs = rs;
    best_beta = beta;
  }

  info.iterations = applies;
  info.residual = beta;
  info.converged = true;
  for (index_t i = 0; i < L.rows; ++i) {
    const double ri = std::sqrt(rs[sz(i)]);
    const bool c = ri <= row_tol[sz(i)];
    info.sample_residuals.push_back(ri);
    info.sample_converged.push_back(c);
    info.converged = info.converged && c;
  }
  out.z = x;
  return out;
}

}  // namespace detail

/// Solves A x = b by restarted GMRES(restart) from x = 0, for a linear operator A given as a
/// callable tensor<T, S>(const tensor<T, S>&) (matrix-free: VJPs, JVPs, stencils), on the host
/// or, in a .cu file including tessera/cuda/implicit.cuh, on cuda tensors.
///
/// Each cycle builds an orthonormal Krylov basis V of span{r, A r, …} (Arnoldi,
/// A V_k = V_{k+1} H̄_k; host: modified Gram–Schmidt, cuda: classical Gram–Schmidt twice with
/// the inner products of one step in one pass, accumulated in double), keeps the least-squares
/// problem min ‖β e₁ − H̄ y‖ triangular with Givens rotations (|last entry| is the residual
/// norm), and updates x += V_k y at the end of the cycle, where the true residual b − A x is
/// recomputed. The report's history lists ‖b‖ (the residual of x = 0), then the residual after
/// each application of A (estimates inside a cycle, true residuals at restarts): iterations + 1
/// entries, iterations counting applications of A. With o.batched a restart follows until every
/// sample's true residual meets its own tolerance (or the budget ends); converged says that all
/// did. An Arnoldi step whose new direction is below 64 ε (of T) times ‖A v_j‖ ends the cycle
/// (breakdown: in float, tolerances under about 1e-6 relative are rounding); a cycle that does
/// not lower the true residual ends the solve, and the iterate with the lowest true residual is
/// returned, with its residuals in the report.
/// @throws tessera::invalid_argument for invalid settings, an undefined or empty b, or an A
///         whose result has another shape
template <floating_point_scalar T, class S, class Op>
solution<T, S> gmres(Op&& A, const tensor<T, S>& b_in, const gmres_options& o = {}) {
  static_assert(std::is_invocable_r_v<tensor<T, S>, Op&, const tensor<T, S>&>,
                "implicit::gmres: A must be callable as tensor<T, S> A(const tensor<T, S>&)");
  return detail::gmres_with<detail::krylov_ops<T, S>>(A, b_in, o);
}

}  // namespace tessera::implicit
