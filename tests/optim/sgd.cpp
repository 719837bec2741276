// SPDX-License-Identifier: Apache-2.0
// topt::sgd: single and double steps against hand-computed values, skipping, errors.
#include <boost/test/unit_test.hpp>

#include "helpers.hpp"
#include "tessera/optim/sgd.hpp"

using namespace tessera;
namespace topt = tessera::optim;
using optim_test::check_values;
using optim_test::message_has;
using optim_test::step_tol;
using optim_test::vec;

// Every test starts from p = (1, −2, 0.5); first grad g₁ = (0.1, −0.3, 2), second
// g₂ = (−0.2, 0.4, 0.05). The expected values below were computed in double from the update
// rule written in sgd.hpp.

BOOST_AUTO_TEST_SUITE(optim)
BOOST_AUTO_TEST_SUITE(sgd)

BOOST_AUTO_TEST_CASE_TEMPLATE(plain_step, T, optim_test::scalar_types) {
  tensor<T> p = vec<T>({1, -2, 0.5}), g = vec<T>({0.1, -0.3, 2});
  topt::sgd<T> opt({{&p, &g}}, {.lr = T(0.1)});
  opt.step();
  // p − η g
  check_values(p, {1 - 0.1 * 0.1, -2 + 0.1 * 0.3, 0.5 - 0.1 * 2}, step_tol<T>());
  // the grad is read, not modified
  check_values(g, {0.1, -0.3, 2}, 0.0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(weight_decay_two_steps, T, optim_test::scalar_types) {
  tensor<T> p = vec<T>({1, -2, 0.5}), g = vec<T>({0.1, -0.3, 2});
  topt::sgd<T> opt({{&p, &g}}, {.lr = T(0.1), .weight_decay = T(0.01)});
  opt.step();
  g.copy_from(vec<T>({-0.2, 0.4, 0.05}));
  opt.step();
  // p₁ = p − η(g₁ + λp),  p₂ = p₁ − η(g₂ + λp₁)
  check_values(p, {1.008011, -2.006032, 0.2942005}, step_tol<T>());
  BOOST_TEST(!opt.momentum_buffer(0).defined());  // no buffer without momentum
}

BOOST_AUTO_TEST_CASE_TEMPLATE(momentum_dampening_two_steps, T, optim_test::scalar_types) {
  tensor<T> p = vec<T>({1, -2, 0.5}), g = vec<T>({0.1, -0.3, 2});
  topt::sgd<T> opt(
      {{&p, &g}}, {.lr = T(0.1), .momentum = T(0.9), .dampening = T(0.1), .weight_decay = T(0.01)});
  opt.step();
  // b₁ = g₁ + λp (no dampening on the first step)
  check_values(opt.momentum_buffer(0), {0.1 + 0.01, -0.3 - 0.02, 2 + 0.005}, step_tol<T>());
  check_values(p, {1 - 0.1 * 0.11, -2 + 0.1 * 0.32, 0.5 - 0.1 * 2.005}, step_tol<T>());
  g.copy_from(vec<T>({-0.2, 0.4, 0.05}));
  opt.step();
  // b₂ = μ b₁ + (1 − τ)(g₂ + λp₁),  p₂ = p₁ − η b₂
  check_values(p, {0.9962099, -1.9734288, 0.11428045}, step_tol<T>());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(nesterov_two_steps, T, optim_test::scalar_types) {
  tensor<T> p = vec<T>({1, -2, 0.5}), g = vec<T>({0.1, -0.3, 2});
  topt::sgd<T> opt({{&p, &g}},
                   {.lr = T(0.1), .momentum = T(0.9), .weight_decay = T(0.01), .nesterov = true});
  opt.step();
  // d = g₁ + λp, b₁ = d, p₁ = p − η(d + μ b₁) = p − 1.9 η d
  check_values(p, {1 - 0.19 * 0.11, -2 + 0.19 * 0.32, 0.5 - 0.19 * 2.005}, step_tol<T>());
  g.copy_from(vec<T>({-0.2, 0.4, 0.05}));
  opt.step();
  check_values(p, {1.00632971, -1.98559552, -0.053081195}, step_tol<T>());
}

BOOST_AUTO_TEST_CASE(undefined_and_null_grads_are_skipped) {
  tensor<double> a = vec<double>({1, 2}), b = vec<double>({3}), c = vec<double>({4});
  tensor<double> ga = vec<double>({1, 1}), gb;  // gb undefined
  topt::sgd<double> opt({{&a, &ga}, {&b, &gb}, {&c, nullptr}}, {.lr = 0.5, .momentum = 0.9});
  opt.step();
  check_values(a, {0.5, 1.5}, 1e-15);
  check_values(b, {3}, 0.0);
  check_values(c, {4}, 0.0);
  BOOST_TEST(!opt.momentum_buffer(1).defined());
  // A grad that appears later is picked up: its buffer starts then (b = g, p −= η g).
  gb = vec<double>({2});
  opt.step();
  check_values(b, {2}, 1e-15);
  check_values(a, {0.5 - 0.5 * (0.9 + 1), 1.5 - 0.5 * 1.9}, 1e-15);
}

BOOST_AUTO_TEST_CASE(strided_grad_is_read_in_logical_order) {
  // A grad that is a transposed view (as a backward pass might leave it) is accepted.
  tensor<double> p = zeros<double>({2, 3});
  const tensor<double> gt = from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  tensor<double> g = gt.transpose(0, 1);  // (2, 3): rows (1, 3, 5), (2, 4, 6)
  topt::sgd<double> opt({{&p, &g}}, {.lr = 1.0});
  opt.step();
  check_values(p, {-1, -3, -5, -2, -4, -6}, 0.0);
}

BOOST_AUTO_TEST_CASE(set_lr_and_zero_grad) {
  tensor<double> p = vec<double>({1}), g = vec<double>({2});
  topt::sgd<double> opt({{&p, &g}}, {.lr = 0.1});
  BOOST_TEST(opt.lr() == 0.1);
  opt.set_lr(0.25);
  BOOST_TEST(opt.lr() == 0.25);
  opt.step();
  check_values(p, {0.5}, 1e-15);
  opt.zero_grad();
  check_values(g, {0}, 0.0);
  opt.set_lr(0.0);  // zero is allowed (e.g. the first step of a warm-up)
  BOOST_CHECK_EXCEPTION(opt.set_lr(-1.0), invalid_argument,
                        message_has({"optim::sgd", "lr -1", "non-negative"}));
}

BOOST_AUTO_TEST_CASE(large_tensor_matches_the_serial_rule) {
  // Big enough for parallel_for to split it; every element must get the same rule.
  const index_t n = 300001;
  generator gen(7);
  tensor<double> p = randn<double>({n}, gen), g = randn<double>({n}, gen);
  const tensor<double> p0 = p.clone();
  topt::sgd<double> opt({{&p, &g}}, {.lr = 0.01, .momentum = 0.5, .nesterov = true});
  opt.step();
  double worst = 0;
  for (index_t i = 0; i < n; ++i) {
    const double e = p0.data()[i] - 0.01 * (1.5 * g.data()[i]);
    worst = std::max(worst, std::abs(p.data()[i] - e));
  }
  BOOST_TEST(worst <= 1e-15);
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw) {
  tensor<double> p = vec<double>({1, 2, 3}), g = vec<double>({1, 1, 1});
  BOOST_CHECK_EXCEPTION(topt::sgd<double>({{&p, &g}}, {.lr = -0.1}), invalid_argument,
                        message_has({"tessera::optim::sgd", "lr -0.1"}));
  BOOST_CHECK_EXCEPTION(topt::sgd<double>({{&p, &g}}, {.momentum = -1}), invalid_argument,
                        message_has({"optim::sgd", "momentum -1"}));
  BOOST_CHECK_EXCEPTION(topt::sgd<double>({{&p, &g}}, {.weight_decay = -1}), invalid_argument,
                        message_has({"optim::sgd", "weight_decay -1"}));
  BOOST_CHECK_EXCEPTION(topt::sgd<double>({{&p, &g}}, {.dampening = 2}), invalid_argument,
                        message_has({"optim::sgd", "dampening 2"}));
  BOOST_CHECK_EXCEPTION(topt::sgd<double>({{&p, &g}}, {.nesterov = true}), invalid_argument,
                        message_has({"optim::sgd", "nesterov", "momentum 0"}));
  BOOST_CHECK_EXCEPTION(
      topt::sgd<double>({{&p, &g}}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
      invalid_argument, message_has({"optim::sgd", "dampening 0.1"}));

  tensor<double> g_bad = vec<double>({1, 1});
  BOOST_CHECK_EXCEPTION(
      topt::sgd<double>({{&p, &g_bad}}), invalid_argument,
      message_has({"optim::sgd", "parameter 0", "grad shape (2)", "value shape (3)"}));
  BOOST_CHECK_EXCEPTION(topt::sgd<double>({{&p, &g}, {&p, &g}}), invalid_argument,
                        message_has({"optim::sgd", "parameter 1"}));
  BOOST_CHECK_EXCEPTION(topt::sgd<double>({{nullptr, &g}}), invalid_argument,
                        message_has({"optim::sgd", "parameter 0", "null"}));

  tensor<double> m = zeros<double>({2, 3});
  tensor<double> mt = m.transpose(0, 1), gm = zeros<double>({3, 2});
  BOOST_CHECK_EXCEPTION(topt::sgd<double>({{&mt, &gm}}), invalid_argument,
                        message_has({"optim::sgd", "parameter 0", "not contiguous"}));

  // A grad replaced by one of the wrong shape is caught at step().
  topt::sgd<double> opt({{&p, &g}}, {.lr = 0.1, .momentum = 0.9});
  opt.step();
  g = vec<double>({1, 2, 3, 4});
  BOOST_CHECK_EXCEPTION(opt.step(), invalid_argument,
                        message_has({"optim::sgd::step", "parameter 0", "grad shape (4)"}));
  // So is a value whose shape changed after the momentum buffer was made.
  p = vec<double>({1, 2, 3, 4});
  BOOST_CHECK_EXCEPTION(opt.step(), invalid_argument,
                        message_has({"optim::sgd::step", "parameter 0", "value shape changed"}));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
