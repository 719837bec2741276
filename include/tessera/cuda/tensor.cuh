// SPDX-License-Identifier: Apache-2.0
// tensor<T, cuda>: storage from the stream-ordered pool, the n-d elementwise engine every cuda
// op uses (vectorised contiguous path, strided/broadcast path with 32- or 64-bit indexing),
// copies, fills, host<->device transfers and creation (zeros, full, rand, randn, ...).
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "tessera/core/creation.hpp"
#include "tessera/core/iterate.hpp"
#include "tessera/core/philox.hpp"
#include "tessera/core/tensor.hpp"
#include "tessera/cuda/compute_type.cuh"
#include "tessera/cuda/detail/kernel_prelude.cuh"
#include "tessera/cuda/runtime.cuh"

TESSERA_CUDA_NAMESPACE_BEGIN

// --- the n-d engine ---------------------------------------------------------------------------

/// Shape and per-operand strides of a coalesced iteration space, passed by value to kernels.
/// Operand 0 is the output. I is the index type (int32 when every offset fits).
template <int N, class I>
struct nd_layout {
  int rank;
  I shape[max_rank];
  I stride[N][max_rank];

  /// Element offsets of each operand for the row-major linear index `i`.
  __device__ __forceinline__ void offsets(I i, I (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
    for (int ax = max_rank - 1; ax >= 0; --ax) {
      if (ax >= rank) continue;
      const I c = i % shape[ax];
      i /= shape[ax];
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += c * stride[k][ax];
    }
  }
};

/// Base pointers of the inputs of a map (the output is passed separately).
template <class T, int NIN>
struct inputs {
  const T* p[NIN > 0 ? NIN : 1];
};

/// A functor that works on the stored values themselves (copies, fills): it sees and returns T,
/// with no widening to the compute type, so copies keep every bit (NaN payloads included).
template <class F>
concept storage_functor = requires { F::on_storage; };

/// f applied to one element of each input: the inputs widened to the compute type
/// (cuda_compute_t<T>: float for the 16-bit types, T itself otherwise, where this is the plain
/// call f(v...)), the result rounded once to T.
template <class T, int NIN, class F>
__device__ __forceinline__ T apply(const F& f, const T (&v)[NIN > 0 ? NIN : 1]) {
  if constexpr (storage_functor<F>) {
    if constexpr (NIN == 0)
      return f();
    else
      return f(v[0]);
  } else if constexpr (NIN == 0) {
    return to_storage<T>(f());
  } else if constexpr (NIN == 1) {
    return to_storage<T>(f(to_compute(v[0])));
  } else if constexpr (NIN == 2) {
    return to_storage<T>(f(to_compute(v[0]), to_compute(v[1])));
  } else {
    return to_storage<T>(f(to_compute(v[0]), to_compute(v[1]), to_compute(v[2])));
  }
}

/// f applied lane by lane to packs of the inputs (apply per lane).
template <class T, int NIN, int V, class F>
__device__ __forceinline__ vec_pack<T, V> apply_pack(const F& f,
                                                     const vec_pack<T, V> (&x)[NIN > 0 ? NIN : 1]) {
  vec_pack<T, V> y;
#pragma unroll
  for (int e = 0; e < V; ++e) {
    T a[NIN > 0 ? NIN : 1];
#pragma unroll
    for (int k = 0; k < NIN; ++k) a[k] = x[k].v[e];
    y.v[e] = apply<T, NIN>(f, a);
  }
  return y;
}

/// out[i] = f(in_0[i], ...) over n contiguous elements, V elements per load/store (V·sizeof(T)
/// = 16 bytes: float4/double2 transactions, 8 values of a 16-bit type; all pointers 16-byte
/// aligned); f sees the compute type (apply). The n % V tail is done element by element.
/// Launch: 1-d grid-stride, any geometry. `out` may be one of the inputs (in-place updates read
/// each element before writing it, in the same thread).
template <class T, int NIN, int V, class F>
TESSERA_KERNEL void flat_map(T* out, inputs<T, NIN> in, index_t n, F f) {
  using pack = vec_pack<T, V>;
  const index_t nv = n / V;
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv;
       i += stride) {
    pack x[NIN > 0 ? NIN : 1];
#pragma unroll
    for (int k = 0; k < NIN; ++k) x[k] = reinterpret_cast<const pack*>(in.p[k])[i];
    reinterpret_cast<pack*>(out)[i] = apply_pack<T, NIN, V>(f, x);
  }
  for (index_t i = nv * V + static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    T a[NIN > 0 ? NIN : 1];
#pragma unroll
    for (int k = 0; k < NIN; ++k) a[k] = in.p[k][i];
    out[i] = apply<T, NIN>(f, a);
  }
}

/// out[off_0] = f(in_0[off_1], ...) over the n elements of a strided/broadcast layout.
/// Launch: 1-d grid-stride, any geometry; n + grid size must fit in I.
template <class T, int NIN, class I, class F>
TESSERA_KERNEL void nd_map(T* out, inputs<T, NIN> in, nd_layout<NIN + 1, I> L, I n, F f) {
  const I stride = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x);
       i < n; i += stride) {
    I off[NIN + 1];
    L.offsets(i, off);
    T a[NIN > 0 ? NIN : 1];
#pragma unroll
    for (int k = 0; k < NIN; ++k) a[k] = in.p[k][off[k + 1]];
    out[off[0]] = apply<T, NIN>(f, a);
  }
}

/// Per input of run_map: run 0 for an input of the output's shape, else one value per run of
/// `run` consecutive output elements, the runs cycling through `period` contiguous values.
template <int NIN, class I>
struct run_layout {
  I run[NIN > 0 ? NIN : 1];
  I period[NIN > 0 ? NIN : 1];
};

/// out[i] = f(in_0[..], ...) over n contiguous elements where each input is either contiguous
/// of out's shape or a run bias (run_layout: a per-channel (C, 1) bias on (B, C, P), a scalar),
/// V elements per load/store as flat_map: every run is a multiple of V, so the V elements of a
/// pack share each bias value (one scalar load). Pointers of out and of the full inputs 16-byte
/// aligned; n a multiple of V. Launch: 1-d grid-stride, any geometry; n + grid size fit in I.
template <class T, int NIN, int V, class I, class F>
TESSERA_KERNEL void run_map(T* out, inputs<T, NIN> in, run_layout<NIN, I> L, I n, F f) {
  using pack = vec_pack<T, V>;
  const I nv = n / V;
  const I stride = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x);
       i < nv; i += stride) {
    pack x[NIN > 0 ? NIN : 1];
#pragma unroll
    for (int k = 0; k < NIN; ++k) {
      if (L.run[k] == 0) {
        x[k] = reinterpret_cast<const pack*>(in.p[k])[i];
      } else {
        const T b = in.p[k][(i * V / L.run[k]) % L.period[k]];
#pragma unroll
        for (int e = 0; e < V; ++e) x[k].v[e] = b;
      }
    }
    reinterpret_cast<pack*>(out)[i] = apply_pack<T, NIN, V>(f, x);
  }
}

/// Launches run_map when out is contiguous and 16-byte aligned and every input is either
/// contiguous of out's shape (and aligned) or a contiguous run bias whose runs are multiples of
/// the pack width, at least one of them a bias; returns false (nothing launched) otherwise.
template <class T, int NIN, int V, class F>
bool try_run_map(const tensor<T, cuda>& out, const tensor<T, cuda>* const (&ins)[NIN > 0 ? NIN : 1],
                 const inputs<T, NIN>& in, F f, cudaStream_t s) {
  if constexpr (NIN == 0) {
    return false;
  } else {
    const auto aligned = [](const T* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
    if (!out.is_contiguous() || !aligned(out.data())) return false;
    index_t run[NIN], period[NIN];
    bool any = false;
    for (int k = 0; k < NIN; ++k) {
      const tensor<T, cuda>& x = *ins[k];
      if (!x.is_contiguous()) return false;
      if (x.shape() == out.shape()) {
        if (!aligned(x.data())) return false;
        run[k] = 0;
        period[k] = 1;
      } else if (tessera::detail::run_bias_layout(out.shape(), x.shape(), run[k], period[k]) &&
                 run[k] % V == 0) {
        any = true;
      } else {
        return false;
      }
    }
    if (!any) return false;
    const index_t n = out.numel();
    const unsigned grid = cuda_rt::grid_for(n / V);
    auto go = [&](auto idx) {
      using I = decltype(idx);
      run_layout<NIN, I> L{};
      for (int k = 0; k < NIN; ++k) {
        L.run[k] = static_cast<I>(run[k]);
        L.period[k] = static_cast<I>(period[k]);
      }
      run_map<T, NIN, V, I, F>
          <<<grid, cuda_rt::block_threads, 0, s>>>(out.data(), in, L, static_cast<I>(n), f);
      TESSERA_CUDA_CHECK_LAUNCH();
    };
    // i·V reaches n, and the grid-stride loop's last step goes one grid further.
    const index_t headroom = static_cast<index_t>(grid) * cuda_rt::block_threads * V;
    if (n + headroom < (index_t(1) << 31))
      go(std::uint32_t{});
    else
      go(index_t{});
    return true;
  }
}

/// Host side of the engine: out (any strides, already shaped) = f(ins...) where every input
/// broadcasts to out's shape. Picks the vectorised flat kernel when all operands are
/// contiguous with out's shape and 16-byte aligned, the vectorised run kernel when some are
/// contiguous run biases instead (try_run_map), else the n-d kernel with 32-bit indices
/// when every offset fits. Enqueued on the current stream.
template <class T, int NIN, class F>
void launch_map(const tensor<T, cuda>& out, const tensor<T, cuda>* const (&ins)[NIN > 0 ? NIN : 1],
                F f) {
  const index_t n = out.numel();
  if (n == 0) return;
  const cudaStream_t s = cuda_rt::current_stream();
  constexpr int V = 16 / sizeof(T);
  bool flat = out.is_contiguous();
  bool aligned = reinterpret_cast<std::uintptr_t>(out.data()) % 16 == 0;
  inputs<T, NIN> in{};
  for (int k = 0; k < NIN; ++k) {
    in.p[k] = ins[k]->data();
    flat = flat && ins[k]->shape() == out.shape() && ins[k]->is_contiguous();
    aligned = aligned && reinterpret_cast<std::uintptr_t>(ins[k]->data()) % 16 == 0;
  }
  if (flat && aligned) {
    flat_map<T, NIN, V, F><<<cuda_rt::grid_for((n + V - 1) / V), cuda_rt::block_threads, 0, s>>>(
        out.data(), in, n, f);
    TESSERA_CUDA_CHECK_LAUNCH();
    return;
  }
  // A per-channel or scalar bias on contiguous operands: vectorised as the flat kernel.
  if (try_run_map<T, NIN, V, F>(out, ins, in, f, s)) return;
  // Strides of each operand in out's shape (broadcast axes get 0), then coalesced.
  std::array<shape_t, NIN + 1> strides;
  strides[0] = out.strides();
  for (int k = 0; k < NIN; ++k) {
    const tensor<T, cuda>& x = *ins[k];
    shape_t st = shape_t::filled(out.rank(), 0);
    const int lead = out.rank() - x.rank();
    for (int i = 0; i < x.rank(); ++i)
      st[lead + i] = x.shape()[i] == 1 && out.shape()[lead + i] != 1 ? 0 : x.strides()[i];
    strides[static_cast<std::size_t>(k) + 1] = st;
  }
  const tessera::detail::nd_layout<NIN + 1> c =
      tessera::detail::coalesce<NIN + 1>(out.shape(), strides);
  // The largest offset any operand reaches, to choose the index width.
  index_t reach = n;
  for (int k = 0; k <= NIN; ++k) {
    index_t r = 0;
    for (int ax = 0; ax < c.shape.rank(); ++ax) r += (c.shape[ax] - 1) * c.strides[k][ax];
    reach = r > reach ? r : reach;
  }
  const unsigned grid = cuda_rt::grid_for(n);
  auto go = [&](auto idx) {
    using I = decltype(idx);
    nd_layout<NIN + 1, I> L{};
    L.rank = c.shape.rank();
    for (int ax = 0; ax < L.rank; ++ax) {
      L.shape[ax] = static_cast<I>(c.shape[ax]);
      for (int k = 0; k <= NIN; ++k) L.stride[k][ax] = static_cast<I>(c.strides[k][ax]);
    }
    nd_map<T, NIN, I, F>
        <<<grid, cuda_rt::block_threads, 0, s>>>(out.data(), in, L, static_cast<I>(n), f);
    TESSERA_CUDA_CHECK_LAUNCH();
  };
  const index_t headroom = static_cast<index_t>(grid) * cuda_rt::block_threads;
  if (reach + headroom < (index_t(1) << 31))
    go(std::int32_t{});
  else
    go(index_t{});
}

struct identity_op {
  static constexpr bool on_storage = true;
  template <class T>
  __device__ __forceinline__ T operator()(T v) const {
    return v;
  }
};

template <class T>
struct constant_op {
  static constexpr bool on_storage = true;
  T value;
  __device__ __forceinline__ T operator()() const { return value; }
};

/// out[i] = low + (high - low)·U_i (uniform) or mean + stddev·N_i (normal) of a Philox stream,
/// element i of out in row-major order. Products and sums are rounded separately (no FMA) so
/// the numbers equal the host's bit for bit where the host does not contract either.
/// Launch: 1-d grid-stride, out contiguous.
template <class T, bool Normal>
TESSERA_KERNEL void philox_fill(T* __restrict__ out, index_t n, philox_stream st, T a, T b) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const auto u = static_cast<std::uint64_t>(i);
    const T r = Normal ? st.template normal<T>(u) : st.template uniform<T>(u);
    if constexpr (std::is_same_v<T, float>)
      out[i] = __fadd_rn(a, __fmul_rn(b, r));
    else
      out[i] = __dadd_rn(a, __dmul_rn(b, r));
  }
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera {

/// Storage in CUDA device memory: from the current device's default pool, stream-ordered on
/// the thread's current stream (cudaMallocAsync; freed memory stays in the pool, so there is
/// no cudaMalloc per op), and freed with cudaFreeAsync on the stream it was allocated on.
/// Blocks up to 1 MiB on the default stream go through a per-thread cache first
/// (cuda_rt::detail::device_block_cache), which saves the pool's calls on small tensors.
template <>
struct space_traits<cuda> {
  template <class T>
  static std::shared_ptr<T> allocate(index_t n) {
    static_assert(std::is_trivially_copyable_v<T>, "tensor elements must be trivially copyable");
    // At least one element, so that a defined tensor never holds a null pointer.
    const std::size_t count = n > 0 ? static_cast<std::size_t>(n) : 1;
    return cuda_rt::allocate_shared<T>(count * sizeof(T), cuda_rt::current_stream());
  }

  /// dst = src elementwise (src already has dst's shape, possibly with 0 strides).
  template <class T>
  static void copy(const tensor<T, cuda>& dst, const tensor<T, cuda>& src) {
    if (dst.numel() == 0) return;
    if (dst.is_contiguous() && src.is_contiguous() && src.shape() == dst.shape()) {
      TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(),
                                         static_cast<std::size_t>(dst.numel()) * sizeof(T),
                                         cudaMemcpyDeviceToDevice, cuda_rt::current_stream()));
      return;
    }
    const tensor<T, cuda>* ins[1] = {&src};
    cuda_kernels::launch_map<T, 1>(dst, ins, cuda_kernels::identity_op{});
  }

  /// Every element of dst = value.
  template <class T>
  static void fill(const tensor<T, cuda>& dst, T value) {
    const tensor<T, cuda>* ins[1] = {nullptr};
    cuda_kernels::launch_map<T, 0>(dst, ins, cuda_kernels::constant_op<T>{value});
  }

  /// Copies between host and device (called by tessera::to). Host → device returns at once
  /// (the host data are staged before cudaMemcpyAsync returns); device → host waits for the
  /// current stream, so the host tensor is ready when it is returned.
  template <class Dst, class T, class Src>
  static tensor<T, Dst> transfer(const tensor<T, Src>& t) {
    const tensor<T, Src> c = t.contiguous();
    tensor<T, Dst> r(t.shape());
    const auto bytes = static_cast<std::size_t>(t.numel()) * sizeof(T);
    if (bytes == 0) return r;
    const cudaStream_t s = cuda_rt::current_stream();
    if constexpr (std::is_same_v<Dst, cuda>) {
      // A capture would record a copy from host memory that may be gone at replay (and a pinned
      // source's wait would end the capture): inputs are copied in before capturing.
      if (cuda_rt::is_capturing(s))
        throw_invalid_argument("to<cuda>", "a copy of ", t.shape().str(),
                               " from the host while the stream is captured into a CUDA graph: "
                               "copy it into a device tensor before the capture and read that");
      TESSERA_CUDA_CHECK(cudaMemcpyAsync(r.data(), c.data(), bytes, cudaMemcpyHostToDevice, s));
      // Pageable host memory is staged before the call returns, but a pinned source is read
      // later: wait, since `c` may be the caller's only reference.
      cudaPointerAttributes attr{};
      if (cudaPointerGetAttributes(&attr, c.data()) != cudaSuccess)
        tessera::detail::clear_last_cuda_error();  // treated as pageable, not reported later
      else if (attr.type == cudaMemoryTypeHost)
        TESSERA_CUDA_CHECK(cudaStreamSynchronize(s));
    } else {
      TESSERA_CUDA_CHECK(cudaMemcpyAsync(r.data(), c.data(), bytes, cudaMemcpyDeviceToHost, s));
      TESSERA_CUDA_CHECK(cudaStreamSynchronize(s));
    }
    return r;
  }
};

// --- creation on cuda -------------------------------------------------------------------------
// Explicit-space forms: zeros<float, cuda>(shape). The host forms keep their one-parameter
// spelling (zeros<float>(shape)); these overloads need the space named.

/// A cuda tensor of `shape` filled with `value`.
template <class T, class Space>
  requires std::same_as<Space, cuda>
tensor<T, cuda> full(const shape_t& shape, T value) {
  tensor<T, cuda> t(shape);
  t.fill_(value);
  return t;
}
/// A cuda tensor of zeros.
template <class T, class Space>
  requires std::same_as<Space, cuda>
tensor<T, cuda> zeros(const shape_t& shape) {
  return full<T, cuda>(shape, T(0));
}
/// A cuda tensor of ones.
template <class T, class Space>
  requires std::same_as<Space, cuda>
tensor<T, cuda> ones(const shape_t& shape) {
  return full<T, cuda>(shape, T(1));
}
/// Zeros with the shape of `like`, on cuda.
template <class T>
tensor<T, cuda> zeros_like(const tensor<T, cuda>& like) {
  return full<T, cuda>(like.shape(), T(0));
}
/// A rank-0 cuda tensor holding `value`.
template <class T, class Space>
  requires std::same_as<Space, cuda>
tensor<T, cuda> scalar(T value) {
  return full<T, cuda>(shape_t{}, value);
}

/// Uniform samples in [low, high) from the next stream of `gen`: the same numbers as the host's
/// rand<T>(shape, gen, low, high) for the same generator state.
/// @throws tessera::invalid_argument when the bounds are not finite or low > high.
template <class T, class Space>
  requires std::same_as<Space, cuda>
tensor<T, cuda> rand(const shape_t& shape, generator& gen, T low = T(0), T high = T(1)) {
  if (!(low <= high) || !std::isfinite(low) || !std::isfinite(high))
    throw_invalid_argument("rand", "bounds [", low, ", ", high,
                           ") must be finite with low <= high");
  const philox_stream st = gen.next();
  tensor<T, cuda> t(shape);
  const index_t n = t.numel();
  if (n > 0) {
    cuda_kernels::philox_fill<T, false>
        <<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
            t.data(), n, st, low, high - low);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
  return t;
}

/// Normal samples N(mean, stddev²) from the next stream of `gen` (Philox + Box–Muller): the
/// host's randn numbers up to the last bits of the device's log/sin/cos.
/// @throws tessera::invalid_argument when mean or stddev is not finite or stddev < 0.
template <class T, class Space>
  requires std::same_as<Space, cuda>
tensor<T, cuda> randn(const shape_t& shape, generator& gen, T mean = T(0), T stddev = T(1)) {
  if (!(stddev >= T(0)) || !std::isfinite(stddev) || !std::isfinite(mean))
    throw_invalid_argument("randn", "mean ", mean, " and stddev ", stddev,
                           " must be finite with stddev >= 0");
  const philox_stream st = gen.next();
  tensor<T, cuda> t(shape);
  const index_t n = t.numel();
  if (n > 0) {
    cuda_kernels::philox_fill<T, true>
        <<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
            t.data(), n, st, mean, stddev);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
  return t;
}

/// A cuda tensor of `shape` holding `values` (row-major), copied from the host.
/// @throws tessera::invalid_argument when the counts differ.
template <class T, class Space>
  requires std::same_as<Space, cuda>
tensor<T, cuda> from_vector(const std::vector<T>& values, const shape_t& shape) {
  return to<cuda>(from_vector<T>(values, shape));
}

}  // namespace tessera
