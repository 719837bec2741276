// SPDX-License-Identifier: Apache-2.0
// matmul and batched matmul on cuda tensors through cuBLAS (numpy matmul semantics, as the
// host's ops/matmul.hpp): float (TF32 tensor cores when cuda_rt::allow_tf32(), bf16 operands
// when cuda_rt::matmul_bf16()) and double.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "tessera/cuda/blaslt.cuh"
#include "tessera/cuda/detail/linear_gelu_kernels.cuh"
#include "tessera/cuda/elementwise.cuh"
#include "tessera/cuda/reduce.cuh"
#include "tessera/cuda/tensor.cuh"
#include "tessera/ops/matmul.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// y[i] = x[i] rounded to bfloat16 (nearest even). Launch: 1-d grid-stride.
template <class S>
TESSERA_KERNEL void to_bf16(const S* __restrict__ x, __nv_bfloat16* __restrict__ y, index_t n) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = __float2bfloat16_rn(static_cast<float>(x[i]));
}

/// The same for float data in groups of four (V = float4): one 16-byte load, two 4-byte bf16
/// pair stores. A template like every kernel in a header (one definition per program).
template <class V>
TESSERA_KERNEL void to_bf16_x4(const V* __restrict__ x, __nv_bfloat162* __restrict__ y,
                               index_t n4) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4;
       i += stride) {
    const V v = x[i];
    y[2 * i] = __floats2bfloat162_rn(v.x, v.y);
    y[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
  }
}

/// The partial sums of matmul_batch_sum: block (c, t) computes the 32×32 tile t of
/// Σ a_i·b_i over chunk c of the flattened (batch, k) range (chunk c covers batch entry
/// c / chunks_per_batch, inner indices [kc·(c % chunks_per_batch), + kc)), and writes it to
/// part[c] (m, n). Operands are addressed by strides (batch, row, column), coalesced when a's
/// and b's k strides are 1 (the weight gradient Ȳ_b·X_bᵀ of contiguous activations). 256
/// threads as (32, 8): each thread owns 4 outputs of the tile, (ty + 8j, tx).
template <class T>
TESSERA_KERNEL void batch_product_partials(const T* __restrict__ a, const T* __restrict__ b,
                                           T* __restrict__ part, int m, int n, index_t k,
                                           index_t kc, index_t chunks_per_batch, index_t sab,
                                           index_t sam, index_t sak, index_t sbb, index_t sbk,
                                           index_t sbn) {
  __shared__ T as[32][33];  // [m][k]
  __shared__ T bs[32][33];  // [n][k]
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const index_t c = blockIdx.x;
  const index_t batch = c / chunks_per_batch;
  const index_t k_lo = (c % chunks_per_batch) * kc;
  const index_t k_hi = k_lo + kc < k ? k_lo + kc : k;
  const int tiles_n = (n + 31) / 32;
  const int m0 = static_cast<int>(blockIdx.y) / tiles_n * 32;
  const int n0 = static_cast<int>(blockIdx.y) % tiles_n * 32;
  const T* pa = a + batch * sab;
  const T* pb = b + batch * sbb;
  T acc[4] = {T(0), T(0), T(0), T(0)};
  for (index_t k0 = k_lo; k0 < k_hi; k0 += 32) {
    const index_t kk = k0 + tx;
    const bool in_k = kk < k_hi;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int r = ty + 8 * j;
      as[r][tx] = in_k && m0 + r < m ? pa[(m0 + r) * sam + kk * sak] : T(0);
      bs[r][tx] = in_k && n0 + r < n ? pb[kk * sbk + (n0 + r) * sbn] : T(0);
    }
    __syncthreads();
#pragma unroll 8
    for (int q = 0; q < 32; ++q) {
      const T bv = bs[tx][q];
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[j] += as[ty + 8 * j][q] * bv;
    }
    __syncthreads();  // the tiles are rewritten by the next step
  }
  T* out = part + c * static_cast<index_t>(m) * n;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int r = m0 + ty + 8 * j, col = n0 + tx;
    if (r < m && col < n) out[static_cast<index_t>(r) * n + col] = acc[j];
  }
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera {

namespace cuda_detail {

/// Rounds n contiguous floats at x to bf16 into y (vectorised when both allow it).
inline void round_to_bf16(const float* x, __nv_bfloat16* y, index_t n, cudaStream_t s) {
  if (n % 4 == 0 && reinterpret_cast<std::uintptr_t>(x) % 16 == 0 &&
      reinterpret_cast<std::uintptr_t>(y) % 4 == 0) {
    const index_t n4 = n / 4;
    cuda_kernels::to_bf16_x4<float4><<<cuda_rt::grid_for(n4), cuda_rt::block_threads, 0, s>>>(
        reinterpret_cast<const float4*>(x), reinterpret_cast<__nv_bfloat162*>(y), n4);
  } else {
    cuda_kernels::to_bf16<float><<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, s>>>(x, y, n);
  }
  TESSERA_CUDA_CHECK_LAUNCH();
}

/// out (batch, m, n) = bf16(a) (batch, m, k) · bf16(b) (batch, k, n) with FP32 accumulation;
/// a and b already expanded to the batch, copied contiguous and rounded to bf16 first.
inline void gemm_bf16(const tensor<float, cuda>& a, const tensor<float, cuda>& b,
                      const tensor<float, cuda>& out, index_t m, index_t n, index_t k, index_t nb) {
  const cudaStream_t s = cuda_rt::current_stream();
  const tensor<float, cuda> ac = a.contiguous(), bc = b.contiguous();
  cuda_rt::device_buffer<__nv_bfloat16> ah(static_cast<std::size_t>(ac.numel()), s);
  cuda_rt::device_buffer<__nv_bfloat16> bh(static_cast<std::size_t>(bc.numel()), s);
  round_to_bf16(ac.data(), ah.get(), ac.numel(), s);
  round_to_bf16(bc.data(), bh.get(), bc.numel(), s);
  const float alpha = 1.0f, beta = 0.0f;
  TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cuda_rt::cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
      static_cast<int>(k), &alpha, bh.get(), CUDA_R_16BF, static_cast<int>(n),
      static_cast<long long>(k * n), ah.get(), CUDA_R_16BF, static_cast<int>(k),
      static_cast<long long>(m * k), &beta, out.data(), CUDA_R_32F, static_cast<int>(n),
      static_cast<long long>(m * n), static_cast<int>(nb), CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT));
}

/// One GEMM operand as cuBLAS sees it (column-major): where it starts, whether cuBLAS must
/// transpose it, its leading dimension and the distance between batch entries.
template <class T>
struct gemm_operand {
  const T* p = nullptr;
  bool transpose = false;
  long long ld = 1;
  long long batch_stride = 0;
  tensor<T, cuda> keep;  // a contiguous copy when the view could not be used as is
};

/// Distance between consecutive batch entries of t (batch axes first, br of them, extents
/// `batch`), when one stride describes them all; false otherwise.
template <class T>
bool single_batch_stride(const tensor<T, cuda>& t, const shape_t& batch, long long& stride) {
  stride = 0;
  index_t expect = -1;  // the stride the next (outer) axis must have
  for (int ax = batch.rank() - 1; ax >= 0; --ax) {
    if (batch[ax] == 1) continue;
    const index_t s = t.strides()[ax];
    if (expect < 0) {
      stride = s;
    } else if (s != expect) {
      return false;
    }
    expect = s * batch[ax];
  }
  return true;
}

/// Describes the (rows, cols) matrices of t (batch axes first) for a product computed as
/// Cᵀ = Bᵀ·Aᵀ in cuBLAS's column-major terms: a row-major matrix is its own transpose there
/// (no transpose, ld = row stride), a column-major one needs cuBLAS to transpose it.
template <class T>
gemm_operand<T> make_operand(const tensor<T, cuda>& t, const shape_t& batch, index_t rows,
                             index_t cols) {
  const int br = batch.rank();
  gemm_operand<T> o;
  const index_t rs = t.strides()[br], cs = t.strides()[br + 1];
  const auto layout = tessera::detail::classify(rows, cols, rs, cs);
  if (layout != tessera::detail::mat_layout::copy &&
      single_batch_stride(t, batch, o.batch_stride)) {
    o.p = t.data();
    if (layout == tessera::detail::mat_layout::row_major) {
      o.transpose = false;
      o.ld = rows <= 1 ? std::max<index_t>(cols, 1) : rs;
    } else {
      o.transpose = true;
      o.ld = cols <= 1 ? std::max<index_t>(rows, 1) : cs;
    }
    return o;
  }
  o.keep = t.clone();  // contiguous (batch..., rows, cols), broadcast batches materialised
  o.p = o.keep.data();
  o.transpose = false;
  o.ld = std::max<index_t>(cols, 1);
  o.batch_stride = static_cast<long long>(rows * cols);
  return o;
}

/// cuBLAS's names for an element type: data type, compute type, type of α and β.
template <class T>
struct gemm_types;
template <>
struct gemm_types<float> {
  static constexpr cudaDataType_t data = CUDA_R_32F;
  static cublasComputeType_t compute() {
    return cuda_rt::allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  }
  using scalar = float;
};
template <>
struct gemm_types<double> {
  static constexpr cudaDataType_t data = CUDA_R_64F;
  static cublasComputeType_t compute() { return CUBLAS_COMPUTE_64F; }
  using scalar = double;
};
template <>
struct gemm_types<__nv_bfloat16> {  // bf16 storage: FP32 accumulation, bf16 result
  static constexpr cudaDataType_t data = CUDA_R_16BF;
  static cublasComputeType_t compute() { return CUBLAS_COMPUTE_32F; }
  using scalar = float;
};
template <>
struct gemm_types<__half> {  // half storage: FP32 accumulation, half result
  static constexpr cudaDataType_t data = CUDA_R_16F;
  static cublasComputeType_t compute() { return CUBLAS_COMPUTE_32F; }
  using scalar = float;
};

/// Column-major D (n×m, ldc = n) = β·C + op(B)·op(A) for nb batches (row-major out = a·b, as
/// matmul calls it), C = c_in when given (same layout as D, never written), else D itself:
/// with cuda_rt::gemm_lt() (the default) and T other than double, one cublasLtMatmul with the
/// thread's cached algorithm for the problem (see blaslt.cuh); otherwise, or when cuBLASLt has
/// no algorithm, cublasGemmEx for one batch and cublasGemmStridedBatchedEx for several (c_in
/// copied into D first).
template <class T>
void gemm_call(const gemm_operand<T>& A, const gemm_operand<T>& B, T* out, index_t m, index_t n,
               index_t k, index_t nb, long long strideC, typename gemm_types<T>::scalar beta,
               const T* c_in = nullptr) {
  using G = gemm_types<T>;
  const typename G::scalar alpha(1);
  const cublasOperation_t opA = A.transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opB = B.transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
  if constexpr (!std::is_same_v<T, double>) {
    if (cuda_rt::gemm_lt()) {
      lt_problem p;  // cuBLASLt's A is our B: C (n×m) = op(B) (n×k) · op(A) (k×m)
      p.data = G::data;
      p.compute = G::compute();
      p.scale = CUDA_R_32F;
      p.opa = opB;
      p.opb = opA;
      p.m = n;
      p.n = m;
      p.k = k;
      p.lda = B.ld;
      p.ldb = A.ld;
      p.ldc = n;
      p.batch = nb;
      p.stride_a = B.batch_stride;
      p.stride_b = A.batch_stride;
      p.stride_c = strideC;
      p.elem_bytes = sizeof(T);
      p.a = B.p;
      p.b = A.p;
      p.c = out;
      p.c_in = c_in != out ? c_in : nullptr;
      p.alpha = &alpha;
      p.beta = &beta;
      p.beta_zero = beta == typename G::scalar(0);
      if (lt_matmul(p)) return;
    }
  }
  const cublasHandle_t h = cuda_rt::cublas_handle();
  if (c_in != nullptr && c_in != out)
    TESSERA_CUDA_CHECK(
        cudaMemcpyAsync(out, c_in, static_cast<std::size_t>((nb - 1) * strideC + m * n) * sizeof(T),
                        cudaMemcpyDeviceToDevice, cuda_rt::current_stream()));
  if (nb == 1) {
    TESSERA_CUBLAS_CHECK(cublasGemmEx(
        h, opB, opA, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, B.p,
        G::data, static_cast<int>(B.ld), A.p, G::data, static_cast<int>(A.ld), &beta, out, G::data,
        static_cast<int>(n), G::compute(), CUBLAS_GEMM_DEFAULT));
  } else {
    TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, opB, opA, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, B.p,
        G::data, static_cast<int>(B.ld), B.batch_stride, A.p, G::data, static_cast<int>(A.ld),
        A.batch_stride, &beta, out, G::data, static_cast<int>(n), strideC, static_cast<int>(nb),
        G::compute(), CUBLAS_GEMM_DEFAULT));
  }
}

inline void check_int(const char* what, index_t v, const shape_t& a, const shape_t& b) {
  if (v > std::numeric_limits<int>::max())
    throw_invalid_argument("matmul", "lhs shape ", a.str(), ", rhs shape ", b.str(), ": ", what,
                           " ", v, " exceeds cuBLAS's 32-bit limit");
}

}  // namespace cuda_detail

/// Matrix product with numpy semantics on the current stream, through one cuBLAS call
/// (cublasGemmEx, or cublasGemmStridedBatchedEx with batch axes): (m,k)·(k,n) → (m,n); leading
/// batch axes broadcast; a rank-1 operand is a row (lhs) or column (rhs) vector whose axis is
/// dropped. Transposed views are used without copies; views whose batch axes do not reduce to one
/// stride are copied first. float uses TF32 tensor cores when cuda_rt::allow_tf32() is on;
/// __nv_bfloat16 and __half tensors (storage for matmul-heavy paths, see cast) multiply on
/// tensor cores with FP32 accumulation and a result of their own type.
/// @throws tessera::invalid_argument when an operand has rank 0, the inner dimensions differ,
///   the batch shapes do not broadcast or a dimension exceeds 2³¹ - 1.
template <class T>
tensor<T, cuda> matmul(const tensor<T, cuda>& lhs, const tensor<T, cuda>& rhs) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> ||
                    std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>,
                "cuda matmul is for float, double, __nv_bfloat16 and __half");
  const tessera::detail::matmul_shapes s = tessera::detail::plan_matmul(lhs.shape(), rhs.shape());
  const index_t m = s.m, k = s.k, n = s.n;
  const shape_t& batch = s.batch;
  const tensor<T, cuda> a = lhs.rank() == 1 ? lhs.unsqueeze(0) : lhs;
  const tensor<T, cuda> b = rhs.rank() == 1 ? rhs.unsqueeze(1) : rhs;
  tensor<T, cuda> out(s.out);
  auto finish = [&](tensor<T, cuda> r) {
    if (lhs.rank() == 1) r = r.squeeze(-2);
    if (rhs.rank() == 1) r = r.squeeze(-1);
    return r;
  };
  if (out.numel() == 0) return finish(out);
  if (k == 0) {
    out.fill_(T(0));
    return finish(out);
  }
  const index_t nb = batch.numel();
  cuda_detail::check_int("m", m, lhs.shape(), rhs.shape());
  cuda_detail::check_int("n", n, lhs.shape(), rhs.shape());
  cuda_detail::check_int("k", k, lhs.shape(), rhs.shape());
  cuda_detail::check_int("batch count", nb, lhs.shape(), rhs.shape());
  const shape_t& ea = s.lhs_full;
  const shape_t& eb = s.rhs_full;
  if constexpr (std::is_same_v<T, float>) {
    if (cuda_rt::matmul_bf16()) {
      cuda_detail::gemm_bf16(a.expand(ea), b.expand(eb), out, m, n, k, nb);
      return finish(out);
    }
  }
  const cuda_detail::gemm_operand<T> A = cuda_detail::make_operand(a.expand(ea), batch, m, k);
  const cuda_detail::gemm_operand<T> B = cuda_detail::make_operand(b.expand(eb), batch, k, n);
  cuda_detail::check_int("leading dimension", A.ld, lhs.shape(), rhs.shape());
  cuda_detail::check_int("leading dimension", B.ld, lhs.shape(), rhs.shape());

  // Row-major C (m×n) is column-major Cᵀ (n×m) = Bᵀ·Aᵀ: B goes first.
  cuda_detail::gemm_call<T>(A, B, out.data(), m, n, k, nb, static_cast<long long>(m * n),
                            typename cuda_detail::gemm_types<T>::scalar(0));
  return finish(out);
}

/// a·b + c on the current stream (ops/matmul.hpp's matmul_add): c enters the GEMM as its C
/// operand with β = 1 (cuBLASLt reads it and writes the result elsewhere: one pass fewer than
/// matmul then add) when it has the product's shape and is contiguous; otherwise it is
/// broadcast into the result first. float and double.
/// @throws tessera::invalid_argument as ops/matmul.hpp's matmul_add.
template <class T>
tensor<T, cuda> matmul_add(const tensor<T, cuda>& a, const tensor<T, cuda>& b,
                           const tensor<T, cuda>& c) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "cuda matmul_add is for float and double");
  const shape_t out_shape = tessera::detail::matmul_add_shape(a.shape(), b.shape(), c.shape());
  const tessera::detail::matmul_shapes s = tessera::detail::plan_matmul(a.shape(), b.shape());
  const index_t m = s.m, k = s.k, n = s.n, nb = s.batch.numel();
  bool plain = k > 0;
  if constexpr (std::is_same_v<T, float>) plain = plain && !cuda_rt::matmul_bf16();
  if (out_shape.numel() == 0 || !plain) {
    tensor<T, cuda> out = matmul(a, b);
    add_(out, c);
    return out;
  }
  cuda_detail::check_int("m", m, a.shape(), b.shape());
  cuda_detail::check_int("n", n, a.shape(), b.shape());
  cuda_detail::check_int("k", k, a.shape(), b.shape());
  cuda_detail::check_int("batch count", nb, a.shape(), b.shape());
  const cuda_detail::gemm_operand<T> A =
      cuda_detail::make_operand(a.expand(s.lhs_full), s.batch, m, k);
  const cuda_detail::gemm_operand<T> B =
      cuda_detail::make_operand(b.expand(s.rhs_full), s.batch, k, n);
  cuda_detail::check_int("leading dimension", A.ld, a.shape(), b.shape());
  cuda_detail::check_int("leading dimension", B.ld, a.shape(), b.shape());
  tensor<T, cuda> out(out_shape);
  const bool direct = c.shape() == out_shape && c.is_contiguous();
  if (!direct) out.copy_from(c);
  cuda_detail::gemm_call<T>(A, B, out.data(), m, n, k, nb, static_cast<long long>(m * n),
                            typename cuda_detail::gemm_types<T>::scalar(1),
                            direct ? c.data() : nullptr);
  return out;
}

/// out += a·b for rank-2 operands on the current stream: one cuBLAS GEMM with β = 1, no
/// temporary (the accumulating product of the tape's matmul rule, as the host's gemm with
/// accumulate). Transposed views of a and b pass without copies. With cuda_rt::matmul_bf16()
/// on, the bf16 product is formed by matmul and added.
/// @throws tessera::invalid_argument when an operand is not rank 2, out is not contiguous or
///   the shapes do not make out (m, n) = a (m, k) · b (k, n).
template <class T>
void matmul_acc_(const tensor<T, cuda>& out, const tensor<T, cuda>& a, const tensor<T, cuda>& b) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "cuda matmul is for float and double");
  if (out.rank() != 2 || a.rank() != 2 || b.rank() != 2 || !out.is_contiguous() ||
      a.size(1) != b.size(0) || out.size(0) != a.size(0) || out.size(1) != b.size(1))
    throw_invalid_argument("matmul_acc_", "out shape ", out.shape().str(), " (contiguous ",
                           out.is_contiguous(), "), lhs shape ", a.shape().str(), ", rhs shape ",
                           b.shape().str(), ": need out (m, n) += (m, k)·(k, n)");
  const index_t m = a.size(0), k = a.size(1), n = b.size(1);
  if (out.numel() == 0 || k == 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (cuda_rt::matmul_bf16()) {
      add_(out, matmul(a, b));
      return;
    }
  }
  cuda_detail::check_int("m", m, a.shape(), b.shape());
  cuda_detail::check_int("n", n, a.shape(), b.shape());
  cuda_detail::check_int("k", k, a.shape(), b.shape());
  const shape_t no_batch{};
  const cuda_detail::gemm_operand<T> A = cuda_detail::make_operand(a, no_batch, m, k);
  const cuda_detail::gemm_operand<T> B = cuda_detail::make_operand(b, no_batch, k, n);
  cuda_detail::check_int("leading dimension", A.ld, a.shape(), b.shape());
  cuda_detail::check_int("leading dimension", B.ld, a.shape(), b.shape());
  // Row-major out (m×n) is column-major outᵀ (n×m) = Bᵀ·Aᵀ, as in matmul.
  cuda_detail::gemm_call<T>(A, B, out.data(), m, n, k, 1, static_cast<long long>(m * n),
                            typename cuda_detail::gemm_types<T>::scalar(1));
}

/// Σ over the batch axes of a·b on the current stream (ops/matmul.hpp's matmul_batch_sum). For
/// float and double with m, n ≤ 128 (the weight gradient of a pointwise layer) the sum is two
/// kernels: batch_product_partials over chunks of the (batch, k) range sized to give the GPU a
/// few hundred blocks, then the chunks' partial tiles summed in a fixed order (sum over axis 0):
/// deterministic, and no (batch, m, n) products. Otherwise the batched product, summed.
/// @throws tessera::invalid_argument as ops/matmul.hpp's matmul_batch_sum.
template <class T>
tensor<T, cuda> matmul_batch_sum(const tensor<T, cuda>& a, const tensor<T, cuda>& b) {
  const shape_t out_shape = tessera::detail::batch_sum_shape(a.shape(), b.shape());
  const int r = a.rank();
  const index_t m = out_shape[0], n = out_shape[1], k = a.size(r - 1);
  shape_t batch;
  for (int i = 0; i + 2 < r; ++i) batch.push_back(a.size(i));
  const index_t nb = batch.numel();
  if constexpr (!std::is_same_v<T, float> && !std::is_same_v<T, double>) {
    return tessera::detail::batched_product_summed(a, b);
  } else {
    long long sab = 0, sbb = 0;
    if (r == 2 || m > 128 || n > 128 || m == 0 || n == 0 || nb * k < 1024 ||
        !cuda_detail::single_batch_stride(a, batch, sab) ||
        !cuda_detail::single_batch_stride(b, batch, sbb))
      return tessera::detail::batched_product_summed(a, b);
    const index_t tiles = ((m + 31) / 32) * ((n + 31) / 32);
    // Chunks of at most 1024 inner indices, halved (down to 64) until there are 512 blocks.
    index_t kc = 1024;
    index_t per_batch = (k + kc - 1) / kc;
    while (kc > 64 && nb * per_batch * tiles < 512) {
      kc /= 2;
      per_batch = (k + kc - 1) / kc;
    }
    const index_t chunks = nb * per_batch;
    cuda_detail::check_int("chunk count", chunks, a.shape(), b.shape());
    tensor<T, cuda> part(shape_t{chunks, m * n});
    const cudaStream_t s = cuda_rt::current_stream();
    cuda_kernels::batch_product_partials<T>
        <<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(tiles)), dim3(32, 8), 0, s>>>(
            a.data(), b.data(), part.data(), static_cast<int>(m), static_cast<int>(n), k, kc,
            per_batch, sab, a.strides()[r - 2], a.strides()[r - 1], sbb, b.strides()[r - 2],
            b.strides()[r - 1]);
    TESSERA_CUDA_CHECK_LAUNCH();
    // The chunks' tiles summed in a fixed order (sum's column kernel: part is (chunks, m·n)).
    return sum(part, shape_t{0}).reshape(out_shape);
  }
}

namespace cuda_detail {
/// The kernels of matmul_add_gelu's one-kernel path: `tiled` (linear_add_gelu_tiled, the
/// default) and `column` (linear_add_gelu, one thread per column, kept for the A/B benchmark
/// bench_cuda_ops fno_pointwise_gelu).
enum class gelu_kernel { tiled, column };

/// The one-kernel path of matmul_add_gelu (w2, x2 undefined) and matmul_pair_add_gelu with
/// kernel `k` (the column kernel takes no second product), or an undefined tensor when the
/// operands do not fit it: float or double, w (m, k) and w2 (m, k2) at most 32×32, x (B, k, P),
/// x2 (B, k2, P), c (B, m, P) or undefined, a per-row bias (m, 1), all contiguous, P > 1.
template <class T>
tensor<T, cuda> linear_gelu_kernel(const tensor<T, cuda>& w, const tensor<T, cuda>& x,
                                   const tensor<T, cuda>& w2, const tensor<T, cuda>& x2,
                                   const tensor<T, cuda>& c, const tensor<T, cuda>& bias,
                                   gelu_kernel k) {
  if constexpr (!std::is_same_v<T, float> && !std::is_same_v<T, double>) {
    return {};
  } else {
    const auto small = [](const tensor<T, cuda>& m, const tensor<T, cuda>& v) {
      return m.rank() == 2 && v.rank() == 3 && m.size(1) == v.size(1) && m.size(0) <= 32 &&
             m.size(1) <= 32 && m.is_contiguous() && v.is_contiguous();
    };
    if (!small(w, x) || !bias.is_contiguous()) return {};
    const bool pair = w2.defined();
    const index_t M = w.size(0), K = w.size(1), B = x.size(0), P = x.size(2);
    if (pair && (k == gelu_kernel::column || !small(w2, x2) || w2.size(0) != M || x2.size(0) != B ||
                 x2.size(2) != P))
      return {};
    const shape_t out_shape{B, M, P};
    index_t inner = 0, period = 0;
    if (M == 0 || B * P == 0 || (c.defined() && !(c.shape() == out_shape && c.is_contiguous())) ||
        !tessera::detail::run_bias_layout(out_shape, bias.shape(), inner, period) || inner != P ||
        period != M)
      return {};
    tensor<T, cuda> out(out_shape);
    const cudaStream_t s = cuda_rt::current_stream();
    const index_t cols = B * P;
    const T* cp = c.defined() ? c.data() : nullptr;
    auto go = [&](auto has_c, auto has_x2) {
      constexpr bool HasC = decltype(has_c)::value, HasX2 = decltype(has_x2)::value;
      if (k == gelu_kernel::tiled) {
        // One block per tile, up to grid_for's cap (32 blocks per multiprocessor).
        constexpr int threads = cuda_kernels::linear_add_gelu_tile_threads;
        const unsigned grid = cuda_rt::grid_for(cols, cuda_kernels::linear_add_gelu_tile_cols<T>);
        const cuda_kernels::linear_gelu_args<T> a{w.data(),
                                                  x.data(),
                                                  HasX2 ? w2.data() : nullptr,
                                                  HasX2 ? x2.data() : nullptr,
                                                  cp,
                                                  bias.data(),
                                                  out.data(),
                                                  static_cast<int>(M),
                                                  static_cast<int>(K),
                                                  HasX2 ? static_cast<int>(w2.size(1)) : 0,
                                                  P,
                                                  cols};
        cuda_kernels::linear_add_gelu_tiled<T, HasC, HasX2><<<grid, threads, 0, s>>>(a);
      } else if constexpr (!HasX2) {
        constexpr int threads = cuda_kernels::linear_add_gelu_threads<T>;
        cuda_kernels::linear_add_gelu<T, HasC><<<cuda_rt::grid_for(cols, threads), threads, 0, s>>>(
            w.data(), x.data(), cp, bias.data(), out.data(), static_cast<int>(M),
            static_cast<int>(K), P, cols);
      }
      TESSERA_CUDA_CHECK_LAUNCH();
    };
    if (pair)
      c.defined() ? go(std::true_type{}, std::true_type{})
                  : go(std::false_type{}, std::true_type{});
    else
      c.defined() ? go(std::true_type{}, std::false_type{})
                  : go(std::false_type{}, std::false_type{});
    return out;
  }
}

/// matmul_add_gelu's one-kernel path with kernel `k` (linear_gelu_kernel without a second
/// product).
template <class T>
tensor<T, cuda> matmul_add_gelu_kernel(const tensor<T, cuda>& w, const tensor<T, cuda>& x,
                                       const tensor<T, cuda>& c, const tensor<T, cuda>& bias,
                                       gelu_kernel k = gelu_kernel::tiled) {
  return linear_gelu_kernel(w, x, tensor<T, cuda>(), tensor<T, cuda>(), c, bias, k);
}
}  // namespace cuda_detail

/// gelu(w·x + c + bias) on the current stream (ops/matmul.hpp's matmul_add_gelu): one kernel
/// (linear_add_gelu_tiled, memory-bound: x and c read once, the result written once) for float and
/// double with w (m, k) at most 32×32, x (B, k, P), c (B, m, P) or undefined, and a per-row bias
/// (m, 1) on contiguous operands, P > 1; otherwise add_gelu(matmul_add(w, x, c), bias).
/// @throws tessera::invalid_argument as ops/matmul.hpp's matmul_add_gelu.
template <class T>
tensor<T, cuda> matmul_add_gelu(const tensor<T, cuda>& w, const tensor<T, cuda>& x,
                                const tensor<T, cuda>& c, const tensor<T, cuda>& bias) {
  tensor<T, cuda> out = cuda_detail::matmul_add_gelu_kernel(w, x, c, bias);
  if (out.defined()) return out;
  return tessera::detail::matmul_add_gelu_composite(w, x, c, bias);
}

/// gelu(w·x + (w2·x2 + c) + bias) on the current stream (ops/matmul.hpp's
/// matmul_pair_add_gelu): one kernel (linear_add_gelu_tiled with its second product) for float
/// and double with w (m, k) and w2 (m, k2) at most 32×32, x (B, k, P), x2 (B, k2, P), c
/// (B, m, P) or undefined, and a per-row bias (m, 1), all contiguous, P > 1; otherwise
/// matmul_add_gelu(w, x, matmul_add(w2, x2, c), bias) (matmul(w2, x2) without c).
/// @throws tessera::invalid_argument as ops/matmul.hpp's matmul_pair_add_gelu.
template <class T>
tensor<T, cuda> matmul_pair_add_gelu(const tensor<T, cuda>& w, const tensor<T, cuda>& x,
                                     const tensor<T, cuda>& w2, const tensor<T, cuda>& x2,
                                     const tensor<T, cuda>& c, const tensor<T, cuda>& bias) {
  if (w2.defined() && x2.defined()) {
    tensor<T, cuda> out =
        cuda_detail::linear_gelu_kernel(w, x, w2, x2, c, bias, cuda_detail::gelu_kernel::tiled);
    if (out.defined()) return out;
  }
  // The definition (its matmul_add_gelu is this file's; matmul of an undefined operand throws
  // as on the host).
  return tessera::detail::matmul_pair_add_gelu_composite(w, x, w2, x2, c, bias);
}

}  // namespace tessera
