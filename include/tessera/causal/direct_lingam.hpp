// SPDX-License-Identifier: Apache-2.0
// DirectLiNGAM causal ordering with the pairwise likelihood-ratio measure (Hyvärinen & Smith
// 2013), restructured: per step standardise once, all correlations by row-blocked GEMMs, each
// column's entropy once, the analytic residual scale, and one fused pass over the samples per
// unordered pair for both residual entropies (moments.hpp); OpenMP with dynamic scheduling;
// deterministic (every result depends only on its own inputs, never on the thread).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <type_traits>
#include <vector>

#include "tessera/causal/moments.hpp"
#include "tessera/causal/ordering.hpp"
#include "tessera/causal/prior_knowledge.hpp"
#include "tessera/config.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::causal {

namespace detail {

/// Runs f(i) for i in [0, count) on the OpenMP threads with dynamic scheduling (work items of
/// uneven cost, and a shared machine where one thread may be descheduled); results must depend
/// only on i.
template <class F>
void dynamic_for(index_t count, F&& f) {
#if TESSERA_HAS_OPENMP
  if (count > 1 && !omp_in_parallel() && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(dynamic, 1)
    for (index_t i = 0; i < count; ++i) f(i);
    return;
  }
#endif
  for (index_t i = 0; i < count; ++i) f(i);
}

/// Σ_t f(t) over t in [0, n) in double, in 32 interleaved partial sums (vectorisable, and in
/// an order that depends only on n).
template <class F>
double lane_sum(index_t n, F&& f) {
  constexpr index_t lanes = 32;
  double acc[lanes] = {};
  index_t t = 0;
  for (; t + lanes <= n; t += lanes) TESSERA_OMP_SIMD()
  for (index_t l = 0; l < lanes; ++l) acc[l] += f(t + l);
  for (; t < n; ++t) acc[t % lanes] += f(t);
  for (index_t w = lanes / 2; w > 0; w /= 2)
    for (index_t l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}

}  // namespace detail

/// DirectLiNGAM causal order of X (samples × variables) with lingam's pwling measure.
/// At each step the candidate with the largest score M_i = -Σ_j min(0, Δ_ij)² is appended
/// and the other remaining variables are regressed on it (population moments).
/// @throws tessera::invalid_argument for n < d, non-finite data, a constant column, a
///   malformed or self-contradicting prior, a variable whose residual vanishes, or two
///   variables that are collinear (1 − ρ² < collinear_tolerance<T>()) at some step.
template <class T>
ordering_result causal_order(const tensor<T>& X, const ordering_options& opt = {}) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "causal_order works on float or double data");
  detail::check_lingam_data("causal::causal_order", X);
  const index_t n = X.size(0), d = X.size(1);
  const prior_knowledge pk =
      opt.prior_knowledge.defined() ? prior_knowledge(opt.prior_knowledge, d) : prior_knowledge();
  const bool soft = opt.apply_prior_knowledge_softly;
  std::vector<std::pair<index_t, index_t>> pairs;
  if (!pk.empty() && !soft) pairs = pk.precedence_pairs();

  // Working copy, variables × samples (each variable contiguous).
  using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using matf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  mat W(d, n);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) W(j, i) = X(i, j);

  std::vector<index_t> U(static_cast<std::size_t>(d));
  for (index_t j = 0; j < d; ++j) U[static_cast<std::size_t>(j)] = j;
  ordering_result res;
  mat Z;                  // standardised remaining variables (k × n)
  matf Zf;                // their float copy (mixed precision from double data)
  std::vector<double> H;  // entropy of each standardised remaining variable
  const double dn = static_cast<double>(n);
  const bool use_float = std::is_same_v<T, float> || opt.mixed_precision;
  const bool float_copy =
      std::is_same_v<T, double> && opt.mixed_precision && TESSERA_CAUSAL_TABLE_KERNEL;
  // Entropies of u = (z_a - ρ z_b)·s and v = (z_b - ρ z_a)·s for rows a, b of Z, in one pass
  // over the samples. The mixed-precision table kernel reads the float copy where the residual
  // does not cancel (|ρ| <= 0.8, so s <= 5/3): its rounding (6e-8 relative) then moves u by no
  // more than the FP32 transcendentals do.
  auto pair_entropies = [&](index_t a, index_t b, double r, double s, double& h_ab, double& h_ba) {
    detail::moment_sums m;
#if TESSERA_CAUSAL_TABLE_KERNEL
    if (use_float) {
      if (float_copy && std::abs(r) <= 0.8)
        m = detail::pair_moments_table(&Zf(a, 0), &Zf(b, 0), n, r, s);
      else
        m = detail::pair_moments_table(&Z(a, 0), &Z(b, 0), n, r, s);
    } else {
      m = detail::pair_moments<double>(&Z(a, 0), &Z(b, 0), n, r, s);
    }
#else
    if (use_float)
      m = detail::pair_moments<float>(&Z(a, 0), &Z(b, 0), n, r, s);
    else
      m = detail::pair_moments<double>(&Z(a, 0), &Z(b, 0), n, r, s);
#endif
    h_ab = detail::entropy_from_moments(m.lc_ab / dn - std::numbers::ln2, m.ue_ab / dn);
    h_ba = detail::entropy_from_moments(m.lc_ba / dn - std::numbers::ln2, m.ue_ba / dn);
  };

  while (!U.empty()) {
    const index_t k = static_cast<index_t>(U.size());
    const detail::candidates cand = detail::search_candidates(pk, soft, U, pairs, d);
    index_t chosen;
    if (cand.uc.size() == 1) {
      chosen = cand.uc[0];
      if (opt.record_scores) {
        res.scores.emplace_back();
        res.candidates.push_back(cand.uc);
      }
    } else {
      // Standardise (population std) the remaining variables once, and each one's entropy.
      Z.resize(k, n);
      if (float_copy) Zf.resize(k, n);
      H.assign(static_cast<std::size_t>(k), 0.0);
      std::vector<char> degenerate(static_cast<std::size_t>(k), 0);
      detail::dynamic_for(k, [&](index_t a) {
        const T* x = &W(U[static_cast<std::size_t>(a)], 0);
        const double mu =
            detail::lane_sum(n, [&](index_t t) { return static_cast<double>(x[t]); }) / dn;
        const double v = detail::lane_sum(n, [&](index_t t) {
          const double c = static_cast<double>(x[t]) - mu;
          return c * c;
        });
        const double sd = std::sqrt(v / dn);
        if (!(sd > 0.0) || !std::isfinite(sd)) {
          degenerate[static_cast<std::size_t>(a)] = 1;
          return;
        }
        T* z = &Z(a, 0);
        for (index_t t = 0; t < n; ++t)
          z[t] = static_cast<T>((static_cast<double>(x[t]) - mu) / sd);
        if (float_copy)
          for (index_t t = 0; t < n; ++t) Zf(a, t) = static_cast<float>(Z(a, t));
        double h_aa;
        pair_entropies(a, a, 0.0, 1.0, H[static_cast<std::size_t>(a)], h_aa);
      });
      for (index_t a = 0; a < k; ++a)
        if (degenerate[static_cast<std::size_t>(a)])
          throw_invalid_argument("causal::causal_order", "variable ",
                                 U[static_cast<std::size_t>(a)],
                                 " has no variance left after regressing out ", res.order.size(),
                                 " earlier variables (collinear data)");
      // Positions of candidates and Vj membership, by position in U.
      std::vector<char> is_cand(static_cast<std::size_t>(k), 0),
          in_vj(static_cast<std::size_t>(k), 0);
      for (index_t a = 0; a < k; ++a) {
        const index_t v = U[static_cast<std::size_t>(a)];
        is_cand[static_cast<std::size_t>(a)] =
            std::find(cand.uc.begin(), cand.uc.end(), v) != cand.uc.end();
        in_vj[static_cast<std::size_t>(a)] = cand.in_vj[static_cast<std::size_t>(v)];
      }
      // Unordered pairs that some candidate's score needs.
      std::vector<std::pair<index_t, index_t>> work;
      for (index_t a = 0; a < k; ++a)
        for (index_t b = a + 1; b < k; ++b)
          if (is_cand[static_cast<std::size_t>(a)] || is_cand[static_cast<std::size_t>(b)])
            work.push_back({a, b});
      // All correlations, ρ = Z Zᵀ / n (lower triangle), by row blocks on the threads: Eigen
      // runs each block's GEMM on the calling thread (inside a team it does not fork its own,
      // whose spinning workers stall on a shared machine).
      Eigen::MatrixXd rho(k, k);
      {
        Eigen::MatrixXd Zcast;
        if constexpr (!std::is_same_v<T, double>) Zcast = Z.template cast<double>();
        const auto& Zd = [&]() -> const auto& {
          if constexpr (std::is_same_v<T, double>)
            return Z;
          else
            return Zcast;
        }();
        const index_t nb = std::max<index_t>(2, (k + 31) / 32);
        detail::dynamic_for(nb, [&](index_t blk) {
          const index_t i0 = k * blk / nb, i1 = k * (blk + 1) / nb;
          if (i1 > i0)
            rho.block(i0, 0, i1 - i0, i1).noalias() =
                (Zd.middleRows(i0, i1 - i0) * Zd.topRows(i1).transpose()) / dn;
        });
      }
      // A pair whose correlation leaves a residual at the data's rounding level is collinear:
      // its residual entropies would be noise (or NaN once 1 − ρ² rounds to 0).
      for (const auto& [a, b] : work)
        if (1.0 - rho(b, a) * rho(b, a) < collinear_tolerance<T>())
          throw_invalid_argument(
              "causal::causal_order", "variables ", U[static_cast<std::size_t>(a)], " and ",
              U[static_cast<std::size_t>(b)], " are collinear after regressing out ",
              res.order.size(), " earlier variables (correlation ", rho(b, a), ")");
      // Per pair, Hr(a, b) = entropy of the standardised residual of a regressed on b, and
      // Hr(b, a), in one pass; σ = sqrt(1 - ρ²) analytically.
      Eigen::MatrixXd Hr = Eigen::MatrixXd::Zero(k, k);
      detail::dynamic_for(static_cast<index_t>(work.size()), [&](index_t w) {
        const auto [a, b] = work[static_cast<std::size_t>(w)];
        const double r = rho(b, a);
        const double s = 1.0 / std::sqrt(std::max(1.0 - r * r, std::numeric_limits<double>::min()));
        pair_entropies(a, b, r, s, Hr(a, b), Hr(b, a));
      });
      // Scores of the candidates, in increasing variable index (U is kept sorted).
      std::vector<double> M;
      index_t best = -1;
      double best_m = -std::numeric_limits<double>::infinity();
      for (index_t a = 0; a < k; ++a) {
        if (!is_cand[static_cast<std::size_t>(a)]) continue;
        double m = 0.0;
        for (index_t b = 0; b < k; ++b) {
          if (b == a) continue;
          // lingam: r_{j|i} is replaced by z_j when j ∈ Vj (i is a candidate here).
          const double h_rb =
              in_vj[static_cast<std::size_t>(b)] ? H[static_cast<std::size_t>(b)] : Hr(b, a);
          const double delta =
              (H[static_cast<std::size_t>(b)] + Hr(a, b)) - (H[static_cast<std::size_t>(a)] + h_rb);
          const double mn = std::min(0.0, delta);
          m += mn * mn;
        }
        M.push_back(-m);
        if (-m > best_m) {
          best_m = -m;
          best = a;
        }
      }
      chosen = U[static_cast<std::size_t>(best)];
      if (opt.record_scores) {
        res.scores.push_back(std::move(M));
        res.candidates.push_back(cand.uc);
      }
    }
    // Regress every other remaining variable on the chosen one (population moments).
    {
      const T* xm = &W(chosen, 0);
      const double mu_m =
          detail::lane_sum(n, [&](index_t t) { return static_cast<double>(xm[t]); }) / dn;
      const double var_m = detail::lane_sum(n,
                                            [&](index_t t) {
                                              const double c = static_cast<double>(xm[t]) - mu_m;
                                              return c * c;
                                            }) /
                           dn;
      std::vector<index_t> others;
      for (index_t v : U)
        if (v != chosen) others.push_back(v);
      detail::dynamic_for(static_cast<index_t>(others.size()), [&](index_t q) {
        T* xi = &W(others[static_cast<std::size_t>(q)], 0);
        const double mu_i =
            detail::lane_sum(n, [&](index_t t) { return static_cast<double>(xi[t]); }) / dn;
        const double cov = detail::lane_sum(n,
                                            [&](index_t t) {
                                              return (static_cast<double>(xi[t]) - mu_i) *
                                                     (static_cast<double>(xm[t]) - mu_m);
                                            }) /
                           dn;
        const T c = static_cast<T>(cov / var_m);
        for (index_t t = 0; t < n; ++t) xi[t] -= c * xm[t];
      });
    }
    res.order.push_back(chosen);
    U.erase(std::find(U.begin(), U.end(), chosen));
    if (opt.progress) opt.progress(static_cast<index_t>(res.order.size()), d);
    if (!pairs.empty()) {
      std::vector<std::pair<index_t, index_t>> kept;
      for (const auto& p : pairs)
        if (p.first != chosen) kept.push_back(p);
      pairs.swap(kept);
    }
  }
  return res;
}

}  // namespace tessera::causal
