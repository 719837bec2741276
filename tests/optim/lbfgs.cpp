// SPDX-License-Identifier: Apache-2.0
// topt::lbfgs on Rosenbrock and quadratics (tensor and slot overloads), status reporting,
// NaN handling; Adam on Rosenbrock.
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "helpers.hpp"
#include "tessera/optim/adam.hpp"
#include "tessera/optim/lbfgs.hpp"
#include "tessera/optim/schedule.hpp"

using namespace tessera;
namespace topt = tessera::optim;
using optim_test::message_has;
using optim_test::vec;

namespace {

/// f(x, y) = (1 − x)² + 100 (y − x²)², minimum 0 at (1, 1).
template <class T>
T rosenbrock(const T* x, T* g) {
  const T a = T(1) - x[0], b = x[1] - x[0] * x[0];
  g[0] = T(-2) * a - T(400) * x[0] * b;
  g[1] = T(200) * b;
  return a * a + T(100) * b * b;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(optim)
BOOST_AUTO_TEST_SUITE(lbfgs)

BOOST_AUTO_TEST_CASE(rosenbrock_double) {
  tensor<double> x = vec<double>({-1.2, 1});
  index_t calls = 0;
  auto f = [&](const tensor<double>& xe, tensor<double>& g) {
    ++calls;
    return rosenbrock(xe.data(), g.data());
  };
  const auto r =
      topt::lbfgs(f, x, {.max_iterations = 200, .grad_tolerance = 1e-10, .function_tolerance = 0});
  BOOST_TEST(r.converged);
  BOOST_TEST(static_cast<int>(r.status) ==
             static_cast<int>(topt::lbfgs_status::gradient_tolerance));
  BOOST_TEST(std::abs(x.data()[0] - 1) <= 1e-6);
  BOOST_TEST(std::abs(x.data()[1] - 1) <= 1e-6);
  BOOST_TEST(r.grad_norm <= 1e-10);
  BOOST_TEST(r.value <= 1e-18);
  BOOST_TEST(r.evaluations == calls);
  BOOST_TEST(r.iterations < 100);  // L-BFGS needs a few dozen; steepest descent thousands
  BOOST_TEST_MESSAGE("rosenbrock: " << r.iterations << " iterations, " << r.evaluations
                                    << " evaluations");
}

BOOST_AUTO_TEST_CASE(rosenbrock_float) {
  tensor<float> x = vec<float>({-1.2, 1});
  auto f = [](const tensor<float>& xe, tensor<float>& g) {
    return rosenbrock(xe.data(), g.data());
  };
  const auto r = topt::lbfgs(f, x, {.max_iterations = 200, .grad_tolerance = 1e-4f});
  // float stops at its resolution (by either tolerance or a failed line search); the point is
  // still the minimum to float accuracy.
  BOOST_TEST(std::abs(x.data()[0] - 1) <= 1e-3);
  BOOST_TEST(std::abs(x.data()[1] - 1) <= 2e-3);
  BOOST_TEST(r.value <= 1e-6f);
}

BOOST_AUTO_TEST_CASE(ill_conditioned_quadratic) {
  // f = ½ Σ kᵢ (xᵢ − i)², kᵢ from 1 to 100 (50 dims, x of shape (5, 10)): L-BFGS reaches
  // x = (0, 1, 2, ...); an exact-line-search L-BFGS needs about 80 iterations here.
  constexpr index_t n = 50;
  tensor<double> x = zeros<double>({5, 10});
  auto f = [](const tensor<double>& xe, tensor<double>& g) {
    double v = 0;
    for (index_t i = 0; i < n; ++i) {
      const double k = std::pow(100.0, static_cast<double>(i) / (n - 1));
      const double d = xe.data()[i] - static_cast<double>(i);
      g.data()[i] = k * d;
      v += 0.5 * k * d * d;
    }
    return v;
  };
  const auto r =
      topt::lbfgs(f, x, {.max_iterations = 500, .grad_tolerance = 1e-9, .function_tolerance = 0});
  BOOST_TEST(r.converged);
  BOOST_TEST(r.iterations < 200);
  double worst = 0;
  for (index_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(x.data()[i] - i));
  BOOST_TEST(worst <= 1e-9);
}

BOOST_AUTO_TEST_CASE(grad_out_may_be_reassigned) {
  // The closure may build a new gradient tensor and assign it to grad_out.
  tensor<double> x = vec<double>({3, -4});
  auto f = [](const tensor<double>& xe, tensor<double>& g) {
    g = xe.clone();  // ∇ ½‖x‖² = x
    return 0.5 * (xe.data()[0] * xe.data()[0] + xe.data()[1] * xe.data()[1]);
  };
  const auto r = topt::lbfgs(f, x, {.grad_tolerance = 1e-12});
  BOOST_TEST(r.converged);
  BOOST_TEST(std::abs(x.data()[0]) <= 1e-12);
  BOOST_TEST(std::abs(x.data()[1]) <= 1e-12);
  auto bad = [](const tensor<double>&, tensor<double>& g) {
    g = zeros<double>({3});
    return 1.0;
  };
  BOOST_CHECK_EXCEPTION(topt::lbfgs(bad, x), invalid_argument,
                        message_has({"optim::lbfgs", "grad_out", "shape (3)", "iteration 0"}));
}

BOOST_AUTO_TEST_CASE(slot_overload) {
  // Rosenbrock with x and y in two parameters; the closure reads values, fills grads.
  tensor<double> x = vec<double>({-1.2}), y = zeros<double>({1, 1});
  tensor<double> gx = zeros<double>({1}), gy = zeros<double>({1, 1});
  y.data()[0] = 1;
  auto closure = [&] {
    const double in[2] = {x.data()[0], y.data()[0]};
    double g[2];
    const double v = rosenbrock(in, g);
    gx.data()[0] = g[0];
    gy.data()[0] = g[1];
    return v;
  };
  const auto r =
      topt::lbfgs(closure, std::vector<topt::param_slot<double>>{{&x, &gx}, {&y, &gy}},
                  {.max_iterations = 200, .grad_tolerance = 1e-10, .function_tolerance = 0});
  BOOST_TEST(r.converged);
  BOOST_TEST(std::abs(x.item() - 1) <= 1e-6);
  BOOST_TEST(std::abs(y.item() - 1) <= 1e-6);
  // the grads describe the returned point
  BOOST_TEST(std::max(std::abs(gx.item()), std::abs(gy.item())) == r.grad_norm);
}

BOOST_AUTO_TEST_CASE(limits_are_reported_not_thrown) {
  tensor<double> x = vec<double>({-1.2, 1});
  auto f = [](const tensor<double>& xe, tensor<double>& g) {
    return rosenbrock(xe.data(), g.data());
  };
  const auto r = topt::lbfgs(f, x, {.max_iterations = 3});
  BOOST_TEST(!r.converged);
  BOOST_TEST(static_cast<int>(r.status) == static_cast<int>(topt::lbfgs_status::max_iterations));
  BOOST_TEST(r.iterations == 3);
  double g[2];
  BOOST_TEST(r.value == rosenbrock(x.data(), g));  // x is the point the result describes
  BOOST_TEST(r.value < 24.2);                      // f(−1.2, 1) = 24.2

  tensor<double> x2 = vec<double>({-1.2, 1});
  const auto r2 = topt::lbfgs(f, x2, {.max_evaluations = 5});
  BOOST_TEST(!r2.converged);
  BOOST_TEST(static_cast<int>(r2.status) == static_cast<int>(topt::lbfgs_status::max_evaluations));
  BOOST_TEST(r2.evaluations <= 5);

  // Already at the minimum: converged with no iteration and one evaluation.
  tensor<double> x3 = vec<double>({1, 1});
  const auto r3 = topt::lbfgs(f, x3);
  BOOST_TEST(r3.converged);
  BOOST_TEST(r3.iterations == 0);
  BOOST_TEST(r3.evaluations == 1);
}

BOOST_AUTO_TEST_CASE(nan_objective_throws_naming_the_iteration) {
  // f = (x − 3)², but NaN past x = 0.5: the first trial step (to x = 1) meets it.
  tensor<double> x = vec<double>({0});
  auto f = [](const tensor<double>& xe, tensor<double>& g) {
    const double v = xe.data()[0];
    g.data()[0] = 2 * (v - 3);
    return v > 0.5 ? std::nan("") : (v - 3) * (v - 3);
  };
  BOOST_CHECK_EXCEPTION(topt::lbfgs(f, x), domain_error,
                        message_has({"optim::lbfgs", "NaN", "iteration 1"}));
  tensor<double> x0 = vec<double>({2});
  BOOST_CHECK_EXCEPTION(topt::lbfgs(f, x0), domain_error,
                        message_has({"optim::lbfgs", "NaN", "iteration 0"}));
  // +inf is a step too long, not an error: the search backs off.
  tensor<double> x1 = vec<double>({0});
  auto g_inf = [](const tensor<double>& xe, tensor<double>& g) {
    const double v = xe.data()[0];
    g.data()[0] = 2 * (v - 0.4);
    return v > 0.5 ? HUGE_VAL : (v - 0.4) * (v - 0.4);
  };
  const auto r = topt::lbfgs(g_inf, x1, {.grad_tolerance = 1e-12});
  BOOST_TEST(r.converged);
  BOOST_TEST(std::abs(x1.item() - 0.4) <= 1e-12);
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw) {
  tensor<double> x = vec<double>({1, 2});
  auto f = [](const tensor<double>&, tensor<double>& g) {
    g.fill_(0);
    return 0.0;
  };
  BOOST_CHECK_EXCEPTION(topt::lbfgs(f, x, {.history = 0}), invalid_argument,
                        message_has({"optim::lbfgs", "history 0"}));
  BOOST_CHECK_EXCEPTION(topt::lbfgs(f, x, {.c1 = 0.95}), invalid_argument,
                        message_has({"optim::lbfgs", "c1 0.95", "c2 0.9"}));
  tensor<double> m = zeros<double>({2, 2}).transpose(0, 1);
  BOOST_CHECK_EXCEPTION(topt::lbfgs(f, m), invalid_argument,
                        message_has({"optim::lbfgs", "not contiguous"}));
}

BOOST_AUTO_TEST_CASE(adam_on_rosenbrock) {
  // Adam with a cosine-annealed rate reaches (1, 1) to 1e-3 (it cannot be as precise as L-BFGS:
  // near the minimum each step is about η in size).
  tensor<double> x = vec<double>({-1.2, 1}), g = zeros<double>({2});
  topt::adam<double> opt({{&x, &g}}, {.lr = 0.02});
  const index_t steps = 20000;
  const topt::cosine_annealing<double> sched(0.02, steps, 1e-6);
  for (index_t t = 0; t < steps; ++t) {
    rosenbrock(x.data(), g.data());
    opt.set_lr(sched(t));
    opt.step();
  }
  BOOST_TEST_MESSAGE("adam rosenbrock: " << x.data()[0] << ", " << x.data()[1]);
  BOOST_TEST(std::abs(x.data()[0] - 1) <= 1e-3);
  BOOST_TEST(std::abs(x.data()[1] - 1) <= 1e-3);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
