// SPDX-License-Identifier: Apache-2.0
// LARS with the lasso modification (Efron et al. 2004) and the lasso chosen by BIC along its
// path, reproducing scikit-learn's lars_path(method='lasso') and LassoLarsIC(criterion='bic').
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/core/shape.hpp"

// The helpers here that are not otherwise templates are `template <int = 0>`: called as
// before, but compiled only in files that use them (their Eigen QR, SVD and Cholesky code took
// seconds in every file that included causal.hpp).
namespace tessera::causal {

/// The kinks of a LARS-lasso path.
struct lars_path_result {
  /// alphas[k] = max_j |x_jᵀ r_k| / n at kink k (decreasing; the last is 0 for a full path).
  Eigen::VectorXd alphas;
  /// Variables active at the end of the path, in the order they (last) entered.
  std::vector<index_t> active;
  /// (p, kinks): coefficients at each kink; the first column is 0.
  Eigen::MatrixXd coefs;
  /// Iterations run (additions and drops).
  index_t n_iter = 0;
};

/// The lasso selected by BIC along the LARS path (LassoLarsIC(criterion='bic') semantics).
struct lasso_ic_result {
  Eigen::VectorXd coef;  ///< (p) coefficients of the selected kink
  double intercept = 0.0;
  double alpha = 0.0;           ///< alpha of the selected kink
  double noise_variance = 0.0;  ///< RSS_OLS / (n - p - 1)
  index_t n_best = 0;           ///< index of the selected kink
  Eigen::VectorXd alphas;       ///< the path's alphas
  Eigen::VectorXd criterion;    ///< BIC at each kink
};

namespace detail {

/// min over the strictly positive entries, or DBL_MAX (sklearn's arrayfuncs.min_pos).
template <int = 0>
inline double min_pos(const Eigen::VectorXd& x) {
  double m = std::numeric_limits<double>::max();
  for (Eigen::Index i = 0; i < x.size(); ++i)
    if (x[i] > 0.0 && x[i] < m) m = x[i];
  return m;
}

/// numpy.around(x, 15): scale, round half to even, unscale — the rounding sklearn applies to
/// the correlations with the equiangular direction so that argmax does not flicker.
template <int = 0>
inline double round15(double x) {
  return std::nearbyint(x * 1e15) / 1e15;
}

/// Least squares min ‖B - A X‖ (vector or matrix B) with singular values below rcond·s_max
/// treated as zero: scipy.linalg.lstsq(A, B, cond=rcond), which LinearRegression calls with
/// cond = 1e-6 (numpy.linalg.lstsq's rcond has the same meaning). For n >= p a Householder QR
/// first (2np² flops), then the SVD of the p×p factor R, whose singular values are A's.
template <class Rhs>
Eigen::Matrix<double, Eigen::Dynamic, Rhs::ColsAtCompileTime> lstsq(const Eigen::MatrixXd& A,
                                                                    const Rhs& b,
                                                                    double rcond = 1e-6) {
  using result = Eigen::Matrix<double, Eigen::Dynamic, Rhs::ColsAtCompileTime>;
  const Eigen::Index p = A.cols();
  if (p == 0) return result::Zero(0, b.cols());
  if (A.rows() >= p) {
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(A);
    result z = b;
    z.applyOnTheLeft(qr.householderQ().adjoint());
    const Eigen::MatrixXd R = qr.matrixQR().topLeftCorner(p, p).triangularView<Eigen::Upper>();
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(R, Eigen::ComputeFullU | Eigen::ComputeFullV);
    svd.setThreshold(rcond);
    return svd.solve(z.topRows(p));
  }
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(A, Eigen::ComputeThinU | Eigen::ComputeThinV);
  svd.setThreshold(rcond);
  return svd.solve(b);
}

/// A centred design reduced by a thin QR, A = Q R: what the BIC along the lasso path needs
/// from the n samples, in O(p²) per evaluation. z1 = Q₁ᵀ y, rss_perp = ‖y‖² − ‖z1‖² (the
/// part of y outside A's column space, summed from Q₂ᵀ y), so ‖y − A c‖² = ‖z1 − R c‖² +
/// rss_perp for every c.
struct reduced_design {
  Eigen::MatrixXd R;   // (p, p) upper triangular
  Eigen::VectorXd z1;  // (p)
  double rss_perp = 0.0;
  Eigen::Index n = 0;

  reduced_design() = default;
  reduced_design(const Eigen::MatrixXd& A, const Eigen::VectorXd& y) : n(A.rows()) {
    const Eigen::Index p = A.cols();
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(A);
    Eigen::VectorXd z = y;
    z.applyOnTheLeft(qr.householderQ().adjoint());
    R = qr.matrixQR().topLeftCorner(p, p).triangularView<Eigen::Upper>();
    z1 = z.head(p);
    rss_perp = z.tail(n - p).squaredNorm();
  }
  [[nodiscard]] double rss(const Eigen::VectorXd& c) const {
    return (z1 - R * c).squaredNorm() + rss_perp;
  }
};

/// Column means (sklearn centres with them before fitting with an intercept).
template <int = 0>
inline Eigen::VectorXd column_means(const Eigen::MatrixXd& X) {
  return X.colwise().sum().transpose() / static_cast<double>(X.rows());
}

/// Rebuilds the Cholesky factor of G[:k, :k] the way sklearn grows it one row at a time:
/// L[j, :j] = L[:j, :j]⁻¹ G[j, :j], L[j, j] = max(sqrt(|G[j, j] - ‖L[j, :j]‖²|), eps).
template <int = 0>
inline void lars_cholesky(const Eigen::MatrixXd& G, Eigen::Index k, Eigen::MatrixXd& L) {
  for (Eigen::Index j = 0; j < k; ++j) {
    for (Eigen::Index c = 0; c < j; ++c) {
      double s = G(j, c);
      for (Eigen::Index q = 0; q < c; ++q) s -= L(j, q) * L(c, q);
      L(j, c) = s / L(c, c);
    }
    double v = 0.0;
    for (Eigen::Index q = 0; q < j; ++q) v += L(j, q) * L(j, q);
    L(j, j) = std::max(std::sqrt(std::abs(G(j, j) - v)), DBL_EPSILON);
  }
}

/// Solves L Lᵀ x = b (LAPACK potrs with a lower factor).
template <int = 0>
inline Eigen::VectorXd cholesky_solve(const Eigen::MatrixXd& L, Eigen::Index k,
                                      const Eigen::VectorXd& b) {
  const auto Lk = L.topLeftCorner(k, k).triangularView<Eigen::Lower>();
  Eigen::VectorXd x = Lk.solve(b);
  Lk.transpose().solveInPlace(x);
  return x;
}

/// lars_path on a precomputed Gram matrix G = XᵀX and correlations Xᵀy (sklearn's Gram path).
/// @throws tessera::invalid_argument when G or Xᵀy is not finite (data so large that the
///   products overflow); tessera::domain_error when the active set's Cholesky factor stays
///   singular after 64 regularisations.
template <int = 0>
inline lars_path_result lars_path_gram(const Eigen::MatrixXd& gram0, const Eigen::VectorXd& xy0,
                                       Eigen::Index n, index_t max_iter) {
  if (!gram0.allFinite() || !xy0.allFinite())
    throw_invalid_argument("causal::lars_path",
                           "XᵀX or Xᵀy is not finite: the data's products overflow (rescale the "
                           "data)");
  const Eigen::Index p = gram0.cols();
  constexpr double tiny32 = FLT_MIN, eps = DBL_EPSILON, equality_tolerance = FLT_EPSILON;
  const double n_samples = static_cast<double>(n);
  Eigen::MatrixXd gram = gram0;  // rows/columns permuted like sklearn's: active ones first
  std::vector<double> cov(xy0.data(), xy0.data() + p);  // correlations of the inactive ones
  std::vector<index_t> indices(static_cast<std::size_t>(p));
  for (Eigen::Index j = 0; j < p; ++j) indices[static_cast<std::size_t>(j)] = j;
  const Eigen::Index max_features = std::min<Eigen::Index>(max_iter, p);
  Eigen::MatrixXd L = Eigen::MatrixXd::Zero(std::max<Eigen::Index>(max_features, 1),
                                            std::max<Eigen::Index>(max_features, 1));
  std::vector<double> sign_active;
  std::vector<index_t> active;
  std::vector<Eigen::VectorXd> path{Eigen::VectorXd::Zero(p)};
  std::vector<double> alphas;
  Eigen::Index n_active = 0;
  index_t n_iter = 0;
  bool drop = false;
  std::vector<Eigen::Index> idx;  // positions (in `active`) leaving at a drop

  auto swap_gram = [&](Eigen::Index a, Eigen::Index b) {
    gram.row(a).swap(gram.row(b));
    gram.col(a).swap(gram.col(b));
  };

  for (;;) {
    Eigen::Index c_idx = 0;
    double c_signed = 0.0, C = 0.0;
    if (!cov.empty()) {
      for (std::size_t j = 1; j < cov.size(); ++j)
        if (std::abs(cov[j]) > std::abs(cov[static_cast<std::size_t>(c_idx)]))
          c_idx = static_cast<Eigen::Index>(j);
      c_signed = cov[static_cast<std::size_t>(c_idx)];
      C = std::abs(c_signed);
    }
    if (alphas.size() <= static_cast<std::size_t>(n_iter))
      alphas.resize(static_cast<std::size_t>(n_iter) + 1);
    const double alpha = C / n_samples;
    alphas[static_cast<std::size_t>(n_iter)] = alpha;
    // With alpha_min = 0 sklearn only stops here (no interpolation: alpha stays C / n).
    if (alpha <= equality_tolerance) break;
    if (n_iter >= max_iter || n_active >= p) break;

    if (!drop) {
      // Append the most correlated inactive variable to the Cholesky factor.
      const double sgn = c_signed > 0.0 ? 1.0 : (c_signed < 0.0 ? -1.0 : 0.0);
      const Eigen::Index m = n_active, nn = c_idx + n_active;
      std::vector<double> cov_not_shortened = cov;
      std::swap(cov[static_cast<std::size_t>(c_idx)], cov[0]);
      std::swap(indices[static_cast<std::size_t>(nn)], indices[static_cast<std::size_t>(m)]);
      cov.erase(cov.begin());
      swap_gram(m, nn);
      const double c = gram(n_active, n_active);
      for (Eigen::Index q = 0; q < n_active; ++q) L(n_active, q) = gram(n_active, q);
      if (n_active > 0) {
        Eigen::VectorXd w = L.row(n_active).head(n_active).transpose();
        L.topLeftCorner(n_active, n_active).triangularView<Eigen::Lower>().solveInPlace(w);
        L.row(n_active).head(n_active) = w.transpose();
      }
      const double v = L.row(n_active).head(n_active).squaredNorm();
      const double diag = std::max(std::sqrt(std::abs(c - v)), eps);
      L(n_active, n_active) = diag;
      if (diag < 1e-7) {
        // Degenerate regressor: sklearn zeroes its correlation so it is never picked again.
        // (sklearn leaves `indices` and the Gram rows swapped here; the swap is undone so
        // that the bookkeeping stays consistent.)
        swap_gram(m, nn);
        std::swap(indices[static_cast<std::size_t>(nn)], indices[static_cast<std::size_t>(m)]);
        cov = std::move(cov_not_shortened);
        cov[static_cast<std::size_t>(c_idx)] = 0.0;
        continue;
      }
      sign_active.resize(static_cast<std::size_t>(n_active) + 1);
      sign_active[static_cast<std::size_t>(n_active)] = sgn;
      active.push_back(indices[static_cast<std::size_t>(n_active)]);
      ++n_active;
    }

    if (n_iter > 0 && alphas[static_cast<std::size_t>(n_iter) - 1] < alpha) break;

    // Equiangular direction of the active set.
    Eigen::VectorXd sign(n_active);
    for (Eigen::Index q = 0; q < n_active; ++q) sign[q] = sign_active[static_cast<std::size_t>(q)];
    Eigen::VectorXd ls = detail::cholesky_solve(L, n_active, sign);
    double AA;
    if (ls.size() == 1 && ls[0] == 0.0) {
      ls[0] = 1.0;
      AA = 1.0;
    } else {
      AA = 1.0 / std::sqrt(ls.dot(sign));
      if (!std::isfinite(AA)) {
        Eigen::MatrixXd L2 = L.topLeftCorner(n_active, n_active);
        for (int i = 0; !std::isfinite(AA); ++i) {
          if (i == 64)  // (the factor holds a non-finite value: no shift makes it regular)
            throw_domain_error("causal::lars_path", "the Cholesky factor of the ", n_active,
                               " active predictors stays singular after 64 regularisations");
          L2.diagonal().array() += std::ldexp(1.0, i) * eps;
          ls = detail::cholesky_solve(L2, n_active, sign);
          AA = 1.0 / std::sqrt(std::max(ls.dot(sign), eps));
        }
      }
      ls *= AA;
    }
    const Eigen::Index n_inactive = static_cast<Eigen::Index>(cov.size());
    Eigen::VectorXd corr_eq_dir = gram.block(0, n_active, n_active, n_inactive).transpose() * ls;
    for (Eigen::Index q = 0; q < n_inactive; ++q) corr_eq_dir[q] = detail::round15(corr_eq_dir[q]);
    Eigen::VectorXd t1(n_inactive), t2(n_inactive);
    for (Eigen::Index q = 0; q < n_inactive; ++q) {
      const double cq = cov[static_cast<std::size_t>(q)];
      t1[q] = (C - cq) / (AA - corr_eq_dir[q] + tiny32);
      t2[q] = (C + cq) / (AA + corr_eq_dir[q] + tiny32);
    }
    double gamma = std::min({detail::min_pos(t1), detail::min_pos(t2), C / AA});

    // Lasso modification: stop at the first zero crossing of an active coefficient.
    drop = false;
    const Eigen::VectorXd& prev = path.back();
    Eigen::VectorXd z(n_active);
    for (Eigen::Index q = 0; q < n_active; ++q)
      z[q] = -prev[active[static_cast<std::size_t>(q)]] / (ls[q] + tiny32);
    const double z_pos = detail::min_pos(z);
    idx.clear();
    if (z_pos < gamma) {
      for (Eigen::Index q = n_active - 1; q >= 0; --q)
        if (z[q] == z_pos) idx.push_back(q);
      gamma = z_pos;
      drop = true;
    }
    ++n_iter;
    Eigen::VectorXd coef = Eigen::VectorXd::Zero(p);
    for (Eigen::Index q = 0; q < n_active; ++q) {
      const index_t j = active[static_cast<std::size_t>(q)];
      coef[j] = prev[j] + gamma * ls[q];
    }
    for (Eigen::Index q = 0; q < n_inactive; ++q)
      cov[static_cast<std::size_t>(q)] -= gamma * corr_eq_dir[q];
    path.push_back(coef);

    if (drop) {
      // idx is in decreasing position order, so earlier removals do not shift later ones.
      std::vector<index_t> dropped;
      for (Eigen::Index ii : idx) {
        dropped.push_back(active[static_cast<std::size_t>(ii)]);
        active.erase(active.begin() + ii);
        sign_active.erase(sign_active.begin() + ii);
        --n_active;
        // Move the leaving variable to the front of the inactive block.
        for (Eigen::Index i = ii; i < n_active; ++i) {
          std::swap(indices[static_cast<std::size_t>(i)], indices[static_cast<std::size_t>(i) + 1]);
          swap_gram(i, i + 1);
        }
      }
      detail::lars_cholesky(gram, n_active, L);
      std::vector<double> front;
      for (index_t j : dropped) front.push_back(xy0[j] - gram0.row(j).dot(coef));
      cov.insert(cov.begin(), front.begin(), front.end());
    }
  }

  lars_path_result r;
  const std::size_t kinks = static_cast<std::size_t>(n_iter) + 1;
  r.alphas = Eigen::Map<const Eigen::VectorXd>(alphas.data(), static_cast<Eigen::Index>(kinks));
  r.coefs.resize(p, static_cast<Eigen::Index>(kinks));
  for (std::size_t k = 0; k < kinks; ++k) r.coefs.col(static_cast<Eigen::Index>(k)) = path[k];
  r.active = active;
  r.n_iter = n_iter;
  return r;
}

/// LassoLarsIC(criterion='bic') on a reduced centred design (see reduced_design): the path
/// from G = RᵀR and Xᵀy = Rᵀz1, σ² from the OLS fit (lstsq, cond 1e-6) on the same design,
/// the BIC at every kink, the first minimiser. No intercept is set. A zero OLS residual variance
/// throws tessera::domain_error from `fn`, saying "<subject> is an exact linear function of
/// <of>".
template <int = 0>
inline lasso_ic_result lasso_bic_reduced(const reduced_design& rd,
                                         const char* fn = "causal::lasso_lars_ic_bic",
                                         const std::string& subject = "y", const char* of = "X") {
  const Eigen::Index n = rd.n, p = rd.R.cols();
  const Eigen::MatrixXd gram = rd.R.transpose() * rd.R;
  const Eigen::VectorXd xy = rd.R.transpose() * rd.z1;
  const lars_path_result path = lars_path_gram(gram, xy, n, 500);
  // σ² from the OLS fit with lstsq's cond = 1e-6: while cond(R) stays far below 1e6 nothing is
  // truncated and the OLS residual is exactly the part of y outside the column space.
  double rss_ols = rd.rss_perp;
  const Eigen::LLT<Eigen::MatrixXd> llt(gram);
  if (llt.info() != Eigen::Success || !(llt.rcond() > 1e-10)) {
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(rd.R, Eigen::ComputeFullU | Eigen::ComputeFullV);
    svd.setThreshold(1e-6);
    rss_ols = rd.rss(svd.solve(rd.z1));
  }
  const double sigma2 = rss_ols / static_cast<double>(n - p - 1);
  if (!(sigma2 > 0.0))
    throw_domain_error(fn, "the OLS residual variance is ", sigma2, ": ", subject,
                       " is an exact linear function of ", of, " (or constant), BIC is undefined");
  const double dn = static_cast<double>(n);
  const Eigen::Index kinks = path.coefs.cols();
  lasso_ic_result r;
  r.criterion.resize(kinks);
  for (Eigen::Index k = 0; k < kinks; ++k) {
    index_t df = 0;
    for (Eigen::Index j = 0; j < p; ++j) df += std::abs(path.coefs(j, k)) > DBL_EPSILON;
    r.criterion[k] = dn * std::log(2.0 * std::numbers::pi * sigma2) +
                     rd.rss(path.coefs.col(k)) / sigma2 + std::log(dn) * static_cast<double>(df);
  }
  Eigen::Index best = 0;
  for (Eigen::Index k = 1; k < kinks; ++k)
    if (r.criterion[k] < r.criterion[best]) best = k;
  r.n_best = best;
  r.coef = path.coefs.col(best);
  r.alpha = path.alphas[best];
  r.alphas = path.alphas;
  r.noise_variance = sigma2;
  return r;
}

}  // namespace detail

/// The lasso path by LARS with the lasso modification (a variable whose coefficient crosses
/// zero leaves the active set), step for step as sklearn's lars_path(X, y, method='lasso',
/// Gram='auto', alpha_min=0): the same kinks, alphas = C/n, the same tie and degeneracy
/// rules (a regressor whose Cholesky pivot is below 1e-7 is dropped for good; the path stops
/// early if alpha increases). The data are used as given: centre X and y first for a model
/// with an intercept.
/// @param X (n, p) predictors.
/// @param y (n) response.
/// @param max_iter maximum number of iterations (additions plus drops).
/// @return the kinks: alphas, coefficient path (p, kinks), final active set.
/// @throws tessera::invalid_argument when y's length differs from X's rows, max_iter < 0, or
///   the data are not finite.
template <int = 0>
inline lars_path_result lars_path(const Eigen::MatrixXd& X, const Eigen::VectorXd& y,
                                  index_t max_iter = 500) {
  const Eigen::Index n = X.rows();
  if (y.size() != n)
    throw_invalid_argument("causal::lars_path", "y has ", y.size(), " entries for X with ", n,
                           " rows");
  if (max_iter < 0) throw_invalid_argument("causal::lars_path", "max_iter = ", max_iter, " < 0");
  if (!X.allFinite() || !y.allFinite())
    throw_invalid_argument("causal::lars_path", "X or y holds a non-finite value");
  return detail::lars_path_gram(X.transpose() * X, X.transpose() * y, n, max_iter);
}

/// The lasso along the LARS path with the kink chosen by BIC, as sklearn's
/// LassoLarsIC(criterion='bic') with fit_intercept=True: X and y are centred; the noise
/// variance σ² is the OLS residual variance RSS/(n − p − 1); at each kink k
///   BIC_k = n·log(2π σ²) + RSS_k/σ² + log(n)·df_k,  df_k = #{j : |β_kj| > DBL_EPSILON};
/// the first minimiser is selected; intercept = mean(y) − mean(X)·β.
/// @param X (n, p) predictors; @param y (n) response.
/// @return the selected coefficients, intercept, alpha, σ² and the criterion along the path.
/// @throws tessera::invalid_argument when n <= p + 1 (σ² cannot be estimated: lingam issue
///   #56), when the shapes disagree or the data are not finite; tessera::domain_error when
///   σ² = 0 (y is an exact linear function of X).
template <int = 0>
inline lasso_ic_result lasso_lars_ic_bic(const Eigen::MatrixXd& X, const Eigen::VectorXd& y) {
  const Eigen::Index n = X.rows(), p = X.cols();
  if (y.size() != n)
    throw_invalid_argument("causal::lasso_lars_ic_bic", "y has ", y.size(), " entries for X with ",
                           n, " rows");
  if (n <= p + 1)
    throw_invalid_argument("causal::lasso_lars_ic_bic", "n = ", n, " samples for p = ", p,
                           " predictors: the noise variance of the OLS fit needs n > p + 1");
  if (!X.allFinite() || !y.allFinite())
    throw_invalid_argument("causal::lasso_lars_ic_bic", "X or y holds a non-finite value");
  const Eigen::VectorXd xm = detail::column_means(X);
  const double ym = y.mean();
  const Eigen::MatrixXd Xc = X.rowwise() - xm.transpose();
  const Eigen::VectorXd yc = y.array() - ym;

  lasso_ic_result r = detail::lasso_bic_reduced(detail::reduced_design(Xc, yc));
  r.intercept = ym - xm.dot(r.coef);
  return r;
}

}  // namespace tessera::causal
