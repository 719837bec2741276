// SPDX-License-Identifier: Apache-2.0
// Per-op overhead on tiny tensors: the chain of 200 elementwise ops on 16-element float
// tensors defined in cases.hpp (40 × add, mul, tanh, sub, exp), the same chain LibTorch runs in
// benchmarks/compare. The arithmetic is negligible, so the time per op is tessera's fixed cost:
// result allocation, shape handling and, with AD, the tape record and the reverse step.
//   BM_SmallOpsNoGradFloat   plain tessera::tensor ops (the compare case small_ops_nograd)
//   BM_SmallOpsVarNoGradFloat the chain on ad::var inside ad::no_grad (var wrapper cost)
//   BM_SmallOpsForwardFloat  the chain recorded on the tape, no reverse sweep (the forward
//                            twin of the next one: the difference is the backward pass)
//   BM_SmallOpsFwdBwdFloat   recorded inside an ad::scope and back-propagated with
//                            ad::backward(sum(...)) (the compare case small_ops_fwd_bwd)
// Counter time_per_op = CPU time per iteration / 200. Single-threaded by nature (16 elements).
#include <benchmark/benchmark.h>

#include <tessera/ad.hpp>
#include <tessera/core.hpp>

#include "cases.hpp"

namespace {

namespace tb = tessera_bench;
using tessera::tensor;

struct inputs {
  tensor<float> x0, a, b, c;
};

inputs make_inputs() {
  const tb::chain_values v = tb::make_chain_values();
  auto t = [](const auto& arr) {
    return tessera::from_vector<float>(std::vector<float>(arr.begin(), arr.end()),
                                       tessera::shape_t{tb::chain_width});
  };
  return {t(v.x0), t(v.a), t(v.b), t(v.c)};
}

void set_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * tb::chain_ops);
  // Seconds per op, printed with an SI prefix (e.g. "80ns").
  state.counters["time_per_op"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * tb::chain_ops,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_SmallOpsNoGradFloat(benchmark::State& state) {
  const inputs in = make_inputs();
  for (auto _ : state) {
    tensor<float> y = tb::run_chain(in.x0, in.a, in.b, in.c);
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state);
}

void BM_SmallOpsVarNoGradFloat(benchmark::State& state) {
  namespace ad = tessera::ad;
  const inputs in = make_inputs();
  for (auto _ : state) {
    ad::scope s;
    ad::no_grad ng;
    const ad::var<float> a(in.a), b(in.b), c(in.c);
    ad::var<float> y = tb::run_chain(ad::var<float>(in.x0, true), a, b, c);
    benchmark::DoNotOptimize(y.value().data());
  }
  set_counters(state);
}

void BM_SmallOpsForwardFloat(benchmark::State& state) {
  namespace ad = tessera::ad;
  const inputs in = make_inputs();
  for (auto _ : state) {
    ad::scope s;
    const ad::var<float> a(in.a), b(in.b), c(in.c);
    ad::var<float> y = ad::sum(tb::run_chain(ad::var<float>(in.x0, true), a, b, c));
    benchmark::DoNotOptimize(y.value().data());
  }
  set_counters(state);
}

void BM_SmallOpsFwdBwdFloat(benchmark::State& state) {
  namespace ad = tessera::ad;
  const inputs in = make_inputs();
  for (auto _ : state) {
    ad::scope s;
    const ad::var<float> x(in.x0, true);
    const ad::var<float> a(in.a), b(in.b), c(in.c);
    ad::backward(ad::sum(tb::run_chain(x, a, b, c)));
    benchmark::DoNotOptimize(x.grad().data());
  }
  set_counters(state);
}

BENCHMARK(BM_SmallOpsNoGradFloat);
BENCHMARK(BM_SmallOpsVarNoGradFloat);
BENCHMARK(BM_SmallOpsForwardFloat);
BENCHMARK(BM_SmallOpsFwdBwdFloat);

}  // namespace

BENCHMARK_MAIN();
