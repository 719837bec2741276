// SPDX-License-Identifier: Apache-2.0
// End-to-end demo: fits a logistic regression with known true weights and a small ReLU MLP
// on two interleaved spirals, using only tessera (tensors, autodiff, Adam), and prints what
// they learned.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tessera/optim/adam.hpp"
#include "tessera/optim/param.hpp"
#include "tessera/tessera.hpp"

namespace {

using tessera::index_t;
using tessera::shape_t;
using tessera::tensor;
namespace ad = tessera::ad;
namespace optim = tessera::optim;

// Fraction of rows whose argmax equals the label.
double accuracy(const tensor<double>& logits, const tensor<index_t>& labels) {
  const tensor<index_t> pred = tessera::argmax(logits, 1);
  index_t hits = 0;
  for (index_t i = 0; i < labels.numel(); ++i) hits += pred(i) == labels(i);
  return static_cast<double>(hits) / static_cast<double>(labels.numel());
}

struct logistic_result {
  std::vector<double> truth, learned;
  double loss;
  double loss_true;  // the same loss at the true weights
};

// y ~ Bernoulli(σ(X w* + b*)), fitted by maximum likelihood with Adam.
logistic_result fit_logistic(index_t n, int epochs, tessera::generator& gen) {
  const std::vector<double> w_true = {1.5, -2.0, 0.5, 0.0, 1.0};
  const double b_true = 0.3;
  const index_t d = static_cast<index_t>(w_true.size());
  const tensor<double> X = tessera::randn<double>({n, d}, gen);
  const tensor<double> p =
      tessera::sigmoid(tessera::add(tessera::matmul(X, tessera::from_vector(w_true, {d})), b_true));
  const tensor<double> u = tessera::rand<double>({n}, gen);
  tensor<index_t> y(shape_t{n});
  for (index_t i = 0; i < n; ++i) y(i) = u(i) < p(i) ? 1 : 0;

  // Two-class softmax with the class-0 logit pinned to 0 is exactly logistic regression.
  ad::parameter<double> w(tessera::zeros<double>({d})), b(tessera::zeros<double>({1}));
  std::vector<ad::parameter<double>*> params = {&w, &b};
  optim::adam<double> opt(optim::slots_of(params), {.lr = 0.05});
  double loss = 0;
  for (int e = 0; e < epochs; ++e) {
    ad::scope s;
    const ad::var<double> z = ad::matmul(ad::constant(X), w()) + b();
    const ad::var<double> logits =
        ad::stack<double>({ad::constant(tessera::zeros<double>({n})), z}, 1);
    const ad::var<double> l = ad::cross_entropy(logits, y);
    opt.zero_grad();
    ad::backward(l);
    opt.step();
    loss = l.item();
  }
  // Negative log-likelihood of the labels under the true model, for comparison.
  double nll_true = 0;
  for (index_t i = 0; i < n; ++i) nll_true -= std::log(y(i) ? p(i) : 1.0 - p(i));
  logistic_result r{w_true, w.value().to_vector(), loss, nll_true / static_cast<double>(n)};
  r.truth.push_back(b_true);
  r.learned.push_back(b.value().item());
  return r;
}

// Two interleaved spirals in the plane, with noise.
void spirals(index_t n, tessera::generator& gen, tensor<double>& X, tensor<index_t>& y) {
  X = tensor<double>(shape_t{n, 2});
  y = tensor<index_t>(shape_t{n});
  const tensor<double> t = tessera::rand<double>({n}, gen, 0.25, 1.0);
  const tensor<double> noise = tessera::randn<double>({n, 2}, gen, 0.0, 0.06);
  for (index_t i = 0; i < n; ++i) {
    const index_t cls = i % 2;
    const double a = 4.0 * M_PI * t(i) + (cls ? M_PI : 0.0);
    X(i, 0) = t(i) * std::cos(a) + noise(i, 0);
    X(i, 1) = t(i) * std::sin(a) + noise(i, 1);
    y(i) = cls;
  }
}

struct mlp {
  std::vector<ad::parameter<double>> params;
  mlp(std::vector<index_t> widths, tessera::generator& gen) {
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
      const double scale = std::sqrt(2.0 / static_cast<double>(widths[l]));  // He init
      params.emplace_back(tessera::randn<double>({widths[l], widths[l + 1]}, gen, 0.0, scale));
      params.emplace_back(tessera::zeros<double>({widths[l + 1]}));
    }
  }
  ad::var<double> operator()(const ad::var<double>& x) const {
    ad::var<double> h = x;
    for (std::size_t l = 0; l < params.size(); l += 2) {
      h = ad::matmul(h, params[l]()) + params[l + 1]();
      if (l + 2 < params.size()) h = ad::relu(h);
    }
    return h;
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool large = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("usage: demo [--scale small|large]   (small: the default, seconds)\n");
      return 0;
    }
    if (a != "--scale") {
      std::fprintf(stderr, "demo: unknown option %s (usage: demo [--scale small|large])\n",
                   a.c_str());
      return 2;
    }
    const std::string v = i + 1 < argc ? argv[++i] : "";
    if (v != "small" && v != "large") {
      std::fprintf(stderr, "demo: --scale must be small or large (got \"%s\")\n", v.c_str());
      return 2;
    }
    large = v == "large";
  }
  tessera::generator gen(2026);

  std::printf("== logistic regression: recover known weights ==\n");
  const logistic_result lr = fit_logistic(large ? 20000 : 4000, 400, gen);
  std::printf("%-10s %10s %10s\n", "weight", "true", "learned");
  for (std::size_t i = 0; i < lr.truth.size(); ++i)
    std::printf("%-10s %10.3f %10.3f\n",
                i + 1 < lr.truth.size() ? ("w" + std::to_string(i)).c_str() : "bias", lr.truth[i],
                lr.learned[i]);
  double max_err = 0;
  for (std::size_t i = 0; i < lr.truth.size(); ++i)
    max_err = std::max(max_err, std::abs(lr.truth[i] - lr.learned[i]));

  std::printf("\n== MLP 2-32-32-2 on two spirals ==\n");
  tensor<double> Xtr, Xte;
  tensor<index_t> ytr, yte;
  spirals(large ? 8000 : 2000, gen, Xtr, ytr);
  spirals(1000, gen, Xte, yte);
  mlp net({2, 32, 32, 2}, gen);
  optim::adam<double> opt(optim::slots_of(net.params), {.lr = 0.01});
  const int epochs = large ? 1500 : 600;
  double loss = 0;
  for (int e = 1; e <= epochs; ++e) {
    ad::scope s;
    const ad::var<double> l = ad::cross_entropy(net(ad::constant(Xtr)), ytr);
    opt.zero_grad();
    ad::backward(l);
    opt.step();
    loss = l.item();
    if (e % 100 == 0) {
      ad::no_grad ng;
      std::printf("epoch %4d  loss %.4f  train acc %.3f\n", e, loss,
                  accuracy(net(ad::constant(Xtr)).value(), ytr));
    }
  }
  double test_acc;
  {
    ad::scope s;
    ad::no_grad ng;
    test_acc = accuracy(net(ad::constant(Xte)).value(), yte);
  }

  std::printf("\n| model | metric | value | expectation |\n|---|---|---|---|\n");
  std::printf("| logistic regression | max abs weight error | %.3f | < 0.25 (n=%d) |\n", max_err,
              large ? 20000 : 4000);
  std::printf("| logistic regression | final loss | %.4f | %.4f at the true weights |\n", lr.loss,
              lr.loss_true);
  std::printf("| MLP on spirals | test accuracy | %.3f | > 0.95 |\n", test_acc);
  std::printf("| MLP on spirals | final train loss | %.4f | |\n", loss);
  return (max_err < 0.25 && test_acc > 0.95) ? 0 : 1;
}
