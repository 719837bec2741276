// SPDX-License-Identifier: Apache-2.0
// The main() of the CUDA benchmark programs: exit 77 ("skipped") without a GPU, else Google
// Benchmark's usual run. A header, not a .cu file, so it does not become a program itself.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>

#include <tessera/cuda.hpp>

namespace tessera::bench {

inline int run_cuda_benchmarks(int argc, char** argv) {
  if (!cuda_rt::device_available()) {
    std::printf("skipped: no CUDA device\n");
    return 77;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace tessera::bench
