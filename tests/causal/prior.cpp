// SPDX-License-Identifier: Apache-2.0
// DirectLiNGAM with prior knowledge (strong and soft) against lingam's fixtures.
#include <boost/test/unit_test.hpp>

#include "lingam_checks.hpp"
#include "tessera/io/csv.hpp"

using namespace tessera;
namespace tc = tessera::causal;
using lingam_fixture::fixture;

namespace {

void check_prior_case(const std::string& name, bool soft) {
  const tensor<double> X =
      io::read_csv<double>(lingam_fixture::fixture_path("syn_n500_d8.csv")).data;
  const fixture f(name);
  tc::ordering_options opt;
  opt.prior_knowledge = f["prior"].as_tensor();
  opt.apply_prior_knowledge_softly = soft;
  lingam_fixture::check_fit(X, f, opt);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(causal)
BOOST_AUTO_TEST_SUITE(prior_knowledge)

BOOST_AUTO_TEST_CASE(strong_matches_lingam) {
  check_prior_case("prior_strong_d8.txt", false);
  // The prior forces an order the data alone would not give, and a "no path" entry removes a
  // predictor from the adjacency estimate: both must show.
  const fixture f("prior_strong_d8.txt"), plain("syn_n500_d8.txt");
  BOOST_TEST(f["order"].v != plain["order"].v);
  const auto& pk = f["prior"];
  const auto& B = f["adjacency"];
  for (long i = 0; i < pk.rows; ++i)
    for (long j = 0; j < pk.cols; ++j)
      if (pk(i, j) == 0.0) BOOST_TEST(B(i, j) == 0.0);
}

BOOST_AUTO_TEST_CASE(soft_with_exogenous_and_sink_matches_lingam) {
  check_prior_case("prior_soft_d8.txt", true);
}

BOOST_AUTO_TEST_CASE(soft_with_endogenous_and_sink_branch_matches_lingam) {
  check_prior_case("prior_soft_end_d8.txt", true);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
