// SPDX-License-Identifier: Apache-2.0
// Learning-rate schedules: known values of cosine annealing, warm-up and step decay.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <numbers>
#include <string>

#include "helpers.hpp"
#include "tessera/optim/schedule.hpp"
#include "tessera/optim/sgd.hpp"

using namespace tessera;
namespace topt = tessera::optim;
using optim_test::message_has;
namespace tt = boost::test_tools;

static_assert(topt::lr_schedule<topt::cosine_annealing<float>>);
static_assert(topt::lr_schedule<topt::linear_warmup<topt::step_decay<double>>>);
static_assert(!topt::lr_schedule<int>);

BOOST_AUTO_TEST_SUITE(optim)
BOOST_AUTO_TEST_SUITE(schedule)

BOOST_AUTO_TEST_CASE_TEMPLATE(cosine_known_values, T, optim_test::scalar_types) {
  const topt::cosine_annealing<T> s(T(0.1), 100, T(0.01));
  const double tol = sizeof(T) == 4 ? 1e-6 : 1e-15;
  BOOST_TEST(static_cast<double>(s(0)) == 0.1, tt::tolerance(tol));
  BOOST_TEST(static_cast<double>(s(50)) == (0.1 + 0.01) / 2, tt::tolerance(tol));
  BOOST_TEST(static_cast<double>(s(100)) == 0.01, tt::tolerance(tol));
  BOOST_TEST(static_cast<double>(s(25)) == 0.01 + 0.09 * (1 + std::numbers::sqrt2 / 2) / 2,
             tt::tolerance(tol));
  BOOST_TEST(static_cast<double>(s(1000)) == 0.01, tt::tolerance(tol));  // flat after T_max
  // strictly decreasing on [0, T_max]
  for (index_t t = 0; t < 100; ++t) BOOST_TEST(s(t + 1) < s(t));
}

BOOST_AUTO_TEST_CASE(warmup_then_cosine) {
  const topt::linear_warmup warm(4, topt::cosine_annealing<double>(0.2, 10));
  BOOST_TEST(warm(0) == 0.0);
  BOOST_TEST(warm(1) == 0.05, tt::tolerance(1e-15));
  BOOST_TEST(warm(2) == 0.10, tt::tolerance(1e-15));
  BOOST_TEST(warm(3) == 0.15, tt::tolerance(1e-15));
  BOOST_TEST(warm(4) == 0.2);  // the ramp ends exactly where the cosine starts
  BOOST_TEST(warm(9) == 0.1, tt::tolerance(1e-15));  // cosine at T/2
  BOOST_TEST(warm(14) == 0.0, tt::tolerance(1e-15));
  // a non-zero start factor ramps from f₀·s(0)
  const topt::linear_warmup warm2(2, topt::step_decay<double>(1.0, 5, 0.5), 0.5);
  BOOST_TEST(warm2(0) == 0.5);
  BOOST_TEST(warm2(1) == 0.75);
  BOOST_TEST(warm2(2) == 1.0);
  BOOST_TEST(warm2(7) == 0.5);
  // W = 0 is the inner schedule itself
  const topt::linear_warmup none(0, topt::constant_schedule<float>(0.3f));
  BOOST_TEST(none(0) == 0.3f);
}

BOOST_AUTO_TEST_CASE(step_decay_known_values) {
  const topt::step_decay<double> s(1.0, 3, 0.5);
  const double expected[] = {1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125};
  for (index_t t = 0; t < 10; ++t) BOOST_TEST(s(t) == expected[t]);
  BOOST_TEST(topt::step_decay<float>(2.0f, 10)(25) == 2.0f * 0.1f * 0.1f, tt::tolerance(1e-6f));
  // A growing rate (gamma > 1, as PyTorch allows) that overflows float is refused, not inf.
  const topt::step_decay<float> grow(1.0f, 1, 2.0f);
  BOOST_TEST(grow(100) == std::ldexp(1.0f, 100));
  BOOST_CHECK_EXCEPTION((void)grow(200), tessera::invalid_argument, [](const auto& e) {
    return std::string(e.what()).find("optim::step_decay: the rate at step 200 overflows") !=
           std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(drives_an_optimizer) {
  // η(t) applied before each step: p moves by −η(t) g per step.
  tensor<double> p = zeros<double>({1}), g = ones<double>({1});
  topt::sgd<double> opt({{&p, &g}});
  const topt::linear_warmup sched(2, topt::constant_schedule<double>(1.0));
  for (index_t t = 0; t < 4; ++t) {
    opt.set_lr(sched(t));
    opt.step();
  }
  BOOST_TEST(p.item() == -(0.0 + 0.5 + 1.0 + 1.0));
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw) {
  BOOST_CHECK_EXCEPTION(topt::cosine_annealing<double>(0.1, 0), invalid_argument,
                        message_has({"optim::cosine_annealing", "t_max 0"}));
  BOOST_CHECK_EXCEPTION(topt::cosine_annealing<double>(-0.1, 10), invalid_argument,
                        message_has({"optim::cosine_annealing", "base_lr -0.1"}));
  BOOST_CHECK_EXCEPTION(topt::step_decay<double>(0.1, -2), invalid_argument,
                        message_has({"optim::step_decay", "step_size -2"}));
  BOOST_CHECK_EXCEPTION(topt::linear_warmup(-1, topt::constant_schedule<double>(1)),
                        invalid_argument, message_has({"optim::linear_warmup", "warmup_steps -1"}));
  BOOST_CHECK_EXCEPTION(topt::linear_warmup(3, topt::constant_schedule<double>(1), 1.5),
                        invalid_argument,
                        message_has({"optim::linear_warmup", "start_factor 1.5"}));
  const topt::cosine_annealing<double> s(0.1, 10);
  BOOST_CHECK_EXCEPTION(s(-1), invalid_argument,
                        message_has({"optim::cosine_annealing", "step -1"}));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
