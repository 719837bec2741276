// SPDX-License-Identifier: Apache-2.0
// The Fortran-BLAS GEMM backend next to a user's own BLAS header: OpenBLAS's f77blas.h
// declares sgemm_/dgemm_ with non-const pointers, so tessera must not declare those global C
// functions itself (a conflicting declaration does not compile). Its own executable,
// test_hygiene_blas, linked to the BLAS CMake finds: this file's matmul is the BLAS one, and no
// other file may define tessera's inline GEMM otherwise (one definition rule).
extern "C" {
void sgemm_(char*, char*, int*, int*, int*, float*, float*, int*, float*, int*, float*, float*,
            int*);
void dgemm_(char*, char*, int*, int*, int*, double*, double*, int*, double*, int*, double*, double*,
            int*);
}

// This TU uses the BLAS backend whatever the configured one is.
#undef TESSERA_GEMM_BLIS
#undef TESSERA_GEMM_BLAS
#define TESSERA_GEMM_BLAS 1
#include <boost/test/unit_test.hpp>

#include <string>
#include <tuple>

#include <tessera/tessera.hpp>

#include "matmul_check.hpp"

using namespace tessera;
using blas_types = std::tuple<float, double>;
using hygiene::check_matmul_against_loops;

BOOST_AUTO_TEST_SUITE(blas_declarations)

BOOST_AUTO_TEST_CASE_TEMPLATE(fortran_gemm_runs_for_every_operand_layout, T, blas_types) {
  BOOST_TEST(std::string(detail::gemm_backend()) == "blas");
  generator gen(7);
  const tensor<T> a = randn<T>({6, 5}, gen), b = randn<T>({5, 7}, gen);
  check_matmul_against_loops(a, b, matmul(a, b), 1e-5);  // row-major operands: 'N'
  // Column-major views: 'T', with the leading dimension of the storage.
  const tensor<T> at = randn<T>({5, 6}, gen), bt = randn<T>({7, 5}, gen);
  check_matmul_against_loops(transpose(at, 0, 1), transpose(bt, 0, 1),
                             matmul(transpose(at, 0, 1), transpose(bt, 0, 1)), 1e-5);
  // Strided in both dimensions: copied first.
  const tensor<T> big = randn<T>({12, 10}, gen);
  const tensor<T> a2 = big.slice(0, 0, 12, 2).slice(1, 0, 10, 2);
  check_matmul_against_loops(a2, b, matmul(a2, b), 1e-5);
}

BOOST_AUTO_TEST_SUITE_END()
