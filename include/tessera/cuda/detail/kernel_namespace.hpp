// SPDX-License-Identifier: Apache-2.0
// The namespace tessera's kernels live in, for cuda/config.cuh and for the kernel-only headers
// of cuda/detail/ when a host test runs them on threads (kernel_prelude.cuh).
#pragma once

/// Kernels are hidden and versioned so two libraries built with different tessera versions or
/// flags never share a kernel symbol (CCCL's convention).
#define TESSERA_CUDA_NAMESPACE_BEGIN \
  namespace tessera::cuda_kernels {  \
  inline namespace v0_1 {
#define TESSERA_CUDA_NAMESPACE_END \
  }                                \
  }
