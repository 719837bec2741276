// SPDX-License-Identifier: Apache-2.0
// The --device cuda path of fno_deq: model.hpp's generic models, training, evaluation and step
// timing instantiated for tessera::cuda (device.cu, compiled into fno_deq when the CUDA backend
// is on).
#pragma once

#include "model.hpp"

namespace fno_deq_cuda {

/// True when a CUDA device is usable.
bool available();

/// fno_deq::train_models on the current CUDA device: trains and evaluates every model in
/// c.models (a model that fails on the device: a `MISSING` line, the others still run), filling
/// `rep` as the host run does (the phantom-vs-implicit gradient cosine included).
/// @return 0 when at least one model ran, 3 when none could (no device, or all failed).
int train_models(const fno_deq::config& c, const fno_deq::host_data& h, fno_deq::report& rep);

/// fno_deq::time_models on the current CUDA device: one `TIMING model=<key> ms_per_step=...
/// device=cuda fwd_solve_ms=... head_loss_ms=... backward_ms=... optim_ms=...` line per model
/// (wall clock with the device synchronised before and after each step; the phases from CUDA
/// events). @return 0 when at least one model was timed, 3 when none could be
/// (benchmarks/compare/fno_gpu.sh's contract).
int time_models(const fno_deq::config& c, const fno_deq::host_data& h);

}  // namespace fno_deq_cuda
