// SPDX-License-Identifier: Apache-2.0
// The one-kernel path of matmul_add_gelu and matmul_pair_add_gelu (cuda/matmul.cuh launches
// them): gelu(W·x + c + b) and gelu(W·x + W₂·x₂ + c + b) for W, W₂ up to 32×32, applied to every
// column of a batch. Kernel-only (detail/kernel_prelude.cuh): tests/cuda_emulated runs them on
// CPU threads.
#pragma once

#include "tessera/cuda/detail/elementwise_ops.cuh"
#include "tessera/cuda/detail/kernel_prelude.cuh"

TESSERA_CUDA_NAMESPACE_BEGIN

/// Threads per block of linear_add_gelu for T (its shared staging area is 32 KB).
template <class T>
inline constexpr int linear_add_gelu_threads = static_cast<int>(1024 / sizeof(T));

/// out[b, o, p] = gelu(Σ_i w[o, i]·x[b, i, p] + c[b, o, p] + bias[o]) (matmul_add_gelu) for w
/// (M, K) with M, K ≤ 32, x (B, K, P), c (B, M, P) when HasC and out (B, M, P), all contiguous:
/// one thread per column (b, p), its M sums in registers. The thread first copies its K inputs
/// into its own slot of shared memory, then reads them back one at a time against wᵀ, which the
/// block keeps in shared memory zero-padded to 32 × 32 and reads 16 bytes at a time (the
/// padding adds exact zeros). Each sum is taken over i in order, then c added, then the bias
/// inside add_gelu_op, as matmul_add then add_gelu do.
/// Measured on an H200 (2026-11-27, run 11) at 2–4× its memory time: its 32 sums take 102–128
/// registers a thread (nvcc 13, sm_90), so one or two 256-thread blocks fit a multiprocessor.
/// linear_add_gelu_tiled is the replacement; this one stays for the A/B benchmark.
/// Launch: linear_add_gelu_threads<T> threads per block, 1-d grid-stride over the B·P columns.
template <class T, bool HasC>
TESSERA_KERNEL void linear_add_gelu(const T* __restrict__ w, const T* __restrict__ x,
                                    const T* __restrict__ c, const T* __restrict__ bias,
                                    T* __restrict__ out, int M, int K, index_t P, index_t cols) {
  constexpr int N = 32;                                // the largest M and K
  constexpr int V = static_cast<int>(16 / sizeof(T));  // values per 16-byte shared load
  constexpr int TC = linear_add_gelu_threads<T>;
  using pack = vec_pack<T, V>;
  __shared__ pack wt[N * N / V];  // wᵀ: [i][o]
  __shared__ T bs[N];
  __shared__ T xs[N * TC];  // [i][thread]: each thread's column of x
  const int t = static_cast<int>(threadIdx.x);
  T* wflat = reinterpret_cast<T*>(wt);
  for (int e = t; e < N * N; e += TC) {
    const int i = e / N, o = e % N;
    wflat[e] = o < M && i < K ? w[o * K + i] : T(0);
  }
  for (int o = t; o < N; o += TC) bs[o] = o < M ? bias[o] : T(0);
  __syncthreads();
  const index_t stride = static_cast<index_t>(gridDim.x) * TC;
  for (index_t col = static_cast<index_t>(blockIdx.x) * TC + t; col < cols; col += stride) {
    const index_t b = col / P, p = col - b * P;
    const T* xc = x + b * K * P + p;
    const index_t base = b * M * P + p;
#pragma unroll 8
    for (int i = 0; i < K; ++i) xs[i * TC + t] = xc[i * P];
    T acc[N];
#pragma unroll
    for (int o = 0; o < N; ++o) acc[o] = T(0);
#pragma unroll 2
    for (int i = 0; i < K; ++i) {
      const T xv = xs[i * TC + t];
#pragma unroll
      for (int q = 0; q < N / V; ++q) {
        const pack wq = wt[i * (N / V) + q];
#pragma unroll
        for (int e = 0; e < V; ++e) acc[q * V + e] += wq.v[e] * xv;
      }
    }
#pragma unroll
    for (int o = 0; o < N; ++o) {
      if (o < M) {
        T v = acc[o];
        if constexpr (HasC) v += c[base + o * P];
        out[base + o * P] = add_gelu_op{}(v, bs[o]);
      }
    }
  }
}

/// Shape of linear_add_gelu_tiled's blocks: threads, the columns of a tile (32 for double, so
/// that the staged tiles of both products fit the 48 KB of static shared memory), the output
/// rows one thread sums (threads / columns groups of them cover the 32 rows).
inline constexpr int linear_add_gelu_tile_threads = 256;
template <class T>
inline constexpr int linear_add_gelu_tile_cols = sizeof(T) > 4 ? 32 : 64;
template <class T>
inline constexpr int linear_add_gelu_tile_rows =
    32 / (linear_add_gelu_tile_threads / linear_add_gelu_tile_cols<T>);

/// The operands of linear_add_gelu_tiled: out[b, o, p] = gelu(Σ_i w[o, i]·x[b, i, p] +
/// s[b, o, p] + bias[o]) with s = Σ_j w2[o, j]·x2[b, j, p] + c[b, o, p] (each term present or
/// not: w2/x2 with HasX2, c with HasC), w (M, K), w2 (M, K2), M, K, K2 ≤ 32, x (B, K, P),
/// x2 (B, K2, P), c and out (B, M, P), all contiguous.
template <class T>
struct linear_gelu_args {
  const T *w, *x, *w2, *x2, *c, *bias;
  T* out;
  int M, K, K2;
  index_t P, cols;
};

/// linear_add_gelu with the work of a column split over four threads (float; eight for
/// double), so that a thread holds 8 sums (4), not 32: 48 registers without c, 62 with, for
/// float, so a multiprocessor runs 1024–1280 threads, each with 16 loads in flight, where
/// linear_add_gelu runs 256–512. A block takes tiles of CB = 64 consecutive columns (b, p)
/// (32 for double). Thread t owns column j = t % CB of the tile and the group g = t / CB
/// (uniform across a warp): it loads rows i = g, g + G, … of the tile's x (G = 256 / CB groups)
/// and its OG = 32 / G rows o = OG·g … of c, all independent and coalesced across the warp, and
/// only then waits; the x values go to shared memory ([i][j]), and the thread sums its OG
/// outputs over all K rows of its column against wᵀ (shared, [i][o], read 16 bytes at a time and
/// broadcast across the warp). The arithmetic is linear_add_gelu's, in the same order (each sum
/// over i in order, then c, then the bias inside add_gelu_op): the two give the same bits.
/// With HasX2 (matmul_pair_add_gelu: an FNO layer's last pointwise product and its skip
/// product W_s·z + x̃ in one pass), the second product's inputs are staged the same way and its
/// sums taken first, then c added to them (the skip path's matmul_add), then the first
/// product's sums, as the composite matmul_add_gelu(w, x, matmul_add(w2, x2, c), bias) orders
/// them. Written 2026-11-27 without a GPU at hand; register counts are from nvcc -Xptxas -v.
/// Launch: linear_add_gelu_tile_threads threads per block, grid-stride over the tiles.
template <class T, bool HasC, bool HasX2 = false>
TESSERA_KERNEL void linear_add_gelu_tiled(linear_gelu_args<T> a) {
  constexpr int N = 32;  // the largest M, K and K2
  constexpr int TT = linear_add_gelu_tile_threads, CB = linear_add_gelu_tile_cols<T>;
  constexpr int G = TT / CB;                           // row groups
  constexpr int OG = linear_add_gelu_tile_rows<T>;     // rows per group (= N / G)
  constexpr int V = static_cast<int>(16 / sizeof(T));  // values per 16-byte shared load
  constexpr int N2 = HasX2 ? N : 1;
  static_assert(OG * G == N && OG % V == 0 && CB % 32 == 0);
  using pack = vec_pack<T, V>;
  __shared__ pack wt[N * N / V];  // wᵀ: [i][o]
  __shared__ pack wt2[HasX2 ? N * N / V : 1];
  __shared__ T bs[N];
  __shared__ T xs[N][CB];  // the tile's x: [i][j]
  __shared__ T xs2[N2][CB];
  // Restrict-qualified copies of the operands (they never alias; reads through the
  // read-only path).
  const T* __restrict__ w = a.w;
  const T* __restrict__ x = a.x;
  const T* __restrict__ w2 = a.w2;
  const T* __restrict__ x2 = a.x2;
  const T* __restrict__ c = a.c;
  const T* __restrict__ bias = a.bias;
  T* __restrict__ out = a.out;
  const int M = a.M, K = a.K, K2 = a.K2;
  const index_t P = a.P;
  const int t = static_cast<int>(threadIdx.x), j = t % CB, g = t / CB;
  for (int e = t; e < N * N; e += TT) {
    const int i = e / N, o = e % N;
    reinterpret_cast<T*>(wt)[e] = o < M && i < K ? w[o * K + i] : T(0);
    if constexpr (HasX2) reinterpret_cast<T*>(wt2)[e] = o < M && i < K2 ? w2[o * K2 + i] : T(0);
  }
  for (int o = t; o < N; o += TT) bs[o] = o < M ? bias[o] : T(0);
  const int o0 = g * OG;     // this thread's first output row
  const bool sums = o0 < M;  // warp-uniform
  const index_t tiles = (a.cols + CB - 1) / CB;
  // Σ_i over `rows` rows of the staged tile `xt` against wᵀ `wq`, into acc (in order of i).
  const auto product = [&](const pack* wq, const T(*xt)[CB], int rows, T(&acc)[OG]) {
#pragma unroll
    for (int q = 0; q < OG; ++q) acc[q] = T(0);
#pragma unroll 4
    for (int i = 0; i < rows; ++i) {
      const T xi = xt[i][j];
#pragma unroll
      for (int q = 0; q < OG / V; ++q) {
        const pack wv = wq[(i * N + o0) / V + q];
#pragma unroll
        for (int e = 0; e < V; ++e) acc[q * V + e] += wv.v[e] * xi;
      }
    }
  };
  for (index_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const index_t col = tile * CB + j;
    const bool live = col < a.cols;
    const index_t b = live ? col / P : 0, p = live ? col - b * P : 0;
    const index_t base = b * M * P + p;
    T xv[OG], xv2[HasX2 ? OG : 1], cv[HasC ? OG : 1];
#pragma unroll
    for (int r = 0; r < OG; ++r) {
      const int i = g + G * r;
      xv[r] = live && i < K ? x[b * K * P + p + i * P] : T(0);
      if constexpr (HasX2) xv2[r] = live && i < K2 ? x2[b * K2 * P + p + i * P] : T(0);
    }
    if constexpr (HasC) {
#pragma unroll
      for (int q = 0; q < OG; ++q) cv[q] = live && o0 + q < M ? c[base + (o0 + q) * P] : T(0);
    }
    __syncthreads();  // every read of the previous tile's xs (and, first, wt and bs) is done
#pragma unroll
    for (int r = 0; r < OG; ++r) {
      xs[g + G * r][j] = xv[r];
      if constexpr (HasX2) xs2[g + G * r][j] = xv2[r];
    }
    __syncthreads();
    if (!sums) continue;
    T add[OG];  // what is added to the first product's sums: c, or the second product (+ c)
    if constexpr (HasX2) {
      product(wt2, xs2, K2, add);
      if constexpr (HasC) {
#pragma unroll
        for (int q = 0; q < OG; ++q) add[q] += cv[q];
      }
    } else if constexpr (HasC) {
#pragma unroll
      for (int q = 0; q < OG; ++q) add[q] = cv[q];
    }
    T acc[OG];
    product(wt, xs, K, acc);
    if (!live) continue;
#pragma unroll
    for (int q = 0; q < OG; ++q) {
      if (o0 + q < M) {
        T v = acc[q];
        if constexpr (HasC || HasX2) v += add[q];
        out[base + (o0 + q) * P] = add_gelu_op{}(v, bs[o0 + q]);
      }
    }
  }
}

TESSERA_CUDA_NAMESPACE_END
