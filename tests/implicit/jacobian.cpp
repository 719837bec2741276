// SPDX-License-Identifier: Apache-2.0
// implicit::jacobian_penalty: the Hutchinson estimate of ‖∂f/∂z‖_F² against the exact norm of
// a linear map, and its parameter gradient against central differences (same probes).
#include <boost/test/unit_test.hpp>

#include <vector>

#include "helpers.hpp"

using namespace implicit_test;
namespace im = tessera::implicit;

BOOST_AUTO_TEST_SUITE(implicit)
BOOST_AUTO_TEST_SUITE(jacobian_penalty)

BOOST_AUTO_TEST_CASE(estimates_the_frobenius_norm_of_a_linear_map) {
  // f(z) = z W: J = Wᵀ, ‖J‖_F² = ‖W‖_F².
  generator g0(3);
  const dtensor W = randn<double>({6, 6}, g0);
  const auto f = [](const dvar& z, const std::vector<dvar>& th) { return ad::matmul(z, th[0]); };
  ad::scope s;
  const dvar w(W, true);
  generator gen(17);
  const dvar pen = im::jacobian_penalty(f, zeros<double>({1, 6}), {w}, gen, 4000);
  const double exact = norm(W) * norm(W);
  BOOST_TEST(pen.item() == exact, boost::test_tools::tolerance(0.05));
  // d/dW E‖W ε‖² = 2 W (the estimate's gradient is 2 W · (sample covariance of ε)).
  ad::backward(pen);
  BOOST_TEST(max_abs_diff(w.grad(), mul(W, scalar(2.0))) <= 0.15 * norm(W));
}

BOOST_AUTO_TEST_CASE(gradient_matches_central_differences_for_fixed_probes) {
  const layer net;
  const dtensor z = layer::solve(net.theta());
  const auto penalty = [&](const std::vector<dtensor>& th) {
    ad::scope s;
    std::vector<dvar> v;
    for (const auto& t : th) v.emplace_back(t, true);
    generator gen(23);  // the same probes every time
    return im::jacobian_penalty(layer::f, z, v, gen, 3).item();
  };
  ad::scope s;
  std::vector<dvar> th;
  for (const auto& t : net.theta()) th.emplace_back(t, true);
  generator gen(23);
  const dvar pen = im::jacobian_penalty(layer::f, z, th, gen, 3);
  BOOST_TEST(pen.item() == penalty(net.theta()));
  ad::backward(pen);
  const double h = 1e-6;
  for (std::size_t k = 0; k < th.size(); ++k) {
    const dtensor g = th[k].grad();
    BOOST_TEST(norm(g) > 1e-4);
    for (index_t i = 0; i < g.numel(); ++i) {
      std::vector<dtensor> tp, tm;
      for (const auto& t : net.theta()) {
        tp.push_back(t.clone());
        tm.push_back(t.clone());
      }
      tp[k].data()[i] += h;
      tm[k].data()[i] -= h;
      const double fd = (penalty(tp) - penalty(tm)) / (2 * h);
      BOOST_TEST(std::abs(g.flat(i) - fd) <= 1e-7 * std::max(1.0, std::abs(fd)));
    }
  }
}

BOOST_AUTO_TEST_CASE(regularised_training_loss_backpropagates_through_both_terms) {
  // loss = Σ c ⊙ z* + γ ‖J‖²: the implicit node and the penalty node both feed θ.
  const layer net;
  ad::scope s;
  std::vector<dvar> th;
  for (const auto& t : net.theta()) th.emplace_back(t, true);
  im::options o;
  o.solver.abs_tol = 1e-13;
  o.backward.abs_tol = 1e-13;
  auto r = im::fixed_point(layer::f, zeros<double>({layer::B, layer::n}), th, o);
  generator gen(1);
  const dvar pen = im::jacobian_penalty(layer::f, r.z.value(), th, gen, 2);
  const dvar loss = ad::sum(r.z * net.c) + pen * 0.1;
  ad::backward(loss);
  const auto g_task = net.grads(o);
  ad::scope s2;
  std::vector<dvar> th2;
  for (const auto& t : net.theta()) th2.emplace_back(t, true);
  generator gen2(1);
  ad::backward(im::jacobian_penalty(layer::f, r.z.value(), th2, gen2, 2) * 0.1);
  for (std::size_t k = 0; k < th.size(); ++k)
    BOOST_TEST(max_abs_diff(th[k].grad(), add(g_task[k], th2[k].grad())) <= 1e-11);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
