// SPDX-License-Identifier: Apache-2.0
// VarLiNGAM against lingam's VARLiNGAM on sample_data_var_lingam.csv and a synthetic VAR(2).
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>

#include "fixture.hpp"
#include "tessera/causal/var_lingam.hpp"
#include "tessera/io/csv.hpp"

using namespace tessera;
namespace tc = tessera::causal;
using lingam_fixture::close;
using lingam_fixture::fixture;

namespace {

void check_slice(const tensor<double>& got, index_t k, const lingam_fixture::block& want,
                 double tol, const std::string& what) {
  for (long i = 0; i < want.rows; ++i)
    for (long j = 0; j < want.cols; ++j)
      BOOST_TEST(close(got(k, i, j), want(i, j), tol, tol),
                 what << "[" << i << "," << j << "] = " << got(k, i, j) << " vs " << want(i, j));
}

void check_order(const std::vector<index_t>& got, const fixture& f, const std::string& key) {
  const auto want = f[key].as_index();
  BOOST_TEST_REQUIRE(got.size() == want.size());
  for (std::size_t k = 0; k < want.size(); ++k) BOOST_TEST(got[k] == want[k]);
}

void check_sample(const tensor<double>& X, const fixture& f) {
  const tc::var_lingam_result r = tc::var_lingam(X);
  check_order(r.order, f, "order");
  BOOST_TEST(r.lags == 1);
  check_slice(r.ar_coefs, 0, f["M1"], 1e-10, "M1");
  check_slice(r.residuals.slice(0, 0, 5).reshape(shape_t{1, 5, 5}), 0, f["residuals_head"], 1e-10,
              "residuals");
  check_slice(r.adjacency, 0, f["B0"], 1e-8, "B0");
  check_slice(r.adjacency, 1, f["B1"], 1e-8, "B1");

  tc::var_lingam_options raw;
  raw.prune = false;
  const tc::var_lingam_result u = tc::var_lingam(X, raw);
  check_slice(u.adjacency, 0, f["unpruned_B0"], 1e-8, "unpruned B0");
  check_slice(u.adjacency, 1, f["unpruned_B1"], 1e-8, "unpruned B1");

  const Eigen::MatrixXd M = tc::detail::to_eigen(X);
  const auto& bic = f["bic_lags_1_2_3"];
  for (int p = 1; p <= 3; ++p)
    BOOST_TEST(close(tc::var_ols(M, p).bic, bic(0, p - 1), 1e-10, 1e-12), "BIC of lag " << p);
  tc::var_lingam_options three;
  three.lags = 3;
  const tc::var_lingam_result s = tc::var_lingam(X, three);
  BOOST_TEST(s.lags == static_cast<index_t>(f["lags3_selected"](0, 0)));
  check_order(s.order, f, "lags3_order");
  for (index_t k = 0; k <= s.lags; ++k)
    check_slice(s.adjacency, k, f["lags3_B" + std::to_string(k)], 1e-8,
                "lags3 B" + std::to_string(k));
}

const lingam_fixture::has_data var_data{"sample_data_var_lingam.csv"};

}  // namespace

BOOST_AUTO_TEST_SUITE(causal)
BOOST_AUTO_TEST_SUITE(var_lingam)

BOOST_AUTO_TEST_CASE(sample_data_all_rows_matches_lingam,
                     *boost::unit_test::precondition(var_data)) {
  // The file has no header: the reader keeps all 999 rows.
  const auto t = io::read_csv<double>(lingam_fixture::lingam_data("sample_data_var_lingam.csv"));
  BOOST_TEST(!t.has_header);
  BOOST_TEST(t.data.size(0) == 999);
  check_sample(t.data, fixture("var_lingam_sample.txt"));
}

BOOST_AUTO_TEST_CASE(sample_data_tutorial_read_matches_lingam_and_tutorial,
                     *boost::unit_test::precondition(var_data)) {
  // The tutorial's reader takes the first row as a header and fits 998 rows.
  const auto t = io::read_csv<double>(lingam_fixture::lingam_data("sample_data_var_lingam.csv"),
                                      io::csv_header::present);
  BOOST_TEST(t.data.size(0) == 998);
  check_sample(t.data, fixture("var_lingam_sample_tutorial.txt"));
  // The tutorial's printed numbers (SOURCE.md): order and the non-zeros of B0 to 3 decimals.
  const tc::var_lingam_result r = tc::var_lingam(t.data);
  const std::vector<index_t> order{1, 0, 3, 2, 4};
  BOOST_TEST(r.order == order, boost::test_tools::per_element());
  const double b0[5][5] = {{0, -0.136, 0, 0, 0},
                           {0, 0, 0, 0, 0},
                           {-0.484, 0, 0, 0, 0},
                           {0.075, -0.21, 0, 0, 0},
                           {0.168, 0, 0, 0, 0}};
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) BOOST_TEST(std::abs(r.adjacency(0, i, j) - b0[i][j]) < 6e-4);
}

BOOST_AUTO_TEST_CASE(var2_lag_selected_by_bic_matches_lingam) {
  const tensor<double> X =
      io::read_csv<double>(lingam_fixture::fixture_path("var2_n800_d4.csv")).data;
  const fixture f("var2_n800_d4.txt");
  tc::var_lingam_options opt;
  opt.lags = 3;
  const tc::var_lingam_result r = tc::var_lingam(X, opt);
  BOOST_TEST_REQUIRE(r.lags == 2);
  check_order(r.order, f, "order");
  for (index_t k = 0; k <= 2; ++k)
    check_slice(r.adjacency, k, f["B" + std::to_string(k)], 1e-8, "B" + std::to_string(k));
  for (index_t k = 0; k < 2; ++k)
    check_slice(r.ar_coefs, k, f["M" + std::to_string(k + 1)], 1e-10, "M");
}

BOOST_AUTO_TEST_CASE(errors_name_the_function) {
  tensor<double> X(shape_t{6, 3});
  for (index_t i = 0; i < 18; ++i) X.data()[i] = std::sin(1.0 + i * i);
  tc::var_lingam_options opt;
  // n = 6, d = 3: a VAR(2) has 4 rows for 6 predictors. Refused before any fit, with the most
  // lags the series takes (it named the first failing fit, a VAR(p) the caller never asked for
  // when p < lags, after fitting the smaller ones).
  opt.lags = 2;
  try {
    tc::var_lingam(X, opt);
    BOOST_FAIL("no exception");
  } catch (const tessera::invalid_argument& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("causal::var_lingam") != std::string::npos, m);
    BOOST_TEST(m.find("lags = 2 is too many for n = 6 observations of d = 3") != std::string::npos,
               m);
    BOOST_TEST(m.find("so lags <= 1") != std::string::npos, m);
  }
  opt.lags = 1000;  // the BIC search would have fitted VAR(1) … VAR(1) first
  BOOST_TEST(std::string([&] {
               try {
                 tc::var_lingam(X, opt);
               } catch (const tessera::invalid_argument& e) {
                 return std::string(e.what());
               }
               return std::string("no exception");
             }())
                 .find("lags = 1000 is too many") != std::string::npos);
  opt.lags = 0;
  BOOST_CHECK_THROW(tc::var_lingam(X, opt), tessera::invalid_argument);
  // n = 7, d = 3, one lag: the VAR fits (6 rows > 3), pruning needs more than 6. The message
  // says so in var_lingam's terms (it named the internal stacked design's predictors before).
  tensor<double> Y(shape_t{7, 3});
  for (index_t i = 0; i < 21; ++i) Y.data()[i] = std::sin(1.0 + i * i);
  opt.lags = 1;
  try {
    tc::var_lingam(Y, opt);
    BOOST_FAIL("no exception");
  } catch (const tessera::invalid_argument& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("causal::var_lingam") != std::string::npos, m);
    BOOST_TEST(m.find("pruning needs more than (lags + 1)·d = 6") != std::string::npos, m);
  }
}

BOOST_AUTO_TEST_CASE(bad_series_are_rejected) {
  // A VAR(1)-like series long enough to fit, then spoiled one way at a time.
  const index_t n = 200, d = 3;
  auto series = [&] {
    tensor<double> X(shape_t{n, d});
    for (index_t t = 0; t < n; ++t)
      for (index_t j = 0; j < d; ++j)
        X(t, j) = std::sin(0.7 * static_cast<double>(t * (j + 1)) + j) +
                  (t > 0 ? 0.3 * X(t - 1, j) : 0.0);
    return X;
  };
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const tessera::invalid_argument& e) {
      return e.what();
    }
    return "no exception";
  };
  tensor<double> X = series();
  BOOST_TEST_REQUIRE(message([&] { tc::var_lingam(X); }) == "no exception");
  X(50, 1) = std::nan("");
  BOOST_TEST(message([&] { tc::var_lingam(X); }).find("non-finite") != std::string::npos);
  X = series();
  for (index_t t = 0; t < n; ++t) X(t, 2) = 4.0;  // constant series: no innovation
  const std::string m = message([&] { tc::var_lingam(X); });
  BOOST_TEST(
      (m.find("causal::var_ols") != std::string::npos || m.find("constant") != std::string::npos),
      m);
  X = series();
  tc::var_lingam_options opt;
  opt.ordering.prior_knowledge = tensor<double>(shape_t{d, d});
  std::fill(opt.ordering.prior_knowledge.data(), opt.ordering.prior_knowledge.data() + d * d, -1.0);
  opt.ordering.prior_knowledge(0, 1) = 1.0;
  opt.ordering.prior_knowledge(1, 0) = 1.0;  // contradicts itself
  BOOST_TEST(message([&] { tc::var_lingam(X, opt); }).find("causal::prior_knowledge") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
