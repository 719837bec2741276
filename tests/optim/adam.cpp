// SPDX-License-Identifier: Apache-2.0
// topt::adam and topt::adamw: steps against hand-computed values (bias correction, L2 and
// decoupled decay, AMSGrad), per-parameter step counts, errors.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>

#include "helpers.hpp"
#include "tessera/optim/adam.hpp"
#include "tessera/optim/adamw.hpp"

using namespace tessera;
namespace topt = tessera::optim;
using optim_test::check_values;
using optim_test::message_has;
using optim_test::step_tol;
using optim_test::vec;

// As in sgd.cpp: p = (1, −2, 0.5), g₁ = (0.1, −0.3, 2), g₂ = (−0.2, 0.4, 0.05). The
// multi-step expectations were computed in double from the update rule in adam.hpp.

BOOST_AUTO_TEST_SUITE(optim)
BOOST_AUTO_TEST_SUITE(adam)

BOOST_AUTO_TEST_CASE_TEMPLATE(first_step_closed_form, T, optim_test::scalar_types) {
  // At t = 1 the bias corrections cancel the (1 − β) factors: m̂ = g, v̂ = g², so
  // p₁ = p − η g / (|g| + ε).
  tensor<T> p = vec<T>({1, -2, 0.5}), g = vec<T>({0.1, -0.3, 2});
  const double lr = 0.01, eps = 1e-3;  // a large ε makes its place in the formula visible
  topt::adam<T> opt({{&p, &g}}, {.lr = T(lr), .eps = T(eps)});
  opt.step();
  check_values(p,
               {1 - lr * 0.1 / (0.1 + eps), -2 + lr * 0.3 / (0.3 + eps), 0.5 - lr * 2 / (2 + eps)},
               step_tol<T>());
  BOOST_TEST(opt.state(0).step == 1);
  check_values(opt.state(0).exp_avg, {0.1 * 0.1, -0.1 * 0.3, 0.1 * 2}, step_tol<T>());
  check_values(opt.state(0).exp_avg_sq, {0.001 * 0.01, 0.001 * 0.09, 0.001 * 4}, step_tol<T>());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(two_steps_bias_correction, T, optim_test::scalar_types) {
  tensor<T> p = vec<T>({1, -2, 0.5}), g = vec<T>({0.1, -0.3, 2});
  topt::adam<T> opt({{&p, &g}}, {.lr = T(0.01)});
  opt.step();
  g.copy_from(vec<T>({-0.2, 0.4, 0.05}));
  opt.step();
  // m₂ = 0.9·0.1 g₁ + 0.1 g₂, v₂ = 0.999·0.001 g₁² + 0.001 g₂²,
  // p₂ = p₁ − (η / (1 − 0.9²)) m₂ / (√v₂ / √(1 − 0.999²) + ε)
  check_values(p, {0.99366103603884881, -1.9919351043699691, 0.48311544350528196}, step_tol<T>());
  BOOST_TEST(opt.state(0).step == 2);
}

BOOST_AUTO_TEST_CASE(capturable_is_a_no_op_on_the_host) {
  // capturable moves t and lr to device memory on cuda; on the host the steps are unchanged.
  tensor<double> p = vec<double>({1, -2, 0.5}), g = vec<double>({0.1, -0.3, 2});
  tensor<double> q = p.clone();
  topt::adam<double> plain({{&p, &g}}, {.lr = 0.01});
  topt::adam<double> cap({{&q, &g}}, {.lr = 0.01, .capturable = true});
  BOOST_TEST(!cap.capturable());
  for (int k = 0; k < 3; ++k) {
    plain.step();
    cap.step();
    cap.set_lr(0.01 / (k + 2));
    plain.set_lr(0.01 / (k + 2));
  }
  BOOST_TEST(cap.state(0).step == 3);
  BOOST_TEST(q.to_vector() == p.to_vector(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(l2_weight_decay_two_steps, T, optim_test::scalar_types) {
  tensor<T> p = vec<T>({1, -2, 0.5}), g = vec<T>({0.1, -0.3, 2});
  topt::adam<T> opt(
      {{&p, &g}},
      {.lr = T(0.01), .betas = {T(0.8), T(0.99)}, .eps = T(1e-3), .weight_decay = T(0.1)});
  opt.step();
  g.copy_from(vec<T>({-0.2, 0.4, 0.05}));
  opt.step();
  // g ← g + λp enters both moments
  check_values(p, {0.98799058544979901, -1.987120946946521, 0.48333571114972873}, step_tol<T>());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(amsgrad_keeps_the_largest_second_moment, T,
                              optim_test::scalar_types) {
  auto run = [](bool ams) {
    tensor<T> p = vec<T>({1, -2, 0.5}), g = vec<T>({0.1, -0.3, 2});
    topt::adam<T> opt({{&p, &g}},
                      {.lr = T(0.01), .betas = {T(0.8), T(0.99)}, .eps = T(1e-3), .amsgrad = ams});
    opt.step();
    g.copy_from(vec<T>({-0.2, 0.4, 0.05}));
    opt.step();
    opt.step();
    return p;
  };
  // Elements 0 and 1 see growing |g|, so v is its own maximum and AMSGrad changes nothing;
  // element 2 drops from |g| = 2 to 0.05 and v_max keeps the step small.
  check_values(run(true), {1.0012347855301813, -1.9983712228654349, 0.47870990543639047},
               step_tol<T>());
  check_values(run(false), {1.0012347855301813, -1.9983712228654349, 0.47863373242553997},
               step_tol<T>());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(adamw_decoupled_decay_two_steps, T, optim_test::scalar_types) {
  tensor<T> p = vec<T>({1, -2, 0.5}), g = vec<T>({0.1, -0.3, 2});
  topt::adamw<T> opt({{&p, &g}}, {.lr = T(0.01), .weight_decay = T(0.1)});
  opt.step();
  // p₁ = p(1 − ηλ) − η g / (|g| + ε)
  check_values(p,
               {1 * 0.999 - 0.01 * 0.1 / (0.1 + 1e-8), -2 * 0.999 + 0.01 * 0.3 / (0.3 + 1e-8),
                0.5 * 0.999 - 0.01 * 2 / (2 + 1e-8)},
               step_tol<T>());
  g.copy_from(vec<T>({-0.2, 0.4, 0.05}));
  opt.step();
  check_values(p, {0.99167203603784881, -1.9879471043696357, 0.48212594350523197}, step_tol<T>());
}

BOOST_AUTO_TEST_CASE(adamw_default_decay_is_pytorchs) {
  // PyTorch's AdamW defaults to λ = 0.01; with g = 0 only the decay acts: p(1 − ηλ).
  tensor<double> p = vec<double>({2}), g = vec<double>({0});
  topt::adamw<double> opt({{&p, &g}}, {.lr = 0.1});
  opt.step();
  check_values(p, {2 * (1 - 0.1 * 0.01)}, 1e-15);
}

BOOST_AUTO_TEST_CASE(step_count_is_per_parameter) {
  // A parameter without a grad keeps its own t, so its bias correction starts when it first
  // gets a grad (PyTorch keeps state['step'] per parameter).
  tensor<double> a = vec<double>({1}), b = vec<double>({1});
  tensor<double> ga = vec<double>({0.5}), gb;
  topt::adam<double> opt({{&a, &ga}, {&b, &gb}}, {.lr = 0.1, .eps = 0});
  opt.step();
  opt.step();
  gb = vec<double>({-3});
  opt.step();
  BOOST_TEST(opt.state(0).step == 3);
  BOOST_TEST(opt.state(1).step == 1);
  // first step of b: b − η·sign(g) exactly (ε = 0)
  check_values(b, {1.1}, 1e-15);
  // a saw the same grad three times: m̂ = g and v̂ = g², so every step is −η·sign(g)
  check_values(a, {1 - 0.3}, 1e-14);
}

BOOST_AUTO_TEST_CASE(restored_state_continues_like_an_uninterrupted_run) {
  // Three steps in one optimizer against one step, a copy of the state into a new optimizer
  // (what a checkpoint does), then two more steps.
  const std::vector<std::vector<double>> grads = {{0.1, -0.3, 2}, {-0.2, 0.4, 0.05}, {1, 1, -1}};
  tensor<double> p = vec<double>({1, -2, 0.5}), g = vec<double>({0, 0, 0});
  topt::adam<double> whole({{&p, &g}}, {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
  for (const auto& gv : grads) {
    g.copy_from(from_vector<double>(gv, shape_t{3}));
    whole.step();
  }
  tensor<double> q = vec<double>({1, -2, 0.5}), h = vec<double>({0, 0, 0});
  topt::adam<double> first({{&q, &h}}, {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
  h.copy_from(from_vector<double>(grads[0], shape_t{3}));
  first.step();
  topt::adam<double> resumed({{&q, &h}}, {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
  const topt::adam_state<double>& s = first.state(0);
  resumed.set_state(0, {s.exp_avg.clone(), s.exp_avg_sq.clone(), s.max_exp_avg_sq.clone(), s.step});
  for (std::size_t k = 1; k < grads.size(); ++k) {
    h.copy_from(from_vector<double>(grads[k], shape_t{3}));
    resumed.step();
  }
  check_values(q, {p(0), p(1), p(2)}, 0.0);
  BOOST_TEST(resumed.state(0).step == 3);
  // States that do not fit are refused with the parameter and the shapes named.
  BOOST_CHECK_EXCEPTION(resumed.set_state(1, {}), tessera::invalid_argument,
                        message_has({"set_state", "parameter 1 out of range"}));
  BOOST_CHECK_EXCEPTION(
      resumed.set_state(0, {vec<double>({1, 2}), vec<double>({1, 2}), vec<double>({1, 2}), 4}),
      tessera::invalid_argument, message_has({"parameter 0 of shape (3)", "(2)"}));
  BOOST_CHECK_EXCEPTION(resumed.set_state(0, {s.exp_avg, {}, {}, 0}), tessera::invalid_argument,
                        message_has({"must be undefined at step 0"}));
  BOOST_CHECK_EXCEPTION(resumed.set_state(0, {{}, {}, {}, -1}), tessera::invalid_argument,
                        message_has({"negative"}));
  // A negative second moment (NaN weights from the next step on) and a step with no next one
  // (++step overflowed) are refused.
  BOOST_CHECK_EXCEPTION(
      resumed.set_state(
          0, {vec<double>({1, 2, 3}), vec<double>({1, -2, 3}), vec<double>({1, 2, 3}), 4}),
      tessera::invalid_argument, message_has({"parameter 0", "exp_avg_sq element 1 is -2"}));
  BOOST_CHECK_EXCEPTION(resumed.set_state(0, {s.exp_avg, s.exp_avg_sq, s.max_exp_avg_sq,
                                              std::numeric_limits<index_t>::max()}),
                        tessera::invalid_argument, message_has({"has no next step"}));
}

BOOST_AUTO_TEST_CASE(large_tensor_matches_the_serial_rule) {
  const index_t n = 200003;  // split by parallel_for; the rule must not depend on the split
  generator gen(11);
  tensor<float> p = randn<float>({n}, gen), g = randn<float>({n}, gen);
  const tensor<float> p0 = p.clone();
  topt::adamw<float> opt({{&p, &g}}, {.lr = 1e-2f, .weight_decay = 0.5f});
  opt.step();
  double worst = 0;
  for (index_t i = 0; i < n; ++i) {
    const double gi = g.data()[i];
    const double e = p0.data()[i] * (1 - 0.005) - 0.01 * gi / (std::abs(gi) + 1e-8);
    worst = std::max(worst, std::abs(p.data()[i] - e));
  }
  BOOST_TEST(worst <= 2e-6);
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw) {
  tensor<double> p = vec<double>({1, 2}), g = vec<double>({0, 0});
  BOOST_CHECK_EXCEPTION(topt::adam<double>({{&p, &g}}, {.lr = -1e-3}), invalid_argument,
                        message_has({"tessera::optim::adam:", "lr -0.001"}));
  BOOST_CHECK_EXCEPTION(topt::adam<double>({{&p, &g}}, {.betas = {1.0, 0.999}}), invalid_argument,
                        message_has({"optim::adam", "beta1 1", "[0, 1)"}));
  BOOST_CHECK_EXCEPTION(topt::adam<double>({{&p, &g}}, {.betas = {0.9, -0.1}}), invalid_argument,
                        message_has({"optim::adam", "beta2 -0.1"}));
  BOOST_CHECK_EXCEPTION(topt::adam<double>({{&p, &g}}, {.eps = -1}), invalid_argument,
                        message_has({"optim::adam", "eps -1"}));
  BOOST_CHECK_EXCEPTION(topt::adamw<double>({{&p, &g}}, {.weight_decay = -0.1}), invalid_argument,
                        message_has({"optim::adamw", "weight_decay -0.1"}));
  BOOST_CHECK_EXCEPTION(topt::adamw<double>({{&p, &g}}, {.lr = std::nan("")}), invalid_argument,
                        message_has({"optim::adamw", "lr nan"}));

  tensor<double> g_bad = zeros<double>({2, 1});
  BOOST_CHECK_EXCEPTION(
      topt::adam<double>({{&p, &g_bad}}), invalid_argument,
      message_has({"optim::adam", "parameter 0", "grad shape (2,1)", "value shape (2)"}));
  topt::adamw<double> opt({{&p, &g}});
  g = zeros<double>({3});
  BOOST_CHECK_EXCEPTION(opt.step(), invalid_argument,
                        message_has({"optim::adamw::step", "grad shape (3)", "value shape (2)"}));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
