// SPDX-License-Identifier: Apache-2.0
// BLIS's GEMM behind plain declarations. blis.h defines some 3,400 macros, about 260 of them
// without a BLIS prefix (TRUE, FALSE, VOID, typeof, bit_set, ...), and declares dim_t, inc_t,
// obj_t and others in the global namespace; a header that included it would put all of that
// into every file of a user's program. So the one call into BLIS is compiled once, in
// src/blis_gemm.cpp (CMake target tessera::blis, linked by tessera::tessera when
// TESSERA_GEMM resolves to BLIS), and user code sees only these two declarations.
#pragma once

#include <cstdint>

namespace tessera::detail {

/// C = A·B, or C += A·B when `accumulate`: A (m×k) with strides (ars, acs), B (k×n) with
/// strides (brs, bcs), each row-major (cs = 1) or column-major (rs = 1); C (m×n) row-major
/// with leading dimension ldc. m, n, k > 0. `threads`: BLIS's thread count for this call;
/// `small_path`: whether BLIS may use its small/unpacked ("sup") code. No global BLIS state is
/// read or written.
void blis_gemm(const float* a, std::int64_t ars, std::int64_t acs, const float* b, std::int64_t brs,
               std::int64_t bcs, float* c, std::int64_t ldc, std::int64_t m, std::int64_t n,
               std::int64_t k, bool accumulate, int threads, bool small_path);
void blis_gemm(const double* a, std::int64_t ars, std::int64_t acs, const double* b,
               std::int64_t brs, std::int64_t bcs, double* c, std::int64_t ldc, std::int64_t m,
               std::int64_t n, std::int64_t k, bool accumulate, int threads, bool small_path);

}  // namespace tessera::detail
