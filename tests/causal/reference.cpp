// SPDX-License-Identifier: Apache-2.0
// DirectLiNGAM against the Python lingam package: every step's scores, the order, the
// adjacency matrix and the total effects on the fixtures (synthetic data and 6vars.csv).
#include <boost/test/unit_test.hpp>

#include "fixture.hpp"
#include "tessera/causal/adjacency.hpp"
#include "tessera/io/csv.hpp"

using namespace tessera;
namespace tc = tessera::causal;
using lingam_fixture::close;
using lingam_fixture::fixture;

namespace {

/// Scores (1e-10 relative + absolute), candidates and order equal to lingam's.
void check_ordering(const tc::ordering_result& r, const fixture& f) {
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

void check_matrix(const tensor<double>& got, const lingam_fixture::block& want, double tol,
                  const char* what) {
  BOOST_TEST_REQUIRE(got.size(0) == want.rows);
  BOOST_TEST_REQUIRE(got.size(1) == want.cols);
  for (long i = 0; i < want.rows; ++i)
    for (long j = 0; j < want.cols; ++j)
      BOOST_TEST(close(got(i, j), want(i, j), tol, tol),
                 what << "[" << i << "," << j << "] = " << got(i, j) << " vs " << want(i, j));
}

/// The whole fit and both kinds of total effects against the fixture.
void check_fit(const tensor<double>& X, const fixture& f, tc::ordering_options opt = {}) {
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

tensor<double> read(const std::string& path) { return io::read_csv<double>(path).data; }

}  // namespace

BOOST_AUTO_TEST_SUITE(causal)
BOOST_AUTO_TEST_SUITE(reference)

BOOST_AUTO_TEST_CASE(synthetic_d8_matches_lingam) {
  check_fit(read(lingam_fixture::fixture_path("syn_n500_d8.csv")), fixture("syn_n500_d8.txt"));
}

BOOST_AUTO_TEST_CASE(synthetic_d12_matches_lingam) {
  check_fit(read(lingam_fixture::fixture_path("syn_n1000_d12.csv")), fixture("syn_n1000_d12.txt"));
}

BOOST_AUTO_TEST_CASE(six_vars_matches_lingam_and_ground_truth,
                     *boost::unit_test::precondition(lingam_fixture::has_data{"6vars.csv"})) {
  const tensor<double> X = read(lingam_fixture::lingam_data("6vars.csv"));
  const fixture f("6vars.txt");
  check_fit(X, f);
  // Ground truth (SOURCE.md): the support exactly, the weights within the noise of n = 1000.
  const double truth[6][6] = {{0, 0, 0, 3, 0, 0}, {3, 0, 2, 0, 0, 0},  {0, 0, 0, 6, 0, 0},
                              {0, 0, 0, 0, 0, 0}, {8, 0, -1, 0, 0, 0}, {4, 0, 0, 0, 0, 0}};
  const tc::lingam_result m = tc::fit(X);
  BOOST_TEST(m.order.front() == 3);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      BOOST_TEST((m.adjacency(i, j) != 0.0) == (truth[i][j] != 0.0),
                 "support [" << i << "," << j << "]");
      BOOST_TEST(std::abs(m.adjacency(i, j) - truth[i][j]) < 0.05, "B[" << i << "," << j << "]");
    }
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
