// SPDX-License-Identifier: Apache-2.0
// Comparisons of tessera's DirectLiNGAM with the lingam fixtures, shared by the test files.
#pragma once

#include <boost/test/unit_test.hpp>
#include <string>

#include "fixture.hpp"
#include "tessera/causal/adjacency.hpp"

namespace lingam_fixture {

namespace tc = tessera::causal;
using tessera::index_t;
using tessera::tensor;

/// Scores (1e-10 relative + absolute), candidates and order equal to lingam's.
inline void check_ordering(const tc::ordering_result& r, const fixture& f) {
  const auto order = f["order"].as_index();
  BOOST_TEST_REQUIRE(r.order.size() == order.size());
  for (std::size_t k = 0; k < order.size(); ++k) BOOST_TEST(r.order[k] == order[k], "step " << k);
  const long steps = static_cast<long>(f["steps"](0, 0));
  BOOST_TEST_REQUIRE(static_cast<long>(r.scores.size()) == steps);
  for (long s = 0; s < steps; ++s) {
    const auto cand = f["candidates." + std::to_string(s)].as_index();
    const auto& sc = f["scores." + std::to_string(s)];
    BOOST_TEST_REQUIRE(r.candidates[s].size() == cand.size());
    for (std::size_t k = 0; k < cand.size(); ++k) BOOST_TEST(r.candidates[s][k] == cand[k]);
    BOOST_TEST_REQUIRE(static_cast<long>(r.scores[s].size()) == sc.cols, "step " << s);
    for (long k = 0; k < sc.cols; ++k)
      BOOST_TEST(close(r.scores[s][k], sc(0, k), 1e-10, 1e-10), "step " << s << " candidate " << k
                                                                        << ": " << r.scores[s][k]
                                                                        << " vs " << sc(0, k));
  }
}

inline void check_matrix(const tensor<double>& got, const lingam_fixture::block& want, double tol,
                         const char* what) {
  BOOST_TEST_REQUIRE(got.size(0) == want.rows);
  BOOST_TEST_REQUIRE(got.size(1) == want.cols);
  for (long i = 0; i < want.rows; ++i)
    for (long j = 0; j < want.cols; ++j)
      BOOST_TEST(close(got(i, j), want(i, j), tol, tol),
                 what << "[" << i << "," << j << "] = " << got(i, j) << " vs " << want(i, j));
}

/// The whole fit and both kinds of total effects against the fixture.
inline void check_fit(const tensor<double>& X, const fixture& f, tc::ordering_options opt = {}) {
  opt.record_scores = true;
  check_ordering(tc::causal_order(X, opt), f);
  const tc::lingam_result m = tc::fit(X, opt);
  check_matrix(m.adjacency, f["adjacency"], 1e-8, "B");
  const auto& te = f["total_effect_regression"];
  for (long r = 0; r < te.rows; ++r) {
    const auto from = static_cast<index_t>(te(r, 0)), to = static_cast<index_t>(te(r, 1));
    BOOST_TEST(close(tc::total_effect(X, m, from, to), te(r, 2), 1e-8, 1e-8),
               "total effect " << from << " -> " << to);
  }
  check_matrix(tc::path_total_effects(m), f["total_effect_paths"], 1e-8, "path effects");
}

}  // namespace lingam_fixture
