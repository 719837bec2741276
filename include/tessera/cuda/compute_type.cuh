// SPDX-License-Identifier: Apache-2.0
// The arithmetic type of cuda kernels per element type: 16-bit storage (__nv_bfloat16, __half)
// is widened to float on load, computed on in float and rounded once on store (as PyTorch
// does); float and double compute in their own type. The conversions every kernel uses.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "tessera/cuda/config.cuh"

namespace tessera {

namespace cuda_detail {
/// True for the 16-bit storage types of cuda tensors (__nv_bfloat16, __half).
template <class T>
inline constexpr bool is_16bit_v = std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>;

template <class T>
struct compute_type {
  using type = T;
};
template <>
struct compute_type<__nv_bfloat16> {
  using type = float;
};
template <>
struct compute_type<__half> {
  using type = float;
};
}  // namespace cuda_detail

/// The type cuda kernels compute in for elements of type T: float for __nv_bfloat16 and
/// __half, T itself otherwise. The scalar parameters of cuda ops on T tensors have this type.
template <class T>
using cuda_compute_t = typename cuda_detail::compute_type<T>::type;

}  // namespace tessera

TESSERA_CUDA_NAMESPACE_BEGIN

/// v in the compute type: exact widening for the 16-bit types, v itself otherwise.
template <class T>
__host__ __device__ __forceinline__ cuda_compute_t<T> to_compute(T v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __bfloat162float(v);
  else if constexpr (std::is_same_v<T, __half>)
    return __half2float(v);
  else
    return v;
}

/// v stored as T: rounded to nearest even from float for the 16-bit types; a value already of
/// type T (the functors that work on storage, such as copies and fills) is returned as is.
template <class T, class C>
__host__ __device__ __forceinline__ T to_storage(C v) {
  if constexpr (std::is_same_v<C, T>)
    return v;
  else if constexpr (cuda_detail::is_16bit_v<T>) {
    static_assert(std::is_same_v<C, float>, "16-bit values are rounded from float only");
    if constexpr (std::is_same_v<T, __nv_bfloat16>)
      return __float2bfloat16_rn(v);
    else
      return __float2half_rn(v);
  } else {
    return static_cast<T>(v);
  }
}

TESSERA_CUDA_NAMESPACE_END
