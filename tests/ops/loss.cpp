// SPDX-License-Identifier: Apache-2.0
// cross_entropy and mse_loss against hand computation.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "helpers.hpp"

using namespace tessera;
using ops_test::check_throws;
using ops_test::check_values;
using ops_test::float_types;
using ops_test::random_tensor;
using ops_test::rtol;

BOOST_AUTO_TEST_SUITE(ops)
BOOST_AUTO_TEST_SUITE(loss)

BOOST_AUTO_TEST_CASE_TEMPLATE(cross_entropy_by_hand, T, float_types) {
  // Row 0: logits (1,2,3), class 2: -(3 - log(e + e² + e³)) = log(1 + e⁻¹ + e⁻²).
  // Row 1: equal logits, class 0: log 3.
  const tensor<T> logits = from_vector<T>({1, 2, 3, 1, 1, 1}, shape_t{2, 3});
  const tensor<index_t> target = from_list<index_t>({2, 0});
  const double want = (std::log(1 + std::exp(-1.0) + std::exp(-2.0)) + std::log(3.0)) / 2;
  check_values(cross_entropy(logits, target), shape_t{}, {want}, rtol<T>());
  // Random logits against the formula, including a strided logits view.
  const tensor<T> z = random_tensor<T>(shape_t{5, 4}, 91, -3, 3);
  const tensor<index_t> t = from_list<index_t>({0, 3, 1, 1, 2});
  long double acc = 0;
  for (index_t i = 0; i < 5; ++i) {
    long double s = 0;
    for (index_t c = 0; c < 4; ++c) s += std::exp(static_cast<long double>(z(i, c)));
    acc += std::log(s) - z(i, t(i));
  }
  check_values(cross_entropy(z, t), shape_t{}, {static_cast<double>(acc / 5)}, rtol<T>() * 5);
  check_values(cross_entropy(ops_test::strided_copy(z), t), shape_t{},
               {static_cast<double>(acc / 5)}, rtol<T>() * 5);
  // Large logits stay finite: a confident right answer costs ~0, a confident wrong one ~1000.
  const tensor<T> big = from_vector<T>({1000, 0, 0, 1000}, shape_t{2, 2});
  check_values(cross_entropy(big, from_list<index_t>({0, 1})), shape_t{}, {0}, 0, 1e-30);
  check_values(cross_entropy(big, from_list<index_t>({1, 0})), shape_t{}, {1000}, rtol<T>());
  BOOST_TEST(
      std::isnan(cross_entropy(zeros<T>(shape_t{0, 3}), tensor<index_t>(shape_t{0})).item()));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(mse_by_hand, T, float_types) {
  check_values(mse_loss(from_list<T>({1, 2, 3}), from_list<T>({1, 0, 5})), shape_t{}, {8.0 / 3},
               rtol<T>());
  // Target broadcast along rows: ((1-1)² + (2-0)² + (3-1)² + (4-0)²) / 4 = 6.
  check_values(mse_loss(from_vector<T>({1, 2, 3, 4}, shape_t{2, 2}), from_list<T>({1, 0})),
               shape_t{}, {6.0}, rtol<T>());
  const tensor<T> p = random_tensor<T>(shape_t{3, 4}, 92);
  const tensor<T> q = random_tensor<T>(shape_t{3, 4}, 93);
  long double acc = 0;
  for (index_t i = 0; i < 12; ++i) acc += (p.flat(i) - q.flat(i)) * (p.flat(i) - q.flat(i));
  check_values(mse_loss(p.transpose(0, 1), q.transpose(0, 1)), shape_t{},
               {static_cast<double>(acc / 12)}, rtol<T>() * 5);
  BOOST_TEST(mse_loss(p, p).item() == T(0));
}

BOOST_AUTO_TEST_CASE(loss_errors) {
  const tensor<double> z = zeros<double>(shape_t{2, 3});
  check_throws(
      [&] {
        (void)cross_entropy(z, from_list<index_t>({0, 3}));
      },
      {"tessera::cross_entropy", "target[1] = 3", "3 classes"});
  check_throws(
      [&] {
        (void)cross_entropy(z, from_list<index_t>({-1, 0}));
      },
      {"tessera::cross_entropy", "target[0] = -1"});
  check_throws(
      [&] {
        (void)cross_entropy(z, from_list<index_t>({0, 1, 2}));
      },
      {"tessera::cross_entropy", "(2,3)", "(3)"});
  check_throws([&] { (void)cross_entropy(zeros<double>(shape_t{6}), from_list<index_t>({0})); },
               {"tessera::cross_entropy", "(6)"});
  check_throws([&] { (void)mse_loss(z, zeros<double>(shape_t{4})); },
               {"tessera::mse_loss", "(2,3)", "(4)"});
  // target must broadcast to pred, not the other way round.
  check_throws([&] { (void)mse_loss(zeros<double>(shape_t{3}), z); },
               {"tessera::mse_loss", "(2,3)", "(3)"});
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
