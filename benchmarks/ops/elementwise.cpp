// SPDX-License-Identifier: Apache-2.0
// Elementwise add, mul, exp, the exact GELU, relu and maximum on contiguous host tensors at two
// sizes. At 16 elements the time is the fixed cost of one op (result allocation, shape checks,
// dispatch), the floor under every small-tensor AD workload; at 1M elements (4 MiB per float
// operand: beyond L2, within L3 on the 2-core EPYCs used here) it is cache bandwidth (add, mul)
// or the exp kernel itself. Run with OMP_NUM_THREADS=1 for single-core figures. GELU (forward,
// and forward + backward through ad::gelu, whose backward is its own kernel) is the largest
// non-GEMM cost of the FNO models.
#include <benchmark/benchmark.h>

#include <tessera/ad.hpp>
#include <tessera/core.hpp>
#include <tessera/ops/elementwise.hpp>

namespace {

using tessera::index_t;

template <class T>
tessera::tensor<T> input(index_t n, std::uint64_t seed) {
  tessera::generator gen(seed);
  // In [0.5, 1.5): no denormals, exp stays finite, mul does not drift to 0 or inf.
  return tessera::rand<T>(tessera::shape_t{n}, gen, T(0.5), T(1.5));
}

// Bytes per element: operands read plus the result written.
template <class T>
void set_counters(benchmark::State& state, index_t n, int operands) {
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * static_cast<index_t>(sizeof(T)) *
                          (operands + 1));
}

template <class T>
void BM_Add(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = input<T>(n, 1), b = input<T>(n, 2);
  for (auto _ : state) {
    auto r = tessera::add(a, b);
    benchmark::DoNotOptimize(r.data());
  }
  set_counters<T>(state, n, 2);
}

template <class T>
void BM_Mul(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = input<T>(n, 1), b = input<T>(n, 2);
  for (auto _ : state) {
    auto r = tessera::mul(a, b);
    benchmark::DoNotOptimize(r.data());
  }
  set_counters<T>(state, n, 2);
}

template <class T>
void BM_Exp(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = input<T>(n, 1);
  for (auto _ : state) {
    auto r = tessera::exp(a);
    benchmark::DoNotOptimize(r.data());
  }
  set_counters<T>(state, n, 1);
}

template <class T>
tessera::tensor<T> signed_input(index_t n, std::uint64_t seed) {
  tessera::generator gen(seed);
  return tessera::rand<T>(tessera::shape_t{n}, gen, T(-4), T(4));  // both tails of GELU
}

template <class T>
void BM_Gelu(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = signed_input<T>(n, 1);
  for (auto _ : state) {
    auto r = tessera::gelu(a);
    benchmark::DoNotOptimize(r.data());
  }
  set_counters<T>(state, n, 1);
}

template <class T>
void BM_GeluTanh(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = signed_input<T>(n, 1);
  for (auto _ : state) {
    auto r = tessera::gelu_tanh(a);
    benchmark::DoNotOptimize(r.data());
  }
  set_counters<T>(state, n, 1);
}

// y = gelu(x) recorded, then ad::backward with seed ȳ = 1: one forward and one backward kernel
// (plus the seed and the adjoint's accumulation).
template <class T>
void BM_GeluFwdBwd(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = signed_input<T>(n, 1);
  for (auto _ : state) {
    tessera::ad::scope s;
    const tessera::ad::var<T> x(a, true);
    tessera::ad::backward(tessera::ad::gelu(x), tessera::ones<T>(a.shape()));
    benchmark::DoNotOptimize(x.grad().data());
  }
  set_counters<T>(state, n, 1);
}

// relu, maximum and minimum propagate NaN (since 2026-11-28: a second compare per element). The
// ...NoNanCheck cases run the same map with the former lambdas (a NaN operand could vanish), as
// the A/B of what the check costs.
template <class T>
void BM_Relu(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = signed_input<T>(n, 1);
  for (auto _ : state) {
    auto r = tessera::relu(a);
    benchmark::DoNotOptimize(r.data());
  }
  set_counters<T>(state, n, 1);
}

template <class T>
void BM_ReluNoNanCheck(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = signed_input<T>(n, 1);
  for (auto _ : state) {
    auto r = tessera::detail::unary_map<T>(a, [](T v) { return v > T(0) ? v : T(0); });
    benchmark::DoNotOptimize(r.data());
  }
  set_counters<T>(state, n, 1);
}

// maximum (Max) or minimum of two signed inputs.
template <class T, bool Max>
void BM_Extremum(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = signed_input<T>(n, 1), b = signed_input<T>(n, 2);
  for (auto _ : state) {
    auto r = Max ? tessera::maximum(a, b) : tessera::minimum(a, b);
    benchmark::DoNotOptimize(r.data());
  }
  set_counters<T>(state, n, 2);
}

template <class T, bool Max>
void BM_ExtremumNoNanCheck(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = signed_input<T>(n, 1), b = signed_input<T>(n, 2);
  for (auto _ : state) {
    auto r = tessera::detail::binary_map<T>(Max ? "maximum" : "minimum", a, b, [](T x, T y) {
      if constexpr (Max)
        return x >= y ? x : y;
      else
        return x <= y ? x : y;
    });
    benchmark::DoNotOptimize(r.data());
  }
  set_counters<T>(state, n, 2);
}

void sizes(benchmark::internal::Benchmark* b) { b->Arg(16)->Arg(1 << 20); }

BENCHMARK(BM_Add<float>)->Name("BM_AddFloat")->Apply(sizes);
BENCHMARK(BM_Add<double>)->Name("BM_AddDouble")->Apply(sizes);
BENCHMARK(BM_Mul<float>)->Name("BM_MulFloat")->Apply(sizes);
BENCHMARK(BM_Mul<double>)->Name("BM_MulDouble")->Apply(sizes);
BENCHMARK(BM_Exp<float>)->Name("BM_ExpFloat")->Apply(sizes);
BENCHMARK(BM_Exp<double>)->Name("BM_ExpDouble")->Apply(sizes);
BENCHMARK(BM_Gelu<float>)->Name("BM_GeluFloat")->Apply(sizes);
BENCHMARK(BM_Gelu<double>)->Name("BM_GeluDouble")->Apply(sizes);
BENCHMARK(BM_GeluTanh<float>)->Name("BM_GeluTanhFloat")->Apply(sizes);
BENCHMARK(BM_GeluTanh<double>)->Name("BM_GeluTanhDouble")->Apply(sizes);
BENCHMARK(BM_GeluFwdBwd<float>)->Name("BM_GeluFwdBwdFloat")->Apply(sizes);
BENCHMARK(BM_GeluFwdBwd<double>)->Name("BM_GeluFwdBwdDouble")->Apply(sizes);
BENCHMARK(BM_Relu<float>)->Name("BM_ReluFloat")->Apply(sizes);
BENCHMARK(BM_ReluNoNanCheck<float>)->Name("BM_ReluNoNanCheckFloat")->Apply(sizes);
BENCHMARK(BM_Extremum<float, true>)->Name("BM_MaximumFloat")->Apply(sizes);
BENCHMARK(BM_ExtremumNoNanCheck<float, true>)->Name("BM_MaximumNoNanCheckFloat")->Apply(sizes);
BENCHMARK(BM_Extremum<float, false>)->Name("BM_MinimumFloat")->Apply(sizes);
BENCHMARK(BM_ExtremumNoNanCheck<float, false>)->Name("BM_MinimumNoNanCheckFloat")->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
