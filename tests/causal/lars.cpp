// SPDX-License-Identifier: Apache-2.0
// LARS-lasso path and LassoLarsIC(bic) against scikit-learn's on the fixtures.
#include <boost/test/unit_test.hpp>

#include <limits>
#include <string>

#include "fixture.hpp"
#include "tessera/causal/adjacency.hpp"
#include "tessera/causal/lars.hpp"

using namespace tessera;
namespace tc = tessera::causal;
using lingam_fixture::close;
using lingam_fixture::fixture;

namespace {

void load(const fixture& f, Eigen::MatrixXd& X, Eigen::VectorXd& y) {
  const auto& bx = f["X"];
  X.resize(bx.rows, bx.cols);
  for (long i = 0; i < bx.rows; ++i)
    for (long j = 0; j < bx.cols; ++j) X(i, j) = bx(i, j);
  const auto& by = f["y"];
  y.resize(by.cols);
  for (long i = 0; i < by.cols; ++i) y[i] = by(0, i);
}

void check_case(const std::string& name) {
  const fixture f(name);
  Eigen::MatrixXd X;
  Eigen::VectorXd y;
  load(f, X, y);
  const Eigen::MatrixXd Xc = X.rowwise() - X.colwise().mean();
  const Eigen::VectorXd yc = y.array() - y.mean();
  const tc::lars_path_result p = tc::lars_path(Xc, yc);
  const auto& alphas = f["path_alphas"];
  BOOST_TEST_REQUIRE(p.alphas.size() == alphas.cols);
  for (long k = 0; k < alphas.cols; ++k)
    BOOST_TEST(close(p.alphas[k], alphas(0, k), 1e-10, 1e-12), "alpha " << k);
  const auto active = f["path_active"].as_index();
  BOOST_TEST_REQUIRE(p.active.size() == active.size());
  for (std::size_t k = 0; k < active.size(); ++k) BOOST_TEST(p.active[k] == active[k]);
  const auto& coefs = f["path_coefs"];
  BOOST_TEST_REQUIRE(p.coefs.rows() == coefs.rows);
  BOOST_TEST_REQUIRE(p.coefs.cols() == coefs.cols);
  for (long j = 0; j < coefs.rows; ++j)
    for (long k = 0; k < coefs.cols; ++k) {
      BOOST_TEST(close(p.coefs(j, k), coefs(j, k), 1e-9, 1e-12), "coef " << j << " kink " << k);
      // Exact zeros stay exact zeros (the support is what the BIC counts).
      BOOST_TEST((std::abs(p.coefs(j, k)) > DBL_EPSILON) == (std::abs(coefs(j, k)) > DBL_EPSILON));
    }

  const tc::lasso_ic_result ic = tc::lasso_lars_ic_bic(X, y);
  const auto& crit = f["ic_criterion"];
  BOOST_TEST_REQUIRE(ic.criterion.size() == crit.cols);
  for (long k = 0; k < crit.cols; ++k)
    BOOST_TEST(close(ic.criterion[k], crit(0, k), 1e-10, 1e-10), "criterion " << k);
  const auto& coef = f["ic_coef"];
  for (long j = 0; j < coef.cols; ++j) BOOST_TEST(close(ic.coef[j], coef(0, j), 1e-9, 1e-12));
  const auto& sc = f["ic_scalars"];
  BOOST_TEST(close(ic.alpha, sc(0, 0), 1e-10, 1e-14));
  BOOST_TEST(close(ic.intercept, sc(0, 1), 1e-9, 1e-12));
  BOOST_TEST(close(ic.noise_variance, sc(0, 2), 1e-10, 0.0));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(causal)
BOOST_AUTO_TEST_SUITE(lars)

BOOST_AUTO_TEST_CASE(path_and_bic_match_sklearn) { check_case("lars_small.txt"); }

BOOST_AUTO_TEST_CASE(path_with_a_drop_matches_sklearn) {
  check_case("lars_drop.txt");
  // The fixture was chosen so that a variable leaves the active set: check that it does.
  const fixture f("lars_drop.txt");
  const auto& c = f["path_coefs"];
  bool dropped = false;
  for (long j = 0; j < c.rows; ++j)
    for (long k = 0; k + 1 < c.cols; ++k) dropped |= c(j, k) != 0.0 && c(j, k + 1) == 0.0;
  BOOST_TEST(dropped);
}

BOOST_AUTO_TEST_CASE(full_path_ends_at_ols) {
  // The last kink of a full path is the least-squares fit (alpha = 0).
  Eigen::MatrixXd X(8, 3);
  X << 1, 2, 0.5, -1, 0.3, 2, 0.7, -1.2, 1, 2, 0.1, -0.3, -0.4, 1.1, 0.9, 0.2, -2, 0.4, -1.5, 0.6,
      -0.8, 0.9, 0.4, 1.7;
  Eigen::VectorXd y(8);
  y << 1.0, -0.5, 0.2, 2.1, -1.3, 0.4, 0.9, -0.7;
  const Eigen::MatrixXd Xc = X.rowwise() - X.colwise().mean();
  const Eigen::VectorXd yc = y.array() - y.mean();
  const auto p = tc::lars_path(Xc, yc);
  const Eigen::VectorXd ols = Xc.colPivHouseholderQr().solve(yc);
  BOOST_TEST(p.alphas[p.alphas.size() - 1] == 0.0);
  for (int j = 0; j < 3; ++j)
    BOOST_TEST(close(p.coefs(j, p.coefs.cols() - 1), ols[j], 1e-12, 1e-12));
  // KKT along the path: every active |x_jᵀ r| / n equals alpha, inactive ones are below it.
  for (Eigen::Index k = 0; k + 1 < p.coefs.cols(); ++k) {
    const Eigen::VectorXd c = Xc.transpose() * (yc - Xc * p.coefs.col(k)) / 8.0;
    for (int j = 0; j < 3; ++j) BOOST_TEST(std::abs(c[j]) <= p.alphas[k] * (1 + 1e-12) + 1e-15);
  }
}

BOOST_AUTO_TEST_CASE(bic_needs_n_above_p_plus_one) {
  // lingam issue #56: with n <= p + 1 the OLS noise variance does not exist.
  Eigen::MatrixXd X = Eigen::MatrixXd::Random(4, 3);
  Eigen::VectorXd y = Eigen::VectorXd::Random(4);
  try {
    tc::lasso_lars_ic_bic(X, y);
    BOOST_FAIL("no exception");
  } catch (const tessera::invalid_argument& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("lasso_lars_ic_bic") != std::string::npos, m);
    BOOST_TEST(m.find("n = 4") != std::string::npos, m);
    BOOST_TEST(m.find("p = 3") != std::string::npos, m);
  }
  BOOST_CHECK_THROW(tc::lars_path(X, Eigen::VectorXd::Zero(3)), tessera::invalid_argument);
}

// Finite data whose products overflow (XᵀX = inf) are refused by name; the Cholesky retry loop
// used to spin for ever on them. A NaN given to predict_adaptive_lasso likewise (it hung, or hit
// an Eigen assertion).
BOOST_AUTO_TEST_CASE(overflowing_or_non_finite_data_are_refused) {
  const Eigen::MatrixXd X = Eigen::MatrixXd::Random(20, 3) * 1e160;
  const Eigen::VectorXd y = Eigen::VectorXd::Random(20);
  try {
    (void)tc::lars_path(X, y);
    BOOST_FAIL("no exception");
  } catch (const tessera::invalid_argument& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("causal::lars_path") != std::string::npos, m);
    BOOST_TEST(m.find("not finite") != std::string::npos, m);
  }
  Eigen::MatrixXd Z = Eigen::MatrixXd::Random(30, 3);
  Z(4, 1) = std::numeric_limits<double>::quiet_NaN();
  try {
    (void)tc::predict_adaptive_lasso(Z, {0, 1}, 2);
    BOOST_FAIL("no exception");
  } catch (const tessera::invalid_argument& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("causal::predict_adaptive_lasso") != std::string::npos, m);
    BOOST_TEST(m.find("column 1") != std::string::npos, m);
  }
  BOOST_CHECK_NO_THROW(tc::predict_adaptive_lasso(Z, {0}, 2));  // column 1 unused
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
