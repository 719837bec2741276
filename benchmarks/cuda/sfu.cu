// SPDX-License-Identifier: Apache-2.0
// The card's measured special-function-unit (MUFU) throughput: the peak that the LiNGAM GPU
// ordering's transcendental rate is compared with (benchmarks/compare/lingam_gpu.sh). Each
// thread runs ILP independent dependency chains v ← ex2(-v) (or v ← lg2(v + 1.5)) with the
// PTX approximate instructions that __expf and __logf compile to, so every step is one MUFU
// operation plus one FP32 add at most; counters give MUFU results per second for the whole card
// and per SM per clock (the programming guide's unit).
#include <benchmark/benchmark.h>

#include <cstdio>

#include <tessera/cuda.hpp>

#include "main.hpp"

namespace tessera::bench {
namespace {

constexpr int ilp = 8;
constexpr int iters = 2048;
constexpr int threads = 256;

/// Lg2 = false: v ← ex2(-v), v in (0, 1]; Lg2 = true: v ← lg2(v + 1.5), v in (0, 2). One MUFU
/// operation per step (and one FP32 add for lg2).
template <bool Lg2>
__global__ void mufu_chains(float* out) {
  float v[ilp];
#pragma unroll
  for (int j = 0; j < ilp; ++j) v[j] = 0.25f + 1e-3f * static_cast<float>(j + threadIdx.x % 7);
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int j = 0; j < ilp; ++j) {
      float r;
      if constexpr (Lg2)
        asm volatile("lg2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v[j] + 1.5f));
      else
        asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(-v[j]));
      v[j] = r;
    }
  }
  float s = 0;
#pragma unroll
  for (int j = 0; j < ilp; ++j) s += v[j];
  if (s == 12345.0f) out[threadIdx.x] = s;  // keeps the chains alive; never true
}

template <class Launch>
void time_mufu(benchmark::State& state, Launch launch) {
  const int sms = cuda_rt::sm_count();
  int dev = 0, khz = 0;
  TESSERA_CUDA_CHECK(cudaGetDevice(&dev));
  TESSERA_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, dev));
  const unsigned blocks = static_cast<unsigned>(sms) * 16;
  float* out = nullptr;
  TESSERA_CUDA_CHECK(cudaMalloc(&out, threads * sizeof(float)));
  cudaEvent_t a, b;
  TESSERA_CUDA_CHECK(cudaEventCreate(&a));
  TESSERA_CUDA_CHECK(cudaEventCreate(&b));
  for (int w = 0; w < 3; ++w) launch(blocks, out);  // warm-up: clocks up
  TESSERA_CUDA_CHECK(cudaDeviceSynchronize());
  for (auto _ : state) {
    TESSERA_CUDA_CHECK(cudaEventRecord(a));
    launch(blocks, out);
    TESSERA_CUDA_CHECK(cudaEventRecord(b));
    TESSERA_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    TESSERA_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    state.SetIterationTime(ms * 1e-3);
  }
  TESSERA_CUDA_CHECK(cudaGetLastError());
  const double ops = static_cast<double>(blocks) * threads * iters * ilp;
  state.counters["MUFU_ops/s"] =
      benchmark::Counter(ops, benchmark::Counter::kIsIterationInvariantRate);
  // per SM per clock at the maximum SM clock (a lower bound if the clock was lower).
  state.counters["per_SM_per_clk"] = benchmark::Counter(
      ops / (static_cast<double>(sms) * khz * 1e3), benchmark::Counter::kIsIterationInvariantRate);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(out);
}

void sfu_ex2(benchmark::State& state) {
  time_mufu(state,
            [](unsigned blocks, float* out) { mufu_chains<false><<<blocks, threads>>>(out); });
}
BENCHMARK(sfu_ex2)->UseManualTime()->Unit(benchmark::kMillisecond);

void sfu_lg2(benchmark::State& state) {
  time_mufu(state,
            [](unsigned blocks, float* out) { mufu_chains<true><<<blocks, threads>>>(out); });
}
BENCHMARK(sfu_lg2)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) { return tessera::bench::run_cuda_benchmarks(argc, argv); }
