// SPDX-License-Identifier: Apache-2.0
// A user's TU built with strict warnings (-Wshadow -Wconversion -Wsign-conversion
// -Wold-style-cast -Wundef -Werror) and tessera's headers on a plain -I path (add_subdirectory,
// FetchContent): including the umbrellas and instantiating common calls must not warn, and the
// calls so compiled give the values they should (checked against plain loops and identities).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <tessera/ad.hpp>
#include <tessera/causal.hpp>
#include <tessera/implicit.hpp>
#include <tessera/io.hpp>
#include <tessera/optim.hpp>
#include <tessera/spectral.hpp>
#include <tessera/tessera.hpp>

#include "matmul_check.hpp"

using namespace tessera;

BOOST_AUTO_TEST_SUITE(strict_warnings)

BOOST_AUTO_TEST_CASE(core_and_ops_match_loops) {
  generator gen(1);
  const tensor<double> x = randn<double>({4, 3}, gen);
  const tensor<double> r = linspace<double>(0.0, 1.0, 3);
  const tensor<double> y = relu(x + r) * 2.0;
  const tensor<double> m = matmul(y, transpose(x, 0, 1));
  const tensor<index_t> am = argmax(x, 1);
  const tensor<double> my = mean(y, {0});
  for (index_t i = 0; i < 4; ++i) {
    index_t best = 0;
    for (index_t j = 0; j < 3; ++j) {
      BOOST_TEST(y(i, j) == 2.0 * std::max(x(i, j) + 0.5 * static_cast<double>(j), 0.0));
      if (x(i, j) > x(i, best)) best = j;
    }
    BOOST_TEST(am(i) == best);
  }
  hygiene::check_matmul_against_loops(y, transpose(x, 0, 1), m, 1e-12);
  for (index_t j = 0; j < 3; ++j) {
    double s = 0;
    for (index_t i = 0; i < 4; ++i) s += y(i, j);
    BOOST_TEST(my(j) == s / 4.0, boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(training_step_and_derivatives) {
  generator gen(2);
  const tensor<float> X = randn<float>({16, 8}, gen);
  const tensor<index_t> labels = argmax(X.slice(1, 0, 4), 1);
  ad::parameter<float> W(randn<float>({8, 4}, gen, 0.f, 0.1f)), b(zeros<float>({4}));
  std::vector<ad::parameter<float>*> params = {&W, &b};
  optim::adam<float> opt(optim::slots_of(params), {.lr = 1e-2f});
  const auto loss_now = [&] {
    return ad::cross_entropy(ad::matmul(ad::constant(X), W()) + b(), labels);
  };
  float first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    ad::scope s;
    ad::var<float> loss = loss_now();
    (step == 0 ? first : last) = loss.value().item();
    opt.zero_grad();
    ad::backward(loss);
    opt.step();
  }
  BOOST_TEST(std::isfinite(last));
  BOOST_TEST(last < first);  // the labels are a function of X: Adam lowers the loss

  // d/dv Σ tanh v = 1 − tanh² v.
  const tensor<double> v0 = randn<double>({5}, gen);
  ad::var<double> v(v0, true);
  auto [gv] = ad::derivatives(ad::sum(ad::tanh(v)), ad::wrt(v));
  for (index_t i = 0; i < 5; ++i) {
    const double t = std::tanh(v0(i));
    BOOST_TEST(gv(i) == 1.0 - t * t, boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(implicit_layer_gradient_matches_central_differences) {
  namespace im = tessera::implicit;
  generator gen(3);
  const tensor<double> x = randn<double>({2, 4}, gen);
  const tensor<double> W0 = mul(randn<double>({4, 4}, gen), scalar(0.2));
  im::options opt;
  opt.solver = {.method = im::solver_method::anderson, .abs_tol = 1e-12, .rel_tol = 0};
  opt.backward = {.mode = im::backward_mode::implicit, .method = im::adjoint_method::gmres};
  // z = tanh(z W + x); loss Σ z².
  const auto f = [&x](const ad::var<double>& z, const std::vector<ad::var<double>>& th) {
    return ad::tanh(ad::matmul(z, th[0]) + ad::constant(x));
  };
  const auto loss_at = [&](const tensor<double>& Wv) {
    ad::parameter<double> P(Wv);
    ad::scope s;
    auto [z, info, adjoint] = im::fixed_point(f, zeros<double>({2, 4}), {P}, opt);
    BOOST_TEST(info.converged);
    return sum(square(z.value())).item();
  };

  ad::parameter<double> W(W0);
  ad::scope s;
  auto [z, info, adjoint] = im::fixed_point(f, zeros<double>({2, 4}), {W}, opt);
  BOOST_TEST(info.converged);
  const tensor<double> residual = z.value() - tanh(matmul(z.value(), W0) + x);
  BOOST_TEST(max(abs(residual)).item() < 1e-10);
  ad::backward(ad::sum(ad::square(z)));
  const double h = 1e-6;
  for (index_t i = 0; i < 4; i += 3)
    for (index_t j = 0; j < 4; j += 2) {
      tensor<double> up = W0.clone(), down = W0.clone();
      up(i, j) += h;
      down(i, j) -= h;
      const double fd = (loss_at(up) - loss_at(down)) / (2 * h);
      BOOST_TEST(W.grad()(i, j) == fd, boost::test_tools::tolerance(1e-6));
    }
}

BOOST_AUTO_TEST_CASE(spectral_round_trip) {
  generator gen(4);
  const tensor<double> g = randn<double>({8, 8}, gen);
  BOOST_TEST(max(abs(spectral::irfft2(spectral::rfft2(g), {8, 8}) - g)).item() < 1e-13);
  // The zero-frequency coefficient (real part, last axis (re, im)) is the sum.
  BOOST_TEST(spectral::rfft2(g)(0, 0, 0) == sum(g).item(), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(causal_order_of_a_chain) {
  // x0 → x1 → x2 with uniform (non-Gaussian) noise, columns stored as x2, x0, x1.
  generator gen(5);
  const index_t n = 2000;
  const tensor<double> e = rand<double>({n, 3}, gen, -1.0, 1.0);
  tensor<double> X({n, 3});
  for (index_t i = 0; i < n; ++i) {
    const double x0 = e(i, 0), x1 = 0.8 * x0 + e(i, 1), x2 = -0.9 * x1 + e(i, 2);
    X(i, 0) = x2, X(i, 1) = x0, X(i, 2) = x1;
  }
  const causal::lingam_result r = causal::fit(X);
  BOOST_TEST(r.order == (std::vector<index_t>{1, 2, 0}), boost::test_tools::per_element());
  BOOST_TEST(r.adjacency(2, 1) == 0.8, boost::test_tools::tolerance(0.1));
  BOOST_TEST(r.adjacency(0, 2) == -0.9, boost::test_tools::tolerance(0.1));
}

BOOST_AUTO_TEST_CASE(npy_round_trip) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tessera_hygiene_" + std::to_string(std::random_device{}()) + ".npy"))
                               .string();
  const tensor<float> t = from_vector<float>({1.5f, -2.f, 0.25f, 8.f}, {2, 2});
  io::save_npy(path, t);
  const tensor<float> back = io::load_npy<float>(path);
  std::remove(path.c_str());
  BOOST_TEST((back.shape() == t.shape()));
  BOOST_TEST(back.to_vector() == t.to_vector(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
