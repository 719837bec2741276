// SPDX-License-Identifier: Apache-2.0
// Where the time of an op on a tiny cuda tensor goes (host side: an op on 16 elements is pure
// overhead): an empty kernel launch, the pool's cudaMallocAsync + cudaFreeAsync pair, the same
// through tessera's small-block cache, and one `add` of two 16-element tensors (allocation,
// broadcast plan, launch, free). Each iteration enqueues `batch` of them and synchronises once,
// so the figure is the host's issue rate, as in a chain of small ops; time per item in µs.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>

#include <tessera/cuda.hpp>

#include "main.hpp"

namespace tessera::bench {
namespace {

constexpr int batch = 1000;

template <class T>
__global__ void empty_kernel(T*) {}

template <class F>
void per_item(benchmark::State& state, F&& body) {
  for (int i = 0; i < batch; ++i) body();  // warm-up: pool, cache, module load
  cuda_rt::synchronize();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < batch; ++i) body();
    cuda_rt::synchronize();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.counters["us_per_item"] = benchmark::Counter(
      batch * 1e-6, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void launch_empty(benchmark::State& state) {
  per_item(state, [] { empty_kernel<float><<<1, 32, 0, cuda_rt::current_stream()>>>(nullptr); });
}
BENCHMARK(launch_empty)->UseManualTime()->Unit(benchmark::kMicrosecond);

void pool_alloc_free_64B(benchmark::State& state) {
  per_item(state, [] {
    void* p = cuda_rt::allocate_bytes(64, cuda_rt::current_stream());
    cuda_rt::free_bytes(p, cuda_rt::current_stream());
  });
}
BENCHMARK(pool_alloc_free_64B)->UseManualTime()->Unit(benchmark::kMicrosecond);

void cached_alloc_free_64B(benchmark::State& state) {
  per_item(state, [] { (void)cuda_rt::allocate_shared<float>(64, cuda_rt::current_stream()); });
}
BENCHMARK(cached_alloc_free_64B)->UseManualTime()->Unit(benchmark::kMicrosecond);

void add_16(benchmark::State& state) {
  const auto a = full<float, cuda>({16}, 1.f), b = full<float, cuda>({16}, 2.f);
  per_item(state, [&] { (void)add(a, b); });
}
BENCHMARK(add_16)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) { return tessera::bench::run_cuda_benchmarks(argc, argv); }
