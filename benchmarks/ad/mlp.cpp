// SPDX-License-Identifier: Apache-2.0
// One training step of a 784-1024-1024-10 ReLU MLP on a batch of 256 (float): y = x·W + b per
// layer, ad::cross_entropy, ad::backward, Adam (lr 1e-3). The weights are ad::parameter, so a
// step is "open a scope, forward, backward, close the scope, optimizer step, zero_grad". The
// same model, data and optimizer run in LibTorch in benchmarks/compare (case mlp_train_step).
// The step is GEMM-bound (≈ 2.6 GFLOP), so this measures how close tessera gets to its GEMM
// throughput once recording, bias broadcasts, ReLU masks, the loss and Adam are added.
//   BM_MlpForwardFloat    forward and loss under ad::no_grad (no tape): the forward twin
//   BM_MlpFwdBwdFloat     forward recorded + backward, no optimizer step
//   BM_MlpTrainStepFloat  the full step (the compare case)
// Adam is tessera::optim::adam when <tessera/optim/adam.hpp> exists, otherwise a fused loop
// here with PyTorch's update rule. Run with OMP_NUM_THREADS=1 for single-core figures.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include <tessera/ad.hpp>
#include <tessera/core.hpp>

#if __has_include(<tessera/optim/adam.hpp>)
#include <tessera/optim/adam.hpp>
#define TESSERA_BENCH_HAVE_OPTIM 1
#else
#define TESSERA_BENCH_HAVE_OPTIM 0
#endif

#include "cases.hpp"

namespace {

namespace tb = tessera_bench;
namespace ad = tessera::ad;
using tessera::index_t;
using tessera::shape_t;
using tessera::tensor;

#if !TESSERA_BENCH_HAVE_OPTIM
/// Adam with PyTorch's rule (no weight decay), one fused pass per parameter.
class fallback_adam {
 public:
  fallback_adam(std::vector<ad::parameter<float>>& params, float lr) : params_(&params), lr_(lr) {
    for (auto& p : params) {
      m_.push_back(tessera::zeros<float>(p.shape()));
      v_.push_back(tessera::zeros<float>(p.shape()));
    }
  }
  void step() {
    ++t_;
    const double bc1 = 1.0 - std::pow(0.9, t_), bc2 = 1.0 - std::pow(0.999, t_);
    const float step_size = static_cast<float>(lr_ / bc1);
    const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
    for (std::size_t i = 0; i < params_->size(); ++i) {
      auto& p = (*params_)[i];
      if (!p.grad().defined()) continue;
      float* w = p.value().data();
      const float* g = p.grad().data();
      float* m = m_[i].data();
      float* v = v_[i].data();
      for (index_t k = 0, n = p.numel(); k < n; ++k) {
        m[k] = 0.9f * m[k] + 0.1f * g[k];
        v[k] = 0.999f * v[k] + 0.001f * g[k] * g[k];
        w[k] -= step_size * m[k] / (std::sqrt(v[k]) * inv_sqrt_bc2 + 1e-8f);
      }
    }
  }
  void zero_grad() {
    for (auto& p : *params_) p.zero_grad();
  }

 private:
  std::vector<ad::parameter<float>>* params_;
  float lr_;
  std::vector<tensor<float>> m_, v_;
  int t_ = 0;
};
#endif

struct mlp {
  std::vector<ad::parameter<float>> params;  // W0, b0, W1, b1, W2, b2
  tensor<float> x;
  tensor<index_t> labels;

  mlp() {
    params.reserve(6);  // optimizer slots point into this vector: no reallocation
    for (int l = 0; l < 3; ++l) {
      const tb::mlp_layer d = tb::mlp_layer_dims(l);
      tensor<float> w(shape_t{d.fan_in, d.fan_out}), b(shape_t{d.fan_out});
      tb::fill_uniform(w.data(), static_cast<std::size_t>(w.numel()), tb::mlp_weight_seed(l),
                       -d.bound, d.bound);
      tb::fill_uniform(b.data(), static_cast<std::size_t>(b.numel()), tb::mlp_bias_seed(l),
                       -d.bound, d.bound);
      params.emplace_back(w);
      params.emplace_back(b);
    }
    x = tensor<float>(shape_t{tb::mlp_batch, tb::mlp_in});
    tb::fill_uniform(x.data(), static_cast<std::size_t>(x.numel()), tb::mlp_input_seed, 0.f, 1.f);
    labels = tensor<index_t>(shape_t{tb::mlp_batch});
    tb::fill_labels(labels.data(), static_cast<std::size_t>(labels.numel()), tb::mlp_label_seed);
  }

  /// Mean cross-entropy of the batch (records on the tape unless grad is disabled).
  ad::var<float> loss() const {
    ad::var<float> h = ad::constant(x);
    for (int l = 0; l < 3; ++l) {
      h = ad::matmul(h, params[2 * l]()) + params[2 * l + 1]();
      if (l < 2) h = ad::relu(h);
    }
    return ad::cross_entropy(h, labels);
  }
};

#if TESSERA_BENCH_HAVE_OPTIM
using adam_t = tessera::optim::adam<float>;
adam_t make_adam(std::vector<ad::parameter<float>>& params) {
  return adam_t(tessera::optim::slots_of(params), {.lr = tb::mlp_lr});
}
#else
using adam_t = fallback_adam;
adam_t make_adam(std::vector<ad::parameter<float>>& params) {
  return fallback_adam(params, tb::mlp_lr);
}
#endif

void set_counters(benchmark::State& state, double flops) {
  state.SetItemsProcessed(state.iterations() * tb::mlp_batch);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_MlpForwardFloat(benchmark::State& state) {
  const mlp net;
  for (auto _ : state) {
    ad::scope s;
    ad::no_grad ng;
    const ad::var<float> l = net.loss();
    benchmark::DoNotOptimize(l.value().data());
  }
  const double fwd = 2.0 * tb::mlp_batch *
                     (tb::mlp_in * tb::mlp_hidden + tb::mlp_hidden * tb::mlp_hidden +
                      tb::mlp_hidden * tb::mlp_classes);
  set_counters(state, fwd);
}

void BM_MlpFwdBwdFloat(benchmark::State& state) {
  mlp net;
  for (auto _ : state) {
    {
      ad::scope s;
      ad::backward(net.loss());
    }
    for (auto& p : net.params) p.zero_grad();
    benchmark::DoNotOptimize(net.params[0].grad().data());
  }
  set_counters(state, tb::mlp_step_flops);
}

void BM_MlpTrainStepFloat(benchmark::State& state) {
  mlp net;
  adam_t opt = make_adam(net.params);
  float last = 0;
  for (auto _ : state) {
    {
      ad::scope s;
      const ad::var<float> l = net.loss();
      ad::backward(l);
      last = l.item();
    }
    opt.step();
    opt.zero_grad();
  }
  state.counters["loss"] = last;
  set_counters(state, tb::mlp_step_flops);
  state.SetLabel(TESSERA_BENCH_HAVE_OPTIM ? "optim::adam" : "fallback adam");
}

BENCHMARK(BM_MlpForwardFloat)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MlpFwdBwdFloat)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MlpTrainStepFloat)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
