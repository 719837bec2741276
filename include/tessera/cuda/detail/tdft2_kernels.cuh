// SPDX-License-Identifier: Apache-2.0
// The fused truncated 2-D DFT kernels of spectral_conv2d on cuda (cuda/spectral.cuh launches
// them; their phases are spectral/dft_blocks.hpp's host-device functions). Kernel-only
// (detail/kernel_prelude.cuh): tests/cuda_emulated runs them on CPU threads.
#pragma once

#include "tessera/cuda/detail/kernel_prelude.cuh"
#include "tessera/spectral/dft_blocks.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// The fused forward truncated 2-D DFT (spectral/dft_blocks.hpp): block b takes slices b,
/// b + gridDim.x, ... of x (slices, H, W) to their kept modes in out (2·m2, m1, slices, 2).
/// Dynamic shared memory: g.forward_smem() values.
template <class T>
TESSERA_KERNEL void tdft2_forward_kernel(spectral::detail::tdft2_geometry g,
                                         const T* __restrict__ x, const T* __restrict__ f1t,
                                         const T* __restrict__ tw_hr, T* __restrict__ out) {
  TESSERA_DYNAMIC_SHARED_BYTES(tdft2_smem);
  T* sm = reinterpret_cast<T*>(tdft2_smem);
  const int tid = static_cast<int>(threadIdx.x), nt = static_cast<int>(blockDim.x);
  const index_t slice = index_t{g.H} * g.W;
  for (index_t s = blockIdx.x; s < g.slices; s += gridDim.x) {
    spectral::detail::tdft2_fwd_stage(g, tid, nt, sm, x + s * slice);
    __syncthreads();
    spectral::detail::tdft2_fwd_w(g, tid, nt, sm, f1t);
    __syncthreads();
    // The next slice's staging writes only the input rows, which this phase does not read; its
    // W stage, which overwrites the rows read here, comes after the next barrier.
    spectral::detail::tdft2_fwd_h(g, tid, nt, sm, tw_hr, out, s);
  }
}

/// The fused inverse: block b takes the modes of slices b, b + gridDim.x, ... from y (2·m2, m1,
/// slices, 2) to out (slices, H, W); with Gelu, gelu(value + bias) instead (`bias`: one value
/// per channel, slice s being channel s % channels). Dynamic shared memory: g.inverse_smem()
/// values.
template <class T, bool Gelu>
TESSERA_KERNEL void tdft2_inverse_kernel(spectral::detail::tdft2_geometry g,
                                         const T* __restrict__ y, const T* __restrict__ tw_rh,
                                         const T* __restrict__ finv, T* __restrict__ out,
                                         const T* __restrict__ bias, index_t channels) {
  TESSERA_DYNAMIC_SHARED_BYTES(tdft2_smem);
  T* sm = reinterpret_cast<T*>(tdft2_smem);
  const int tid = static_cast<int>(threadIdx.x), nt = static_cast<int>(blockDim.x);
  const index_t slice = index_t{g.H} * g.W;
  for (index_t s = blockIdx.x; s < g.slices; s += gridDim.x) {
    spectral::detail::tdft2_inv_stage(g, tid, nt, sm, y, s);
    __syncthreads();
    spectral::detail::tdft2_inv_h(g, tid, nt, sm, tw_rh);
    __syncthreads();
    // The next slice's staging overwrites only the modes, read by the phase before the barrier
    // above; its H stage, which overwrites the rows read here, comes after the next barrier.
    spectral::detail::tdft2_inv_w<T, Gelu>(g, tid, nt, sm, finv, out + s * slice,
                                           Gelu ? bias + s % channels : nullptr);
  }
}

TESSERA_CUDA_NAMESPACE_END
