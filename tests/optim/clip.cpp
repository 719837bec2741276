// SPDX-License-Identifier: Apache-2.0
// topt::clip_grad_norm and clip_grad_value: known norms, scaling, determinism, errors.
#include <boost/test/unit_test.hpp>
#include <limits>

#include "helpers.hpp"
#include "tessera/optim/clip.hpp"

#if TESSERA_HAS_OPENMP
#include <omp.h>
#endif

using namespace tessera;
namespace topt = tessera::optim;
using optim_test::check_values;
using optim_test::message_has;
using optim_test::vec;

BOOST_AUTO_TEST_SUITE(optim)
BOOST_AUTO_TEST_SUITE(clip)

BOOST_AUTO_TEST_CASE_TEMPLATE(global_two_norm_and_scaling, T, optim_test::scalar_types) {
  // grads (3, 4) and (12): global norm √(9 + 16 + 144) = 13.
  tensor<T> a = zeros<T>({2}), b = zeros<T>({1}), c = zeros<T>({5});
  tensor<T> ga = vec<T>({3, 4}), gb = vec<T>({12}), gc;  // gc undefined: ignored
  const std::vector<topt::param_slot<T>> slots{{&a, &ga}, {&b, &gb}, {&c, &gc}};
  const T total = topt::clip_grad_norm(slots, 6.5);
  BOOST_TEST(static_cast<double>(total) == 13.0, boost::test_tools::tolerance(1e-6));
  // c = 6.5 / (13 + 1e-6)
  const double coef = 6.5 / (13 + 1e-6);
  check_values(ga, {3 * coef, 4 * coef}, 1e-6);
  check_values(gb, {12 * coef}, 1e-6);
  // the clipped grads have norm max_norm (up to the 1e-6 guard)
  const T again = topt::clip_grad_norm(slots, 100.0);
  BOOST_TEST(static_cast<double>(again) == 6.5, boost::test_tools::tolerance(1e-6));
  // and were left alone that time (norm below max_norm)
  check_values(gb, {12 * coef}, 1e-6);
}

BOOST_AUTO_TEST_CASE(other_norm_types) {
  tensor<double> a = zeros<double>({2}), b = zeros<double>({1});
  tensor<double> ga = vec<double>({3, -4}), gb = vec<double>({-12});
  const std::vector<topt::param_slot<double>> slots{{&a, &ga}, {&b, &gb}};
  BOOST_TEST(topt::clip_grad_norm(slots, 100.0, 1.0) == 19.0);
  BOOST_TEST(topt::clip_grad_norm(slots, 100.0, std::numeric_limits<double>::infinity()) == 12.0);
  BOOST_TEST(topt::clip_grad_norm(slots, 100.0, 3.0) == std::cbrt(27.0 + 64 + 1728),
             boost::test_tools::tolerance(1e-14));
  // ∞-norm clipping to 6: every element scaled by 6 / (12 + 1e-6)
  topt::clip_grad_norm(slots, 6.0, std::numeric_limits<double>::infinity());
  check_values(gb, {-12 * 6 / (12 + 1e-6)}, 1e-15);
}

BOOST_AUTO_TEST_CASE(norm_is_accurate_and_independent_of_threads) {
  // 1.5M float grads over three tensors: the norm is accumulated in double in a fixed order.
  generator gen(3);
  std::vector<tensor<float>> vals, grads;
  for (index_t n : {1000000, 3, 500000}) {
    vals.push_back(zeros<float>({n}));
    grads.push_back(randn<float>({n}, gen));
  }
  std::vector<topt::param_slot<float>> slots;
  for (std::size_t i = 0; i < vals.size(); ++i) slots.push_back({&vals[i], &grads[i]});
  long double ref = 0;
  for (const auto& g : grads)
    for (index_t i = 0; i < g.numel(); ++i)
      ref += static_cast<long double>(g.data()[i]) * g.data()[i];
  const double expected = std::sqrt(static_cast<double>(ref));
  const float n_all = topt::clip_grad_norm(slots, 1e9);
  BOOST_TEST(static_cast<double>(n_all) == expected, boost::test_tools::tolerance(1e-7));
#if TESSERA_HAS_OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const float n_one = topt::clip_grad_norm(slots, 1e9);
  omp_set_num_threads(saved);
  BOOST_TEST(n_one == n_all);  // bitwise
#endif
}

BOOST_AUTO_TEST_CASE(non_finite_norm_leaves_grads_alone) {
  tensor<double> a = zeros<double>({3});
  tensor<double> ga = vec<double>({1, std::numeric_limits<double>::infinity(), 2});
  const double n = topt::clip_grad_norm<double>({{&a, &ga}}, 1.0);
  BOOST_TEST(std::isinf(n));
  check_values(ga, {1, std::numeric_limits<double>::infinity(), 2}, 0.0);
  ga.data()[1] = std::nan("");
  BOOST_TEST(std::isnan(topt::clip_grad_norm<double>({{&a, &ga}}, 1.0)));
  BOOST_TEST(ga.data()[0] == 1.0);
  // The ∞-norm keeps a NaN that later, larger or smaller elements follow.
  const double inf = std::numeric_limits<double>::infinity();
  BOOST_TEST(std::isnan(topt::clip_grad_norm<double>({{&a, &ga}}, 1.0, inf)));
  BOOST_TEST(ga.data()[2] == 2.0);
}

BOOST_AUTO_TEST_CASE(clip_grad_norm_to_writes_the_norm) {
  tensor<double> a = zeros<double>({2}), ga = vec<double>({3, 4});
  const tensor<double> n = zeros<double>({});
  topt::clip_grad_norm_to<double>({{&a, &ga}}, n, 2.5);
  BOOST_TEST(n.item() == 5.0);
  check_values(ga, {3 * 2.5 / (5 + 1e-6), 4 * 2.5 / (5 + 1e-6)}, 1e-15);
  BOOST_CHECK_EXCEPTION(topt::clip_grad_norm_to<double>({{&a, &ga}}, zeros<double>({1}), 1.0),
                        invalid_argument, message_has({"optim::clip_grad_norm", "norm_out"}));
}

BOOST_AUTO_TEST_CASE(no_grads_gives_zero) {
  tensor<double> a = zeros<double>({3}), ga;
  BOOST_TEST(topt::clip_grad_norm<double>({{&a, &ga}}, 1.0) == 0.0);
  BOOST_TEST(topt::clip_grad_norm<double>({}, 1.0) == 0.0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(clip_by_value, T, optim_test::scalar_types) {
  tensor<T> a = zeros<T>({4});
  tensor<T> ga = vec<T>({-3, -0.5, 0.25, 7});
  topt::clip_grad_value<T>({{&a, &ga}}, 1);
  check_values(ga, {-1, -0.5, 0.25, 1}, 0.0);
}

BOOST_AUTO_TEST_CASE(strided_grads_are_clipped_in_place) {
  tensor<double> a = zeros<double>({2, 2});
  const tensor<double> base = from_vector<double>({3, 0, 4, -9}, {2, 2});
  tensor<double> ga = base.transpose(0, 1);  // a view: clipping must write through it
  const double n = topt::clip_grad_norm<double>({{&a, &ga}}, 5.3);
  BOOST_TEST(n == std::sqrt(9.0 + 16 + 81), boost::test_tools::tolerance(1e-15));
  const double c = 5.3 / (n + 1e-6);
  check_values(base, {3 * c, 0, 4 * c, -9 * c}, 1e-15);
  topt::clip_grad_value<double>({{&a, &ga}}, 2.0);  // 3c ≈ 1.5 stays, 4c and −9c are cut
  check_values(base, {3 * c, 0, 2, -2}, 1e-15);
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw) {
  tensor<double> a = zeros<double>({2}), ga = vec<double>({1, 1}), gbad = vec<double>({1});
  BOOST_CHECK_EXCEPTION(topt::clip_grad_norm<double>({{&a, &ga}}, -1.0), invalid_argument,
                        message_has({"optim::clip_grad_norm", "max_norm -1"}));
  BOOST_CHECK_EXCEPTION(topt::clip_grad_norm<double>({{&a, &ga}}, 1.0, 0.0), invalid_argument,
                        message_has({"optim::clip_grad_norm", "norm_type 0"}));
  BOOST_CHECK_EXCEPTION(topt::clip_grad_norm<double>({{&a, &gbad}}, 1.0), invalid_argument,
                        message_has({"optim::clip_grad_norm", "parameter 0", "grad shape (1)"}));
  BOOST_CHECK_EXCEPTION(topt::clip_grad_value<double>({{&a, &ga}}, -0.5), invalid_argument,
                        message_has({"optim::clip_grad_value", "clip_value -0.5"}));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
