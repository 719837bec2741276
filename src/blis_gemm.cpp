// SPDX-License-Identifier: Apache-2.0
// tessera's one compiled file: the BLIS call behind include/tessera/ops/detail/blis_gemm.hpp,
// built as the static library tessera::blis when TESSERA_GEMM resolves to BLIS. blis.h is
// included here only, so its macros and global names never reach user code.
#include "tessera/ops/detail/blis_gemm.hpp"

#include <blis.h>

namespace tessera::detail {
namespace {

template <class T, class Gemm>
void call(Gemm gemm, const T* a, std::int64_t ars, std::int64_t acs, const T* b, std::int64_t brs,
          std::int64_t bcs, T* c, std::int64_t ldc, std::int64_t m, std::int64_t n,
          std::int64_t k, bool accumulate, int threads, bool small_path) {
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(threads, &rntm);
  if (!small_path) bli_rntm_disable_l3_sup(&rntm);
  T alpha = 1, beta = accumulate ? T(1) : T(0);
  // BLIS's typed API takes non-const pointers; it does not write A or B.
  gemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, static_cast<dim_t>(m), static_cast<dim_t>(n),
       static_cast<dim_t>(k), &alpha, const_cast<T*>(a), static_cast<inc_t>(ars),
       static_cast<inc_t>(acs), const_cast<T*>(b), static_cast<inc_t>(brs),
       static_cast<inc_t>(bcs), &beta, c, static_cast<inc_t>(ldc), inc_t{1}, nullptr, &rntm);
}

}  // namespace

void blis_gemm(const float* a, std::int64_t ars, std::int64_t acs, const float* b,
               std::int64_t brs, std::int64_t bcs, float* c, std::int64_t ldc, std::int64_t m,
               std::int64_t n, std::int64_t k, bool accumulate, int threads, bool small_path) {
  call(bli_sgemm_ex, a, ars, acs, b, brs, bcs, c, ldc, m, n, k, accumulate, threads, small_path);
}

void blis_gemm(const double* a, std::int64_t ars, std::int64_t acs, const double* b,
               std::int64_t brs, std::int64_t bcs, double* c, std::int64_t ldc, std::int64_t m,
               std::int64_t n, std::int64_t k, bool accumulate, int threads, bool small_path) {
  call(bli_dgemm_ex, a, ars, acs, b, brs, bcs, c, ldc, m, n, k, accumulate, threads, small_path);
}

}  // namespace tessera::detail
