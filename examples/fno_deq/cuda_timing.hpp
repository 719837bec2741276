// SPDX-License-Identifier: Apache-2.0
// The --device cuda path of fno_deq: optimiser steps of the FNO models timed on the GPU
// (cuda_timing.cu, compiled into fno_deq when the CUDA backend is on).
#pragma once

#include <cstdint>
#include <string>

#include "tessera/core/tensor.hpp"

namespace fno_deq_cuda {

/// What main.cpp hands over: the prepared host data and the run's settings.
struct request {
  tessera::tensor<float> x_train;  ///< (N, K, K) normalised inputs
  tessera::tensor<float> y_train;  ///< (N, K, K) raw targets (the training observations)
  tessera::tensor<float> y_mean;   ///< (K, K) target normaliser: mean
  tessera::tensor<float> y_scale;  ///< (K, K) target normaliser: std + eps
  tessera::index_t width = 32, modes = 12, pad = 9, batch = 32;
  int wt_unroll = 12, solver_iters = 24, time_steps = 30, time_warmup = 5;
  double lr = 1e-3;
  std::uint64_t seed = 0;
  std::string models;  ///< comma-separated keys: fno, fno++, wt, deq, deq-ift
};

/// Times request.time_steps Adam steps (after time_warmup untimed ones) of every model in
/// request.models on the current CUDA device, as main.cpp's time_model does on the host, and
/// prints one `TIMING model=<key> ms_per_step=... min=... max=... cpu_ms_per_step=... steps=...
/// params=... device=cuda` line per model (wall clock, the device synchronised before and after
/// each step); deq runs in solver mode (Anderson, phantom gradient). A model that fails on the
/// device, or has no device path (deq-ift), gets a `MISSING model=<key> reason=...` line on
/// stderr.
/// @return 0 when at least one model was timed, 3 when none could be (fno_gpu.sh's contract).
int time_models(const request& r);

}  // namespace fno_deq_cuda
