// SPDX-License-Identifier: Apache-2.0
// Consumer smoke test of tessera::cuda: a .cu file built by a downstream project against an
// installed tessera (find_package COMPONENTS cuda). It runs a cuBLAS product, a cuFFT transform
// and an elementwise kernel and compares them with the host; without a GPU it only says so.
#include <tessera/cuda/spectral.cuh>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>

int main() {
  if (!tessera::cuda_rt::device_available()) {
    std::puts("consumer_cuda: built; no CUDA device, nothing run");
    return 0;
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
