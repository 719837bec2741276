// SPDX-License-Identifier: Apache-2.0
// Indexing and joining on cuda tensors (the host's ops/indexing.hpp): index_select, index_add,
// embedding, gather, scatter_add, concat, stack, split. Index tensors are tensor<index_t, cuda>.
// Out-of-range indices never read or write out of bounds; they are reported as
// tessera::invalid_argument while cuda_rt::check_indices() is on (see there for the cost).
// index_add and scatter_add accumulate with atomics: with repeated indices the summation order,
// and so the last bits of a float result, can differ from run to run.
#pragma once

#include <climits>
#include <vector>

#include "tessera/cuda/cast.cuh"
#include "tessera/cuda/tensor.cuh"
#include "tessera/ops/indexing.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// Records the lowest position of an out-of-range index (bad is null when checks are off).
__device__ __forceinline__ void report_bad_index(unsigned long long* bad, index_t position) {
  if (bad != nullptr) atomicMin(bad, static_cast<unsigned long long>(position));
}

/// out (outer, J, inner) = x (outer, n_axis, inner)[:, idx, :]; x and out contiguous.
/// Launch: 1-d grid-stride over out's elements.
template <class T>
TESSERA_KERNEL void index_select_kernel(const T* __restrict__ x, const index_t* __restrict__ idx,
                                        T* __restrict__ out, index_t n, index_t n_axis, index_t J,
                                        index_t inner, unsigned long long* bad) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t q = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < n;
       q += stride) {
    const index_t i = q % inner, t = q / inner;
    const index_t j = t % J, o = t / J;
    const index_t s = idx[j];
    if (s < 0 || s >= n_axis) {
      report_bad_index(bad, j);
      out[q] = T(0);
    } else {
      out[q] = x[(o * n_axis + s) * inner + i];
    }
  }
}

/// out (outer, n_axis, inner)[:, idx, :] += src (outer, J, inner); both contiguous, out
/// zeroed first. Launch: 1-d grid-stride over src's elements.
template <class T>
TESSERA_KERNEL void index_add_kernel(const T* __restrict__ src, const index_t* __restrict__ idx,
                                     T* __restrict__ out, index_t n, index_t n_axis, index_t J,
                                     index_t inner, unsigned long long* bad) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t q = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < n;
       q += stride) {
    const index_t i = q % inner, t = q / inner;
    const index_t j = t % J, o = t / J;
    const index_t s = idx[j];
    if (s < 0 || s >= n_axis)
      report_bad_index(bad, j);
    else
      atomicAdd(out + (o * n_axis + s) * inner + i, src[q]);
  }
}

/// Geometry of gather/scatter_add: the index tensor's shape (contiguous), the strides of the
/// gathered-from (or scattered-into) tensor, the axis and its extent there.
struct gather_geometry {
  int rank;
  int axis;
  index_t n_axis;
  index_t ishape[max_rank];
  index_t stride[max_rank];

  /// Offset in the strided tensor of index element q whose value is `at`.
  __device__ __forceinline__ index_t offset(index_t q, index_t at) const {
    index_t off = 0;
#pragma unroll
    for (int ax = max_rank - 1; ax >= 0; --ax) {
      if (ax >= rank) continue;
      const index_t c = q % ishape[ax];
      q /= ishape[ax];
      off += (ax == axis ? at : c) * stride[ax];
    }
    return off;
  }
};

/// out[q] = x[offset(q, idx[q])]. Launch: 1-d grid-stride over the index's elements.
template <class T>
TESSERA_KERNEL void gather_kernel(const T* __restrict__ x, const index_t* __restrict__ idx,
                                  T* __restrict__ out, index_t n, gather_geometry g,
                                  unsigned long long* bad) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t q = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < n;
       q += stride) {
    const index_t s = idx[q];
    if (s < 0 || s >= g.n_axis) {
      report_bad_index(bad, q);
      out[q] = T(0);
    } else {
      out[q] = x[g.offset(q, s)];
    }
  }
}

/// out[offset(q, idx[q])] += src[q]. Launch: 1-d grid-stride over the index's elements.
template <class T>
TESSERA_KERNEL void scatter_add_kernel(const T* __restrict__ src, const index_t* __restrict__ idx,
                                       T* __restrict__ out, index_t n, gather_geometry g,
                                       unsigned long long* bad) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t q = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < n;
       q += stride) {
    const index_t s = idx[q];
    if (s < 0 || s >= g.n_axis)
      report_bad_index(bad, q);
    else
      atomicAdd(out + g.offset(q, s), src[q]);
  }
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera::cuda_detail {

/// The out-of-range report of one indexing call: a device word holding the lowest bad
/// position (all ones when none), read back after the kernel when checks are on.
class index_check {
 public:
  index_check() : stream_(cuda_rt::current_stream()) {
    if (cuda_rt::check_indices() && !cuda_rt::is_capturing(stream_)) {
      slot_ = cuda_rt::device_buffer<unsigned long long>(1, stream_);
      TESSERA_CUDA_CHECK(cudaMemsetAsync(slot_.get(), 0xff, sizeof(unsigned long long), stream_));
    }
  }
  /// The pointer kernels report to (null when checks are off).
  [[nodiscard]] unsigned long long* slot() const noexcept { return slot_.get(); }

  /// Throws tessera::invalid_argument naming `fn` when a kernel reported a bad position;
  /// `idx` is the contiguous index tensor the positions refer to.
  void verify(const char* fn, const tensor<index_t, cuda>& idx, int axis, index_t extent,
              const shape_t& shape) const {
    if (slot_.get() == nullptr) return;
    unsigned long long pos = 0;
    TESSERA_CUDA_CHECK(
        cudaMemcpyAsync(&pos, slot_.get(), sizeof pos, cudaMemcpyDeviceToHost, stream_));
    TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (pos == ULLONG_MAX) return;
    index_t value = 0;
    TESSERA_CUDA_CHECK(
        cudaMemcpyAsync(&value, idx.data() + pos, sizeof value, cudaMemcpyDeviceToHost, stream_));
    TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    throw_invalid_argument(fn, "index ", value, " at position ", pos, " is out of range for axis ",
                           axis, " (extent ", extent, ") of shape ", shape.str());
  }

 private:
  cudaStream_t stream_;
  cuda_rt::device_buffer<unsigned long long> slot_;
};

/// (outer, inner) extents around `axis` of `shape`.
inline void outer_inner(const shape_t& shape, int axis, index_t& outer, index_t& inner) {
  outer = 1;
  inner = 1;
  for (int i = 0; i < axis; ++i) outer *= shape[i];
  for (int i = axis + 1; i < shape.rank(); ++i) inner *= shape[i];
}

}  // namespace tessera::cuda_detail

namespace tessera {

/// Rows of `x` along `axis` picked by `index` (rank 1, on cuda).
/// @throws tessera::invalid_argument for a bad axis, a non-rank-1 index or (with index checks
///   on) an out-of-range index.
template <class T>
tensor<T, cuda> index_select(const tensor<T, cuda>& x, int axis,
                             const tensor<index_t, cuda>& index) {
  const int a = normalize_axis("index_select", axis, x.rank());
  if (index.rank() != 1)
    throw_invalid_argument("index_select", "index must have rank 1, got shape ",
                           index.shape().str());
  shape_t out_shape = x.shape();
  out_shape[a] = index.numel();
  tensor<T, cuda> out(out_shape);
  const index_t n = out.numel();
  if (n == 0) return out;
  const tensor<T, cuda> xc = x.contiguous();
  const tensor<index_t, cuda> idx = index.contiguous();
  index_t outer = 1, inner = 1;
  cuda_detail::outer_inner(x.shape(), a, outer, inner);
  const cuda_detail::index_check check;
  cuda_kernels::index_select_kernel<T>
      <<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
          xc.data(), idx.data(), out.data(), n, x.shape()[a], index.numel(), inner, check.slot());
  TESSERA_CUDA_CHECK_LAUNCH();
  check.verify("index_select", idx, a, x.shape()[a], x.shape());
  return out;
}

/// Adds the rows of `src` into rows `index` of a zero tensor of `shape` along `axis` (the
/// adjoint of index_select; repeated indices accumulate, by atomics).
/// @throws tessera::invalid_argument as the host's index_add.
template <class T>
tensor<T, cuda> index_add(const shape_t& shape, int axis, const tensor<index_t, cuda>& index,
                          const tensor<T, cuda>& src) {
  if constexpr (cuda_detail::is_16bit_v<T>) {  // accumulated in float, rounded once
    return cast<T>(index_add(shape, axis, index, cast<float>(src)));
  } else {
    const int a = normalize_axis("index_add", axis, shape.rank());
    if (index.rank() != 1)
      throw_invalid_argument("index_add", "index must have rank 1, got shape ",
                             index.shape().str());
    shape_t src_shape = shape;
    src_shape[a] = index.numel();
    if (!(src.shape() == src_shape))
      throw_invalid_argument("index_add", "src shape ", src.shape().str(), " must be ",
                             src_shape.str(), " for ", index.numel(), " indices into shape ",
                             shape.str(), " along axis ", a);
    tensor<T, cuda> out = zeros<T, cuda>(shape);
    const index_t n = src.numel();
    if (n == 0) return out;
    const tensor<T, cuda> sc = src.contiguous();
    const tensor<index_t, cuda> idx = index.contiguous();
    index_t outer = 1, inner = 1;
    cuda_detail::outer_inner(shape, a, outer, inner);
    const cuda_detail::index_check check;
    cuda_kernels::index_add_kernel<T>
        <<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
            sc.data(), idx.data(), out.data(), n, shape[a], index.numel(), inner, check.slot());
    TESSERA_CUDA_CHECK_LAUNCH();
    check.verify("index_add", idx, a, shape[a], shape);
    return out;
  }
}

/// Embedding lookup: weight (V, D), ids of any shape → (ids..., D).
/// @throws tessera::invalid_argument when weight is not rank 2 or (checks on) an id is out of
///   range.
template <class T>
tensor<T, cuda> embedding(const tensor<T, cuda>& weight, const tensor<index_t, cuda>& ids) {
  if (weight.rank() != 2)
    throw_invalid_argument("embedding", "weight must have rank 2, got shape ",
                           weight.shape().str());
  shape_t out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  return index_select(weight, 0, ids.contiguous().flatten()).reshape(out_shape);
}

namespace cuda_detail {
template <class T>
cuda_kernels::gather_geometry gather_geometry_of(int axis, index_t n_axis,
                                                 const tensor<index_t, cuda>& index,
                                                 const shape_t& strides) {
  cuda_kernels::gather_geometry g{};
  g.rank = index.rank();
  g.axis = axis;
  g.n_axis = n_axis;
  for (int i = 0; i < index.rank(); ++i) {
    g.ishape[i] = index.shape()[i];
    g.stride[i] = strides[i];
  }
  return g;
}
}  // namespace cuda_detail

/// torch.gather along `axis` (index on cuda, x's rank, extents no larger than x's elsewhere).
/// @throws tessera::invalid_argument as the host's gather.
template <class T>
tensor<T, cuda> gather(const tensor<T, cuda>& x, int axis, const tensor<index_t, cuda>& index) {
  const int a = normalize_axis("gather", axis, x.rank());
  if (index.rank() != x.rank())
    throw_invalid_argument("gather", "index shape ", index.shape().str(),
                           " must have the rank of x shape ", x.shape().str());
  for (int i = 0; i < x.rank(); ++i)
    if (i != a && index.shape()[i] > x.shape()[i])
      throw_invalid_argument("gather", "index shape ", index.shape().str(), " exceeds x shape ",
                             x.shape().str(), " on axis ", i);
  tensor<T, cuda> out(index.shape());
  const index_t n = out.numel();
  if (n == 0) return out;
  const tensor<index_t, cuda> idx = index.contiguous();
  const auto g = cuda_detail::gather_geometry_of<T>(a, x.shape()[a], idx, x.strides());
  const cuda_detail::index_check check;
  cuda_kernels::gather_kernel<T>
      <<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
          x.data(), idx.data(), out.data(), n, g, check.slot());
  TESSERA_CUDA_CHECK_LAUNCH();
  check.verify("gather", idx, a, x.shape()[a], x.shape());
  return out;
}

/// Adjoint of gather: zeros of `shape` with src added at the gathered positions (atomics).
/// @throws tessera::invalid_argument as the host's scatter_add.
template <class T>
tensor<T, cuda> scatter_add(const shape_t& shape, int axis, const tensor<index_t, cuda>& index,
                            const tensor<T, cuda>& src) {
  if constexpr (cuda_detail::is_16bit_v<T>) {  // accumulated in float, rounded once
    return cast<T>(scatter_add(shape, axis, index, cast<float>(src)));
  } else {
    const int a = normalize_axis("scatter_add", axis, shape.rank());
    if (index.rank() != shape.rank())
      throw_invalid_argument("scatter_add", "index shape ", index.shape().str(),
                             " must have the rank of shape ", shape.str());
    for (int i = 0; i < shape.rank(); ++i)
      if (i != a && index.shape()[i] > shape[i])
        throw_invalid_argument("scatter_add", "index shape ", index.shape().str(),
                               " exceeds shape ", shape.str(), " on axis ", i);
    if (!(src.shape() == index.shape()))
      throw_invalid_argument("scatter_add", "src shape ", src.shape().str(),
                             " must equal index shape ", index.shape().str());
    tensor<T, cuda> out = zeros<T, cuda>(shape);
    const index_t n = src.numel();
    if (n == 0) return out;
    const tensor<index_t, cuda> idx = index.contiguous();
    const tensor<T, cuda> sc = src.contiguous();
    const auto g = cuda_detail::gather_geometry_of<T>(a, shape[a], idx, out.strides());
    const cuda_detail::index_check check;
    cuda_kernels::scatter_add_kernel<T>
        <<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
            sc.data(), idx.data(), out.data(), n, g, check.slot());
    TESSERA_CUDA_CHECK_LAUNCH();
    check.verify("scatter_add", idx, a, shape[a], shape);
    return out;
  }
}

// concat, stack and split are the generic ones of ops/indexing.hpp (strided copies and views,
// which work on cuda tensors as they are).

}  // namespace tessera
