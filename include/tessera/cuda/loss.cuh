// SPDX-License-Identifier: Apache-2.0
// Losses on cuda tensors (the host's ops/loss.hpp): cross-entropy over class logits as one
// fused row kernel plus a deterministic mean, and mean squared error.
#pragma once

#include <limits>

#include "tessera/cuda/cast.cuh"
#include "tessera/cuda/indexing.cuh"
#include "tessera/cuda/normalization.cuh"
#include "tessera/ops/loss.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// loss[i] = logsumexp(logits[i, :]) - logits[i, target[i]] for logits (N, C) contiguous.
/// Launch: 256 threads, TPR threads per row, rows grid-strided.
template <class T, int TPR>
TESSERA_KERNEL void cross_entropy_rows(const T* __restrict__ x, const index_t* __restrict__ target,
                                       T* __restrict__ loss, index_t N, index_t C,
                                       unsigned long long* bad) {
  __shared__ typename group_reduce<T, TPR>::storage sm;
  constexpr int R = 256 / TPR;
  const int lane = threadIdx.x % TPR;
  for (index_t row = static_cast<index_t>(blockIdx.x) * R + threadIdx.x / TPR; row < N;
       row += static_cast<index_t>(gridDim.x) * R) {
    const T* p = x + row * C;
    T m = -static_cast<T>(INFINITY);
    for (index_t k = lane; k < C; k += TPR) m = greater_op{}(m, p[k]);
    m = group_reduce<T, TPR>::all(sm, m, greater_op{});
    if (!isfinite(m)) m = T(0);
    T z = T(0);
    for (index_t k = lane; k < C; k += TPR) z += std::exp(p[k] - m);
    z = group_reduce<T, TPR>::all(sm, z, plus_op{});
    if (lane == 0) {
      const index_t c = target[row];
      if (c < 0 || c >= C) {
        report_bad_index(bad, row);
        loss[row] = static_cast<T>(NAN);
      } else {
        loss[row] = (m + std::log(z)) - p[c];
      }
    }
  }
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera {

/// Mean cross-entropy of logits (N, C) against class ids (N,) in [0, C), both on cuda; a
/// rank-0 result. With index checks off an out-of-range id makes the loss NaN. 16-bit logits:
/// in float, the loss rounded once.
/// @throws tessera::invalid_argument for mismatched shapes or (checks on) an out-of-range id.
template <class T>
tensor<T, cuda> cross_entropy(const tensor<T, cuda>& logits, const tensor<index_t, cuda>& target) {
  if constexpr (cuda_detail::is_16bit_v<T>) {  // float logits (exact widening), rounded once
    return cast<T>(cross_entropy(cast<float>(logits), target));
  } else {
    if (logits.rank() != 2 || target.rank() != 1 || target.size(0) != logits.size(0))
      throw_invalid_argument("cross_entropy", "logits shape ", logits.shape().str(),
                             " and target shape ", target.shape().str(),
                             " must be (N, C) and (N,)");
    const index_t N = logits.size(0), C = logits.size(1);
    if (N == 0) return full<T, cuda>(shape_t{}, std::numeric_limits<T>::quiet_NaN());
    const tensor<T, cuda> x = logits.contiguous();
    const tensor<index_t, cuda> t = target.contiguous();
    tensor<T, cuda> loss(shape_t{N});
    const cuda_detail::index_check check;
    const cudaStream_t s = cuda_rt::current_stream();
    cuda_kernels::launch_rows_tpr(N, C, [&](auto tpr, unsigned grid) {
      cuda_kernels::cross_entropy_rows<T, decltype(tpr)::value>
          <<<grid, 256, 0, s>>>(x.data(), t.data(), loss.data(), N, C, check.slot());
    });
    check.verify("cross_entropy", t, 1, C, logits.shape());
    return mean(loss);
  }
}

/// Mean of (pred - target)² over all elements (target broadcasts to pred); in float for
/// 16-bit tensors, rounded once.
/// @throws tessera::invalid_argument when target does not broadcast to pred's shape.
template <class T>
tensor<T, cuda> mse_loss(const tensor<T, cuda>& pred, const tensor<T, cuda>& target) {
  if (!(broadcast_shapes("mse_loss", pred.shape(), target.shape()) == pred.shape()))
    throw_invalid_argument("mse_loss", "target shape ", target.shape().str(),
                           " does not broadcast to pred shape ", pred.shape().str());
  if constexpr (cuda_detail::is_16bit_v<T>)  // in float, rounded once
    return cast<T>(mean(square(sub(cast<float>(pred), cast<float>(target)))));
  else
    return mean(square(sub(pred, target)));
}

}  // namespace tessera
