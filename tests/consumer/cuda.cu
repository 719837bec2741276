// SPDX-License-Identifier: Apache-2.0
// Consumer smoke test of tessera::cuda: a .cu file built by a downstream project against an
// installed tessera (find_package COMPONENTS cuda). It runs a cuBLAS product, a cuFFT transform
// and an elementwise kernel and compares them with the host; without a GPU it checks that an
// upload throws tessera::cuda_error.
#include <tessera/cuda/spectral.cuh>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>

int main() {
  if (!tessera::cuda_rt::device_available()) {
    // Without a device the package's error path must still hold: an upload throws
    // tessera::cuda_error naming the failed call, it does not crash or return garbage.
    try {
      (void)tessera::to<tessera::cuda>(tessera::zeros<float>({4}));
    } catch (const tessera::cuda_error& e) {
      std::printf("consumer_cuda: no CUDA device; an upload throws cuda_error: %s\n", e.what());
      return 0;
    }
    std::puts("consumer_cuda: no CUDA device, but an upload did not throw tessera::cuda_error");
    return 1;
  }
  using tessera::cuda;
  using tessera::host;
  tessera::generator gen(7);
  const tessera::tensor<double> a = tessera::randn<double>({16, 24}, gen);
  const tessera::tensor<double> b = tessera::randn<double>({24, 8}, gen);
  const auto ga = tessera::to<cuda>(a), gb = tessera::to<cuda>(b);
  const auto prod = tessera::to<host>(tessera::matmul(ga, gb) * 2.0);
  const auto want = tessera::matmul(a, b) * 2.0;
  double err = 0;
  for (tessera::index_t i = 0; i < want.numel(); ++i)
    err = std::max(err, std::abs(prod.data()[i] - want.data()[i]));
  const auto spec = tessera::to<host>(tessera::spectral::rfft(ga));
  const auto spec_h = tessera::spectral::rfft(a);
  for (tessera::index_t i = 0; i < spec_h.numel(); ++i)
    err = std::max(err, std::abs(spec.data()[i] - spec_h.data()[i]));
  std::printf("consumer_cuda: largest difference from the host %.3g\n", err);
  return err < 1e-10 ? 0 : 1;
}
