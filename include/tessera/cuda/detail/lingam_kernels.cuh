// SPDX-License-Identifier: Apache-2.0
// The kernels of DirectLiNGAM's GPU ordering (cuda/causal/direct_lingam.cuh launches them):
// standardisation, the residual entropies of single variables and of every candidate pair (with
// the collinear-pair flag), the scores, their argmax, and the rank-1 residual update.
// Kernel-only (detail/kernel_prelude.cuh): tests/cuda_emulated runs them on CPU threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <type_traits>

#include "tessera/causal/ordering.hpp"
#include "tessera/causal/pair_index.hpp"
#include "tessera/cuda/detail/kernel_prelude.cuh"

TESSERA_CUDA_NAMESPACE_BEGIN
namespace lingam {

constexpr int block_threads = 256;

/// Sum of `v` over the block (blockDim.x == block_threads), valid in thread 0. Fixed order.
template <int N>
__device__ inline void block_sum(double (&v)[N]) {
  __shared__ double sh[N][block_threads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int i = 0; i < N; ++i) {
    double x = v[i];
    for (int o = 16; o > 0; o >>= 1) x += __shfl_down_sync(0xffffffffu, x, o);
    if (lane == 0) sh[i][warp] = x;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
#pragma unroll
    for (int i = 0; i < N; ++i) {
      double s = 0.0;
      for (int w = 0; w < block_threads / 32; ++w) s += sh[i][w];
      v[i] = s;
    }
  }
  __syncthreads();
}

/// Zd[a, :] = standardised W[rem[a], :] (population std) in double, and its float copy in Zf
/// when Zf is not null. Launch: grid k, block block_threads. Layout: W (d, n), Zd and Zf
/// (k, n), variables contiguous.
template <class T>
__global__ void standardize(const T* __restrict__ W, long n, const int* __restrict__ rem,
                            double* __restrict__ Zd, float* __restrict__ Zf,
                            int* __restrict__ flag) {
  const int a = blockIdx.x;
  const T* x = W + static_cast<long>(rem[a]) * n;
  double s[1] = {0.0};
  for (long t = threadIdx.x; t < n; t += block_threads) s[0] += static_cast<double>(x[t]);
  block_sum<1>(s);
  __shared__ double mean_sd[2];
  if (threadIdx.x == 0) mean_sd[0] = s[0] / static_cast<double>(n);
  __syncthreads();
  const double mu = mean_sd[0];
  double v[1] = {0.0};
  for (long t = threadIdx.x; t < n; t += block_threads) {
    const double c = static_cast<double>(x[t]) - mu;
    v[0] += c * c;
  }
  block_sum<1>(v);
  if (threadIdx.x == 0) {
    const double sd = ::sqrt(v[0] / static_cast<double>(n));
    mean_sd[1] = sd;
    if (!(sd > 0.0) || !isfinite(sd)) atomicExch(flag, 1 + a);
  }
  __syncthreads();
  const double sd = mean_sd[1];
  const bool ok = sd > 0.0 && isfinite(sd);
  double* zd = Zd + static_cast<long>(a) * n;
  float* zf = Zf != nullptr ? Zf + static_cast<long>(a) * n : nullptr;
  for (long t = threadIdx.x; t < n; t += block_threads) {
    // Division as on the CPU (and in lingam), not a multiplication by 1/sd.
    const double z = ok ? (static_cast<double>(x[t]) - mu) / sd : 0.0;
    zd[t] = z;
    if (zf != nullptr) zf[t] = static_cast<float>(z);
  }
}

/// One thread's FP32 partial sums, flushed into its FP64 sums every 32 samples (so the inner
/// loop carries no FP32→FP64 conversion: those run at 16 per clock per SM at compute capability
/// 9.0, the special-function units' rate).
struct f32_sums {
  float lc = 0.0f, ue = 0.0f;
  int count = 0;
};

/// Adds one residual sample u to the moment sums: lc += |u| + log1p(e^{-2|u|}) and
/// ue += u e^{-u²/2}. FP32: three special-function-unit operations (ex2, ex2, lg2; __expf(x)
/// is ex2(x·log2 e)), absolute error ~2e-7. FP64: libdevice exp and log1p.
__device__ inline void add_moments(float u, f32_sums& f, double& lc, double& ue) {
  const float au = fabsf(u);
  f.lc += au + __logf(1.0f + __expf(-2.0f * au));
  f.ue += u * __expf(-0.5f * u * u);
  if (++f.count == 32) {
    lc += static_cast<double>(f.lc);
    ue += static_cast<double>(f.ue);
    f = f32_sums{};
  }
}
__device__ inline void flush(f32_sums& f, double& lc, double& ue) {
  lc += static_cast<double>(f.lc);
  ue += static_cast<double>(f.ue);
  f = f32_sums{};
}
__device__ inline void add_moments(double u, f32_sums&, double& lc, double& ue) {
  const double au = fabs(u);
  lc += au + ::log1p(::exp(-2.0 * au));
  ue += u * ::exp(-0.5 * u * u);
}

/// Moment sums of both residuals of the pair (a, b): u = (z_a − ρ z_b)·s into v[0..1] and
/// (z_b − ρ z_a)·s into v[2..3], per thread (strided over the samples).
template <class C>
__device__ inline void pair_moments(const double* za, const double* zb, const float* fa,
                                    const float* fb, long n, double r, double s, double (&v)[4]) {
  f32_sums fu, fv;
  if constexpr (std::is_same_v<C, float>) {
    if (fabs(r) <= 0.8) {
      const float sf = static_cast<float>(s), rsf = static_cast<float>(r * s);
      for (long t = threadIdx.x; t < n; t += block_threads) {
        const float xa = fa[t], xb = fb[t];
        add_moments(fmaf(-xb, rsf, xa * sf), fu, v[0], v[1]);
        add_moments(fmaf(-xa, rsf, xb * sf), fv, v[2], v[3]);
      }
      flush(fu, v[0], v[1]);
      flush(fv, v[2], v[3]);
      return;
    }
  }
  for (long t = threadIdx.x; t < n; t += block_threads) {
    const double xa = za[t], xb = zb[t];
    add_moments(static_cast<C>((xa - r * xb) * s), fu, v[0], v[1]);
    add_moments(static_cast<C>((xb - r * xa) * s), fv, v[2], v[3]);
  }
  flush(fu, v[0], v[1]);
  flush(fv, v[2], v[3]);
}

__device__ inline double entropy(double sum_lc, double sum_ue, long n) {
  const double dn = static_cast<double>(n);
  return tessera::causal::detail::entropy_from_moments(sum_lc / dn - std::numbers::ln2,
                                                       sum_ue / dn);
}

/// H[a] = Ĥ(z_a). Launch: grid k, block block_threads.
template <class C>
__global__ void self_entropy(const double* __restrict__ Zd, const float* __restrict__ Zf, long n,
                             double* __restrict__ H) {
  const long a = blockIdx.x;
  double v[2] = {0.0, 0.0};
  f32_sums f;
  if constexpr (std::is_same_v<C, float>) {
    const float* z = Zf + a * n;
    for (long t = threadIdx.x; t < n; t += block_threads) add_moments(z[t], f, v[0], v[1]);
  } else {
    const double* z = Zd + a * n;
    for (long t = threadIdx.x; t < n; t += block_threads) add_moments(z[t], f, v[0], v[1]);
  }
  flush(f, v[0], v[1]);
  block_sum<2>(v);
  if (threadIdx.x == 0) H[a] = entropy(v[0], v[1], n);
}

/// For every unordered pair (a < b) with a candidate in it: Hr[a,b] = Ĥ of the standardised
/// residual of z_a on z_b and Hr[b,a] the reverse, from one pass over the samples.
/// Launch: grid pair_count(k) blocks (1-d, p = blockIdx.x + gridDim.x·blockIdx.y), block
/// block_threads. rho (k, k) in double (symmetric). A pair with 1 − ρ² < collinear_tol
/// (collinear_tolerance of the data's type) lowers *pair_flag to its linear index and is not
/// computed: the host refuses the data, naming the first such pair, as the host path does.
template <class C>
__global__ void pair_entropy(const double* __restrict__ Zd, const float* __restrict__ Zf, long n,
                             int k, const double* __restrict__ rho,
                             const unsigned char* __restrict__ cand, double* __restrict__ Hr,
                             double collinear_tol, unsigned long long* __restrict__ pair_flag) {
  const long p = static_cast<long>(blockIdx.x) + static_cast<long>(gridDim.x) * blockIdx.y;
  if (p >= tessera::causal::pair_count(k)) return;
  std::int64_t a, b;
  tessera::causal::pair_from_linear(p, k, a, b);
  if (cand != nullptr && !cand[a] && !cand[b]) return;
  const double r = rho[a * k + b];
  if (1.0 - r * r < collinear_tol) {  // (the same for the whole block)
    if (threadIdx.x == 0) atomicMin(pair_flag, static_cast<unsigned long long>(p));
    return;
  }
  const double sd = 1.0 / ::sqrt(::fmax(1.0 - r * r, 2.2250738585072014e-308));
  double v[4] = {0.0, 0.0, 0.0, 0.0};
  pair_moments<C>(Zd + a * n, Zd + b * n, Zf != nullptr ? Zf + a * n : nullptr,
                  Zf != nullptr ? Zf + b * n : nullptr, n, r, sd, v);
  block_sum<4>(v);
  if (threadIdx.x == 0) {
    Hr[a * k + b] = entropy(v[0], v[1], n);
    Hr[b * k + a] = entropy(v[2], v[3], n);
  }
}

// Non-template kernels are static (internal linkage): this header is included by every .cu
// file that includes <tessera/cuda.hpp>.
/// M[a] = -Σ_b min(0, Δ_ab)² for candidates (−inf otherwise), Δ_ab = (H_b + Hr_ab) −
/// (H_a + Hr_ba) with Hr_ba replaced by H_b when b ∈ Vj. Launch: grid k, block block_threads.
static __global__ void scores(const double* __restrict__ H, const double* __restrict__ Hr, int k,
                              const unsigned char* __restrict__ cand,
                              const unsigned char* __restrict__ vj, double* __restrict__ M) {
  const int a = blockIdx.x;
  if (cand != nullptr && !cand[a]) {
    if (threadIdx.x == 0) M[a] = -INFINITY;
    return;
  }
  double v[1] = {0.0};
  for (int b = threadIdx.x; b < k; b += block_threads) {
    if (b == a) continue;
    const double hrb = (vj != nullptr && vj[b]) ? H[b] : Hr[static_cast<long>(b) * k + a];
    const double delta = (H[b] + Hr[static_cast<long>(a) * k + b]) - (H[a] + hrb);
    const double m = fmin(0.0, delta);
    v[0] += m * m;
  }
  block_sum<1>(v);
  if (threadIdx.x == 0) M[a] = -v[0];
}

/// out[0] = first position of the maximum of M[0..k) (ties go to the lower position).
/// Launch: grid 1, block block_threads.
static __global__ void argmax(const double* __restrict__ M, int k, int* __restrict__ out) {
  __shared__ double best_v[block_threads];
  __shared__ int best_i[block_threads];
  double bv = -INFINITY;
  int bi = -1;
  for (int a = threadIdx.x; a < k; a += block_threads)
    if (M[a] > bv || bi < 0) {
      if (bi < 0 || M[a] > bv) {
        bv = M[a];
        bi = a;
      }
    }
  best_v[threadIdx.x] = bv;
  best_i[threadIdx.x] = bi;
  __syncthreads();
  for (int s = block_threads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) {
      const double ov = best_v[threadIdx.x + s];
      const int oi = best_i[threadIdx.x + s];
      const int mi = best_i[threadIdx.x];
      if (oi >= 0 &&
          (mi < 0 || ov > best_v[threadIdx.x] || (ov == best_v[threadIdx.x] && oi < mi))) {
        best_v[threadIdx.x] = ov;
        best_i[threadIdx.x] = oi;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = best_i[0];
}

/// Removes position out[0] from rem[0..k) (shifting the tail) and writes the chosen variable
/// to out[1]. Launch: grid 1, block 1.
static __global__ void remove_chosen(int* __restrict__ rem, int k, int* __restrict__ out) {
  const int pos = out[0];
  out[1] = rem[pos];
  for (int i = pos; i + 1 < k; ++i) rem[i] = rem[i + 1];
}

/// x_i ← x_i − (cov(x_i, x_m) / var(x_m))·x_m for each remaining i (population moments).
/// Launch: grid (k − 1), block block_threads; out[1] is m.
template <class T>
__global__ void regress_out(T* __restrict__ W, long n, const int* __restrict__ rem,
                            const int* __restrict__ out) {
  const T* xm = W + static_cast<long>(out[1]) * n;
  T* xi = W + static_cast<long>(rem[blockIdx.x]) * n;
  double s[2] = {0.0, 0.0};
  for (long t = threadIdx.x; t < n; t += block_threads) {
    s[0] += static_cast<double>(xm[t]);
    s[1] += static_cast<double>(xi[t]);
  }
  block_sum<2>(s);
  __shared__ double mu[2], coef;
  if (threadIdx.x == 0) {
    mu[0] = s[0] / static_cast<double>(n);
    mu[1] = s[1] / static_cast<double>(n);
  }
  __syncthreads();
  double c[2] = {0.0, 0.0};
  for (long t = threadIdx.x; t < n; t += block_threads) {
    const double dm = static_cast<double>(xm[t]) - mu[0];
    c[0] += dm * dm;
    c[1] += (static_cast<double>(xi[t]) - mu[1]) * dm;
  }
  block_sum<2>(c);
  if (threadIdx.x == 0) coef = c[1] / c[0];
  __syncthreads();
  const T cf = static_cast<T>(coef);
  for (long t = threadIdx.x; t < n; t += block_threads) xi[t] -= cf * xm[t];
}

}  // namespace lingam
TESSERA_CUDA_NAMESPACE_END
