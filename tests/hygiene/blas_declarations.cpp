// SPDX-License-Identifier: Apache-2.0
// The Fortran-BLAS GEMM backend next to a user's own BLAS header: OpenBLAS's f77blas.h
// declares sgemm_/dgemm_ with non-const pointers, so tessera must not declare those global C
// functions itself (a conflicting declaration does not compile). Compiled, never linked.
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
#include <tessera/ops/matmul.hpp>

static_assert(TESSERA_GEMM_BLAS == 1);

tessera::tensor<float> hygiene_blas_matmul(const tessera::tensor<float>& a,
                                           const tessera::tensor<float>& b) {
  return tessera::matmul(a, b);
}
tessera::tensor<double> hygiene_blas_matmul(const tessera::tensor<double>& a,
                                            const tessera::tensor<double>& b) {
  return tessera::matmul(a, b);
}
