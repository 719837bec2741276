// SPDX-License-Identifier: Apache-2.0
// The host GEMM behind matmul and its gradients: C (m×n, row-major, leading dimension ldc)
// = A·B or C += A·B on strided operands, through BLIS, a Fortran BLAS or Eigen.
//
// Which one is chosen at build time by tessera's CMake option TESSERA_GEMM and passed on as a
// compile definition of tessera::tessera:
//   TESSERA_GEMM_BLIS=1  BLIS's typed API (any strides, no copies; per-call thread count, so
//                        no global BLIS state is touched), called through blis_gemm.hpp: the
//                        BLIS call is compiled in src/blis_gemm.cpp (target tessera::blis) so
//                        that blis.h's macros stay out of user code
//   TESSERA_GEMM_BLAS=1  a Fortran BLAS (OpenBLAS, MKL, reference): ?gemm_ with transposition
//                        flags; operands with two non-unit strides are copied first
//   neither              Eigen's GEMM (header-only, always available as gemm_eigen)
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <type_traits>
#include <vector>

#include "tessera/core/parallel.hpp"
#include "tessera/core/shape.hpp"

// Unset means off (and says so, so that `#if` on them is quiet under -Wundef).
#ifndef TESSERA_GEMM_BLIS
#define TESSERA_GEMM_BLIS 0
#endif
#ifndef TESSERA_GEMM_BLAS
#define TESSERA_GEMM_BLAS 0
#endif

#if TESSERA_GEMM_BLIS
#include "tessera/ops/detail/blis_gemm.hpp"  // the call itself is compiled in src/blis_gemm.cpp
#endif

#if TESSERA_GEMM_BLAS
#if defined(__GNUC__) || defined(__clang__)
// Fortran BLAS with 32-bit integers (LP64), the ABI of Debian's libblas.so.3 providers. Declared
// under tessera's own names and bound to the Fortran symbols by asm labels: a global
// sgemm_/dgemm_ declaration would conflict with the user's BLAS header (OpenBLAS's f77blas.h
// declares them with non-const pointers, which is a different C function type).
namespace tessera::detail {
void fortran_sgemm(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                   const float* alpha, const float* a, const int* lda, const float* b,
                   const int* ldb, const float* beta, float* c, const int* ldc) __asm__("sgemm_");
void fortran_dgemm(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                   const double* alpha, const double* a, const int* lda, const double* b,
                   const int* ldb, const double* beta, double* c, const int* ldc) __asm__("dgemm_");
}  // namespace tessera::detail
#else
extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc);
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
            const double* beta, double* c, const int* ldc);
}
namespace tessera::detail {
inline constexpr auto* fortran_sgemm = &::sgemm_;
inline constexpr auto* fortran_dgemm = &::dgemm_;
}  // namespace tessera::detail
#endif
#endif

namespace tessera::detail {

/// Name of the GEMM backend this translation unit was built with ("blis", "blas", "eigen").
inline const char* gemm_backend() noexcept {
#if TESSERA_GEMM_BLIS
  return "blis";
#elif TESSERA_GEMM_BLAS
  return "blas";
#else
  return "eigen";
#endif
}

/// How a 2-d (rows, cols) strided block maps onto a dense matrix without a copy.
enum class mat_layout { row_major, col_major, copy };

inline mat_layout classify(index_t rows, index_t cols, index_t rs, index_t cs) {
  if (cs == 1 && (rs >= cols || rows <= 1)) return mat_layout::row_major;
  if (rs == 1 && (cs >= rows || cols <= 1)) return mat_layout::col_major;
  return mat_layout::copy;
}

/// Dense row-major copy of a strided (rows, cols) block; strides become (cols, 1).
template <class T>
std::vector<T> dense_copy(const T* p, index_t rows, index_t cols, index_t rs, index_t cs) {
  std::vector<T> out(static_cast<std::size_t>(rows * cols));
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j)
      out[static_cast<std::size_t>(i * cols + j)] = p[i * rs + j * cs];
  return out;
}

template <class T>
using row_major_map =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
               Eigen::OuterStride<>>;
template <class T>
using col_major_map =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>, 0, Eigen::OuterStride<>>;
template <class T>
using out_map = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                           Eigen::OuterStride<>>;

/// Eigen's GEMM. A is (m×k) with strides (ars, acs), B is (k×n) with strides (brs, bcs).
template <class T>
void gemm_eigen(const T* a, index_t m, index_t k, index_t ars, index_t acs, const T* b, index_t n,
                index_t brs, index_t bcs, T* c, index_t ldc, bool accumulate) {
  out_map<T> C(c, m, n, Eigen::OuterStride<>(ldc));
  if (k == 0) {
    if (!accumulate) C.setZero();
    return;
  }
  std::vector<T> a_copy, b_copy;
  auto run = [&](const auto& A) {
    auto go = [&](const auto& B) {
      if (accumulate)
        C.noalias() += A * B;
      else
        C.noalias() = A * B;
    };
    switch (classify(k, n, brs, bcs)) {
      case mat_layout::row_major:
        go(row_major_map<T>(b, k, n, Eigen::OuterStride<>(k <= 1 ? n : brs)));
        break;
      case mat_layout::col_major:
        go(col_major_map<T>(b, k, n, Eigen::OuterStride<>(n <= 1 ? k : bcs)));
        break;
      default:
        b_copy = dense_copy(b, k, n, brs, bcs);
        go(row_major_map<T>(b_copy.data(), k, n, Eigen::OuterStride<>(n)));
    }
  };
  switch (classify(m, k, ars, acs)) {
    case mat_layout::row_major:
      run(row_major_map<T>(a, m, k, Eigen::OuterStride<>(m <= 1 ? k : ars)));
      break;
    case mat_layout::col_major:
      run(col_major_map<T>(a, m, k, Eigen::OuterStride<>(k <= 1 ? m : acs)));
      break;
    default:
      a_copy = dense_copy(a, m, k, ars, acs);
      run(row_major_map<T>(a_copy.data(), m, k, Eigen::OuterStride<>(k)));
  }
}

#if TESSERA_GEMM_BLIS
/// BLIS's typed API, which takes any row and column strides. The thread count is set per call
/// (tessera's max_threads(): 1 inside a parallel region or below 2^20 multiply-adds), and BLIS's
/// small/unpacked ("sup") path is used only for skinny products, where it wins; for the rest the
/// packed path is faster on the CPUs measured (docs/benchmarks.md).
template <class T>
void gemm_blis(const T* a, index_t m, index_t k, index_t ars, index_t acs, const T* b, index_t n,
               index_t brs, index_t bcs, T* c, index_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate)
      for (index_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, T(0));
    return;
  }
  // Each operand as row-major (rs, 1) or column-major (1, cs) without a copy when it is one;
  // anything else (broadcast, negative or two non-unit strides) is copied first.
  std::vector<T> a_copy, b_copy;
  auto prepare = [](const T*& p, index_t rows, index_t cols, index_t& rs, index_t& cs,
                    std::vector<T>& copy) {
    switch (classify(rows, cols, rs, cs)) {
      case mat_layout::row_major:
        rs = rows <= 1 ? cols : rs, cs = 1;
        return;
      case mat_layout::col_major:
        cs = cols <= 1 ? rows : cs, rs = 1;
        return;
      default:
        copy = dense_copy(p, rows, cols, rs, cs);
        p = copy.data(), rs = cols, cs = 1;
    }
  };
  prepare(a, m, k, ars, acs, a_copy);
  prepare(b, k, n, brs, bcs, b_copy);
  // Below about a megaflop forking threads costs more than it saves.
  blis_gemm(a, ars, acs, b, brs, bcs, c, ldc, m, n, k, accumulate,
            m * n * k < (index_t(1) << 20) ? 1 : max_threads(), std::min(m, n) < 64);
}
#endif

#if TESSERA_GEMM_BLAS
/// A Fortran BLAS: row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ, so B goes first.
template <class T>
void gemm_blas(const T* a, index_t m, index_t k, index_t ars, index_t acs, const T* b, index_t n,
               index_t brs, index_t bcs, T* c, index_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  constexpr index_t int_max = 2147483647;
  if (k == 0 || m > int_max || n > int_max || k > int_max || ldc > int_max) {
    gemm_eigen(a, m, k, ars, acs, b, n, brs, bcs, c, ldc, accumulate);
    return;
  }
  std::vector<T> a_copy, b_copy;
  // Operand X (rows×cols) as a column-major matrix for BLAS: row-major X with leading
  // dimension rs is column-major Xᵀ ("N" when Xᵀ is wanted); column-major X needs "T".
  auto prepare = [](const T*& p, index_t rows, index_t cols, index_t rs, index_t cs,
                    std::vector<T>& copy, char& op, index_t& ld) {
    switch (classify(rows, cols, rs, cs)) {
      case mat_layout::row_major:
        op = 'N', ld = std::max<index_t>(rows <= 1 ? cols : rs, std::max<index_t>(cols, 1));
        return;
      case mat_layout::col_major:
        op = 'T', ld = std::max<index_t>(cols <= 1 ? rows : cs, std::max<index_t>(rows, 1));
        return;
      default:
        copy = dense_copy(p, rows, cols, rs, cs);
        p = copy.data(), op = 'N', ld = std::max<index_t>(cols, 1);
    }
  };
  char opa, opb;
  index_t lda, ldb;
  prepare(a, m, k, ars, acs, a_copy, opa, lda);
  prepare(b, k, n, brs, bcs, b_copy, opb, ldb);
  if (lda > int_max || ldb > int_max) {
    gemm_eigen(a, m, k, opa == 'N' ? lda : 1, opa == 'N' ? 1 : lda, b, n, opb == 'N' ? ldb : 1,
               opb == 'N' ? 1 : ldb, c, ldc, accumulate);
    return;
  }
  const int M = static_cast<int>(n), N = static_cast<int>(m), K = static_cast<int>(k);
  const int LDA = static_cast<int>(ldb), LDB = static_cast<int>(lda), LDC = static_cast<int>(ldc);
  const T alpha = 1, beta = accumulate ? T(1) : T(0);
  if constexpr (std::is_same_v<T, float>)
    fortran_sgemm(&opb, &opa, &M, &N, &K, &alpha, b, &LDA, a, &LDB, &beta, c, &LDC);
  else
    fortran_dgemm(&opb, &opa, &M, &N, &K, &alpha, b, &LDA, a, &LDB, &beta, c, &LDC);
}
#endif

/// C (m×n, row-major with leading dimension ldc ≥ n) = A·B, or C += A·B when accumulate is
/// set. A is (m×k) with strides (ars, acs), B is (k×n) with strides (brs, bcs), in elements;
/// any strides, including 0 (broadcast) and negative ones for the Eigen path.
template <class T>
void gemm(const T* a, index_t m, index_t k, index_t ars, index_t acs, const T* b, index_t n,
          index_t brs, index_t bcs, T* c, index_t ldc, bool accumulate) {
#if TESSERA_GEMM_BLIS
  gemm_blis(a, m, k, ars, acs, b, n, brs, bcs, c, ldc, accumulate);
#elif TESSERA_GEMM_BLAS
  gemm_blas(a, m, k, ars, acs, b, n, brs, bcs, c, ldc, accumulate);
#else
  gemm_eigen(a, m, k, ars, acs, b, n, brs, bcs, c, ldc, accumulate);
#endif
}

}  // namespace tessera::detail
