// SPDX-License-Identifier: Apache-2.0
// parallel_for over index ranges with OpenMP (serial without it); no global state.
#pragma once

#include "tessera/config.hpp"
#include "tessera/core/shape.hpp"

#if TESSERA_HAS_OPENMP
#include <omp.h>
#endif

namespace tessera {

/// Below this many units of work a loop stays serial: forking costs more than it saves.
inline constexpr index_t default_grain = 32768;

/// Number of threads a parallel_for would use here (1 inside a parallel region).
inline int max_threads() noexcept {
#if TESSERA_HAS_OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

/// Calls f(lo, hi) over disjoint sub-ranges covering [begin, end), in parallel when the range
/// holds more than `grain` units. The partition is static, so results that depend only on each
/// index (not on the thread) are deterministic.
template <class F>
void parallel_for(index_t begin, index_t end, index_t grain, F&& f) {
  const index_t n = end - begin;
  if (n <= 0) return;
#if TESSERA_HAS_OPENMP
  if (n > grain && !omp_in_parallel() && omp_get_max_threads() > 1) {
    const index_t max_chunks = grain > 0 ? (n + grain - 1) / grain : n;
    const int nt =
        static_cast<int>(max_chunks < omp_get_max_threads() ? max_chunks : omp_get_max_threads());
#pragma omp parallel num_threads(nt)
    {
      const index_t t = omp_get_thread_num(), T = omp_get_num_threads();
      const index_t lo = begin + n * t / T, hi = begin + n * (t + 1) / T;
      if (lo < hi) f(lo, hi);
    }
    return;
  }
#else
  (void)grain;
#endif
  f(begin, end);
}

}  // namespace tessera
