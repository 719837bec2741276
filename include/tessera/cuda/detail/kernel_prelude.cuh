// SPDX-License-Identifier: Apache-2.0
// What the kernel-only headers of cuda/detail/ (*_kernels.cuh) start from. They hold kernels and
// their device helpers but no launches and no runtime calls, so that a host compiler parses them
// too: tests/cuda_emulated runs them on CPU threads, one thread per CUDA thread
// (tests/cuda_emulated/emulation.hpp defines TESSERA_CUDA_EMULATION and the CUDA names the
// kernels use before including them). Under nvcc this is cuda/config.cuh; the launches are in
// the cuda/*.cuh headers that include these.
#pragma once

#if !defined(TESSERA_CUDA_EMULATION)
#include "tessera/cuda/config.cuh"
/// Declares `name`, the block's dynamic shared memory (the launch's third parameter), as bytes
/// aligned to 16 (the emulation defines its own).
#define TESSERA_DYNAMIC_SHARED_BYTES(name) extern __shared__ __align__(16) unsigned char name[]
#endif

#include "tessera/config.hpp"
#include "tessera/core/shape.hpp"
#include "tessera/cuda/detail/kernel_namespace.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// V values of T loaded or stored as one transaction (V·sizeof(T) = 16 bytes in the maps).
template <class T, int V>
struct alignas(sizeof(T) * V) vec_pack {
  T v[V];
};

TESSERA_CUDA_NAMESPACE_END
