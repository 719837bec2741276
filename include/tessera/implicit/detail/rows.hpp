// SPDX-License-Identifier: Apache-2.0
// Internal vector kernels of tessera::implicit: contiguous data seen as (samples, features)
// rows, deterministic per-row dot products in double, row-wise loops, and a small dense solver.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "tessera/core/parallel.hpp"
#include "tessera/core/tensor.hpp"
#include "tessera/implicit/detail/resident.hpp"

namespace tessera::implicit::detail {

/// Block length of the per-row dot products: partial sums over fixed blocks are added in
/// order, so results depend on the shapes only, never on the thread count.
inline constexpr index_t dot_block = 8192;

/// out[b] = Σ_i a[b·n + i] · c[b·n + i] for each of `rows` rows of length n, in double.
template <class T>
void row_dots(const T* a, const T* c, index_t rows, index_t n, double* out) {
  const index_t nblk = n > 0 ? (n + dot_block - 1) / dot_block : 0;
  if (nblk <= 1) {
    for (index_t b = 0; b < rows; ++b) {
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      const T* x = a + b * n;
      const T* y = c + b * n;
      index_t i = 0;
      for (; i + 4 <= n; i += 4) {
        s0 += double(x[i]) * double(y[i]);
        s1 += double(x[i + 1]) * double(y[i + 1]);
        s2 += double(x[i + 2]) * double(y[i + 2]);
        s3 += double(x[i + 3]) * double(y[i + 3]);
      }
      for (; i < n; ++i) s0 += double(x[i]) * double(y[i]);
      out[b] = (s0 + s1) + (s2 + s3);
    }
    return;
  }
  std::vector<double> partial(static_cast<std::size_t>(rows * nblk));
  parallel_for(0, rows * nblk, default_grain / dot_block, [&](index_t lo, index_t hi) {
    for (index_t k = lo; k < hi; ++k) {
      const index_t b = k / nblk, j = k % nblk;
      const index_t start = j * dot_block, stop = std::min(n, start + dot_block);
      const T* x = a + b * n;
      const T* y = c + b * n;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      index_t i = start;
      for (; i + 4 <= stop; i += 4) {
        s0 += double(x[i]) * double(y[i]);
        s1 += double(x[i + 1]) * double(y[i + 1]);
        s2 += double(x[i + 2]) * double(y[i + 2]);
        s3 += double(x[i + 3]) * double(y[i + 3]);
      }
      for (; i < stop; ++i) s0 += double(x[i]) * double(y[i]);
      partial[static_cast<std::size_t>(k)] = (s0 + s1) + (s2 + s3);
    }
  });
  for (index_t b = 0; b < rows; ++b) {
    double s = 0;
    for (index_t j = 0; j < nblk; ++j) s += partial[static_cast<std::size_t>(b * nblk + j)];
    out[b] = s;
  }
}

/// Calls f(row, lo, hi) over the flat index range [0, rows·n), split into pieces that never
/// straddle a row, in parallel for large data.
template <class F>
void for_rows(index_t rows, index_t n, F&& f) {
  parallel_for(0, rows * n, default_grain, [&](index_t lo, index_t hi) {
    index_t b = lo / n;
    while (lo < hi) {
      const index_t end = std::min(hi, (b + 1) * n);
      f(b, lo, end);
      lo = end;
      ++b;
    }
  });
}

/// Copies row b (length n) of src into dst.
template <class T>
void copy_row(T* dst, const T* src, index_t b, index_t n) {
  std::memcpy(dst + b * n, src + b * n, sizeof(T) * static_cast<std::size_t>(n));
}

/// Solves the dense n×n system A x = rhs (row-major A, overwritten) by Gaussian elimination
/// with partial pivoting; the solution replaces rhs (solve_dense_inplace, resident.hpp).
inline bool solve_dense(std::vector<double>& A, std::vector<double>& rhs, int n, double pivot_tol) {
  return solve_dense_inplace(A.data(), rhs.data(), n, pivot_tol);
}

}  // namespace tessera::implicit::detail
