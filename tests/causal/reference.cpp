// SPDX-License-Identifier: Apache-2.0
// DirectLiNGAM against the Python lingam package: every step's scores, the order, the
// adjacency matrix and the total effects on the fixtures (synthetic data and 6vars.csv).
#include <boost/test/unit_test.hpp>

#include "lingam_checks.hpp"
#include "tessera/causal/adjacency.hpp"
#include "tessera/io/csv.hpp"

using namespace tessera;
namespace tc = tessera::causal;
using lingam_fixture::check_fit;
using lingam_fixture::close;
using lingam_fixture::fixture;

namespace {
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
