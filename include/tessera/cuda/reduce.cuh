// SPDX-License-Identifier: Apache-2.0
// Reductions on cuda tensors with the host's semantics (ops/reduce.hpp): sum, mean, var, max,
// min, argmax, logsumexp, norms, sum_to, all_finite. Rows reduce with CUB's warp/block
// primitives, columns with a tiled kernel, whole tensors with cub::DeviceReduce. Every order is
// fixed by the shapes, so results are run-to-run deterministic. sum, mean, max, min and sum_to
// also take __nv_bfloat16/__half tensors: float accumulation, one rounding of each result.
#pragma once

#include <cub/block/block_reduce.cuh>
#include <cub/device/device_reduce.cuh>
#include <cub/warp/warp_reduce.cuh>

#include <limits>

#include "tessera/cuda/cast.cuh"
#include "tessera/cuda/elementwise.cuh"
#include "tessera/ops/reduce.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// Reduction of one value per thread over groups of TPR consecutive threads of a 256-thread
/// block (TPR = 32: a warp per group; TPR = 256: the block), the result returned to every
/// thread of the group. With TPR = 256 every thread of the block must call it.
template <class T, int TPR>
struct group_reduce {
  static_assert(TPR == 32 || TPR == 256, "groups are a warp or the whole block");
  using warp_t = cub::WarpReduce<T>;
  using block_t = cub::BlockReduce<T, 256>;
  struct storage {
    union {
      typename warp_t::TempStorage warp[256 / 32];
      typename block_t::TempStorage block;
    } u;
    T result;
  };

  template <class Op>
  __device__ __forceinline__ static T all(storage& s, T v, Op op) {
    if constexpr (TPR == 32) {
      const T r = warp_t(s.u.warp[threadIdx.x / 32]).Reduce(v, op);  // valid in lane 0
      return cub::ShuffleIndex<32>(r, 0, 0xffffffffu);
    } else {
      const T r = block_t(s.u.block).Reduce(v, op);  // valid in thread 0
      if (threadIdx.x == 0) s.result = r;
      __syncthreads();
      const T out = s.result;
      __syncthreads();  // the storage may be reused right after
      return out;
    }
  }
};

struct plus_op {
  template <class T>
  __device__ __forceinline__ T operator()(const T& a, const T& b) const {
    return a + b;
  }
};
/// max with NaN propagation (the host's rule: a NaN anywhere gives NaN).
struct max_op {
  template <class T>
  __device__ __forceinline__ T operator()(const T& a, const T& v) const {
    return (v > a || isnan(v)) && !isnan(a) ? v : a;
  }
};
struct min_op {
  template <class T>
  __device__ __forceinline__ T operator()(const T& a, const T& v) const {
    return (v < a || isnan(v)) && !isnan(a) ? v : a;
  }
};
struct finite_map {
  template <class T>
  __device__ __forceinline__ T operator()(T v) const {
    return isfinite(v) ? T(0) : T(1);
  }
};

/// out[m] = combine over k of map(x[m·K + k]), accumulated in the compute type (float for the
/// 16-bit types, rounded once on store). Launch: 256 threads, TPR threads per row, rows
/// grid-strided; x (M, K) contiguous.
template <class T, int TPR, class Map, class Combine>
TESSERA_KERNEL void reduce_rows(const T* __restrict__ x, T* __restrict__ out, index_t M, index_t K,
                                cuda_compute_t<T> identity, Map map, Combine combine) {
  using C = cuda_compute_t<T>;
  __shared__ typename group_reduce<C, TPR>::storage sm;
  constexpr int R = 256 / TPR;
  const int lane = threadIdx.x % TPR;
  for (index_t row = static_cast<index_t>(blockIdx.x) * R + threadIdx.x / TPR; row < M;
       row += static_cast<index_t>(gridDim.x) * R) {
    const T* p = x + row * K;
    C acc = identity;
    for (index_t k = lane; k < K; k += TPR) acc = combine(acc, map(to_compute(p[k])));
    acc = group_reduce<C, TPR>::all(sm, acc, combine);
    if (lane == 0) out[row] = to_storage<T>(acc);
  }
}

/// out[j] = combine over i of map(x[i·M + j]) for x (K, M) contiguous. Launch: block (32, 8),
/// grid ceil(M / 32): each block owns 32 adjacent columns (coalesced reads), its 8 rows of
/// threads stride over K, then combine their partials in shared memory in a fixed order.
/// Accumulates in the compute type, as reduce_rows.
template <class T, class Map, class Combine>
TESSERA_KERNEL void reduce_cols(const T* __restrict__ x, T* __restrict__ out, index_t K, index_t M,
                                cuda_compute_t<T> identity, Map map, Combine combine) {
  using C = cuda_compute_t<T>;
  __shared__ C part[8][33];
  const index_t j = static_cast<index_t>(blockIdx.x) * 32 + threadIdx.x;
  C acc = identity;
  if (j < M)
    for (index_t i = threadIdx.y; i < K; i += 8) acc = combine(acc, map(to_compute(x[i * M + j])));
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < M) {
    C r = part[0][threadIdx.x];
#pragma unroll
    for (int y = 1; y < 8; ++y) r = combine(r, part[y][threadIdx.x]);
    out[j] = to_storage<T>(r);
  }
}

/// (value, index) for argmax; the combine prefers NaN, then the larger value, then the lower
/// index, which is associative and gives the host's "first maximum (first NaN)".
template <class T>
struct value_index {
  T v;
  index_t i;
};
struct argmax_op {
  template <class T>
  __device__ __forceinline__ value_index<T> operator()(const value_index<T>& a,
                                                       const value_index<T>& b) const {
    const bool na = isnan(a.v), nb = isnan(b.v);
    if (na != nb) return na ? a : b;
    if (!na && a.v != b.v) return a.v > b.v ? a : b;
    return a.i <= b.i ? a : b;
  }
};

/// out[m] = index of the first maximum of row m of x (M, K) contiguous, K >= 1.
/// Launch: 256 threads, TPR threads per row, rows grid-strided.
template <class T, int TPR>
TESSERA_KERNEL void argmax_rows(const T* __restrict__ x, index_t* __restrict__ out, index_t M,
                                index_t K) {
  using vi = value_index<T>;
  __shared__ typename group_reduce<vi, TPR>::storage sm;
  constexpr int R = 256 / TPR;
  const int lane = threadIdx.x % TPR;
  for (index_t row = static_cast<index_t>(blockIdx.x) * R + threadIdx.x / TPR; row < M;
       row += static_cast<index_t>(gridDim.x) * R) {
    const T* p = x + row * K;
    // Lanes past K start from element 0, which never beats the true answer.
    vi acc{p[0], 0};
    for (index_t k = lane; k < K; k += TPR) acc = argmax_op{}(acc, vi{p[k], k});
    acc = group_reduce<vi, TPR>::all(sm, acc, argmax_op{});
    if (lane == 0) out[row] = acc.i;
  }
}

/// map applied to the widened value of a 16-bit element (CUB's transform for whole-tensor
/// reductions; CUB then accumulates in map's result type, float, and rounds once on store).
template <class Map>
struct widened_map {
  Map map;
  // The result type spelled out: CUB takes it for its accumulator on the host, where the
  // deduced type of a __device__ function is not available.
  template <class T>
  __device__ __forceinline__ auto operator()(T v) const -> decltype(map(to_compute(v))) {
    return map(to_compute(v));
  }
};

/// Reduction over `axes` on the current stream: combine(identity, map(v), ...), accumulated in
/// the compute type (float for the 16-bit types) and rounded once to T.
template <class T, class Map, class Combine>
tensor<T, cuda> reduce(const char* fn, const tensor<T, cuda>& x, const shape_t& axes, bool keepdim,
                       cuda_compute_t<T> identity, Map map, Combine combine) {
  tessera::detail::require_defined(fn, "the input", x);
  const tessera::detail::reduce_plan p = tessera::detail::plan_reduce(fn, x.shape(), axes);
  tensor<T, cuda> out(keepdim ? p.out_shape : p.squeezed_shape);
  if (p.outer == 0) return out;
  const cudaStream_t s = cuda_rt::current_stream();
  // rows (M, K) contiguous → one result per row; cols (K, M) contiguous → one per column.
  const auto rows_of = [&](const T* in, T* o, index_t M, index_t K, auto row_map) {
    if (K <= 256)
      reduce_rows<T, 32>
          <<<cuda_rt::grid_for(M * 32), 256, 0, s>>>(in, o, M, K, identity, row_map, combine);
    else
      reduce_rows<T, 256>
          <<<cuda_rt::grid_for(M * 256), 256, 0, s>>>(in, o, M, K, identity, row_map, combine);
    TESSERA_CUDA_CHECK_LAUNCH();
  };
  const auto cols_of = [&](const T* in, T* o, index_t K, index_t M, auto col_map) {
    reduce_cols<T, decltype(col_map), Combine>
        <<<static_cast<unsigned>((M + 31) / 32), dim3(32, 8), 0, s>>>(in, o, K, M, identity,
                                                                      col_map, combine);
    TESSERA_CUDA_CHECK_LAUNCH();
  };
  if constexpr (!cuda_detail::is_16bit_v<T>) {
    // A contiguous (A, M, K) reduced over A and K (a bias gradient of a (B, C, P) activation):
    // the A·M rows of K first, then the (A, M) row results over A, with no permuted copy of x.
    // 16-bit tensors keep the one-rounding path below.
    index_t before = 0, after = 0;
    if (tessera::detail::middle_kept_layout(x, p, before, after) && after >= 32) {
      const index_t M = p.outer;
      tensor<T, cuda> rows(shape_t{before, M});
      rows_of(x.data(), rows.data(), before * M, after, map);
      cols_of(rows.data(), out.data(), before, M, identity_op{});
      return out;
    }
  }
  bool column_mode = false;
  const tensor<T, cuda> xl = tessera::detail::reduction_layout(x, p, column_mode);
  const index_t M = p.outer, K = p.inner;
  if (column_mode) {
    cols_of(xl.data(), out.data(), K, M, map);
  } else if (K == 0) {
    out.fill_(to_storage<T>(identity));
  } else if (M == 1) {
    auto whole = [&](auto transform) {
      std::size_t bytes = 0;
      TESSERA_CUDA_CHECK(cub::DeviceReduce::TransformReduce(nullptr, bytes, xl.data(), out.data(),
                                                            K, combine, transform, identity, s));
      // At least one byte: a null temp-storage pointer would make the second call a size query.
      cuda_rt::device_buffer<unsigned char> tmp(bytes > 0 ? bytes : 1, s);
      TESSERA_CUDA_CHECK(cub::DeviceReduce::TransformReduce(tmp.get(), bytes, xl.data(), out.data(),
                                                            K, combine, transform, identity, s));
    };
    if constexpr (cuda_detail::is_16bit_v<T>)
      whole(widened_map<Map>{map});
    else
      whole(map);
  } else {
    rows_of(xl.data(), out.data(), M, K, map);
  }
  return out;
}

template <class T>
struct square_map {
  __device__ __forceinline__ T operator()(T v) const { return v * v; }
};
template <class T>
struct abs_map {
  __device__ __forceinline__ T operator()(T v) const { return std::abs(v); }
};
/// v·s: sums (s = 1, exact) and means (s = 1/n) of 16-bit tensors, rounded once.
template <class C>
struct scale_map {
  C s;
  __device__ __forceinline__ C operator()(C v) const { return v * s; }
};

TESSERA_CUDA_NAMESPACE_END

namespace tessera {

/// Sum over `axes` (all when empty), on the current stream. 16-bit tensors are summed in
/// float and the sums rounded once.
/// @throws tessera::invalid_argument for an out-of-range or repeated axis.
template <class T>
tensor<T, cuda> sum(const tensor<T, cuda>& x, const shape_t& axes = {}, bool keepdim = false) {
  if constexpr (cuda_detail::is_16bit_v<T>)  // the same kernels as mean's
    return cuda_kernels::reduce("sum", x, axes, keepdim, 0.f, cuda_kernels::scale_map<float>{1.f},
                                cuda_kernels::plus_op{});
  else
    return cuda_kernels::reduce("sum", x, axes, keepdim, T(0), cuda_kernels::identity_op{},
                                cuda_kernels::plus_op{});
}

/// Mean over `axes` (all when empty); NaN over zero elements. 16-bit tensors: the float sum of
/// v·(1/n), rounded once.
template <class T>
tensor<T, cuda> mean(const tensor<T, cuda>& x, const shape_t& axes = {}, bool keepdim = false) {
  tessera::detail::require_defined("mean", "the input", x);
  const detail::reduce_plan p = detail::plan_reduce("mean", x.shape(), axes);
  if constexpr (cuda_detail::is_16bit_v<T>) {
    if (p.inner == 0)
      return full<T, cuda>(keepdim ? p.out_shape : p.squeezed_shape,
                           cuda_kernels::to_storage<T>(std::numeric_limits<float>::quiet_NaN()));
    return cuda_kernels::reduce("mean", x, axes, keepdim, 0.f,
                                cuda_kernels::scale_map<float>{1.f / static_cast<float>(p.inner)},
                                cuda_kernels::plus_op{});
  } else {
    tensor<T, cuda> s = sum(x, axes, keepdim);
    scale_(s, p.inner > 0 ? T(1) / static_cast<T>(p.inner) : std::numeric_limits<T>::quiet_NaN());
    return s;
  }
}

/// Variance over `axes` dividing by (count - correction); two-pass like the host. 16-bit
/// tensors: the float variance of the widened values, rounded once.
template <class T>
tensor<T, cuda> var(const tensor<T, cuda>& x, const shape_t& axes = {}, int correction = 0,
                    bool keepdim = false) {
  tessera::detail::require_defined("var", "the input", x);
  if constexpr (cuda_detail::is_16bit_v<T>) {
    return cast<T>(var(cast<float>(x), axes, correction, keepdim));
  } else {
    const detail::reduce_plan p = detail::plan_reduce("var", x.shape(), axes);
    const tensor<T, cuda> m = mean(x, axes, true);
    tensor<T, cuda> s = sum(square(sub(x, m)), axes, keepdim);
    const index_t denom = p.inner - correction;
    scale_(s, denom > 0 ? T(1) / static_cast<T>(denom) : std::numeric_limits<T>::quiet_NaN());
    return s;
  }
}

/// Same as var().
template <class T>
tensor<T, cuda> variance(const tensor<T, cuda>& x, const shape_t& axes = {}, int correction = 0,
                         bool keepdim = false) {
  return var(x, axes, correction, keepdim);
}

/// Maximum over `axes` (NaN if any element is NaN).
/// @throws tessera::invalid_argument when a reduced extent is zero.
template <class T>
tensor<T, cuda> max(const tensor<T, cuda>& x, const shape_t& axes = {}, bool keepdim = false) {
  if (detail::plan_reduce("max", x.shape(), axes).inner == 0)
    throw_invalid_argument("max", "cannot take the maximum over an empty axis of shape ",
                           x.shape().str());
  return cuda_kernels::reduce("max", x, axes, keepdim,
                              -std::numeric_limits<cuda_compute_t<T>>::infinity(),
                              cuda_kernels::identity_op{}, cuda_kernels::max_op{});
}

/// Minimum over `axes` (NaN if any element is NaN).
/// @throws tessera::invalid_argument when a reduced extent is zero.
template <class T>
tensor<T, cuda> min(const tensor<T, cuda>& x, const shape_t& axes = {}, bool keepdim = false) {
  if (detail::plan_reduce("min", x.shape(), axes).inner == 0)
    throw_invalid_argument("min", "cannot take the minimum over an empty axis of shape ",
                           x.shape().str());
  return cuda_kernels::reduce("min", x, axes, keepdim,
                              std::numeric_limits<cuda_compute_t<T>>::infinity(),
                              cuda_kernels::identity_op{}, cuda_kernels::min_op{});
}

/// Index of the first maximum (first NaN, if any) along one axis, as tensor<index_t, cuda>.
/// @throws tessera::invalid_argument when the axis is out of range or empty.
template <class T>
tensor<index_t, cuda> argmax(const tensor<T, cuda>& x, int axis, bool keepdim = false) {
  if constexpr (cuda_detail::is_16bit_v<T>) {
    return argmax(cast<float>(x), axis, keepdim);  // widening is exact: the same index
  } else {
    const int a = normalize_axis("argmax", axis, x.rank());
    if (x.shape()[a] == 0)
      throw_invalid_argument("argmax", "axis ", a, " of shape ", x.shape().str(), " is empty");
    shape_t order;
    for (int i = 0; i < x.rank(); ++i)
      if (i != a) order.push_back(i);
    order.push_back(a);
    const tensor<T, cuda> xl = x.permute(order).contiguous();
    shape_t out_shape = x.shape();
    if (keepdim)
      out_shape[a] = 1;
    else
      out_shape.erase(a);
    tensor<index_t, cuda> out(out_shape);
    const index_t K = x.shape()[a], M = x.numel() / K;
    if (M == 0) return out;
    const cudaStream_t s = cuda_rt::current_stream();
    if (K <= 256)
      cuda_kernels::argmax_rows<T, 32>
          <<<cuda_rt::grid_for(M * 32), 256, 0, s>>>(xl.data(), out.data(), M, K);
    else
      cuda_kernels::argmax_rows<T, 256>
          <<<cuda_rt::grid_for(M * 256), 256, 0, s>>>(xl.data(), out.data(), M, K);
    TESSERA_CUDA_CHECK_LAUNCH();
    return out;
  }
}

/// log Σ exp(x) over `axes` (max subtracted first); -inf over an empty axis. 16-bit tensors:
/// in float on the widened values, rounded once.
template <class T>
tensor<T, cuda> logsumexp(const tensor<T, cuda>& x, const shape_t& axes = {},
                          bool keepdim = false) {
  tessera::detail::require_defined("logsumexp", "the input", x);
  if constexpr (cuda_detail::is_16bit_v<T>) {
    return cast<T>(logsumexp(cast<float>(x), axes, keepdim));
  } else {
    const detail::reduce_plan p = detail::plan_reduce("logsumexp", x.shape(), axes);
    if (p.inner == 0)
      return full<T, cuda>(keepdim ? p.out_shape : p.squeezed_shape,
                           -std::numeric_limits<T>::infinity());
    tensor<T, cuda> m = max(x, axes, true);
    // Rows whose max is ±inf would give inf - inf; use 0 as the shift there (as the host).
    m = where(cuda_kernels::unary(m, cuda_kernels::finite_map{}), zeros_like(m), m);
    tensor<T, cuda> s = add(log(sum(exp(sub(x, m)), axes, true)), m);
    if (keepdim) return s;
    return s.reshape(p.squeezed_shape);
  }
}

/// p-norm over `axes` for p = 1, 2 or infinity; NaN where the reduced set holds a NaN.
/// 16-bit tensors: in float on the widened values (p is a float), rounded once.
/// @throws tessera::invalid_argument for other p.
template <class T>
tensor<T, cuda> norm(const tensor<T, cuda>& x, cuda_compute_t<T> p = 2, const shape_t& axes = {},
                     bool keepdim = false) {
  tessera::detail::require_defined("norm", "the input", x);
  if constexpr (cuda_detail::is_16bit_v<T>) {
    return cast<T>(norm(cast<float>(x), p, axes, keepdim));
  } else {
    if (p == T(2))
      return sqrt(cuda_kernels::reduce("norm", x, axes, keepdim, T(0),
                                       cuda_kernels::square_map<T>{}, cuda_kernels::plus_op{}));
    if (p == T(1))
      return cuda_kernels::reduce("norm", x, axes, keepdim, T(0), cuda_kernels::abs_map<T>{},
                                  cuda_kernels::plus_op{});
    if (std::isinf(p) && p > 0)
      return cuda_kernels::reduce("norm", x, axes, keepdim, T(0), cuda_kernels::abs_map<T>{},
                                  cuda_kernels::max_op{});
    throw_invalid_argument("norm", "p ", p, " is not supported (use 1, 2 or infinity)");
  }
}

/// Sums `g` down to `shape`, undoing numpy broadcasting (the adjoint of expand).
/// @throws tessera::invalid_argument when `shape` does not broadcast to g's shape.
template <class T>
tensor<T, cuda> sum_to(const tensor<T, cuda>& g, const shape_t& shape) {
  if (g.shape() == shape) return g;
  const shape_t axes = detail::sum_to_axes(g.shape(), shape);
  if (axes.rank() == 0) return g.reshape(shape);
  return sum(g, axes, true).reshape(shape);
}

/// True when every element is finite (waits for the current stream).
template <class T>
bool all_finite(const tensor<T, cuda>& x) {
  tessera::detail::require_defined("all_finite", "the input", x);
  if constexpr (cuda_detail::is_16bit_v<T>) {
    return all_finite(cast<float>(x));  // widening keeps ±inf and NaN
  } else {
    const tensor<T, cuda> bad = cuda_kernels::reduce(
        "all_finite", x, {}, false, T(0), cuda_kernels::finite_map{}, cuda_kernels::plus_op{});
    return to<host>(bad).item() == T(0);
  }
}

}  // namespace tessera
