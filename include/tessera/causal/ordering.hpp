// SPDX-License-Identifier: Apache-2.0
// Options, results and input checks shared by the CPU and CUDA causal orderings (no Eigen, no
// CUDA headers: included from .cu files too).
#pragma once

#include <cmath>
#include <functional>
#include <numbers>
#include <type_traits>
#include <vector>

#include "tessera/config.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::causal {

/// Options of the causal ordering.
struct ordering_options {
  /// [effect, cause] prior knowledge (1 path, 0 no path, -1 unknown); undefined = none.
  tensor<double> prior_knowledge;
  /// Apply the prior knowledge softly (lingam's apply_prior_knowledge_softly).
  bool apply_prior_knowledge_softly = false;
  /// Keep each step's scores M_i (for comparison with the reference).
  bool record_scores = false;
  /// Evaluate log cosh u and exp(-u²/2) to FP32 accuracy while accumulating in double: with
  /// AVX-512 from piecewise-polynomial tables (about 9× faster than FP64), otherwise by float
  /// exp/log1p; scores within ~1e-7 relative of the full-precision ones. With float data the
  /// transcendentals are always FP32.
  bool mixed_precision = false;
  /// Called after each step with (variables ordered so far, total), on the calling thread;
  /// empty = silent. For progress reports on long orderings; must not throw. (bootstrap does
  /// not call it: its replicates run in parallel.)
  std::function<void(index_t, index_t)> progress;
};

/// 1 − ρ² below which two (standardised, partly regressed) variables count as collinear: their
/// residual, of relative size sqrt(1 − ρ²), is then within a few digits of T's rounding. For
/// float data the standardised values carry ~6·10⁻⁸ of rounding each, which leaves 1 − ρ² of
/// two identical columns anywhere up to ~10⁻⁷: 10⁻⁶ (a residual of 10⁻³ relative, three float
/// digits). For double, 10⁻¹⁴ (a residual of 10⁻⁷ relative, nine digits left).
template <class T>
constexpr double collinear_tolerance() {
  return std::is_same_v<T, float> ? 1e-6 : 1e-14;
}

/// The causal order and, when recorded, each step's scores.
struct ordering_result {
  std::vector<index_t> order;
  /// scores[step][k] = M of the k-th candidate of that step (candidates in increasing index);
  /// empty for a step whose single candidate was taken without scoring.
  std::vector<std::vector<double>> scores;
  std::vector<std::vector<index_t>> candidates;
};

namespace detail {

inline constexpr double entropy_k1 = 79.047;
inline constexpr double entropy_k2 = 7.4129;
inline constexpr double entropy_gamma = 0.37457;

/// Maximum-entropy approximation of the differential entropy of a unit-variance sample from
/// its two moments E[log cosh u] and E[u·exp(-u²/2)].
TESSERA_HOST_DEVICE double entropy_from_moments(double mean_logcosh, double mean_uexp) {
  const double c = 1.4189385332046727;  // (1 + log 2π) / 2
  const double a = mean_logcosh - entropy_gamma;
  return c - entropy_k1 * a * a - entropy_k2 * mean_uexp * mean_uexp;
}

/// Validates the data matrix for causal discovery (rank 2, n >= d, finite, no constant column).
template <class T>
void check_lingam_data(const char* fn, const tensor<T>& X) {
  if (X.rank() != 2)
    throw_invalid_argument(fn, "data must be a matrix (samples, variables), got shape ",
                           X.shape().str());
  const index_t n = X.size(0), d = X.size(1);
  if (d < 1) throw_invalid_argument(fn, "data of shape ", X.shape().str(), " has no variables");
  if (n < d)
    throw_invalid_argument(fn, "data of shape ", X.shape().str(), " has n = ", n,
                           " samples for d = ", d, " variables; need n >= d");
  for (index_t j = 0; j < d; ++j) {
    T lo = X(0, j), hi = X(0, j);
    for (index_t i = 0; i < n; ++i) {
      const T v = X(i, j);
      if (!std::isfinite(v))
        throw_invalid_argument(fn, "data[", i, ",", j, "] = ", v, " is not finite");
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    if (!(hi > lo))
      throw_invalid_argument(fn, "variable ", j, " is constant (", lo,
                             "); it has no variance to order");
  }
}

}  // namespace detail

}  // namespace tessera::causal
