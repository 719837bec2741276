// SPDX-License-Identifier: Apache-2.0
// CUDA side of the example (see gpu.hpp).
#include "gpu.hpp"
#include "tessera/cuda.hpp"

namespace lingam_example {
bool gpu_available() { return tessera::cuda_rt::device_available(); }
tessera::causal::ordering_result gpu_causal_order(const tessera::tensor<double>& X,
                                                  const tessera::causal::ordering_options& o,
                                                  bool full_fp64) {
  return tessera::causal::causal_order_gpu(X, o, {.full_fp64 = full_fp64});
}
}  // namespace lingam_example
