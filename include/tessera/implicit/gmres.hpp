// SPDX-License-Identifier: Apache-2.0
// Restarted GMRES on a matrix-free linear operator over tensors: the Krylov solver of the
// implicit backward's adjoint system (I − J_fᵀ) w = z̄.
#pragma once

#include <cmath>
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
  int restart = 20;        ///< Krylov dimension before a restart, ≥ 1
  int max_iter = 100;      ///< applications of A at most (restart residuals included), ≥ 1
  double abs_tol = 1e-10;  ///< stop when ‖b − A x‖ ≤ max(abs_tol, rel_tol ‖b‖), ≥ 0
  double rel_tol = 1e-8;   ///< see abs_tol, ≥ 0
  bool batched = false;    ///< report per-sample residuals along axis 0 (the Krylov space is
                           ///< still built over the whole tensor)
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

}  // namespace detail

/// Solves A x = b by restarted GMRES(restart) from x = 0, for a linear operator A given as a
/// callable tensor<T>(const tensor<T>&) (matrix-free: VJPs, JVPs, stencils).
///
/// Each cycle builds an orthonormal Krylov basis V of span{r, A r, …} by modified
/// Gram–Schmidt (Arnoldi, A V_k = V_{k+1} H̄_k), keeps the least-squares problem
/// min ‖β e₁ − H̄ y‖ triangular with Givens rotations (|last entry| is the residual norm), and
/// updates x += V_k y at the end of the cycle, where the true residual b − A x is recomputed.
/// The report's history lists the residual after each application of A (estimates inside a
/// cycle, true residuals at restarts); iterations counts applications of A.
/// @throws tessera::invalid_argument for invalid settings, an undefined or empty b, or an A
///         whose result has another shape
template <floating_point_scalar T, class Op>
solution<T> gmres(Op&& A, const tensor<T>& b_in, const gmres_options& o = {}) {
  static_assert(std::is_invocable_r_v<tensor<T>, Op&, const tensor<T>&>,
                "implicit::gmres: A must be callable as tensor<T> A(const tensor<T>&)");
  constexpr const char* fn = "implicit::gmres";
  detail::check_count(fn, "restart", o.restart, 1);
  detail::check_count(fn, "max_iter", o.max_iter, 1);
  detail::check_tol(fn, "abs_tol", o.abs_tol);
  detail::check_tol(fn, "rel_tol", o.rel_tol);
  const detail::row_layout L = detail::layout_of(fn, b_in, o.batched);
  const tensor<T> b = b_in.contiguous();
  const shape_t shape = b.shape();
  const auto sz = [](index_t i) { return static_cast<std::size_t>(i); };

  int applies = 0;
  const auto apply = [&](const tensor<T>& v) {
    tensor<T> y = A(v);
    ++applies;
    if (!y.defined() || !(y.shape() == shape))
      throw_invalid_argument(fn, "A returned ", y.defined() ? y.shape().str() : "undefined",
                             " for x of shape ", shape.str());
    return y.contiguous();
  };

  solution<T> out;
  solve_result& info = out.info;
  tensor<T> x = zeros<T>(shape);
  tensor<T> r = b;
  const double bnorm = detail::norm2(b);
  const double tol = std::max(o.abs_tol, o.rel_tol * bnorm);
  double beta = bnorm;
  info.residual_history.push_back(beta);

  const int m = o.restart;
  std::vector<double> H(sz((m + 1) * m)), cs(sz(m)), sn(sz(m)), g(sz(m + 1)), y(sz(m));
  const auto h = [&](int i, int j) -> double& { return H[sz(i * m + j)]; };
  // Keep one application in reserve for the true residual at the end of a cycle.
  while (beta > tol && std::isfinite(beta) && applies + 1 < o.max_iter) {
    std::vector<tensor<T>> V;
    V.push_back(detail::scaled(r, 1.0 / beta));
    std::fill(g.begin(), g.end(), 0.0);
    g[0] = beta;
    int k = 0;
    for (int j = 0; j < m && applies + 1 < o.max_iter; ++j) {
      tensor<T> w = apply(V[sz(j)]).clone();
      for (int i = 0; i <= j; ++i) {
        double d = 0;
        detail::row_dots(w.data(), V[sz(i)].data(), 1, w.numel(), &d);
        h(i, j) = d;
        detail::axpy_(w, -d, V[sz(i)]);
      }
      const double hn = detail::norm2(w);
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
      if (std::abs(g[sz(j + 1)]) <= tol || hn <= 1e-14 * den) break;  // converged / breakdown
      V.push_back(detail::scaled(w, 1.0 / hn));
    }
    if (k == 0) break;
    for (int i = k; i-- > 0;) {
      double s = g[sz(i)];
      for (int l = i + 1; l < k; ++l) s -= h(i, l) * y[sz(l)];
      y[sz(i)] = s / h(i, i);
    }
    for (int i = 0; i < k; ++i) detail::axpy_(x, y[sz(i)], V[sz(i)]);
    const tensor<T> ax = apply(x);
    r = detail::axpy(b, -1.0, ax);
    beta = detail::norm2(r);
    info.residual_history.push_back(beta);
  }

  info.iterations = applies;
  info.residual = beta;
  info.converged = beta <= tol;
  std::vector<double> rs(sz(L.rows)), bs(sz(L.rows));
  detail::row_dots(r.data(), r.data(), L.rows, L.n, rs.data());
  detail::row_dots(b.data(), b.data(), L.rows, L.n, bs.data());
  for (index_t i = 0; i < L.rows; ++i) {
    const double ri = std::sqrt(rs[sz(i)]);
    info.sample_residuals.push_back(ri);
    info.sample_converged.push_back(ri <= std::max(o.abs_tol, o.rel_tol * std::sqrt(bs[sz(i)])));
  }
  out.z = x;
  return out;
}

}  // namespace tessera::implicit
