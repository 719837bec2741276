#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tessera's CUDA benchmarks against PyTorch on the same GPU, in one run: builds
# bench_cuda_ops (build/device, as scripts/device-check; .device-deps/prefix is used when
# present), runs it with REPS repetitions (median), then benchmarks/compare/torch_gpu.py times
# the same cases in PyTorch and prints
#   RESULT case=<name> tessera=<ms> torch=<ms> unit=ms ratio=<tessera/torch>
# for mlp_train_step (and, against the same eager PyTorch step, mlp_train_step_graph,
# mlp_train_step_tape: the step written with the tape and optim::adam, and
# mlp_train_step_tape_graph: that step captured), small_ops_fwd (200 chained
# elementwise ops on 16 elements, no grad on either side), small_ops_fwd_bwd (the same chain
# with the tape / autograd and a backward pass), matmul_4096_tf32 (and its _gemmex and _autotune
# variants), matmul_4096_bf16 (PyTorch:
# bf16 autocast), softmax_rows and rfft2_irfft2_94 (rfft2 then irfft2 of (32, 32, 94, 94)
# floats: cuFFT on both sides), followed by TFLOP/s and GB/s.
# Both sides run REPS repetitions of MIN_TIME seconds of GPU time per case (median of the
# repetitions' means), so the card works as long on each side (see torch_gpu.py).
#   benchmarks/compare/torch_gpu.sh  (env: REPS [10], MIN_TIME [0.5], BUILD [build/device], SKIP_BUILD)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build/device}
REPS=${REPS:-10}
MIN_TIME=${MIN_TIME:-0.5}
if [[ -z ${SKIP_BUILD:-} ]]; then
  prefix=()
  [[ -d .device-deps/prefix ]] && prefix=("-DCMAKE_PREFIX_PATH=$PWD/.device-deps/prefix")
  cmake -S . -B "$BUILD" -G Ninja "${prefix[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DTESSERA_WITH_CUDA=ON -DTESSERA_BUILD_BENCHMARKS=ON -DTESSERA_BUILD_EXAMPLES=OFF \
    -DTESSERA_BUILD_HEADER_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target bench_cuda_ops
fi
out=$(mktemp --suffix=.json)
trap 'rm -f "$out"' EXIT
"$BUILD/benchmarks/bench_cuda_ops" --benchmark_repetitions="$REPS" --benchmark_min_time="$MIN_TIME" \
  --benchmark_report_aggregates_only=true --benchmark_out="$out" --benchmark_out_format=json
REPS=$REPS MIN_TIME=$MIN_TIME python3 benchmarks/compare/torch_gpu.py "$out"
