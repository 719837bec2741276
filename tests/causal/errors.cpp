// SPDX-License-Identifier: Apache-2.0
// Invalid inputs to DirectLiNGAM: each a tessera::invalid_argument naming the function and value.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <string>

#include "tessera/causal/adjacency.hpp"

using namespace tessera;
namespace tc = tessera::causal;

namespace {

tensor<double> data(index_t n, index_t d) {
  tensor<double> X(shape_t{n, d});
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) X(i, j) = std::sin(0.37 * static_cast<double>(i * (j + 2)) + j);
  return X;
}

/// Runs f, expects tessera::invalid_argument whose message holds every one of `parts`.
template <class F>
void expect_error(F&& f, std::initializer_list<const char*> parts) {
  try {
    f();
    BOOST_FAIL("no exception");
  } catch (const tessera::invalid_argument& e) {
    const std::string m = e.what();
    for (const char* p : parts)
      BOOST_TEST(m.find(p) != std::string::npos, "'" << p << "' in: " << m);
  }
}

tensor<double> prior(index_t d) {
  tensor<double> pk(shape_t{d, d});
  std::fill(pk.data(), pk.data() + pk.numel(), -1.0);
  return pk;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(causal)
BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(fewer_samples_than_variables) {
  expect_error([] { tc::causal_order(data(3, 5)); },
               {"tessera::causal::causal_order", "n = 3", "d = 5"});
  expect_error([] { tc::fit(data(3, 5)); }, {"causal::causal_order", "n = 3"});
  // n = d: after two regressions the last two residuals live in a space of dimension
  // n − 1 − 2 = 1, so they are collinear, and the ordering says so (before, it went on with
  // rounding noise, and the adjacency's last regression failed: lingam #56).
  expect_error([] { tc::fit(data(4, 4)); },
               {"causal::causal_order", "variables", "are collinear after regressing out 2"});
  Eigen::MatrixXd X4(4, 4);
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 4; ++j) X4(i, j) = data(4, 4)(i, j);
  expect_error(
      [&] {
        (void)tc::predict_adaptive_lasso(X4, {0, 1, 2}, 3);
      },
      {"causal::predict_adaptive_lasso", "n = 4"});
}

BOOST_AUTO_TEST_CASE(constant_column) {
  tensor<double> X = data(50, 4);
  for (index_t i = 0; i < 50; ++i) X(i, 2) = 1.5;
  expect_error([&] { tc::causal_order(X); },
               {"causal::causal_order", "variable 2", "constant", "1.5"});
  expect_error(
      [&] {
        tc::estimate_adjacency(X, {0, 1, 2, 3});
      },
      {"causal::estimate_adjacency", "variable 2"});
}

// Collinear variables are refused, naming the pair: an exact copy, an affine copy and a copy
// at float's rounding level (1 − ρ² rounded to 0 gave NaN scores that counted as perfect, and
// the order came back without a word). A partner 1e-3 away is data and is ordered.
BOOST_AUTO_TEST_CASE(collinear_variables) {
  tensor<double> X = data(60, 4);
  for (index_t i = 0; i < 60; ++i) X(i, 3) = X(i, 1);
  expect_error([&] { tc::causal_order(X); },
               {"causal::causal_order", "variables 1 and 3 are collinear", "0 earlier"});
  for (index_t i = 0; i < 60; ++i) X(i, 3) = 3.0 * X(i, 1) + 1.0;
  expect_error([&] { tc::causal_order(X); }, {"variables 1 and 3 are collinear"});
  tensor<float> Xf(shape_t{60, 3});
  for (index_t i = 0; i < 60; ++i) {
    Xf(i, 0) = static_cast<float>(X(i, 0));
    Xf(i, 1) = static_cast<float>(X(i, 2));
    Xf(i, 2) = Xf(i, 1) * (1.0f + 1e-8f * static_cast<float>(i % 3));
  }
  expect_error([&] { tc::causal_order(Xf); }, {"variables 1 and 2 are collinear"});
  // Two identical columns of two: the pair is found at the first step.
  tensor<float> Y(shape_t{60, 2});
  for (index_t i = 0; i < 60; ++i) Y(i, 0) = Y(i, 1) = static_cast<float>(X(i, 0));
  expect_error([&] { tc::causal_order(Y); }, {"variables 0 and 1 are collinear"});
  for (index_t i = 0; i < 60; ++i) X(i, 3) = X(i, 1) + 1e-3 * std::cos(static_cast<double>(7 * i));
  BOOST_CHECK_NO_THROW(tc::causal_order(X));
}

// Prior knowledge: a diagonal entry of 1 (x_i → x_i) is a cycle; the strong mode's dead end
// names the function the user called.
BOOST_AUTO_TEST_CASE(prior_diagonal_path_is_refused) {
  tc::ordering_options opt;
  opt.prior_knowledge = prior(3);
  opt.prior_knowledge(1, 1) = 1.0;
  expect_error([&] { tc::causal_order(data(50, 3), opt); },
               {"causal::prior_knowledge", "entry [1,1] = 1"});
  opt.prior_knowledge(1, 1) = 0.0;  // lingam's make_prior_knowledge writes 0 there: fine
  BOOST_CHECK_NO_THROW(tc::causal_order(data(50, 3), opt));
}

BOOST_AUTO_TEST_CASE(non_finite_value) {
  tensor<double> X = data(50, 4);
  X(7, 1) = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { tc::causal_order(X); }, {"causal::causal_order", "data[7,1]", "nan"});
  X(7, 1) = std::numeric_limits<double>::infinity();
  expect_error([&] { tc::fit(X); }, {"data[7,1]", "inf"});
}

BOOST_AUTO_TEST_CASE(prior_of_wrong_shape) {
  tc::ordering_options opt;
  opt.prior_knowledge = prior(3);
  expect_error([&] { tc::causal_order(data(50, 4), opt); },
               {"causal::prior_knowledge", "(3,3)", "(4,4)"});
  expect_error(
      [&] {
        tc::estimate_adjacency(data(50, 4), {0, 1, 2, 3}, prior(5));
      },
      {"causal::prior_knowledge", "(5,5)"});
  opt.prior_knowledge = prior(4);
  opt.prior_knowledge(1, 2) = 0.5;
  expect_error([&] { tc::causal_order(data(50, 4), opt); }, {"[1,2]", "0.5"});
}

BOOST_AUTO_TEST_CASE(self_contradicting_prior) {
  tc::ordering_options opt;
  opt.prior_knowledge = prior(4);
  opt.prior_knowledge(0, 3) = 1.0;
  opt.prior_knowledge(3, 0) = 1.0;
  expect_error([&] { tc::causal_order(data(50, 4), opt); },
               {"causal::prior_knowledge", "[0,3]", "[3,0]"});
  opt.apply_prior_knowledge_softly = true;
  expect_error([&] { tc::fit(data(50, 4), opt); }, {"[0,3]"});
}

BOOST_AUTO_TEST_CASE(cyclic_prior_leaves_no_candidate) {
  // 0 -> 1 -> 2 -> 0: no pair contradicts itself, but the strong mode runs out of candidates.
  tc::ordering_options opt;
  opt.prior_knowledge = prior(4);
  opt.prior_knowledge(1, 0) = 1.0;
  opt.prior_knowledge(2, 1) = 1.0;
  opt.prior_knowledge(0, 2) = 1.0;
  expect_error([&] { tc::causal_order(data(50, 4), opt); },
               {"tessera::causal::causal_order", "cycle"});
}

BOOST_AUTO_TEST_CASE(bad_order_and_indices) {
  const tensor<double> X = data(50, 3);
  expect_error(
      [&] {
        tc::estimate_adjacency(X, {0, 1});
      },
      {"causal::estimate_adjacency", "2 entries"});
  expect_error([&] { tc::estimate_adjacency(X, {0, 1, 1}); }, {"holds 1 twice"});
  expect_error([&] { tc::estimate_adjacency(X, {0, 1, 3}); }, {"holds 3"});
  const tc::lingam_result m = tc::fit(X);
  expect_error([&] { tc::total_effect(X, m, 1, 1); }, {"causal::total_effect", "from = 1"});
  expect_error([&] { tc::bootstrap(X, 0); }, {"causal::bootstrap", "n_sampling = 0"});
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
