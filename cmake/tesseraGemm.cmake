# SPDX-License-Identifier: Apache-2.0
# Chooses the host GEMM behind tessera's matmul (include/tessera/ops/detail/gemm.hpp):
#   TESSERA_GEMM = AUTO (default: BLIS if found, else a Fortran BLAS if found, else Eigen),
#                  BLIS, BLAS (FindBLAS; pick one with BLA_VENDOR) or EIGEN.
# Sets TESSERA_GEMM_BACKEND (blis | blas | eigen); tessera_configure_gemm(<target>) adds the
# compile definition and the link (for BLIS, through the static library tessera_blis).
set(TESSERA_GEMM "AUTO" CACHE STRING "Host GEMM: AUTO, BLIS, BLAS or EIGEN")
set_property(CACHE TESSERA_GEMM PROPERTY STRINGS AUTO BLIS BLAS EIGEN)
string(TOUPPER "${TESSERA_GEMM}" _tessera_gemm)

set(TESSERA_GEMM_BACKEND eigen)
if(_tessera_gemm STREQUAL "AUTO" OR _tessera_gemm STREQUAL "BLIS")
  if(_tessera_gemm STREQUAL "BLIS")
    find_package(BLIS REQUIRED)
  else()
    find_package(BLIS QUIET)
  endif()
  if(BLIS_FOUND)
    set(TESSERA_GEMM_BACKEND blis)
  endif()
endif()
if(TESSERA_GEMM_BACKEND STREQUAL "eigen" AND
   (_tessera_gemm STREQUAL "AUTO" OR _tessera_gemm STREQUAL "BLAS"))
  if(_tessera_gemm STREQUAL "BLAS")
    find_package(BLAS REQUIRED)
  else()
    find_package(BLAS QUIET)
  endif()
  if(BLAS_FOUND)
    set(TESSERA_GEMM_BACKEND blas)
  endif()
endif()
if(NOT _tessera_gemm MATCHES "^(AUTO|BLIS|BLAS|EIGEN)$")
  message(FATAL_ERROR "TESSERA_GEMM must be AUTO, BLIS, BLAS or EIGEN (got '${TESSERA_GEMM}')")
endif()
message(STATUS "tessera: host GEMM backend: ${TESSERA_GEMM_BACKEND}")

function(tessera_configure_gemm target)
  if(TESSERA_GEMM_BACKEND STREQUAL "blis")
    # tessera's one compiled file: the BLIS call (src/blis_gemm.cpp), so that blis.h, whose
    # macros (TRUE, FALSE, VOID, typeof, ...) and global types would otherwise reach every file
    # that includes tessera, is compiled here only. A static library, position independent so
    # that it can go into a user's shared library; installed and exported as tessera::blis.
    add_library(tessera_blis STATIC "${PROJECT_SOURCE_DIR}/src/blis_gemm.cpp")
    add_library(tessera::blis ALIAS tessera_blis)
    set_target_properties(tessera_blis PROPERTIES EXPORT_NAME blis POSITION_INDEPENDENT_CODE ON)
    target_include_directories(tessera_blis PRIVATE "${PROJECT_SOURCE_DIR}/include")
    target_compile_features(tessera_blis PRIVATE cxx_std_20)
    target_link_libraries(tessera_blis PRIVATE BLIS::BLIS)
    target_compile_definitions(${target} INTERFACE TESSERA_GEMM_BLIS=1)
    target_link_libraries(${target} INTERFACE tessera_blis)
  elseif(TESSERA_GEMM_BACKEND STREQUAL "blas")
    target_compile_definitions(${target} INTERFACE TESSERA_GEMM_BLAS=1)
    target_link_libraries(${target} INTERFACE BLAS::BLAS)
  endif()
endfunction()
