// SPDX-License-Identifier: Apache-2.0
// VAR-LiNGAM (Hyvärinen, Zhang, Shimizu, Hoyer 2010) as lingam's VARLiNGAM: a VAR(p) by OLS
// with the lag chosen by BIC (statsmodels' definition), DirectLiNGAM on its residuals, lagged
// effects B_τ = (I − B0) M_τ, and optional adaptive-lasso pruning.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <vector>

#include "tessera/causal/adjacency.hpp"
#include "tessera/causal/direct_lingam.hpp"
#include "tessera/causal/lars.hpp"
#include "tessera/core/tensor.hpp"

// The helpers here that are not otherwise templates are `template <int = 0>`: called as
// before, but compiled only in files that use them (their Eigen QR, SVD and Cholesky code took
// seconds in every file that included causal.hpp).
namespace tessera::causal {

/// A VAR(p) fitted by OLS without trend (statsmodels' VAR(X).fit(maxlags=p, trend='n')).
struct var_ols_result {
  /// M_τ, τ = 1..p: x_t = Σ_τ M_τ x_{t−τ} + u_t.
  std::vector<Eigen::MatrixXd> coefs;
  /// (n − p, d) residuals u_t for t = p..n−1.
  Eigen::MatrixXd residuals;
  /// statsmodels' bic: log det(Σ̂_u,mle) + log(T)/T · p·d², T = n − p, Σ̂_u,mle = UᵀU/T.
  double bic = 0.0;
};

/// Options of var_lingam (lingam's VARLiNGAM(lags, criterion, prune)).
struct var_lingam_options {
  /// The number of lags, or the largest one tried when `select_lags_by_bic`.
  index_t lags = 1;
  /// Choose the lag in 1..lags with the smallest BIC (criterion='bic'); else use `lags`.
  bool select_lags_by_bic = true;
  /// Re-estimate B0 (ancestors only) and B_τ by adaptive lasso (lingam's prune=True).
  bool prune = true;
  /// Options of the DirectLiNGAM fit on the residuals (prior knowledge, precision).
  ordering_options ordering;
};

/// A fitted VAR-LiNGAM model.
struct var_lingam_result {
  /// Causal order of the instantaneous effects.
  std::vector<index_t> order;
  /// The lag used.
  index_t lags = 0;
  /// (lags + 1, d, d): B0 (instantaneous, [effect, cause]), B1, ..., B_lags.
  tensor<double> adjacency;
  /// (lags, d, d): the VAR coefficients M_1..M_lags.
  tensor<double> ar_coefs;
  /// (n − lags, d): the VAR residuals DirectLiNGAM was fitted on.
  tensor<double> residuals;
};

/// Fits a VAR(p) by OLS without intercept: the design row for time t is
/// [x_{t−1}, ..., x_{t−p}], the sample t = p..n−1 (statsmodels' VAR.fit(maxlags=p, ic=None,
/// trend='n'): lstsq with rcond = 1e-15, BIC from the ML residual covariance).
/// @param X (n, d) time series, rows in time order; @param lags p >= 1.
/// @throws tessera::invalid_argument when p < 1 or n − p <= p·d (no residual degrees of
///   freedom), or the data are not finite.
template <int = 0>
inline var_ols_result var_ols(const Eigen::MatrixXd& X, index_t lags) {
  const char* fn = "causal::var_ols";
  const index_t n = X.rows(), d = X.cols();
  if (lags < 1) throw_invalid_argument(fn, "lags = ", lags, " must be >= 1");
  const index_t T = n - lags;
  if (T <= lags * d)
    throw_invalid_argument(fn, "n = ", n, " observations for a VAR(", lags, ") in d = ", d,
                           " variables: need n - lags > lags * d");
  if (!X.allFinite()) throw_invalid_argument(fn, "the series holds a non-finite value");
  Eigen::MatrixXd Z(T, lags * d);
  for (index_t t = 0; t < T; ++t)
    for (index_t tau = 1; tau <= lags; ++tau)
      Z.block(t, (tau - 1) * d, 1, d) = X.row(t + lags - tau);
  const Eigen::MatrixXd Y = X.bottomRows(T);
  const Eigen::MatrixXd params = detail::lstsq(Z, Y, 1e-15);  // (p·d, d)
  var_ols_result r;
  for (index_t tau = 0; tau < lags; ++tau)
    r.coefs.push_back(params.block(tau * d, 0, d, d).transpose());
  r.residuals = Y - Z * params;
  const Eigen::MatrixXd sigma = (r.residuals.transpose() * r.residuals) / static_cast<double>(T);
  const Eigen::LLT<Eigen::MatrixXd> llt(sigma);
  if (llt.info() != Eigen::Success)
    throw_invalid_argument(fn, "the residual covariance of the VAR(", lags,
                           ") is not positive definite (collinear series)");
  const double logdet = 2.0 * llt.matrixLLT().diagonal().array().log().sum();
  const double dT = static_cast<double>(T);
  r.bic = logdet + std::log(dT) / dT * static_cast<double>(lags * d * d);
  return r;
}

namespace detail {

/// lingam's VARLiNGAM._pruning: for each variable i, the adaptive lasso of x_t[i] on its
/// ancestors at time t and on all variables at t−1..t−p (rows t = p..n−1).
template <int = 0>
inline void var_prune(const Eigen::MatrixXd& X, index_t lags, const std::vector<index_t>& order,
                      tensor<double>& B) {
  const index_t n = X.rows(), d = X.cols(), T = n - lags;
  // Stacked design over t = p..n−1: block τ holds x_{t−τ}; every regression below uses a subset
  // of its columns, so its moments are computed once.
  Eigen::MatrixXd S(T, (lags + 1) * d);
  for (index_t tau = 0; tau <= lags; ++tau) S.middleCols(tau * d, d) = X.middleRows(lags - tau, T);
  const column_moments m(S);
  parallel_tasks(d, [&](index_t i) {
    const index_t pos =
        static_cast<index_t>(std::find(order.begin(), order.end(), i) - order.begin());
    // lingam's column order: ancestors at t (in causal order), then x_{t−1}, ..., x_{t−p}.
    std::vector<index_t> pred;
    for (index_t a = 0; a < pos; ++a) pred.push_back(order[static_cast<std::size_t>(a)]);
    for (index_t j = d; j < (lags + 1) * d; ++j) pred.push_back(j);
    const Eigen::VectorXd c = adaptive_lasso_from_moments(S, m, pred, i, 1.0);
    for (index_t a = 0; a < pos; ++a) B(0, i, order[static_cast<std::size_t>(a)]) = c[a];
    for (index_t tau = 1; tau <= lags; ++tau)
      for (index_t j = 0; j < d; ++j) B(tau, i, j) = c[pos + (tau - 1) * d + j];
  });
}

}  // namespace detail

/// VAR-LiNGAM as lingam's VARLiNGAM(lags, criterion='bic' or None, prune).fit(X):
///  1. VAR by OLS (var_ols); with `select_lags_by_bic` every lag 1..lags is fitted on its own
///     n − lag rows and the first smallest BIC wins (as lingam's loop);
///  2. DirectLiNGAM (fit) on the residuals → order and B0;
///  3. B_τ = (I − B0) M_τ;
///  4. with `prune`, B0[i, ancestors of i] and every B_τ[i, :] are replaced by the adaptive
///     lasso of x_t[i] on its ancestors at t and all variables at t−1..t−p.
/// @param X (n, d) time series, rows in time order.
/// @throws tessera::invalid_argument for lags < 1, too short a series (n − p <= p·d; with
///   `prune`, n − p <= (p + 1)·d: each variable's adaptive lasso has up to (p + 1)·d − 1
///   predictors), data causal_order rejects, or a prior of the wrong shape.
template <class T>
var_lingam_result var_lingam(const tensor<T>& X, const var_lingam_options& opt = {}) {
  const char* fn = "causal::var_lingam";
  if (X.rank() != 2)
    throw_invalid_argument(fn, "data must be a matrix (time, variables), got shape ",
                           X.shape().str());
  if (opt.lags < 1) throw_invalid_argument(fn, "lags = ", opt.lags, " must be >= 1");
  const Eigen::MatrixXd M = detail::to_eigen(X);
  const index_t d = M.cols();
  // Every VAR(p) up to opt.lags is fitted (with select_lags_by_bic): refused at once, before
  // the smaller fits run, when the largest has no residual degrees of freedom.
  if (const index_t n = M.rows(); n - opt.lags <= opt.lags * d)
    throw_invalid_argument(fn, "lags = ", opt.lags, " is too many for n = ", n,
                           " observations of d = ", d, " variables: a VAR(lags) needs n - lags > ",
                           "lags·d, so lags <= ", std::max<index_t>(0, (n - 1) / (d + 1)));
  var_ols_result var;
  index_t lags = opt.lags;
  if (opt.select_lags_by_bic) {
    double best = std::numeric_limits<double>::infinity();
    for (index_t p = 1; p <= opt.lags; ++p) {
      var_ols_result v = var_ols(M, p);
      if (v.bic < best) {
        best = v.bic;
        var = std::move(v);
        lags = p;
      }
    }
  } else {
    var = var_ols(M, lags);
  }
  var_lingam_result r;
  r.lags = lags;
  const index_t n_res = var.residuals.rows();
  if (opt.prune && n_res <= (lags + 1) * d)
    throw_invalid_argument(fn, "pruning needs more than (lags + 1)·d = ", (lags + 1) * d,
                           " rows after the first ", lags,
                           " (each variable's adaptive lasso has up to ", (lags + 1) * d - 1,
                           " predictors); the series has ", n_res, " (n = ", M.rows(), ", d = ", d,
                           ", lags = ", lags, "): a longer series, fewer lags, or prune = false");
  r.residuals = tensor<double>(shape_t{n_res, d});
  for (index_t t = 0; t < n_res; ++t)
    for (index_t j = 0; j < d; ++j) r.residuals(t, j) = var.residuals(t, j);
  const lingam_result model = fit(r.residuals, opt.ordering);
  r.order = model.order;
  r.ar_coefs = tensor<double>(shape_t{lags, d, d});
  r.adjacency = tensor<double>(shape_t{lags + 1, d, d});
  Eigen::MatrixXd B0(d, d);
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j) B0(i, j) = model.adjacency(i, j);
  const Eigen::MatrixXd IB = Eigen::MatrixXd::Identity(d, d) - B0;
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j) r.adjacency(0, i, j) = B0(i, j);
  for (index_t tau = 0; tau < lags; ++tau) {
    const Eigen::MatrixXd Bt = IB * var.coefs[static_cast<std::size_t>(tau)];
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j < d; ++j) {
        r.ar_coefs(tau, i, j) = var.coefs[static_cast<std::size_t>(tau)](i, j);
        r.adjacency(tau + 1, i, j) = Bt(i, j);
      }
  }
  if (opt.prune) detail::var_prune(M, lags, r.order, r.adjacency);
  return r;
}

}  // namespace tessera::causal
