// SPDX-License-Identifier: Apache-2.0
// L2-regularised logistic regression: L-BFGS (tensor and slot overloads) and Adam against the
// optimum found by Newton's method with Eigen.
#include <Eigen/Dense>
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "helpers.hpp"
#include "tessera/optim/adam.hpp"
#include "tessera/optim/lbfgs.hpp"
#include "tessera/optim/schedule.hpp"

using namespace tessera;
namespace topt = tessera::optim;

namespace {

/// n samples with d features plus a constant feature (the intercept is the last weight), and
/// labels y ∈ {−1, +1} from a noisy linear rule, so the classes overlap and the optimum of
///   L(w) = (1/n) Σ log(1 + exp(−yᵢ xᵢᵀw)) + (λ/2) ‖w‖²
/// is finite and, with λ > 0, unique.
struct logistic_problem {
  static constexpr index_t n = 300, d = 5, p = d + 1;
  static constexpr double lambda = 1e-2;
  Eigen::MatrixXd X{n, p};
  Eigen::VectorXd y{n};

  logistic_problem() {
    generator gen(2024);
    const tensor<double> feats = randn<double>({n, d}, gen);
    const tensor<double> noise = randn<double>({n}, gen);
    const double w_true[d] = {1.5, -2.0, 0.75, 0.0, 1.0}, b_true = -0.5;
    for (index_t i = 0; i < n; ++i) {
      double z = b_true + noise.data()[i];
      for (index_t j = 0; j < d; ++j) {
        X(i, j) = feats.data()[i * d + j];
        z += w_true[j] * X(i, j);
      }
      X(i, d) = 1.0;
      y(i) = z > 0 ? 1.0 : -1.0;
    }
  }

  static double sigmoid(double v) {
    return v >= 0 ? 1 / (1 + std::exp(-v)) : std::exp(v) / (1 + std::exp(v));
  }
  static double softplus(double v) {
    return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
  }

  /// L(w) and ∇L(w) = −(1/n) Σ yᵢ σ(−yᵢ zᵢ) xᵢ + λw.
  double loss(const double* w, double* g) const {
    const Eigen::Map<const Eigen::VectorXd> wv(w, p);
    Eigen::Map<Eigen::VectorXd> gv(g, p);
    const Eigen::VectorXd z = X * wv;
    double v = 0;
    Eigen::VectorXd r(n);
    for (index_t i = 0; i < n; ++i) {
      v += softplus(-y(i) * z(i));
      r(i) = -y(i) * sigmoid(-y(i) * z(i));
    }
    gv = X.transpose() * r / static_cast<double>(n) + lambda * wv;
    return v / static_cast<double>(n) + 0.5 * lambda * wv.squaredNorm();
  }

  /// The optimum by Newton's method: H = (1/n) Xᵀ diag(σ(z)(1 − σ(z))) X + λI.
  Eigen::VectorXd newton() const {
    Eigen::VectorXd w = Eigen::VectorXd::Zero(p), g(p);
    for (int it = 0; it < 50; ++it) {
      loss(w.data(), g.data());
      const Eigen::VectorXd z = X * w;
      Eigen::VectorXd s(n);
      for (index_t i = 0; i < n; ++i) s(i) = sigmoid(z(i)) * (1 - sigmoid(z(i)));
      Eigen::MatrixXd H = X.transpose() * s.asDiagonal() * X / static_cast<double>(n);
      H.diagonal().array() += lambda;
      const Eigen::VectorXd step = H.ldlt().solve(g);
      w -= step;
      if (step.lpNorm<Eigen::Infinity>() < 1e-15) break;
    }
    return w;
  }
};

const logistic_problem& problem() {
  static const logistic_problem prob;
  return prob;
}

const Eigen::VectorXd& newton_optimum() {
  static const Eigen::VectorXd w = problem().newton();
  return w;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(optim)
BOOST_AUTO_TEST_SUITE(logistic)

BOOST_AUTO_TEST_CASE(newton_reference_is_stationary) {
  // The reference itself: its gradient vanishes, and it is not trivially zero.
  Eigen::VectorXd g(logistic_problem::p);
  problem().loss(newton_optimum().data(), g.data());
  BOOST_TEST(g.lpNorm<Eigen::Infinity>() <= 1e-13);
  BOOST_TEST(newton_optimum().lpNorm<Eigen::Infinity>() > 0.5);
}

BOOST_AUTO_TEST_CASE(lbfgs_matches_newton) {
  tensor<double> w = zeros<double>({logistic_problem::p});
  auto f = [](const tensor<double>& x, tensor<double>& g) {
    return problem().loss(x.data(), g.data());
  };
  const auto r = topt::lbfgs(f, w, {.grad_tolerance = 1e-10, .function_tolerance = 0});
  BOOST_TEST(r.converged);
  BOOST_TEST_MESSAGE("logistic L-BFGS: " << r.iterations << " iterations, " << r.evaluations
                                         << " evaluations");
  for (index_t j = 0; j < logistic_problem::p; ++j)
    BOOST_TEST(std::abs(w.data()[j] - newton_optimum()(j)) <= 1e-6, "weight " << j);
}

BOOST_AUTO_TEST_CASE(lbfgs_over_slots_matches_newton) {
  // Weights and intercept as two parameters (shapes (5) and ()), as a model would hold them.
  tensor<double> w = zeros<double>({logistic_problem::d}), b = scalar<double>(0.0);
  tensor<double> gw = zeros<double>({logistic_problem::d}), gb = scalar<double>(0.0);
  auto closure = [&] {
    double x[logistic_problem::p], g[logistic_problem::p];
    for (index_t j = 0; j < logistic_problem::d; ++j) x[j] = w.data()[j];
    x[logistic_problem::d] = b.item();
    const double v = problem().loss(x, g);
    for (index_t j = 0; j < logistic_problem::d; ++j) gw.data()[j] = g[j];
    gb.data()[0] = g[logistic_problem::d];
    return v;
  };
  const std::vector<topt::param_slot<double>> slots{{&w, &gw}, {&b, &gb}};
  const auto r = topt::lbfgs(closure, slots, {.grad_tolerance = 1e-10, .function_tolerance = 0});
  BOOST_TEST(r.converged);
  for (index_t j = 0; j < logistic_problem::d; ++j)
    BOOST_TEST(std::abs(w.data()[j] - newton_optimum()(j)) <= 1e-6, "weight " << j);
  BOOST_TEST(std::abs(b.item() - newton_optimum()(logistic_problem::d)) <= 1e-6);
}

BOOST_AUTO_TEST_CASE(adam_gets_close_to_newton) {
  tensor<double> w = zeros<double>({logistic_problem::p}), g = zeros<double>({logistic_problem::p});
  const index_t steps = 1000;
  topt::adam<double> opt({{&w, &g}}, {.lr = 0.05});
  const topt::cosine_annealing<double> sched(0.05, steps, 1e-5);
  for (index_t t = 0; t < steps; ++t) {
    problem().loss(w.data(), g.data());
    opt.set_lr(sched(t));
    opt.step();
  }
  double worst = 0;
  for (index_t j = 0; j < logistic_problem::p; ++j)
    worst = std::max(worst, std::abs(w.data()[j] - newton_optimum()(j)));
  BOOST_TEST_MESSAGE("logistic Adam: max |w − w*| = " << worst);
  BOOST_TEST(worst <= 1e-3);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
