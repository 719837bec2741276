// SPDX-License-Identifier: Apache-2.0
// CUDA side of the example (see gpu.hpp).
#include "gpu.hpp"
#include "tessera/cuda.hpp"

namespace lingam_example {
bool gpu_available() { return tessera::cuda_rt::device_available(); }
std::string gpu_description() {
  int dev = 0, sms = 0, khz = 0;
  cudaDeviceProp p{};
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, dev) != cudaSuccess)
    return "unknown device";
  return std::string(p.name) + ", " + std::to_string(sms) + " SMs, max SM clock " +
         std::to_string(khz / 1000) + " MHz";
}
tessera::causal::ordering_result gpu_causal_order(const tessera::tensor<double>& X,
                                                  const tessera::causal::ordering_options& o,
                                                  bool full_fp64) {
  return tessera::causal::causal_order_gpu(X, o, {.full_fp64 = full_fp64});
}
}  // namespace lingam_example
