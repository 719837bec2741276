// SPDX-License-Identifier: Apache-2.0
// tessera configuration: version, portability macros and feature detection.
#pragma once

#define TESSERA_VERSION_MAJOR 0
#define TESSERA_VERSION_MINOR 1
#define TESSERA_VERSION_PATCH 0

#if defined(__CUDACC__)
#define TESSERA_HOST_DEVICE __host__ __device__ inline
#define TESSERA_DEVICE __device__ inline
#define TESSERA_HOST __host__ inline
#else
#define TESSERA_HOST_DEVICE inline
#define TESSERA_DEVICE inline
#define TESSERA_HOST inline
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TESSERA_FORCEINLINE inline __attribute__((always_inline))
#define TESSERA_RESTRICT __restrict__
#else
#define TESSERA_FORCEINLINE inline
#define TESSERA_RESTRICT
#endif

#if defined(_OPENMP)
#define TESSERA_HAS_OPENMP 1
#else
#define TESSERA_HAS_OPENMP 0
#endif

/// `#pragma omp simd` with the given clauses (none: `TESSERA_OMP_SIMD()`) when OpenMP is on, and
/// nothing otherwise, so that a build without OpenMP sees no unknown-pragma warnings (-Wall).
#define TESSERA_DETAIL_PRAGMA_STRING(...) #__VA_ARGS__
#if TESSERA_HAS_OPENMP
#define TESSERA_OMP_SIMD(...) _Pragma(TESSERA_DETAIL_PRAGMA_STRING(omp simd __VA_ARGS__))
#else
#define TESSERA_OMP_SIMD(...)
#endif

/// The optional FFTW engine of the host FFTs (spectral/fftw.hpp): define TESSERA_USE_FFTW and
/// link libfftw3 and libfftw3f, or link the CMake target tessera::fftw, which does both.
#if defined(TESSERA_USE_FFTW)
#define TESSERA_HAS_FFTW 1
#else
#define TESSERA_HAS_FFTW 0
#endif

/// Eigen's FFT module as the engine of the host FFTs (spectral/eigen_fft.hpp), compiled in and
/// made the default: define TESSERA_USE_EIGEN_FFT (for the whole program).
#if defined(TESSERA_USE_EIGEN_FFT)
#define TESSERA_HAS_EIGEN_FFT 1
#else
#define TESSERA_HAS_EIGEN_FFT 0
#endif

/// Internal invariant check: active unless NDEBUG; never used for user input.
#if defined(NDEBUG)
#define TESSERA_ASSERT(cond) ((void)0)
#else
#include <cstdio>
#include <cstdlib>
#define TESSERA_ASSERT(cond)                                                                  \
  ((cond) ? (void)0                                                                           \
          : (std::fprintf(stderr, "%s:%d: tessera internal assertion failed: %s\n", __FILE__, \
                          __LINE__, #cond),                                                   \
             std::abort()))
#endif
