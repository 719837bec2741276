// SPDX-License-Identifier: Apache-2.0
// DirectLiNGAM after the causal order: the adjacency matrix by adaptive lasso (lingam's
// predict_adaptive_lasso), the whole fit, total effects and the bootstrap.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "tessera/causal/direct_lingam.hpp"
#include "tessera/causal/lars.hpp"
#include "tessera/causal/prior_knowledge.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/core/philox.hpp"
#include "tessera/core/tensor.hpp"

// The helpers here that are not otherwise templates are `template <int = 0>`: called as
// before, but compiled only in files that use them (their Eigen QR, SVD and Cholesky code took
// seconds in every file that included causal.hpp).
namespace tessera::causal {

/// A fitted DirectLiNGAM model.
struct lingam_result {
  /// The causal order (variable indices, causes first).
  std::vector<index_t> order;
  /// (d, d) B[effect, cause]: x = B x + e.
  tensor<double> adjacency;
};

/// Bootstrap replicates of a DirectLiNGAM fit (lingam's BootstrapResult).
struct bootstrap_result {
  /// (n_sampling, d, d) adjacency matrix of each replicate, [effect, cause].
  tensor<double> adjacency_matrices;
  /// (n_sampling, d, d) total effects [to, from] of each replicate: the sum over directed
  /// paths of the products of edge weights, for `from` earlier than `to` in that replicate's
  /// order (0 elsewhere).
  tensor<double> total_effects;
  /// (n_sampling, n) the rows each replicate drew.
  tensor<index_t> resampled_indices;

  /// (d, d) share of replicates with |B[effect, cause]| > min_effect (lingam's
  /// get_probabilities).
  /// @throws tessera::invalid_argument when min_effect is negative or not finite.
  [[nodiscard]] tensor<double> edge_probabilities(double min_effect = 0.0) const {
    return share_above("causal::bootstrap_result::edge_probabilities", adjacency_matrices,
                       min_effect);
  }
  /// (d, d) share of replicates with |total effect[to, from]| > min_effect.
  /// @throws tessera::invalid_argument when min_effect is negative or not finite.
  [[nodiscard]] tensor<double> total_effect_probabilities(double min_effect = 0.0) const {
    return share_above("causal::bootstrap_result::total_effect_probabilities", total_effects,
                       min_effect);
  }

 private:
  static tensor<double> share_above(const char* fn, const tensor<double>& m, double min_effect) {
    if (!(min_effect >= 0.0) || !std::isfinite(min_effect))
      throw_invalid_argument(fn, "min_effect = ", min_effect, " must be finite and >= 0");
    const index_t s = m.size(0), d = m.size(1);
    tensor<double> p(shape_t{d, d});
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j < d; ++j) {
        index_t c = 0;
        for (index_t k = 0; k < s; ++k) {
          const double v = m(k, i, j);
          c += !std::isnan(v) && std::abs(v) > min_effect;
        }
        p(i, j) = static_cast<double>(c) / static_cast<double>(s);
      }
    return p;
  }
};

namespace detail {

/// Copies a (n, d) tensor into a column-major Eigen matrix of doubles.
template <class T>
Eigen::MatrixXd to_eigen(const tensor<T>& X) {
  Eigen::MatrixXd M(X.size(0), X.size(1));
  for (index_t j = 0; j < X.size(1); ++j)
    for (index_t i = 0; i < X.size(0); ++i) M(i, j) = static_cast<double>(X(i, j));
  return M;
}

/// OLS with an intercept (sklearn's LinearRegression): centre, then lstsq(cond = 1e-6).
template <int = 0>
inline Eigen::VectorXd ols_with_intercept(const Eigen::MatrixXd& A, const Eigen::VectorXd& b) {
  const Eigen::VectorXd am = column_means(A);
  return lstsq(A.rowwise() - am.transpose(), (b.array() - b.mean()).matrix());
}

/// Runs f(i) for i in [0, count) with OpenMP dynamic scheduling (serial inside a parallel
/// region). Each i must be independent of the others; the exception of the lowest failing i
/// is rethrown, so the outcome does not depend on the number of threads.
template <class F>
void parallel_tasks(index_t count, F&& f) {
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(count));
#if TESSERA_HAS_OPENMP
  const bool par = count > 1 && !omp_in_parallel() && omp_get_max_threads() > 1;
#pragma omp parallel for schedule(dynamic, 1) if (par)
#endif
  for (index_t i = 0; i < count; ++i) {
    try {
      f(i);
    } catch (...) {
      errors[static_cast<std::size_t>(i)] = std::current_exception();
    }
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

/// Checks that `order` is a permutation of 0..d-1.
template <int = 0>
inline void check_order(const char* fn, const std::vector<index_t>& order, index_t d) {
  if (static_cast<index_t>(order.size()) != d)
    throw_invalid_argument(fn, "the causal order has ", order.size(), " entries for ", d,
                           " variables");
  std::vector<char> seen(static_cast<std::size_t>(d), 0);
  for (index_t v : order) {
    if (v < 0 || v >= d)
      throw_invalid_argument(fn, "the causal order holds ", v, ", outside [0, ", d, ")");
    if (seen[static_cast<std::size_t>(v)]++)
      throw_invalid_argument(fn, "the causal order holds ", v, " twice");
  }
}

template <int = 0>
inline Eigen::VectorXd predict_adaptive_lasso_impl(const Eigen::MatrixXd& X,
                                                   const std::vector<index_t>& predictors,
                                                   index_t target, double gamma) {
  const Eigen::Index n = X.rows(), k = static_cast<Eigen::Index>(predictors.size());
  if (n <= k + 1)
    throw_invalid_argument("causal::predict_adaptive_lasso", "target x", target, " has ", k,
                           " predictors but only n = ", n,
                           " samples; the adaptive lasso's BIC needs n > predictors + 1");
  auto standardised = [&](index_t j) {
    const Eigen::VectorXd c = X.col(j).array() - X.col(j).mean();
    const double sd = std::sqrt(c.squaredNorm() / static_cast<double>(n));
    // StandardScaler leaves a constant column unscaled.
    return Eigen::VectorXd(c / (sd < 10.0 * DBL_EPSILON ? 1.0 : sd));
  };
  Eigen::MatrixXd Xs(n, k);
  for (Eigen::Index q = 0; q < k; ++q)
    Xs.col(q) = standardised(predictors[static_cast<std::size_t>(q)]);
  // LinearRegression and LassoLarsIC centre again (the means are rounding noise).
  Xs.rowwise() -= column_means(Xs).transpose();
  Eigen::VectorXd ys = standardised(target);
  ys.array() -= ys.mean();
  // One QR serves the OLS, the lasso's Gram matrix, its noise variance and every kink's RSS:
  // scaling the columns by w scales R's columns, A diag(w) = Q (R diag(w)).
  reduced_design rd(Xs, ys);
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(rd.R, Eigen::ComputeFullU | Eigen::ComputeFullV);
  svd.setThreshold(1e-6);
  const Eigen::VectorXd beta = svd.solve(rd.z1);
  const Eigen::VectorXd w = beta.array().abs().pow(gamma);
  rd.R = rd.R * w.asDiagonal();
  const lasso_ic_result ic = lasso_bic_reduced(
      rd, "causal::predict_adaptive_lasso", "target x" + std::to_string(target), "its predictors");
  std::vector<index_t> kept;
  std::vector<Eigen::Index> kept_pos;
  for (Eigen::Index q = 0; q < k; ++q)
    if (std::abs(ic.coef[q] * w[q]) > 0.0) {
      kept.push_back(predictors[static_cast<std::size_t>(q)]);
      kept_pos.push_back(q);
    }
  Eigen::VectorXd coef = Eigen::VectorXd::Zero(k);
  if (!kept.empty()) {
    Eigen::MatrixXd A(n, static_cast<Eigen::Index>(kept.size()));
    for (std::size_t q = 0; q < kept.size(); ++q)
      A.col(static_cast<Eigen::Index>(q)) = X.col(kept[q]);
    const Eigen::VectorXd c = ols_with_intercept(A, X.col(target));
    for (std::size_t q = 0; q < kept.size(); ++q)
      coef[kept_pos[q]] = c[static_cast<Eigen::Index>(q)];
  }
  return coef;
}

/// Means, StandardScaler scales and the centred Gram matrix XcᵀXc of a data matrix: enough to
/// run every regression on subsets of its columns without touching the n samples again.
struct column_moments {
  Eigen::VectorXd mean;
  Eigen::VectorXd scale;  // population std, 1 for a constant column (StandardScaler)
  Eigen::MatrixXd gram;   // (d, d) centred cross products
  Eigen::Index n = 0;

  explicit column_moments(const Eigen::MatrixXd& X) : n(X.rows()) {
    mean = column_means(X);
    const Eigen::MatrixXd Xc = X.rowwise() - mean.transpose();
    gram.setZero(X.cols(), X.cols());
    gram.selfadjointView<Eigen::Lower>().rankUpdate(Xc.transpose());
    gram.triangularView<Eigen::StrictlyUpper>() = gram.transpose();
    scale.resize(X.cols());
    for (Eigen::Index j = 0; j < X.cols(); ++j) {
      const double sd = std::sqrt(gram(j, j) / static_cast<double>(n));
      scale[j] = sd < 10.0 * DBL_EPSILON ? 1.0 : sd;
    }
  }
};

/// predict_adaptive_lasso from the moments: the standardised Gram block's Cholesky factor R
/// stands in for the QR of the standardised predictors (RᵀR is the same matrix), so each
/// target costs O(k³) instead of O(n k²). Where that loses accuracy — the Gram block's
/// condition number above ~1e6 (error ~ cond·eps) or R² above 1 − 1e-6 (the residual sum of
/// squares is a difference) — it falls back to the QR of the data (predict_adaptive_lasso_impl).
template <int = 0>
inline Eigen::VectorXd adaptive_lasso_from_moments(const Eigen::MatrixXd& X,
                                                   const column_moments& m,
                                                   const std::vector<index_t>& predictors,
                                                   index_t target, double gamma) {
  const Eigen::Index n = m.n, k = static_cast<Eigen::Index>(predictors.size());
  if (n <= k + 1) return predict_adaptive_lasso_impl(X, predictors, target, gamma);  // throws
  Eigen::MatrixXd G(k, k);
  Eigen::VectorXd g(k);
  const double st = m.scale[target];
  for (Eigen::Index a = 0; a < k; ++a) {
    const index_t pa = predictors[static_cast<std::size_t>(a)];
    for (Eigen::Index b = 0; b < k; ++b) {
      const index_t pb = predictors[static_cast<std::size_t>(b)];
      G(a, b) = m.gram(pa, pb) / (m.scale[pa] * m.scale[pb]);
    }
    g[a] = m.gram(pa, target) / (m.scale[pa] * st);
  }
  const double yy = m.gram(target, target) / (st * st);
  const Eigen::LLT<Eigen::MatrixXd> llt(G);
  if (llt.info() != Eigen::Success)
    return predict_adaptive_lasso_impl(X, predictors, target, gamma);
  reduced_design rd;
  rd.n = n;
  rd.R = llt.matrixU();
  rd.z1 = llt.matrixL().solve(g);
  rd.rss_perp = yy - rd.z1.squaredNorm();
  // cond(G) = cond(R)² below 1e6: the normal equations lose at most ~1e-10, and lstsq's
  // cond = 1e-6 truncates nothing, so β is R's triangular solve.
  if (!(llt.rcond() > 1e-6) || !(rd.rss_perp > 1e-6 * yy))
    return predict_adaptive_lasso_impl(X, predictors, target, gamma);
  const Eigen::VectorXd beta = rd.R.triangularView<Eigen::Upper>().solve(rd.z1);
  const Eigen::VectorXd w = beta.array().abs().pow(gamma);
  rd.R = rd.R * w.asDiagonal();
  const lasso_ic_result ic = lasso_bic_reduced(
      rd, "causal::predict_adaptive_lasso", "target x" + std::to_string(target), "its predictors");
  std::vector<Eigen::Index> kept;
  for (Eigen::Index q = 0; q < k; ++q)
    if (std::abs(ic.coef[q] * w[q]) > 0.0) kept.push_back(q);
  Eigen::VectorXd coef = Eigen::VectorXd::Zero(k);
  if (kept.empty()) return coef;
  // OLS refit on the original scale, solved in standardised units: c_j = (G_K⁻¹ g_K)_j s_t/s_j.
  const Eigen::Index nk = static_cast<Eigen::Index>(kept.size());
  Eigen::MatrixXd GK(nk, nk);
  Eigen::VectorXd gK(nk);
  const auto kept_at = [&](Eigen::Index a) { return kept[static_cast<std::size_t>(a)]; };
  for (Eigen::Index a = 0; a < nk; ++a) {
    for (Eigen::Index b = 0; b < nk; ++b) GK(a, b) = G(kept_at(a), kept_at(b));
    gK[a] = g[kept_at(a)];
  }
  // A subset of a well-conditioned Gram matrix is at least as well conditioned.
  const Eigen::VectorXd cK = Eigen::LLT<Eigen::MatrixXd>(GK).solve(gK);
  for (Eigen::Index a = 0; a < nk; ++a) {
    const index_t pa = predictors[static_cast<std::size_t>(kept_at(a))];
    coef[kept_at(a)] = cK[a] * st / m.scale[pa];
  }
  return coef;
}

/// Adjacency estimate on data already converted to doubles.
template <int = 0>
inline tensor<double> estimate_adjacency_eigen(const Eigen::MatrixXd& X,
                                               const std::vector<index_t>& order,
                                               const prior_knowledge& pk) {
  const index_t d = X.cols();
  tensor<double> B(shape_t{d, d});
  std::fill(B.data(), B.data() + B.numel(), 0.0);
  const column_moments m(X);
  parallel_tasks(d - 1, [&](index_t q) {
    const index_t pos = q + 1;
    const index_t target = order[static_cast<std::size_t>(pos)];
    std::vector<index_t> predictors;
    for (index_t k = 0; k < pos; ++k) {
      const index_t p = order[static_cast<std::size_t>(k)];
      if (pk.empty() || pk(target, p) != 0) predictors.push_back(p);
    }
    if (predictors.empty()) return;
    const Eigen::VectorXd c = adaptive_lasso_from_moments(X, m, predictors, target, 1.0);
    for (std::size_t k = 0; k < predictors.size(); ++k)
      B(target, predictors[k]) = c[static_cast<Eigen::Index>(k)];
  });
  return B;
}

}  // namespace detail

/// lingam's predict_adaptive_lasso: coefficients of X[:, target] on X[:, predictors] after
/// pruning by the adaptive lasso.
///  1. standardise every column involved (mean, population std);
///  2. OLS (with intercept) of the target on the predictors: β; weights w = |β|^γ;
///  3. lasso along the LARS path with BIC (lasso_lars_ic_bic) on the predictors scaled by w;
///  4. keep the predictors with coef·w ≠ 0 and re-fit them by OLS (with intercept) on the
///     unstandardised data; the others get 0.
/// @param X (n, d) data; @param predictors column indices; @param target column index;
/// @param gamma exponent of the adaptive weights (lingam: 1).
/// @return (predictors.size()) coefficients on the original scale.
/// @throws tessera::invalid_argument for an index out of range, a non-finite value in a column
///   used, or n <= #predictors + 1 (lingam issue #56: the BIC's noise variance cannot be
///   estimated); tessera::domain_error when the target is an exact linear function of the
///   predictors (a constant target included: the BIC is undefined).
template <int = 0>
inline Eigen::VectorXd predict_adaptive_lasso(const Eigen::MatrixXd& X,
                                              const std::vector<index_t>& predictors,
                                              index_t target, double gamma = 1.0) {
  const index_t d = X.cols();
  for (index_t p : predictors)
    if (p < 0 || p >= d || p == target)
      throw_invalid_argument("causal::predict_adaptive_lasso", "predictor ", p,
                             " is out of range [0, ", d, ") or equals the target ", target);
  if (target < 0 || target >= d)
    throw_invalid_argument("causal::predict_adaptive_lasso", "target ", target,
                           " is out of range [0, ", d, ")");
  if (!(gamma > 0.0) || !std::isfinite(gamma))
    throw_invalid_argument("causal::predict_adaptive_lasso", "gamma = ", gamma,
                           " must be finite and > 0");
  for (index_t j : predictors)
    if (!X.col(j).allFinite())
      throw_invalid_argument("causal::predict_adaptive_lasso", "column ", j,
                             " of X holds a non-finite value");
  if (!X.col(target).allFinite())
    throw_invalid_argument("causal::predict_adaptive_lasso", "column ", target,
                           " of X (the target) holds a non-finite value");
  return detail::predict_adaptive_lasso_impl(X, predictors, target, gamma);
}

/// The adjacency matrix for a given causal order (lingam's _estimate_adjacency_matrix): each
/// variable regressed on the variables before it in the order, except those that the prior
/// knowledge says have no path to it, by predict_adaptive_lasso. Targets run in parallel
/// (OpenMP); the result does not depend on the number of threads.
/// @param X (n, d) data; @param order a permutation of 0..d-1, causes first;
/// @param prior optional (d, d) prior knowledge [effect, cause] (1 path, 0 none, -1 unknown).
/// @return (d, d) B[effect, cause], zero outside the strictly-lower triangle of the order.
/// @throws tessera::invalid_argument for data that are not a finite (n, d) matrix without
///   constant columns, an order that is not a permutation, a malformed prior, or n <= #
///   predictors + 1 for some target.
template <class T>
tensor<double> estimate_adjacency(const tensor<T>& X, const std::vector<index_t>& order,
                                  const tensor<double>& prior = {}) {
  detail::check_lingam_data("causal::estimate_adjacency", X);
  const index_t d = X.size(1);
  detail::check_order("causal::estimate_adjacency", order, d);
  const prior_knowledge pk = prior.defined() ? prior_knowledge(prior, d) : prior_knowledge();
  return detail::estimate_adjacency_eigen(detail::to_eigen(X), order, pk);
}

/// DirectLiNGAM: the causal order (causal_order) and the adjacency matrix
/// (estimate_adjacency) with the same prior knowledge, as lingam's DirectLiNGAM().fit(X).
/// @param X (n, d) data; float data are ordered in float and regressed in double.
/// @param opt prior knowledge, soft mode, precision (see ordering_options).
/// @throws tessera::invalid_argument as causal_order and estimate_adjacency.
template <class T>
lingam_result fit(const tensor<T>& X, const ordering_options& opt = {}) {
  lingam_result r;
  r.order = causal_order(X, opt).order;
  r.adjacency = estimate_adjacency(X, r.order, opt.prior_knowledge);
  return r;
}

/// lingam's estimate_total_effect: the coefficient of x_from in the OLS regression (with
/// intercept) of x_to on x_from and the parents of x_from in the fitted adjacency matrix
/// (the parents block the back-door paths).
/// @throws tessera::invalid_argument when an index is out of range, from == to, or the shapes
///   of X and the result disagree.
template <class T>
double total_effect(const tensor<T>& X, const lingam_result& model, index_t from, index_t to) {
  const char* fn = "causal::total_effect";
  if (X.rank() != 2 || !model.adjacency.defined() || model.adjacency.size(0) != X.size(1))
    throw_invalid_argument(
        fn, "data of shape ", X.shape().str(), " do not match the fitted model's ",
        model.adjacency.defined() ? model.adjacency.shape().str() : "(none)", " adjacency matrix");
  const index_t d = X.size(1);
  if (from < 0 || from >= d || to < 0 || to >= d || from == to)
    throw_invalid_argument(fn, "from = ", from, ", to = ", to, " must be distinct and in [0, ", d,
                           ")");
  std::vector<index_t> pred{from};
  for (index_t j = 0; j < d; ++j)
    if (std::abs(model.adjacency(from, j)) > 0.0) pred.push_back(j);
  const Eigen::MatrixXd M = detail::to_eigen(X);
  Eigen::MatrixXd A(M.rows(), static_cast<Eigen::Index>(pred.size()));
  for (std::size_t q = 0; q < pred.size(); ++q)
    A.col(static_cast<Eigen::Index>(q)) = M.col(pred[q]);
  return detail::ols_with_intercept(A, M.col(to))[0];
}

/// Total effects by regression (total_effect) for every pair with `from` earlier than `to` in
/// the fitted order; (d, d) indexed [to, from], 0 for the other pairs.
template <class T>
tensor<double> total_effects(const tensor<T>& X, const lingam_result& model) {
  const index_t d = X.size(1);
  detail::check_order("causal::total_effects", model.order, d);
  tensor<double> E(shape_t{d, d});
  std::fill(E.data(), E.data() + E.numel(), 0.0);
  for (index_t a = 0; a < d; ++a)
    for (index_t b = a + 1; b < d; ++b) {
      const index_t f = model.order[static_cast<std::size_t>(a)];
      const index_t t = model.order[static_cast<std::size_t>(b)];
      E(t, f) = total_effect(X, model, f, t);
    }
  return E;
}

/// Total effects as path sums over the adjacency matrix, (I − B)⁻¹ − I restricted to `from`
/// earlier than `to` in the order: what lingam's bootstrap stores (calculate_total_effect).
/// @return (d, d) indexed [to, from].
template <int = 0>
inline tensor<double> path_total_effects(const lingam_result& model) {
  const index_t d = model.adjacency.size(0);
  detail::check_order("causal::path_total_effects", model.order, d);
  const tensor<double>& B = model.adjacency;
  tensor<double> E(shape_t{d, d});
  std::fill(E.data(), E.data() + E.numel(), 0.0);
  std::vector<double> v(static_cast<std::size_t>(d));
  for (index_t a = 0; a < d; ++a) {
    const index_t f = model.order[static_cast<std::size_t>(a)];
    std::fill(v.begin(), v.end(), 0.0);
    v[static_cast<std::size_t>(f)] = 1.0;
    // Propagate along the order: v_t = Σ_j B[t, j] v_j for the variables after `from`.
    for (index_t b = a + 1; b < d; ++b) {
      const index_t t = model.order[static_cast<std::size_t>(b)];
      double s = 0.0;
      for (index_t c = a; c < b; ++c) {
        const index_t j = model.order[static_cast<std::size_t>(c)];
        const double w = B(t, j);
        if (!std::isnan(w) && w != 0.0) s += w * v[static_cast<std::size_t>(j)];
      }
      v[static_cast<std::size_t>(t)] = s;
      E(t, f) = s;
    }
  }
  return E;
}

/// Bootstrap of the DirectLiNGAM fit: n_sampling replicates, each on n rows drawn with
/// replacement (replicate s uses stream s of tessera::generator(seed), Philox), each a full
/// fit with `opt`; replicates run in parallel (OpenMP over replicates) and each one's result
/// depends only on (seed, s), not on the number of threads. opt.progress is not called (the
/// replicates' orderings run at once, on several threads).
/// @throws tessera::invalid_argument for n_sampling < 1 or data causal_order rejects; a
///   replicate that fails (e.g. a resample with a constant column) rethrows its error.
template <class T>
bootstrap_result bootstrap(const tensor<T>& X, index_t n_sampling, const ordering_options& opt = {},
                           std::uint64_t seed = 0) {
  if (n_sampling < 1)
    throw_invalid_argument("causal::bootstrap", "n_sampling = ", n_sampling, " must be >= 1");
  detail::check_lingam_data("causal::bootstrap", X);
  const index_t n = X.size(0), d = X.size(1);
  bootstrap_result r;
  r.adjacency_matrices = tensor<double>(shape_t{n_sampling, d, d});
  r.total_effects = tensor<double>(shape_t{n_sampling, d, d});
  r.resampled_indices = tensor<index_t>(shape_t{n_sampling, n});
  generator gen(seed);
  for (index_t s = 0; s < n_sampling; ++s) {
    const philox_stream st = gen.next();
    for (index_t i = 0; i < n; ++i) {
      const double u = st.uniform<double>(static_cast<std::uint64_t>(i));
      r.resampled_indices(s, i) =
          std::min<index_t>(n - 1, static_cast<index_t>(u * static_cast<double>(n)));
    }
  }
  ordering_options ropt = opt;
  ropt.progress = nullptr;  // (it would be called from several threads at once)
  detail::parallel_tasks(n_sampling, [&](index_t s) {
    tensor<T> Xs(shape_t{n, d});
    for (index_t i = 0; i < n; ++i) {
      const index_t src = r.resampled_indices(s, i);
      for (index_t j = 0; j < d; ++j) Xs(i, j) = X(src, j);
    }
    const lingam_result m = fit(Xs, ropt);
    const tensor<double> te = path_total_effects(m);
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j < d; ++j) {
        r.adjacency_matrices(s, i, j) = m.adjacency(i, j);
        r.total_effects(s, i, j) = te(i, j);
      }
  });
  return r;
}

}  // namespace tessera::causal
