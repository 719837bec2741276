// SPDX-License-Identifier: Apache-2.0
// Element-type conversion of cuda tensors: float, double, __nv_bfloat16 and __half (the 16-bit
// storage types of matmul-heavy paths: keep weights and activations in bf16 or half, multiply
// them with matmul on tensor cores with FP32 accumulation, convert back where precision
// matters). Rounding to the 16-bit types is to nearest even; widening is exact.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "tessera/cuda/tensor.cuh"

TESSERA_CUDA_NAMESPACE_BEGIN

/// v converted to U (round to nearest even when narrowing).
template <class U, class T>
__device__ __forceinline__ U convert_to(T v) {
  if constexpr (std::is_same_v<U, T>) {
    return v;
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return convert_to<U>(__bfloat162float(v));  // exact
  } else if constexpr (std::is_same_v<T, __half>) {
    return convert_to<U>(__half2float(v));  // exact
  } else if constexpr (std::is_same_v<U, __nv_bfloat16>) {
    if constexpr (std::is_same_v<T, double>)
      return __double2bfloat16(v);
    else
      return __float2bfloat16_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<U, __half>) {
    if constexpr (std::is_same_v<T, double>)
      return __double2half(v);
    else
      return __float2half_rn(static_cast<float>(v));
  } else {
    return static_cast<U>(v);
  }
}

/// y[i] = convert_to<U>(x[i]) for n contiguous elements.
template <class U, class T>
TESSERA_KERNEL void convert_elements(const T* __restrict__ x, U* __restrict__ y, index_t n) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = convert_to<U>(x[i]);
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera {

namespace cuda_detail {
template <class T>
inline constexpr bool castable_v = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                   std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>;
}  // namespace cuda_detail

/// x with its elements converted to U, as a new contiguous tensor of x's shape (x itself when U
/// is its type). Between float, double, __nv_bfloat16 and __half; narrowing rounds to nearest
/// even (values beyond the 16-bit types' range become ±inf), widening is exact.
template <class U, class T>
tensor<U, cuda> cast(const tensor<T, cuda>& x) {
  static_assert(cuda_detail::castable_v<U> && cuda_detail::castable_v<T>,
                "cast converts between float, double, __nv_bfloat16 and __half");
  if constexpr (std::is_same_v<U, T>) {
    return x;
  } else {
    tessera::detail::require_defined("cast", "the input", x);
    const tensor<T, cuda> xc = x.contiguous();
    tensor<U, cuda> y(x.shape());
    if (y.numel() == 0) return y;
    cuda_kernels::convert_elements<U, T>
        <<<cuda_rt::grid_for(y.numel()), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
            xc.data(), y.data(), y.numel());
    TESSERA_CUDA_CHECK_LAUNCH();
    return y;
  }
}

}  // namespace tessera
