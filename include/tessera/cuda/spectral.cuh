// SPDX-License-Identifier: Apache-2.0
// The spectral module on cuda tensors: batched complex GEMMs (complex_matmul) through cuBLAS and
// the truncated-DFT basis matrices of spectral_conv1d/2d, built on the host and copied to the
// device once per shape. With these, spectral_conv1d/2d (method truncated_dft) and the layout
// ops of spectral/layout_ops.hpp run on tensor<T, cuda>. Not part of <tessera/cuda.hpp> (as
// the spectral module is not part of <tessera/tessera.hpp>): include this header.
#pragma once

#include <cuComplex.h>
#include <cublas_v2.h>

#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tessera/cuda.hpp"
#include "tessera/spectral.hpp"

namespace tessera::spectral::detail {

/// One complex GEMM operand as cuBLAS sees it: dense row-major complex matrices (rows, cols)
/// `stride` complex elements apart (0: one matrix shared by every batch entry).
template <class T>
struct complex_operand {
  const T* p = nullptr;
  long long stride = 0;
  tensor<T, cuda> keep;  // the storage p points into
};

/// t (own_batch..., rows, cols, 2) prepared for a GEMM over `batch` (the broadcast batch):
/// made contiguous (and 2·sizeof(T)-aligned, as cuComplex loads need); a batch that is neither
/// t's own full extent nor a single matrix is materialised by expanding first.
template <class T>
complex_operand<T> make_complex_operand(const tensor<T, cuda>& t, const shape_t& own_batch,
                                        const shape_t& batch) {
  complex_operand<T> o;
  const index_t rows = t.shape()[t.rank() - 3], cols = t.shape()[t.rank() - 2];
  const index_t own = own_batch.numel(), all = batch.numel();
  tensor<T, cuda> c = t.contiguous();
  const auto misaligned = [](const tensor<T, cuda>& x) {
    return reinterpret_cast<std::uintptr_t>(x.data()) % (2 * sizeof(T)) != 0;
  };
  if (own == all || own == 1) {
    if (misaligned(c)) c = t.clone();
    o.stride = own == 1 && all > 1 ? 0 : static_cast<long long>(rows * cols);
  } else {
    shape_t full = batch;
    full.push_back(rows);
    full.push_back(cols);
    full.push_back(2);
    c = t.expand(full).clone();  // fresh storage: aligned
    o.stride = static_cast<long long>(rows * cols);
  }
  o.p = c.data();
  o.keep = std::move(c);
  return o;
}

/// The cuda kernels of the spectral module (see space_backend in spectral/complex_matmul.hpp).
template <>
struct space_backend<cuda> {
  /// complex_matmul on cuda: one cublasGemmStridedBatchedEx on CUDA_C_32F/64F data. Row-major
  /// C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ; the memory of a row-major M is the
  /// column-major Mᵀ, so op = identity passes as CUBLAS_OP_N and op = conjugate transpose as
  /// CUBLAS_OP_C ((Mᴴ)ᵀ = conj(M) = (Mᵀ)ᴴ). Leading dimensions are the stored column counts.
  /// Float uses TF32 tensor cores when cuda_rt::allow_tf32() is on (the bf16 matmul option
  /// does not apply to complex products).
  template <class T>
  static tensor<T, cuda> complex_matmul(const tensor<T, cuda>& a, const tensor<T, cuda>& b,
                                        bool adjoint_a, bool adjoint_b,
                                        const complex_matmul_plan& plan) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "cuda complex_matmul is for float and double");
    tensor<T, cuda> out(plan.out);
    if (out.numel() == 0) return out;
    if (plan.k == 0) {
      out.fill_(T(0));
      return out;
    }
    const index_t nb = plan.batch.numel();
    const complex_operand<T> A = make_complex_operand(a, plan.a_batch, plan.batch);
    const complex_operand<T> B = make_complex_operand(b, plan.b_batch, plan.batch);
    const index_t lda = a.shape()[a.rank() - 2], ldb = b.shape()[b.rank() - 2];
    for (const auto& [what, v] :
         {std::pair{"m", plan.m}, std::pair{"n", plan.n}, std::pair{"k", plan.k},
          std::pair{"batch count", nb}, std::pair{"leading dimension", lda},
          std::pair{"leading dimension", ldb}})
      if (v > std::numeric_limits<int>::max())
        throw_invalid_argument("spectral::complex_matmul", "shapes ", a.shape().str(), " and ",
                               b.shape().str(), ": ", what, " ", v,
                               " exceeds cuBLAS's 32-bit limit");
    const cublasHandle_t h = cuda_rt::cublas_handle();
    const cublasOperation_t opA = adjoint_a ? CUBLAS_OP_C : CUBLAS_OP_N;
    const cublasOperation_t opB = adjoint_b ? CUBLAS_OP_C : CUBLAS_OP_N;
    const int m = static_cast<int>(plan.m), n = static_cast<int>(plan.n),
              k = static_cast<int>(plan.k);
    const long long strideC = static_cast<long long>(plan.m * plan.n);
    if constexpr (std::is_same_v<T, float>) {
      const cuComplex alpha = make_cuComplex(1.0f, 0.0f), beta = make_cuComplex(0.0f, 0.0f);
      const cublasComputeType_t ct =
          cuda_rt::allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          h, opB, opA, n, m, k, &alpha, B.p, CUDA_C_32F, static_cast<int>(ldb), B.stride, A.p,
          CUDA_C_32F, static_cast<int>(lda), A.stride, &beta, out.data(), CUDA_C_32F, n, strideC,
          static_cast<int>(nb), ct, CUBLAS_GEMM_DEFAULT));
    } else {
      const cuDoubleComplex alpha = make_cuDoubleComplex(1.0, 0.0),
                            beta = make_cuDoubleComplex(0.0, 0.0);
      TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          h, opB, opA, n, m, k, &alpha, B.p, CUDA_C_64F, static_cast<int>(ldb), B.stride, A.p,
          CUDA_C_64F, static_cast<int>(lda), A.stride, &beta, out.data(), CUDA_C_64F, n, strideC,
          static_cast<int>(nb), CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT));
    }
    return out;
  }

  /// The spectral_conv2d matrices for (H, W, m1, m2) on the current device, built on the host
  /// and copied on first use, then shared by every later call (any thread, any stream).
  /// @throws tessera::invalid_argument when a new shape is first seen while the current stream
  ///   is being captured into a CUDA graph (run the step once before capturing it).
  template <class T>
  static conv2d_bases<T, cuda> conv2d_matrices(index_t H, index_t W, index_t m1, index_t m2) {
    return cached<T, conv2d_bases<T, cuda>>(
        "spectral::spectral_conv2d", key{cuda_rt::current_device(), H, W, m1, m2}, [&] {
          const conv2d_bases<T> h = make_conv2d_bases<T>(H, W, m1, m2);
          return conv2d_bases<T, cuda>{to<cuda>(h.f1), to<cuda>(h.g), to<cuda>(h.ginv),
                                       to<cuda>(h.finv)};
        });
  }

  /// The spectral_conv1d matrices for (n, m), cached as conv2d_matrices.
  template <class T>
  static std::pair<tensor<T, cuda>, tensor<T, cuda>> conv1d_matrices(index_t n, index_t m) {
    return cached<T, std::pair<tensor<T, cuda>, tensor<T, cuda>>>(
        "spectral::spectral_conv1d", key{cuda_rt::current_device(), n, m, -1, -1}, [&] {
          const auto [f, finv] = make_conv1d_bases<T>(n, m);
          return std::pair{to<cuda>(f), to<cuda>(finv)};
        });
  }

 private:
  using key = std::tuple<int, index_t, index_t, index_t, index_t>;

  /// The cache entry for `k`, made by `make` the first time. Entries live until the process
  /// ends and are never freed (freeing device memory during static destruction, after the
  /// CUDA runtime may have shut down, is not safe); they are allocated and filled on the
  /// legacy default stream, which is then synchronised, so every stream may read them.
  template <class T, class V, class Make>
  static V cached(const char* fn, const key& k, Make make) {
    static std::mutex mu;
    static auto* entries = new std::map<key, V>();
    const std::lock_guard<std::mutex> lock(mu);
    if (const auto it = entries->find(k); it != entries->end()) return it->second;
    if (cuda_rt::is_capturing(cuda_rt::current_stream()))
      throw_invalid_argument(fn, "the basis matrices of a new shape (", std::get<1>(k), ", ",
                             std::get<2>(k), ", ", std::get<3>(k), ", ", std::get<4>(k),
                             ") are made on first use, which cannot happen during CUDA graph "
                             "capture: run the computation once before capturing it");
    const cuda_rt::stream_guard legacy(nullptr);
    V v = make();
    cuda_rt::synchronize();
    return entries->emplace(k, std::move(v)).first->second;
  }
};

}  // namespace tessera::spectral::detail
