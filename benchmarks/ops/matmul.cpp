// SPDX-License-Identifier: Apache-2.0
// Float matrix products through tessera::matmul (Eigen's GEMM underneath): the square 1024³
// case compared with LibTorch/OpenBLAS in benchmarks/compare, and the GEMMs of one train step
// of the benchmark MLP (784-1024-1024-10, batch 256), forward and with the transposed operands
// of the backward pass, which Eigen reads as column-major views instead of copying. Reports
// GFLOP/s (2·m·n·k per product); the single-core fp32 FMA peak of the reference machine is in
// shared/BENCHMARKING.md. Run with OMP_NUM_THREADS=1 for single-core figures.
#include <benchmark/benchmark.h>

#include <tessera/core.hpp>
#include <tessera/ops/matmul.hpp>

namespace {

using tessera::index_t;
using tessera::shape_t;

template <class T>
tessera::tensor<T> input(const shape_t& shape, std::uint64_t seed) {
  tessera::generator gen(seed);
  return tessera::rand<T>(shape, gen, T(-1), T(1));
}

void set_counters(benchmark::State& state, index_t m, index_t n, index_t k, std::size_t bytes) {
  const double flops =
      2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(state.iterations() * m * n);
  state.SetBytesProcessed(state.iterations() * static_cast<index_t>(bytes) *
                          (m * k + k * n + m * n));
}

/// C (m, n) = A (m, k) · B (k, n), all row-major contiguous.
template <class T>
void BM_Matmul(benchmark::State& state) {
  const index_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto a = input<T>(shape_t{m, k}, 1), b = input<T>(shape_t{k, n}, 2);
  for (auto _ : state) {
    auto c = tessera::matmul(a, b);
    benchmark::DoNotOptimize(c.data());
  }
  set_counters(state, m, n, k, sizeof(T));
}

/// C (m, n) = Aᵀ · B with A stored (k, m): the weight gradient dW = Xᵀ·dY of a linear layer.
template <class T>
void BM_MatmulTransposedLhs(benchmark::State& state) {
  const index_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto a = input<T>(shape_t{k, m}, 1), b = input<T>(shape_t{k, n}, 2);
  const auto at = a.transpose(0, 1);
  for (auto _ : state) {
    auto c = tessera::matmul(at, b);
    benchmark::DoNotOptimize(c.data());
  }
  set_counters(state, m, n, k, sizeof(T));
}

/// C (m, n) = A · Bᵀ with B stored (n, k): the input gradient dX = dY·Wᵀ of a linear layer.
template <class T>
void BM_MatmulTransposedRhs(benchmark::State& state) {
  const index_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto a = input<T>(shape_t{m, k}, 1), b = input<T>(shape_t{n, k}, 2);
  const auto bt = b.transpose(0, 1);
  for (auto _ : state) {
    auto c = tessera::matmul(a, bt);
    benchmark::DoNotOptimize(c.data());
  }
  set_counters(state, m, n, k, sizeof(T));
}

constexpr index_t batch = 256, in = 784, hidden = 1024, classes = 10;

BENCHMARK(BM_Matmul<float>)
    ->Name("BM_MatmulFloat")
    ->ArgNames({"m", "n", "k"})
    ->Args({1024, 1024, 1024})
    // forward of the MLP, batch 256
    ->Args({batch, hidden, in})
    ->Args({batch, hidden, hidden})
    ->Args({batch, classes, hidden})
    ->Unit(benchmark::kMillisecond);
// backward of the MLP's hidden layers: dW = Xᵀ·dY (m = fan-in, k = batch)
BENCHMARK(BM_MatmulTransposedLhs<float>)
    ->Name("BM_MatmulTransposedLhsFloat")
    ->ArgNames({"m", "n", "k"})
    ->Args({in, hidden, batch})
    ->Args({hidden, hidden, batch})
    ->Unit(benchmark::kMillisecond);
// dX = dY·Wᵀ (k = fan-out)
BENCHMARK(BM_MatmulTransposedRhs<float>)
    ->Name("BM_MatmulTransposedRhsFloat")
    ->ArgNames({"m", "n", "k"})
    ->Args({batch, hidden, hidden})
    ->Args({batch, hidden, classes})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
