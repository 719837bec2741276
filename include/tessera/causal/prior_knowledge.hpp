// SPDX-License-Identifier: Apache-2.0
// Prior knowledge for DirectLiNGAM with lingam's semantics: a d×d matrix indexed
// [effect, cause] (1 = a directed path exists, 0 = no path, -1 = unknown), applied strongly
// (precedence pairs) or softly (candidate sets and unregressed residuals).
#pragma once

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "tessera/core/tensor.hpp"

namespace tessera::causal {

/// Prior knowledge, validated. Entries: 1 (path cause → effect), 0 (no path), -1 or NaN
/// (unknown). Stored row-major [effect, cause].
class prior_knowledge {
 public:
  prior_knowledge() = default;

  /// @throws tessera::invalid_argument when `pk` is not d×d, has entries other than
  ///   -1, 0, 1 (or NaN), or says both i → j and j → i.
  prior_knowledge(const tensor<double>& pk, index_t d) : d_(d) {
    if (pk.rank() != 2 || pk.size(0) != d || pk.size(1) != d)
      throw_invalid_argument("causal::prior_knowledge", "matrix shape ", pk.shape().str(),
                             " must be (", d, ",", d, ") for ", d, " variables");
    m_.resize(static_cast<std::size_t>(d * d));
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j < d; ++j) {
        const double v = pk(i, j);
        if (std::isnan(v) || v == -1.0)
          at(i, j) = -1;
        else if (v == 0.0 || v == 1.0)
          at(i, j) = static_cast<int>(v);
        else
          throw_invalid_argument("causal::prior_knowledge", "entry [", i, ",", j, "] = ", v,
                                 " must be 1 (path), 0 (no path) or -1 (unknown)");
        if (i == j && at(i, j) == 1)  // (lingam refuses it as inconsistent)
          throw_invalid_argument("causal::prior_knowledge", "entry [", i, ",", i, "] = 1 says x", i,
                                 " has a directed path to itself (a cycle)");
      }
    for (index_t i = 0; i < d; ++i)
      for (index_t j = i + 1; j < d; ++j)
        if (at(i, j) == 1 && at(j, i) == 1)
          throw_invalid_argument("causal::prior_knowledge", "entries [", i, ",", j, "] and [", j,
                                 ",", i, "] both say a directed path exists (a cycle between x", i,
                                 " and x", j, ")");
  }

  [[nodiscard]] bool empty() const noexcept { return m_.empty(); }
  [[nodiscard]] index_t size() const noexcept { return d_; }
  /// -1 unknown, 0 no path cause → effect, 1 path.
  [[nodiscard]] int operator()(index_t effect, index_t cause) const noexcept {
    return m_[static_cast<std::size_t>(effect * d_ + cause)];
  }

  /// Precedence pairs (from, to) of the strong mode, as lingam derives them: every known path
  /// cause → effect gives (cause, effect); a one-sided "no path j → i" gives (i, j); a pair
  /// known to have no path either way gives nothing.
  [[nodiscard]] std::vector<std::pair<index_t, index_t>> precedence_pairs() const {
    std::set<std::pair<index_t, index_t>> pairs;
    for (index_t i = 0; i < d_; ++i)
      for (index_t j = 0; j < d_; ++j) {
        if (i == j) continue;
        if ((*this)(i, j) == 1) pairs.insert({j, i});
        if ((*this)(i, j) == 0 && (*this)(j, i) != 0) pairs.insert({i, j});
      }
    return {pairs.begin(), pairs.end()};
  }

 private:
  int& at(index_t i, index_t j) { return m_[static_cast<std::size_t>(i * d_ + j)]; }
  index_t d_ = 0;
  std::vector<int> m_;
};

namespace detail {

/// Candidates Uc (and, softly, the set Vj of variables with no known dependence on Uc) among
/// the remaining variables U, as lingam's _search_candidate.
struct candidates {
  std::vector<index_t> uc;
  std::vector<char> in_vj;  // indexed by variable
};

/// `fn`: the caller's name, for the messages.
inline candidates search_candidates(const prior_knowledge& pk, bool soft,
                                    const std::vector<index_t>& U,
                                    const std::vector<std::pair<index_t, index_t>>& pairs,
                                    index_t d, const char* fn = "causal::causal_order") {
  candidates c;
  c.in_vj.assign(static_cast<std::size_t>(d), 0);
  if (pk.empty()) {
    c.uc = U;
    return c;
  }
  if (!soft) {
    for (index_t i : U) {
      bool is_to = false;
      for (const auto& p : pairs) is_to = is_to || p.second == i;
      if (!is_to) c.uc.push_back(i);
    }
    if (c.uc.empty())
      throw_invalid_argument(fn,
                             "the prior knowledge orders the remaining variables in a cycle; "
                             "no variable can come next");
    return c;
  }
  // A sum over entries that include an unknown (-1 stored, NaN in lingam) is never 0 and
  // never counts as > 0 unless the known entries do (nansum).
  auto row_sum_known_zero = [&](index_t r, const std::vector<index_t>& cols, index_t skip) {
    for (index_t k : cols)
      if (k != skip && pk(r, k) != 0) return false;
    return true;
  };
  for (index_t j : U)
    if (row_sum_known_zero(j, U, j)) c.uc.push_back(j);
  if (c.uc.empty()) {
    std::vector<char> end(static_cast<std::size_t>(d), 0);
    for (index_t j : U) {
      int s = 0;
      for (index_t k : U)
        if (k != j && pk(j, k) == 1) ++s;
      if (s > 0) end[static_cast<std::size_t>(j)] = 1;
    }
    for (index_t i : U) {
      bool sink = true;
      for (index_t k : U)
        if (k != i && pk(k, i) != 0) sink = false;
      if (sink) end[static_cast<std::size_t>(i)] = 1;
    }
    for (index_t i : U)
      if (!end[static_cast<std::size_t>(i)]) c.uc.push_back(i);
  }
  if (c.uc.empty())
    throw_invalid_argument(fn,
                           "the prior knowledge (soft mode) leaves no candidate for the next "
                           "variable among ",
                           U.size(), " remaining");
  for (index_t i : U) {
    if (std::find(c.uc.begin(), c.uc.end(), i) != c.uc.end()) continue;
    if (row_sum_known_zero(i, c.uc, -1)) c.in_vj[static_cast<std::size_t>(i)] = 1;
  }
  return c;
}

}  // namespace detail

}  // namespace tessera::causal
