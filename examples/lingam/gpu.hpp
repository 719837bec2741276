// SPDX-License-Identifier: Apache-2.0
// The example's bridge to the CUDA ordering (gpu.cu), so main.cpp stays a plain C++ file.
#pragma once

#include <string>

#include "tessera/causal/ordering.hpp"

namespace lingam_example {
/// True when a CUDA device can be used.
bool gpu_available();
/// "NAME, S SMs, max SM clock C MHz" of the current device (for throughput reports).
std::string gpu_description();
/// tessera::causal::causal_order_gpu on X.
tessera::causal::ordering_result gpu_causal_order(const tessera::tensor<double>& X,
                                                  const tessera::causal::ordering_options& o,
                                                  bool full_fp64);
}  // namespace lingam_example
