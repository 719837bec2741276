// SPDX-License-Identifier: Apache-2.0
// Test driver for tessera's CUDA backend: exits 77 (CTest "skipped") when no GPU is present.
#define BOOST_TEST_MODULE tessera_cuda
#include <cuda_runtime.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>

struct require_gpu {
  require_gpu() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
      std::printf("skipped: no CUDA device\n");
      std::exit(77);
    }
  }
};
BOOST_TEST_GLOBAL_FIXTURE(require_gpu);
