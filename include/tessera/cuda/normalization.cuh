// SPDX-License-Identifier: Apache-2.0
// Fused row kernels on cuda tensors: softmax / log-softmax along an axis, layer norm and RMS
// norm over the last axis (the host's ops/normalization.hpp semantics). Rows of up to 1024
// elements: one warp per row, the row held in registers (VPL values per lane), so it is read
// once and written once. Longer rows: one 256-thread block per row, read twice (statistics, then
// the output pass) and written once. __nv_bfloat16/__half rows are widened to float on load,
// with every statistic in float, and rounded once on store.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "tessera/cuda/reduce.cuh"
#include "tessera/ops/normalization.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// Largest of two values, ignoring NaN in v (the host's `v > m ? v : m` scan).
struct greater_op {
  template <class T>
  __device__ __forceinline__ T operator()(const T& a, const T& v) const {
    return v > a ? v : a;
  }
};

/// Row r of x (M, D) contiguous → softmax (or log-softmax) of the row into y (M, D), in the
/// compute type C. Launch: 256 threads, TPR threads per row, rows grid-strided.
template <class T, int TPR, bool Log>
TESSERA_KERNEL void softmax_rows(const T* __restrict__ x, T* __restrict__ y, index_t M, index_t D) {
  using C = cuda_compute_t<T>;
  __shared__ typename group_reduce<C, TPR>::storage sm;
  constexpr int R = 256 / TPR;
  const int lane = threadIdx.x % TPR;
  for (index_t row = static_cast<index_t>(blockIdx.x) * R + threadIdx.x / TPR; row < M;
       row += static_cast<index_t>(gridDim.x) * R) {
    const T* p = x + row * D;
    T* q = y + row * D;
    C m = -static_cast<C>(INFINITY);
    for (index_t k = lane; k < D; k += TPR) m = greater_op{}(m, to_compute(p[k]));
    m = group_reduce<C, TPR>::all(sm, m, greater_op{});
    if (!isfinite(m)) m = C(0);
    C z = C(0);
    for (index_t k = lane; k < D; k += TPR) z += std::exp(to_compute(p[k]) - m);
    z = group_reduce<C, TPR>::all(sm, z, plus_op{});
    if constexpr (Log) {
      const C lz = m + std::log(z);
      for (index_t k = lane; k < D; k += TPR) q[k] = to_storage<T>(to_compute(p[k]) - lz);
    } else {
      const C inv = C(1) / z;
      for (index_t k = lane; k < D; k += TPR)
        q[k] = to_storage<T>(std::exp(to_compute(p[k]) - m) * inv);
    }
  }
}

/// 16-byte vectors of T, for the full-row loads of the register-held row kernels.
template <class T>
struct vec16;
template <>
struct vec16<float> {
  using type = float4;
};
template <>
struct vec16<double> {
  using type = double2;
};
template <>
struct vec16<__nv_bfloat16> {
  using type = uint4;
};
template <>
struct vec16<__half> {
  using type = uint4;
};

/// Loads row p (length D <= 32·VPL) into the warp's registers v in the compute type C, pad
/// beyond D. With `vec` (D == 32·VPL, VPL a multiple of the W = 16 / sizeof(T) elements of a
/// vector, and p 16-byte aligned: rows_vectorisable) lane l loads 16-byte vectors l, l + 32, …;
/// otherwise elements l, l + 32, …. All loads are issued before any value is used.
template <class T, int VPL, class C>
__device__ __forceinline__ void load_row(const T* __restrict__ p, index_t D, int lane, bool vec,
                                         C pad, C (&v)[VPL]) {
  constexpr int W = 16 / static_cast<int>(sizeof(T));
  if constexpr (VPL % W == 0) {
    if (vec) {
      using V = typename vec16<T>::type;
#pragma unroll
      for (int c = 0; c < VPL / W; ++c) {
        const V x = reinterpret_cast<const V*>(p)[c * 32 + lane];
        const T* e = reinterpret_cast<const T*>(&x);
#pragma unroll
        for (int w = 0; w < W; ++w) v[c * W + w] = to_compute(e[w]);
      }
      return;
    }
  }
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const index_t k = lane + 32 * j;
    v[j] = k < D ? to_compute(p[k]) : pad;
  }
}

/// Stores the warp's registers v back to row q with load_row's layout (elements < D only),
/// each rounded once to T.
template <class T, int VPL, class C>
__device__ __forceinline__ void store_row(T* __restrict__ q, index_t D, int lane, bool vec,
                                          const C (&v)[VPL]) {
  constexpr int W = 16 / static_cast<int>(sizeof(T));
  if constexpr (VPL % W == 0) {
    if (vec) {
      using V = typename vec16<T>::type;
#pragma unroll
      for (int c = 0; c < VPL / W; ++c) {
        V x;
        T* e = reinterpret_cast<T*>(&x);
#pragma unroll
        for (int w = 0; w < W; ++w) e[w] = to_storage<T>(v[c * W + w]);
        reinterpret_cast<V*>(q)[c * 32 + lane] = x;
      }
      return;
    }
  }
#pragma unroll
  for (int j = 0; j < VPL; ++j)
    if (lane + 32 * j < D) q[lane + 32 * j] = to_storage<T>(v[j]);
}

/// The element of a row that register slot j of `lane` holds in load_row's layout.
template <class T>
__device__ __forceinline__ index_t row_index(int j, int lane, bool vec) {
  constexpr int W = 16 / static_cast<int>(sizeof(T));
  return vec ? static_cast<index_t>((j / W) * 32 + lane) * W + j % W
             : static_cast<index_t>(lane) + 32 * static_cast<index_t>(j);
}

/// Whether rows of length D of x and y can use load_row's vector path for VPL values per lane
/// (VPL a multiple of the 16 / sizeof(T) elements of a vector: not VPL = 4 for 16-bit T).
template <class T>
bool rows_vectorisable(const T* x, const T* y, index_t D, int vpl) {
  return D == 32 * static_cast<index_t>(vpl) && vpl % (16 / static_cast<int>(sizeof(T))) == 0 &&
         reinterpret_cast<std::uintptr_t>(x) % 16 == 0 &&
         reinterpret_cast<std::uintptr_t>(y) % 16 == 0;
}

/// Row r of x (M, D) contiguous, D <= 32·VPL → softmax (or log-softmax) of the row into y, the
/// row held in registers (load_row): one read, one write. Launch: 256 threads (8 rows per
/// block), rows grid-strided.
template <class T, int VPL, bool Log>
TESSERA_KERNEL void softmax_rows_reg(const T* __restrict__ x, T* __restrict__ y, index_t M,
                                     index_t D, bool vec) {
  using C = cuda_compute_t<T>;
  __shared__ typename group_reduce<C, 32>::storage sm;
  const int lane = threadIdx.x % 32;
  for (index_t row = static_cast<index_t>(blockIdx.x) * 8 + threadIdx.x / 32; row < M;
       row += static_cast<index_t>(gridDim.x) * 8) {
    C v[VPL];
    load_row(x + row * D, D, lane, vec, -static_cast<C>(INFINITY), v);
    C m = -static_cast<C>(INFINITY);
#pragma unroll
    for (int j = 0; j < VPL; ++j) m = greater_op{}(m, v[j]);
    m = group_reduce<C, 32>::all(sm, m, greater_op{});
    if (!isfinite(m)) m = C(0);
    C z = C(0);
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      if constexpr (Log) {
        z += std::exp(v[j] - m);  // padding: exp(-inf) = 0
      } else {
        v[j] = std::exp(v[j] - m);
        z += v[j];
      }
    }
    z = group_reduce<C, 32>::all(sm, z, plus_op{});
    if constexpr (Log) {
      const C lz = m + std::log(z);
#pragma unroll
      for (int j = 0; j < VPL; ++j) v[j] -= lz;
    } else {
      const C inv = C(1) / z;
#pragma unroll
      for (int j = 0; j < VPL; ++j) v[j] *= inv;
    }
    store_row(y + row * D, D, lane, vec, v);
  }
}

/// Layer norm (RMS = false) or RMS norm (RMS = true) of rows of at most 32·VPL elements, each
/// held in registers by one warp (as softmax_rows_reg) in the compute type C; w and b (D,)
/// contiguous or null.
template <class T, int VPL, bool RMS>
TESSERA_KERNEL void norm_rows_reg(const T* __restrict__ x, T* __restrict__ y,
                                  const T* __restrict__ w, const T* __restrict__ b, index_t M,
                                  index_t D, cuda_compute_t<T> eps, bool vec) {
  using C = cuda_compute_t<T>;
  __shared__ typename group_reduce<C, 32>::storage sm;
  const int lane = threadIdx.x % 32;
  const C n = static_cast<C>(D);
  for (index_t row = static_cast<index_t>(blockIdx.x) * 8 + threadIdx.x / 32; row < M;
       row += static_cast<index_t>(gridDim.x) * 8) {
    C v[VPL];
    load_row(x + row * D, D, lane, vec, C(0), v);
    C mu = C(0);
    if constexpr (!RMS) {
#pragma unroll
      for (int j = 0; j < VPL; ++j) mu += v[j];
      mu = group_reduce<C, 32>::all(sm, mu, plus_op{}) / n;
    }
    C ss = C(0);
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      const C c = v[j] - mu;
      v[j] = c;
      if (vec || lane + 32 * j < D) ss += c * c;  // padding is 0, but 0 - mu is not
    }
    ss = group_reduce<C, 32>::all(sm, ss, plus_op{});
    const C r = C(1) / std::sqrt(ss / n + eps);
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      // w and b are read by every row: cached, and only where the slot holds an element.
      C o = v[j] * r;
      const index_t k = row_index<T>(j, lane, vec);
      if (k < D) {
        if (w != nullptr) o *= to_compute(w[k]);
        if (b != nullptr) o += to_compute(b[k]);
      }
      v[j] = o;
    }
    store_row(y + row * D, D, lane, vec, v);
  }
}

/// Layer norm (RMS = false) or RMS norm (RMS = true) of each row of x (M, D) contiguous into
/// y, in the compute type C; w and b (D,) contiguous or null. Launch: 256 threads, TPR
/// threads per row.
template <class T, int TPR, bool RMS>
TESSERA_KERNEL void norm_rows(const T* __restrict__ x, T* __restrict__ y, const T* __restrict__ w,
                              const T* __restrict__ b, index_t M, index_t D,
                              cuda_compute_t<T> eps) {
  using C = cuda_compute_t<T>;
  __shared__ typename group_reduce<C, TPR>::storage sm;
  constexpr int R = 256 / TPR;
  const int lane = threadIdx.x % TPR;
  const C n = static_cast<C>(D);
  for (index_t row = static_cast<index_t>(blockIdx.x) * R + threadIdx.x / TPR; row < M;
       row += static_cast<index_t>(gridDim.x) * R) {
    const T* p = x + row * D;
    T* q = y + row * D;
    C mu = C(0);
    if constexpr (!RMS) {
      for (index_t k = lane; k < D; k += TPR) mu += to_compute(p[k]);
      mu = group_reduce<C, TPR>::all(sm, mu, plus_op{}) / n;
    }
    C ss = C(0);
    for (index_t k = lane; k < D; k += TPR) ss += (to_compute(p[k]) - mu) * (to_compute(p[k]) - mu);
    ss = group_reduce<C, TPR>::all(sm, ss, plus_op{});
    const C r = C(1) / std::sqrt(ss / n + eps);
    for (index_t k = lane; k < D; k += TPR) {
      C v = (to_compute(p[k]) - mu) * r;
      if (w != nullptr) v *= to_compute(w[k]);
      if (b != nullptr) v += to_compute(b[k]);
      q[k] = to_storage<T>(v);
    }
  }
}

/// Launches a row kernel templated on threads per row over M rows of length D: a warp per row
/// up to 1024, else a block.
template <class Launch>
void launch_rows_tpr(index_t M, index_t D, Launch&& launch) {
  if (M == 0) return;
  if (D <= 1024)
    launch(std::integral_constant<int, 32>{}, cuda_rt::grid_for(M * 32));
  else
    launch(std::integral_constant<int, 256>{}, cuda_rt::grid_for(M * 256));
  TESSERA_CUDA_CHECK_LAUNCH();
}

/// Launches a row kernel over M rows of length D: for D <= 1024 `reg(vpl, grid)` with a warp
/// per row holding vpl (4, 8, 16 or 32) values per lane, else `block(grid)` with a block per row.
template <class Reg, class Block>
void launch_rows(index_t M, index_t D, Reg&& reg, Block&& block) {
  if (M == 0) return;
  const unsigned warps = cuda_rt::grid_for(M * 32);
  if (D <= 128)
    reg(std::integral_constant<int, 4>{}, warps);
  else if (D <= 256)
    reg(std::integral_constant<int, 8>{}, warps);
  else if (D <= 512)
    reg(std::integral_constant<int, 16>{}, warps);
  else if (D <= 1024)
    reg(std::integral_constant<int, 32>{}, warps);
  else
    block(cuda_rt::grid_for(M * 256));
  TESSERA_CUDA_CHECK_LAUNCH();
}

/// Layer norm (RMS = false) or RMS norm (RMS = true) of the rows of x over its last axis, with
/// weight and bias (D,) when defined (arguments already checked by the caller).
template <class T, bool RMS>
tensor<T, cuda> normalize_rows(const tensor<T, cuda>& x, const tensor<T, cuda>& weight,
                               const tensor<T, cuda>& bias, cuda_compute_t<T> eps) {
  const index_t D = x.size(-1), M = D > 0 ? x.numel() / D : 0;
  const tensor<T, cuda> xc = x.contiguous();
  const tensor<T, cuda> w = weight.defined() ? weight.contiguous() : weight;
  const tensor<T, cuda> b = bias.defined() ? bias.contiguous() : bias;
  tensor<T, cuda> y(x.shape());
  const cudaStream_t s = cuda_rt::current_stream();
  const T* wp = w.defined() ? w.data() : nullptr;
  const T* bp = b.defined() ? b.data() : nullptr;
  launch_rows(
      M, D,
      [&](auto vpl, unsigned grid) {
        constexpr int V = decltype(vpl)::value;
        norm_rows_reg<T, V, RMS><<<grid, 256, 0, s>>>(xc.data(), y.data(), wp, bp, M, D, eps,
                                                      rows_vectorisable(xc.data(), y.data(), D, V));
      },
      [&](unsigned grid) {
        norm_rows<T, 256, RMS><<<grid, 256, 0, s>>>(xc.data(), y.data(), wp, bp, M, D, eps);
      });
  return y;
}

/// softmax / log_softmax along axis a: the axis is moved last (a copy unless it already is
/// and x is contiguous), rows are processed, and the result is laid out as x again.
template <class T, bool Log>
tensor<T, cuda> softmax_along(const tensor<T, cuda>& x, int a) {
  const int last = x.rank() - 1;
  const tensor<T, cuda> xl = (a == last ? x : x.transpose(a, last)).contiguous();
  tensor<T, cuda> y(xl.shape());
  const index_t D = xl.shape()[last], M = D > 0 ? xl.numel() / D : 0;
  const cudaStream_t s = cuda_rt::current_stream();
  launch_rows(
      M, D,
      [&](auto vpl, unsigned grid) {
        constexpr int V = decltype(vpl)::value;
        softmax_rows_reg<T, V, Log><<<grid, 256, 0, s>>>(
            xl.data(), y.data(), M, D, rows_vectorisable(xl.data(), y.data(), D, V));
      },
      [&](unsigned grid) {
        softmax_rows<T, 256, Log><<<grid, 256, 0, s>>>(xl.data(), y.data(), M, D);
      });
  if (a == last) return y;
  return y.transpose(a, last).contiguous();
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera {

/// exp(x) / Σ exp(x) along `axis` (max subtracted first), one fused kernel.
template <class T>
tensor<T, cuda> softmax(const tensor<T, cuda>& x, int axis = -1) {
  return cuda_kernels::softmax_along<T, false>(x, normalize_axis("softmax", axis, x.rank()));
}

/// x - log Σ exp(x) along `axis`, one fused kernel.
template <class T>
tensor<T, cuda> log_softmax(const tensor<T, cuda>& x, int axis = -1) {
  return cuda_kernels::softmax_along<T, true>(x, normalize_axis("log_softmax", axis, x.rank()));
}

/// Layer normalisation over the last axis, (x - mean)/√(var + eps)·weight + bias; weight and
/// bias (D,) may be undefined. One fused kernel.
/// @throws tessera::invalid_argument when weight/bias shapes differ from (D,) or eps < 0.
template <class T>
tensor<T, cuda> layer_norm(const tensor<T, cuda>& x, const tensor<T, cuda>& weight,
                           const tensor<T, cuda>& bias, cuda_compute_t<T> eps = 1e-5) {
  if (x.rank() == 0) throw_invalid_argument("layer_norm", "x must have rank at least 1");
  const index_t D = x.size(-1);
  for (const tensor<T, cuda>* p : {&weight, &bias})
    if (p->defined() && !(p->shape() == shape_t{D}))
      throw_invalid_argument("layer_norm", "weight/bias shape ", p->shape().str(), " must be (", D,
                             ") for x of shape ", x.shape().str());
  if (!(eps >= 0)) throw_invalid_argument("layer_norm", "eps ", eps, " must be >= 0");
  return cuda_kernels::normalize_rows<T, false>(x, weight, bias, eps);
}

/// RMS normalisation over the last axis, x/√(mean(x²) + eps)·weight (weight optional).
/// @throws tessera::invalid_argument when the weight shape differs from (D,) or eps < 0.
template <class T>
tensor<T, cuda> rms_norm(const tensor<T, cuda>& x, const tensor<T, cuda>& weight,
                         cuda_compute_t<T> eps = 1e-6) {
  if (x.rank() == 0) throw_invalid_argument("rms_norm", "x must have rank at least 1");
  const index_t D = x.size(-1);
  if (weight.defined() && !(weight.shape() == shape_t{D}))
    throw_invalid_argument("rms_norm", "weight shape ", weight.shape().str(), " must be (", D,
                           ") for x of shape ", x.shape().str());
  if (!(eps >= 0)) throw_invalid_argument("rms_norm", "eps ", eps, " must be >= 0");
  return cuda_kernels::normalize_rows<T, true>(x, weight, tensor<T, cuda>(), eps);
}

}  // namespace tessera
