// SPDX-License-Identifier: Apache-2.0
// The kernels of the fixed-point solver's passes (cuda/implicit.cuh launches them): the residual
// pass with its per-sample dot products, the per-sample combination, the device-resident solve's
// step and its best-iterate save. Kernel-only (detail/kernel_prelude.cuh): tests/cuda_emulated
// runs them on CPU threads.
#pragma once

#include "tessera/cuda/detail/kernel_prelude.cuh"
#include "tessera/implicit/detail/resident.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// Dot products one residual pass accumulates: ‖r‖², ‖f‖², then up to
/// fixed_point_max_others history products.
inline constexpr int fixed_point_max_others = 8;
inline constexpr int fixed_point_dots = 2 + fixed_point_max_others;
/// Terms one combination pass reads.
inline constexpr int fixed_point_max_terms = 16;

template <class T>
struct fixed_point_residual_args {
  const T* f;  ///< f(x); with x null it is r itself (a pass for further history products)
  const T* x;  ///< the iterate, or null
  T* r;        ///< written when x is set: f − x
  T* u;        ///< written when x and u are set: x + β (f − x)
  const T* g[fixed_point_max_others];
  int ng;
  bool f_norm;
  T beta;
  index_t n;        ///< elements per sample (row)
  index_t rows;     ///< samples
  double* partial;  ///< [rows][gridDim.x][fixed_point_dots]
};

/// Block-wide sums of the fixed_point_dots accumulators of every thread, in a fixed order;
/// thread q < fixed_point_dots returns sum q. blockDim.x is a multiple of 32, at most 1024.
__device__ inline double fixed_point_block_sum(double (&acc)[fixed_point_dots],
                                               double (&warp_sums)[fixed_point_dots][32]) {
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  const int warps = static_cast<int>(blockDim.x) / 32;
#pragma unroll
  for (int q = 0; q < fixed_point_dots; ++q) {
    double v = acc[q];
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) warp_sums[q][warp] = v;
  }
  __syncthreads();
  double s = 0;
  if (threadIdx.x < fixed_point_dots)
    for (int w = 0; w < warps; ++w) s += warp_sums[threadIdx.x][w];
  __syncthreads();  // warp_sums is reused by the next row
  return s;
}

/// Packs of V values at pack index k of p (V divides the row length, p 16-byte aligned when
/// V > 1: passes and combine launch V > 1 only then).
template <int V, class T>
__device__ __forceinline__ vec_pack<T, V> fixed_point_load(const T* p, index_t k) {
  return reinterpret_cast<const vec_pack<T, V>*>(p)[k];
}
template <int V, class T>
__device__ __forceinline__ void fixed_point_store(T* p, index_t k, const vec_pack<T, V>& v) {
  reinterpret_cast<vec_pack<T, V>*>(p)[k] = v;
}

/// Grid: x over the packs of V elements of a row (grid-stride), y over rows (grid-stride).
/// Each block writes its partial sums of one row to
/// partial[(row · gridDim.x + blockIdx.x) · dots + q]; the host adds the blocks' partials in
/// order (deterministic for a given grid and V). V > 1 (16-byte loads: every operand read in
/// packs, so each thread has V times the bytes in flight) needs V to divide a.n and every
/// pointer 16-byte aligned.
template <class T, int V>
TESSERA_KERNEL void fixed_point_residual(fixed_point_residual_args<T> a) {
  using pack = vec_pack<T, V>;
  __shared__ double warp_sums[fixed_point_dots][32];
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  const index_t nv = a.n / V;
  for (index_t row = blockIdx.y; row < a.rows; row += gridDim.y) {
    double acc[fixed_point_dots];
#pragma unroll
    for (int q = 0; q < fixed_point_dots; ++q) acc[q] = 0;
    const index_t base = row * nv;
    for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < nv;
         e += stride) {
      const index_t k = base + e;
      const pack f = fixed_point_load<V>(a.f, k);
      pack r = f;
      if (a.x) {
        const pack x = fixed_point_load<V>(a.x, k);
        pack u;
#pragma unroll
        for (int i = 0; i < V; ++i) {
          r.v[i] = f.v[i] - x.v[i];
          u.v[i] = x.v[i] + a.beta * r.v[i];
        }
        fixed_point_store<V>(a.r, k, r);
        if (a.u) fixed_point_store<V>(a.u, k, u);
      }
#pragma unroll
      for (int i = 0; i < V; ++i) {
        const double rd = static_cast<double>(r.v[i]);
        acc[0] += rd * rd;
        if (a.f_norm) acc[1] += static_cast<double>(f.v[i]) * static_cast<double>(f.v[i]);
      }
#pragma unroll
      for (int j = 0; j < fixed_point_max_others; ++j)
        if (j < a.ng) {
          const pack gj = fixed_point_load<V>(a.g[j], k);
#pragma unroll
          for (int i = 0; i < V; ++i)
            acc[2 + j] += static_cast<double>(r.v[i]) * static_cast<double>(gj.v[i]);
        }
    }
    const double s = fixed_point_block_sum(acc, warp_sums);
    if (threadIdx.x < fixed_point_dots)
      a.partial[(row * gridDim.x + blockIdx.x) * fixed_point_dots + threadIdx.x] = s;
  }
}

template <class T>
struct fixed_point_combine_args {
  const T* t[fixed_point_max_terms];
  int nt;
  const double* c;  ///< [rows][nt] coefficients
  T* out;
  index_t n, rows;
};

/// out[row, e] = Σ_j c[row, j] · t_j[row, e], accumulated in double (each element's sum in the
/// same order for every V; terms whose coefficient is 0 are skipped, not read). Grid and V as
/// fixed_point_residual's.
template <class T, int V>
TESSERA_KERNEL void fixed_point_combine(fixed_point_combine_args<T> a) {
  using pack = vec_pack<T, V>;
  __shared__ double cs[fixed_point_max_terms];
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  const index_t nv = a.n / V;
  for (index_t row = blockIdx.y; row < a.rows; row += gridDim.y) {
    if (static_cast<int>(threadIdx.x) < a.nt) cs[threadIdx.x] = a.c[row * a.nt + threadIdx.x];
    __syncthreads();
    const index_t base = row * nv;
    for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < nv;
         e += stride) {
      const index_t k = base + e;
      double acc[V];
#pragma unroll
      for (int i = 0; i < V; ++i) acc[i] = 0;
#pragma unroll
      for (int j = 0; j < fixed_point_max_terms; ++j)
        if (j < a.nt && cs[j] != 0) {  // a zero coefficient's term is not read (may be null)
          const pack tj = fixed_point_load<V>(a.t[j], k);
#pragma unroll
          for (int i = 0; i < V; ++i) acc[i] += cs[j] * static_cast<double>(tj.v[i]);
        }
      pack o;
#pragma unroll
      for (int i = 0; i < V; ++i) o.v[i] = static_cast<T>(acc[i]);
      fixed_point_store<V>(a.out, k, o);
    }
    __syncthreads();  // cs is rewritten for the next row
  }
}

/// The device-resident solve's step (implicit/detail/resident.hpp): one block; each thread
/// takes samples t, t + blockDim.x, …: resident_residual for all, then, once the block knows
/// whether any residual was not finite, resident_step (unless `last`). A template (on the
/// solve's element type, unused) so that the header defines it in every translation unit.
template <class T>
TESSERA_KERNEL void fixed_point_resident_step(implicit::detail::resident_view v, int k, int last) {
  bool bad = false;
  for (index_t b = threadIdx.x; b < v.rows; b += blockDim.x)
    bad = implicit::detail::resident_residual(v, b, k) || bad;
  const bool any_bad = __syncthreads_or(bad ? 1 : 0) != 0;
  if (last) return;
  double work[implicit::detail::resident_work];
  for (index_t b = threadIdx.x; b < v.rows; b += blockDim.x)
    implicit::detail::resident_step(v, b, k, any_bad, work);
}

/// Copies rows of x and u into best_z and best_u where best_iter[row] == evicted (the
/// device-resident solve keeps a sample's best iterate when the ring drops it). Grid as
/// fixed_point_residual's; a row that is not copied costs its blocks one read of best_iter.
template <class T>
TESSERA_KERNEL void fixed_point_save_best(const T* __restrict__ x, const T* __restrict__ u,
                                          T* __restrict__ best_z, T* __restrict__ best_u,
                                          const double* __restrict__ best_iter, double evicted,
                                          index_t n, index_t rows) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t row = blockIdx.y; row < rows; row += gridDim.y) {
    if (best_iter[row] != evicted) continue;
    const index_t base = row * n;
    for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
         e += stride) {
      best_z[base + e] = x[base + e];
      best_u[base + e] = u[base + e];
    }
  }
}

TESSERA_CUDA_NAMESPACE_END
