// SPDX-License-Identifier: Apache-2.0
// A user's TU built with strict warnings (-Wshadow -Wconversion -Wsign-conversion
// -Wold-style-cast -Wundef -Werror) and tessera's headers on a plain -I path (add_subdirectory,
// FetchContent): including the umbrellas and instantiating common calls must not warn.
#include <tessera/ad.hpp>
#include <tessera/causal.hpp>
#include <tessera/implicit.hpp>
#include <tessera/io.hpp>
#include <tessera/optim.hpp>
#include <tessera/spectral.hpp>
#include <tessera/tessera.hpp>

namespace hygiene {

using namespace tessera;

double core_and_ops() {
  generator gen(1);
  tensor<double> x = randn<double>({4, 3}, gen);
  tensor<double> r = linspace<double>(0.0, 1.0, 3);
  tensor<double> y = relu(x + r) * 2.0;
  tensor<double> m = matmul(y, transpose(x, 0, 1));
  return sum(square(m)).item() + static_cast<double>(mean(y, {0}).numel()) +
         static_cast<double>(argmax(x, 1).numel());
}

float train() {
  generator gen(2);
  tensor<float> X = randn<float>({16, 8}, gen);
  tensor<index_t> labels = argmax(X.slice(1, 0, 4), 1);
  ad::parameter<float> W(randn<float>({8, 4}, gen, 0.f, 0.1f)), b(zeros<float>({4}));
  std::vector<ad::parameter<float>*> params = {&W, &b};
  optim::adam<float> opt(optim::slots_of(params), {.lr = 1e-2f});
  ad::scope s;
  ad::var<float> loss = ad::cross_entropy(ad::matmul(ad::constant(X), W()) + b(), labels);
  opt.zero_grad();
  ad::backward(loss);
  opt.step();
  ad::var<double> v(randn<double>({5}, gen), true);
  auto [gv] = ad::derivatives(ad::sum(ad::tanh(v)), ad::wrt(v));
  return loss.value().item() + static_cast<float>(sum(gv).item());
}

double implicit_layer() {
  namespace im = tessera::implicit;
  generator gen(3);
  ad::parameter<double> W(mul(randn<double>({4, 4}, gen), scalar(0.1)));
  const auto f = [](const ad::var<double>& z, const std::vector<ad::var<double>>& th) {
    return ad::tanh(ad::matmul(z, th[0]));
  };
  im::options opt;
  opt.solver = {.method = im::solver_method::anderson, .abs_tol = 1e-10, .rel_tol = 0};
  opt.backward = {.mode = im::backward_mode::implicit, .method = im::adjoint_method::gmres};
  ad::scope s;
  auto [z, info, adjoint] = im::fixed_point(f, ones<double>({2, 4}), {W}, opt);
  ad::backward(ad::sum(ad::square(z)));
  return static_cast<double>(W.grad().numel()) + static_cast<double>(info.iterations);
}

double spectral_ops() {
  generator gen(4);
  tensor<double> g = randn<double>({8, 8}, gen);
  return max(abs(spectral::irfft2(spectral::rfft2(g), {8, 8}) - g)).item();
}

double causal_ops() {
  generator gen(5);
  tensor<double> X = randn<double>({64, 3}, gen);
  causal::lingam_result r = causal::fit(X);
  return static_cast<double>(r.order.size());
}

void io_ops(const std::string& path) {
  io::save_npy(path, zeros<float>({2, 2}));
  (void)io::load_npy<float>(path);
}

}  // namespace hygiene
