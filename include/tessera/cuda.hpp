// SPDX-License-Identifier: Apache-2.0
// Umbrella for .cu files: the host library plus tessera's CUDA kernels and device helpers.
#pragma once

#if !defined(__CUDACC__)
#error \
    "<tessera/cuda.hpp> is for .cu files compiled by nvcc; host code includes <tessera/tessera.hpp>"
#endif

#include "tessera/cuda/causal/direct_lingam.cuh"
#include "tessera/cuda/config.cuh"
