// SPDX-License-Identifier: Apache-2.0
// predict_adaptive_lasso and estimate_adjacency against lingam on ill-conditioned designs
// (near-collinear predictors, near-deterministic targets), where the Gram-matrix shortcut
// must hand over to the QR of the data.
#include <boost/test/unit_test.hpp>
#include <string>

#include "fixture.hpp"
#include "tessera/causal/adjacency.hpp"
#include "tessera/io/csv.hpp"

using namespace tessera;
namespace tc = tessera::causal;
using lingam_fixture::close;
using lingam_fixture::fixture;

BOOST_AUTO_TEST_SUITE(causal)
BOOST_AUTO_TEST_SUITE(adaptive_lasso)

BOOST_AUTO_TEST_CASE(ill_conditioned_designs_match_lingam) {
  const tensor<double> X =
      io::read_csv<double>(lingam_fixture::fixture_path("ill_n300_d5.csv")).data;
  const fixture f("ill_n300_d5.txt");
  const Eigen::MatrixXd M = tc::detail::to_eigen(X);
  const tc::detail::column_moments mom(M);
  const long cases = static_cast<long>(f["cases"](0, 0));
  for (long c = 0; c < cases; ++c) {
    const std::string k = "case" + std::to_string(c);
    std::vector<index_t> pred;
    for (long p : f[k + ".predictors"].as_index()) pred.push_back(p);
    const auto target = static_cast<index_t>(f[k + ".target"](0, 0));
    const auto& want = f[k + ".coef"];
    const Eigen::VectorXd qr = tc::predict_adaptive_lasso(M, pred, target);
    const Eigen::VectorXd mo = tc::detail::adaptive_lasso_from_moments(M, mom, pred, target, 1.0);
    for (long j = 0; j < want.cols; ++j) {
      BOOST_TEST(close(qr[j], want(0, j), 1e-8, 1e-8), k << " coef " << j << " (QR)");
      BOOST_TEST(close(mo[j], want(0, j), 1e-8, 1e-8), k << " coef " << j << " (moments)");
      BOOST_TEST((qr[j] == 0.0) == (want(0, j) == 0.0), k << " support " << j);
    }
  }
  std::vector<index_t> order;
  for (long v : f["order"].as_index()) order.push_back(v);
  const tensor<double> B = tc::estimate_adjacency(X, order);
  const auto& want = f["adjacency"];
  for (long i = 0; i < want.rows; ++i)
    for (long j = 0; j < want.cols; ++j)
      BOOST_TEST(close(B(i, j), want(i, j), 1e-8, 1e-8), "B[" << i << "," << j << "]");
}

BOOST_AUTO_TEST_CASE(arguments_are_checked) {
  const Eigen::MatrixXd M = Eigen::MatrixXd::Random(20, 3);
  BOOST_CHECK_THROW(tc::predict_adaptive_lasso(M, {0, 3}, 1), tessera::invalid_argument);
  BOOST_CHECK_THROW(tc::predict_adaptive_lasso(M, {0, 1}, 1), tessera::invalid_argument);
  BOOST_CHECK_THROW(tc::predict_adaptive_lasso(M, {0}, 5), tessera::invalid_argument);
  BOOST_CHECK_THROW(tc::predict_adaptive_lasso(M, {0}, 1, 0.0), tessera::invalid_argument);
  BOOST_CHECK_THROW(tc::predict_adaptive_lasso(Eigen::MatrixXd::Random(3, 3), {0, 1}, 2),
                    tessera::invalid_argument);
}

// A target with no residual variance (here constant; an exact linear function of the predictors
// leaves rounding noise) has no BIC: the error names predict_adaptive_lasso and the target, not
// the inner lasso_lars_ic_bic and its "y".
BOOST_AUTO_TEST_CASE(exactly_determined_target_is_named) {
  Eigen::MatrixXd M = Eigen::MatrixXd::Random(30, 3);
  M.col(2).setConstant(3.0);
  try {
    tc::predict_adaptive_lasso(M, {0, 1}, 2);
    BOOST_FAIL("no exception");
  } catch (const tessera::domain_error& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("causal::predict_adaptive_lasso") != std::string::npos, m);
    BOOST_TEST(m.find("target x2 is an exact linear function") != std::string::npos, m);
  }
  // lasso_lars_ic_bic itself keeps its own name.
  try {
    tc::lasso_lars_ic_bic(M.leftCols(2), M.col(2));
    BOOST_FAIL("no exception");
  } catch (const tessera::domain_error& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("causal::lasso_lars_ic_bic") != std::string::npos, m);
    BOOST_TEST(m.find("y is an exact linear function of X") != std::string::npos, m);
  }
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
