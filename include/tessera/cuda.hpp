// SPDX-License-Identifier: Apache-2.0
// Umbrella for .cu files: the host library plus tensor<T, cuda>, its ops and tessera's CUDA
// kernels and device helpers.
#pragma once

#if !defined(__CUDACC__)
#error \
    "<tessera/cuda.hpp> is for .cu files compiled by nvcc; host code includes <tessera/tessera.hpp>"
#endif

#include "tessera/tessera.hpp"

#include "tessera/cuda/cast.cuh"
#include "tessera/cuda/causal/direct_lingam.cuh"
#include "tessera/cuda/config.cuh"
#include "tessera/cuda/elementwise.cuh"
#include "tessera/cuda/graph.cuh"
#include "tessera/cuda/implicit.cuh"
#include "tessera/cuda/indexing.cuh"
#include "tessera/cuda/loss.cuh"
#include "tessera/cuda/matmul.cuh"
#include "tessera/cuda/normalization.cuh"
#include "tessera/cuda/optim.cuh"
#include "tessera/cuda/reduce.cuh"
#include "tessera/cuda/runtime.cuh"
#include "tessera/cuda/tensor.cuh"
