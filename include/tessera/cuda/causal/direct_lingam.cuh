// SPDX-License-Identifier: Apache-2.0
// DirectLiNGAM causal ordering on one GPU: the data stay resident for the whole ordering; per
// step a few launches (standardise, one FP64 GEMM for all correlations, one launch over every
// needed unordered pair for both residual entropies, scores, argmax, rank-1 residual update);
// only the chosen position crosses to the host (the kernels: cuda/detail/lingam_kernels.cuh).
// By default the transcendentals run on the special-function units (FP32 __expf/__logf: 3 per
// sample and residual) with FP64 accumulation; full FP64 (libdevice exp/log1p) on request. Same
// measure, candidates and tie-breaking as the CPU path; like the CPU's mixed mode, the FP32 path
// forms a residual from the FP32 copy of the standardised data only where it does not cancel (|ρ|
// <= 0.8) and from the FP64 copy otherwise.
#pragma once

#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <type_traits>
#include <vector>

#include "tessera/causal/ordering.hpp"
#include "tessera/causal/pair_index.hpp"
#include "tessera/causal/prior_knowledge.hpp"
#include "tessera/cuda/config.cuh"
#include "tessera/cuda/detail/lingam_kernels.cuh"
#include "tessera/cuda/runtime.cuh"

namespace tessera::causal {

/// Options of the GPU ordering.
struct gpu_ordering_options {
  /// Evaluate the transcendentals in FP64 too (default: FP32 with FP64 accumulation).
  bool full_fp64 = false;
  /// Stream to run on (default stream when null).
  cudaStream_t stream = nullptr;
};

namespace detail {
template <class T, class C>
ordering_result causal_order_gpu_impl(const tensor<T>& X, const ordering_options& opt,
                                      const gpu_ordering_options& gopt) {
  namespace K = tessera::cuda_kernels::lingam;
  check_lingam_data("causal::causal_order_gpu", X);
  const long n = X.size(0);
  const int d = static_cast<int>(X.size(1));
  const prior_knowledge pk =
      opt.prior_knowledge.defined() ? prior_knowledge(opt.prior_knowledge, d) : prior_knowledge();
  const bool soft = opt.apply_prior_knowledge_softly;
  std::vector<std::pair<index_t, index_t>> pairs;
  if (!pk.empty() && !soft) pairs = pk.precedence_pairs();
  cudaStream_t st = gopt.stream;

  // Host staging, variables × samples.
  std::vector<T> w(static_cast<std::size_t>(d) * static_cast<std::size_t>(n));
  for (long t = 0; t < n; ++t)
    for (int j = 0; j < d; ++j) w[static_cast<std::size_t>(j) * n + t] = X(t, j);
  constexpr bool fp32 = std::is_same_v<C, float>;
  cuda_rt::device_buffer<T> W(w.size(), st);
  cuda_rt::device_buffer<double> Zd(w.size(), st);
  cuda_rt::device_buffer<float> Zf(fp32 ? w.size() : 0, st);
  cuda_rt::device_buffer<double> rho(static_cast<std::size_t>(d) * d, st);
  cuda_rt::device_buffer<double> Hr(static_cast<std::size_t>(d) * d, st), H(d, st), M(d, st);
  cuda_rt::device_buffer<int> rem(d, st), out(2, st), flag(1, st);
  cuda_rt::device_buffer<unsigned long long> pair_flag(1, st);  // all ones: no collinear pair
  cuda_rt::device_buffer<unsigned char> cand(d, st), vj(d, st);
  std::vector<int> host_rem(static_cast<std::size_t>(d));
  for (int j = 0; j < d; ++j) host_rem[static_cast<std::size_t>(j)] = j;
  TESSERA_CUDA_CHECK(
      cudaMemcpyAsync(W.get(), w.data(), w.size() * sizeof(T), cudaMemcpyHostToDevice, st));
  TESSERA_CUDA_CHECK(
      cudaMemcpyAsync(rem.get(), host_rem.data(), d * sizeof(int), cudaMemcpyHostToDevice, st));
  TESSERA_CUDA_CHECK(cudaMemsetAsync(flag.get(), 0, sizeof(int), st));
  TESSERA_CUDA_CHECK(cudaMemsetAsync(pair_flag.get(), 0xFF, sizeof(unsigned long long), st));
  cublasHandle_t blas;
  TESSERA_CUBLAS_CHECK(cublasCreate(&blas));
  struct blas_guard {
    cublasHandle_t h;
    ~blas_guard() { cublasDestroy(h); }
  } guard{blas};
  TESSERA_CUBLAS_CHECK(cublasSetStream(blas, st));
  TESSERA_CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));

  ordering_result res;
  std::vector<unsigned char> hc, hv;
  int h_out[2];
  for (int k = d; k > 0; --k) {
    std::vector<index_t> U(host_rem.begin(), host_rem.begin() + k);
    const candidates cs = search_candidates(pk, soft, U, pairs, d, "causal::causal_order_gpu");
    int chosen_pos;
    const bool use_masks = !pk.empty();
    if (cs.uc.size() == 1) {
      chosen_pos = static_cast<int>(std::find(U.begin(), U.end(), cs.uc[0]) - U.begin());
      TESSERA_CUDA_CHECK(
          cudaMemcpyAsync(out.get(), &chosen_pos, sizeof(int), cudaMemcpyHostToDevice, st));
      if (opt.record_scores) {
        res.scores.emplace_back();
        res.candidates.push_back(cs.uc);
      }
    } else {
      if (use_masks) {
        hc.assign(static_cast<std::size_t>(k), 0);
        hv.assign(static_cast<std::size_t>(k), 0);
        for (int a = 0; a < k; ++a) {
          const index_t v = U[static_cast<std::size_t>(a)];
          hc[static_cast<std::size_t>(a)] = std::find(cs.uc.begin(), cs.uc.end(), v) != cs.uc.end();
          hv[static_cast<std::size_t>(a)] = cs.in_vj[static_cast<std::size_t>(v)];
        }
        TESSERA_CUDA_CHECK(cudaMemcpyAsync(cand.get(), hc.data(), k, cudaMemcpyHostToDevice, st));
        TESSERA_CUDA_CHECK(cudaMemcpyAsync(vj.get(), hv.data(), k, cudaMemcpyHostToDevice, st));
      }
      float* zf = fp32 ? Zf.get() : nullptr;
      K::standardize<T>
          <<<k, K::block_threads, 0, st>>>(W.get(), n, rem.get(), Zd.get(), zf, flag.get());
      TESSERA_CUDA_CHECK(cudaGetLastError());
      // ρ = Z Zᵀ / n in FP64: Z is (k, n) row-major = (n, k) column-major with leading
      // dimension n.
      const double alpha = 1.0 / static_cast<double>(n), beta = 0.0;
      TESSERA_CUBLAS_CHECK(cublasDgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, k, k, static_cast<int>(n),
                                       &alpha, Zd.get(), static_cast<int>(n), Zd.get(),
                                       static_cast<int>(n), &beta, rho.get(), k));
      K::self_entropy<C><<<k, K::block_threads, 0, st>>>(Zd.get(), zf, n, H.get());
      TESSERA_CUDA_CHECK(cudaGetLastError());
      const long P = pair_count(k);
      const unsigned gx = static_cast<unsigned>(std::min<long>(P, 65535L));
      const unsigned gy = static_cast<unsigned>((P + gx - 1) / gx);
      K::pair_entropy<C><<<dim3(gx, gy), K::block_threads, 0, st>>>(
          Zd.get(), zf, n, k, rho.get(), use_masks ? cand.get() : nullptr, Hr.get(),
          collinear_tolerance<T>(), pair_flag.get());
      TESSERA_CUDA_CHECK(cudaGetLastError());
      K::scores<<<k, K::block_threads, 0, st>>>(H.get(), Hr.get(), k,
                                                use_masks ? cand.get() : nullptr,
                                                use_masks ? vj.get() : nullptr, M.get());
      TESSERA_CUDA_CHECK(cudaGetLastError());
      K::argmax<<<1, K::block_threads, 0, st>>>(M.get(), k, out.get());
      TESSERA_CUDA_CHECK(cudaGetLastError());
      if (opt.record_scores) {
        std::vector<double> hm(static_cast<std::size_t>(k));
        TESSERA_CUDA_CHECK(
            cudaMemcpyAsync(hm.data(), M.get(), k * sizeof(double), cudaMemcpyDeviceToHost, st));
        TESSERA_CUDA_CHECK(cudaStreamSynchronize(st));
        std::vector<double> ms;
        for (int a = 0; a < k; ++a)
          if (!use_masks || hc[static_cast<std::size_t>(a)])
            ms.push_back(hm[static_cast<std::size_t>(a)]);
        res.scores.push_back(std::move(ms));
        res.candidates.push_back(cs.uc);
      }
      // The only per-step device→host traffic: the chosen position (and the error flag).
      int hflag = 0;
      unsigned long long hpair = 0;
      TESSERA_CUDA_CHECK(
          cudaMemcpyAsync(h_out, out.get(), sizeof(int), cudaMemcpyDeviceToHost, st));
      TESSERA_CUDA_CHECK(
          cudaMemcpyAsync(&hflag, flag.get(), sizeof(int), cudaMemcpyDeviceToHost, st));
      TESSERA_CUDA_CHECK(cudaMemcpyAsync(&hpair, pair_flag.get(), sizeof(unsigned long long),
                                         cudaMemcpyDeviceToHost, st));
      TESSERA_CUDA_CHECK(cudaStreamSynchronize(st));
      if (hflag != 0)
        throw_invalid_argument("causal::causal_order_gpu", "variable ",
                               U[static_cast<std::size_t>(hflag - 1)],
                               " has no variance left after regressing out ", res.order.size(),
                               " earlier variables (collinear data)");
      if (hpair != ~0ull) {
        std::int64_t a = 0, b = 0;
        pair_from_linear(static_cast<std::int64_t>(hpair), k, a, b);
        double r = 0;
        TESSERA_CUDA_CHECK(
            cudaMemcpy(&r, rho.get() + a * k + b, sizeof(double), cudaMemcpyDeviceToHost));
        throw_invalid_argument(
            "causal::causal_order_gpu", "variables ", U[static_cast<std::size_t>(a)], " and ",
            U[static_cast<std::size_t>(b)], " are collinear after regressing out ",
            res.order.size(), " earlier variables (correlation ", r, ")");
      }
      chosen_pos = h_out[0];
    }
    K::remove_chosen<<<1, 1, 0, st>>>(rem.get(), k, out.get());
    TESSERA_CUDA_CHECK(cudaGetLastError());
    if (k > 1) {
      K::regress_out<T><<<k - 1, K::block_threads, 0, st>>>(W.get(), n, rem.get(), out.get());
      TESSERA_CUDA_CHECK(cudaGetLastError());
    }
    const int chosen = host_rem[static_cast<std::size_t>(chosen_pos)];
    host_rem.erase(host_rem.begin() + chosen_pos);
    res.order.push_back(chosen);
    if (opt.progress) opt.progress(static_cast<index_t>(res.order.size()), d);
    if (!pairs.empty()) {
      std::vector<std::pair<index_t, index_t>> kept;
      for (const auto& p : pairs)
        if (p.first != chosen) kept.push_back(p);
      pairs.swap(kept);
    }
  }
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(st));
  return res;
}
}  // namespace detail

/// DirectLiNGAM causal order of X (samples × variables) computed on the current CUDA device;
/// same result as causal_order (to rounding) with the same options.
/// @throws tessera::invalid_argument as causal_order; tessera::cuda_error on CUDA failures.
template <class T>
ordering_result causal_order_gpu(const tensor<T>& X, const ordering_options& opt = {},
                                 const gpu_ordering_options& gopt = {}) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "causal_order_gpu works on float or double data");
  if (gopt.full_fp64 && std::is_same_v<T, double>)
    return detail::causal_order_gpu_impl<T, double>(X, opt, gopt);
  return detail::causal_order_gpu_impl<T, float>(X, opt, gopt);
}

}  // namespace tessera::causal
