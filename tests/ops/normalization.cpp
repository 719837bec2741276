// SPDX-License-Identifier: Apache-2.0
// softmax / log_softmax along every axis, layer_norm and rms_norm against direct formulas.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "helpers.hpp"

using namespace tessera;
using ops_test::check_throws;
using ops_test::check_values;
using ops_test::float_types;
using ops_test::random_tensor;
using ops_test::ravel;
using ops_test::rtol;
using ops_test::strided_copy;
using ops_test::unravel;

namespace {

/// softmax of x along `axis` computed directly in long double.
template <class T>
std::vector<double> direct_softmax(const tensor<T>& x, int axis, bool log_form) {
  std::vector<double> out(static_cast<std::size_t>(x.numel()));
  for (index_t f = 0; f < x.numel(); ++f) {
    std::vector<index_t> idx = unravel(f, x.shape());
    long double mx = -INFINITY;
    for (index_t j = 0; j < x.shape()[axis]; ++j) {
      idx[static_cast<std::size_t>(axis)] = j;
      mx = std::max<long double>(mx, ops_test::at(x, idx));
    }
    long double z = 0;
    for (index_t j = 0; j < x.shape()[axis]; ++j) {
      idx[static_cast<std::size_t>(axis)] = j;
      z += std::exp(static_cast<long double>(ops_test::at(x, idx)) - mx);
    }
    const long double v = static_cast<long double>(x.flat(f)) - mx;
    out[static_cast<std::size_t>(f)] =
        static_cast<double>(log_form ? v - std::log(z) : std::exp(v) / z);
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops)
BOOST_AUTO_TEST_SUITE(normalization)

BOOST_AUTO_TEST_CASE_TEMPLATE(softmax_against_formula_on_every_axis, T, float_types) {
  const tensor<T> x0 = random_tensor<T>(shape_t{3, 4, 5}, 31, -5, 5);
  for (const tensor<T>& x : {x0, strided_copy(x0)}) {
    for (int axis = -3; axis < 3; ++axis) {
      const int a = axis < 0 ? axis + 3 : axis;
      BOOST_TEST_CONTEXT("axis " << axis << (x.is_contiguous() ? "" : " strided")) {
        const tensor<T> s = softmax(x, axis);
        check_values(s, x.shape(), direct_softmax(x, a, false), rtol<T>() * 5, 1e-7);
        check_values(log_softmax(x, axis), x.shape(), direct_softmax(x, a, true), rtol<T>() * 5,
                     rtol<T>());
        // Rows sum to 1.
        const tensor<T> total = sum(s, shape_t{axis});
        for (index_t i = 0; i < total.numel(); ++i)
          BOOST_TEST(static_cast<double>(total.flat(i)) == 1.0,
                     boost::test_tools::tolerance(rtol<T>() * 5));
      }
    }
  }
  // Rank 1 and a single-element axis.
  check_values(softmax(from_list<T>({1, 2, 3})), shape_t{3},
               direct_softmax(from_list<T>({1, 2, 3}), 0, false), rtol<T>());
  check_values(softmax(random_tensor<T>(shape_t{4, 1}, 3), 1), shape_t{4, 1}, {1, 1, 1, 1}, 0);
  BOOST_TEST(softmax(zeros<T>(shape_t{0, 3})).numel() == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(softmax_shift_invariance_and_large_inputs, T, float_types) {
  const tensor<T> x = random_tensor<T>(shape_t{6, 7}, 32, -3, 3);
  const tensor<T> s = softmax(x, 1);
  // A different shift per row: softmax along the row does not change.
  const tensor<T> shift = from_vector<T>({1000, -1000, 50, 0, -3, 700}, shape_t{6, 1});
  check_values(softmax(add(x, shift), 1), x.shape(), ops_test::values(s), rtol<T>() * 50, 1e-6);
  check_values(log_softmax(add(x, shift), 1), x.shape(), ops_test::values(log_softmax(x, 1)),
               rtol<T>() * 50, std::is_same_v<T, float> ? 2e-4 : 1e-10);
  // Huge logits: finite, one-hot where the gap is large.
  const tensor<T> big = from_vector<T>({1000, 0, -1000, 1000, 1000, 999}, shape_t{2, 3});
  const tensor<T> sb = softmax(big, 1);
  BOOST_TEST(all_finite(sb));
  check_values(sb, big.shape(),
               {1, 0, 0, 1 / (2 + std::exp(-1.0)), 1 / (2 + std::exp(-1.0)),
                std::exp(-1.0) / (2 + std::exp(-1.0))},
               rtol<T>() * 5, 1e-30);
  const tensor<T> lb = log_softmax(big, 1);
  BOOST_TEST(all_finite(lb));
  BOOST_TEST(static_cast<double>(lb(0, 2)) == -2000.0, boost::test_tools::tolerance(rtol<T>()));
  // Masked entries (-inf) get probability exactly 0.
  const T inf = std::numeric_limits<T>::infinity();
  const tensor<T> masked = softmax(from_list<T>({0, -inf, std::log(T(3))}));
  check_values(masked, shape_t{3}, {0.25, 0, 0.75}, rtol<T>());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(layer_norm_against_formula, T, float_types) {
  const index_t D = 6;
  const tensor<T> x0 = random_tensor<T>(shape_t{2, 3, D}, 33, -4, 4);
  const tensor<T> w = random_tensor<T>(shape_t{D}, 34, 0.5, 2);
  const tensor<T> b = random_tensor<T>(shape_t{D}, 35);
  const T eps = T(1e-3);
  for (const tensor<T>& x : {x0, strided_copy(x0)}) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool use_w = variant & 1, use_b = variant & 2;
      std::vector<double> want;
      for (index_t r = 0; r < x.numel() / D; ++r) {
        long double mu = 0, v = 0;
        for (index_t i = 0; i < D; ++i) mu += x.flat(r * D + i);
        mu /= D;
        for (index_t i = 0; i < D; ++i) v += (x.flat(r * D + i) - mu) * (x.flat(r * D + i) - mu);
        v /= D;
        for (index_t i = 0; i < D; ++i) {
          long double z = (x.flat(r * D + i) - mu) / std::sqrt(v + eps);
          if (use_w) z *= w(i);
          if (use_b) z += b(i);
          want.push_back(static_cast<double>(z));
        }
      }
      BOOST_TEST_CONTEXT("weight " << use_w << " bias " << use_b) {
        check_values(layer_norm(x, use_w ? w : tensor<T>(), use_b ? b : tensor<T>(), eps),
                     x.shape(), want, rtol<T>() * 10, rtol<T>() * 10);
      }
    }
  }
  // Without weight/bias and eps = 0 each row has mean 0 and variance 1.
  const tensor<T> y = layer_norm(x0, tensor<T>(), tensor<T>(), T(0));
  const tensor<T> m = mean(y, shape_t{-1}), v = var(y, shape_t{-1});
  for (index_t i = 0; i < m.numel(); ++i) {
    BOOST_TEST(std::abs(static_cast<double>(m.flat(i))) < rtol<T>() * 10);
    BOOST_TEST(static_cast<double>(v.flat(i)) == 1.0, boost::test_tools::tolerance(rtol<T>() * 10));
  }
  // Weight and bias given as strided views.
  const tensor<T> ws = strided_copy(w), bs = strided_copy(b);
  check_values(layer_norm(x0, ws, bs, eps), x0.shape(), ops_test::values(layer_norm(x0, w, b, eps)),
               0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rms_norm_against_formula, T, float_types) {
  const index_t D = 5;
  const tensor<T> x0 = random_tensor<T>(shape_t{4, D}, 36, -3, 3);
  const tensor<T> w = random_tensor<T>(shape_t{D}, 37, 0.5, 2);
  const T eps = T(1e-4);
  for (const tensor<T>& x : {x0, strided_copy(x0)}) {
    for (bool use_w : {false, true}) {
      std::vector<double> want;
      for (index_t r = 0; r < 4; ++r) {
        long double ss = 0;
        for (index_t i = 0; i < D; ++i) ss += x.flat(r * D + i) * x.flat(r * D + i);
        const long double inv = 1 / std::sqrt(ss / D + eps);
        for (index_t i = 0; i < D; ++i)
          want.push_back(static_cast<double>(x.flat(r * D + i) * inv * (use_w ? w(i) : T(1))));
      }
      check_values(rms_norm(x, use_w ? w : tensor<T>(), eps), x.shape(), want, rtol<T>() * 10,
                   rtol<T>());
    }
  }
  // Scale invariance (eps = 0): rms_norm(c·x) == rms_norm(x) for c > 0.
  check_values(rms_norm(mul(x0, T(37)), tensor<T>(), T(0)), x0.shape(),
               ops_test::values(rms_norm(x0, tensor<T>(), T(0))), rtol<T>() * 10);
}

BOOST_AUTO_TEST_CASE(normalization_errors) {
  const tensor<double> x = random_tensor<double>(shape_t{2, 4}, 1);
  check_throws([&] { (void)softmax(x, 2); }, {"tessera::softmax", "axis 2", "rank 2"});
  check_throws([&] { (void)log_softmax(x, -3); }, {"tessera::log_softmax", "axis -3"});
  check_throws([&] { (void)softmax(scalar<double>(1)); }, {"tessera::softmax", "rank 0"});
  const tensor<double> w5 = zeros<double>(shape_t{5});
  check_throws([&] { (void)layer_norm(x, w5, tensor<double>()); },
               {"tessera::layer_norm", "(5)", "(4)", "(2,4)"});
  check_throws([&] { (void)layer_norm(x, tensor<double>(), w5); }, {"tessera::layer_norm", "(5)"});
  check_throws([&] { (void)layer_norm(x, tensor<double>(), tensor<double>(), -1.0); },
               {"tessera::layer_norm", "eps -1"});
  check_throws([&] { (void)layer_norm(scalar<double>(1), tensor<double>(), tensor<double>()); },
               {"tessera::layer_norm", "rank"});
  check_throws([&] { (void)rms_norm(x, w5); }, {"tessera::rms_norm", "(5)", "(2,4)"});
  check_throws([&] { (void)rms_norm(x, tensor<double>(), -0.5); },
               {"tessera::rms_norm", "eps -0.5"});
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
