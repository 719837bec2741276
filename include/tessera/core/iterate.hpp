// SPDX-License-Identifier: Apache-2.0
// Strided n-d iteration over several operands of one shape, row by row, optionally parallel.
#pragma once

#include <array>

#include "tessera/core/parallel.hpp"
#include "tessera/core/shape.hpp"

namespace tessera::detail {

/// Shape and per-operand strides after dropping size-1 axes and merging axes that are
/// contiguous with their neighbour in every operand.
template <std::size_t N>
struct nd_layout {
  shape_t shape;
  std::array<shape_t, N> strides;
};

template <std::size_t N>
nd_layout<N> coalesce(const shape_t& shape, const std::array<shape_t, N>& strides) {
  nd_layout<N> out;
  for (int i = 0; i < shape.rank(); ++i) {
    if (shape[i] == 1) continue;
    const int r = out.shape.rank();
    bool merge = r > 0;
    for (std::size_t k = 0; k < N && merge; ++k)
      merge = out.strides[k][r - 1] == strides[k][i] * shape[i];
    if (merge) {
      out.shape[r - 1] *= shape[i];
      for (std::size_t k = 0; k < N; ++k) out.strides[k][r - 1] = strides[k][i];
    } else {
      out.shape.push_back(shape[i]);
      for (std::size_t k = 0; k < N; ++k) out.strides[k].push_back(strides[k][i]);
    }
  }
  if (out.shape.rank() == 0) {  // a single element
    out.shape.push_back(1);
    for (std::size_t k = 0; k < N; ++k) out.strides[k].push_back(1);
  }
  return out;
}

/// Calls row(count, offsets, inner_strides) for every innermost row of `shape`, where
/// offsets[k] is operand k's element offset (relative to `base[k]`) of the row's first element.
/// Rows are split across threads when the total element count exceeds `grain`.
template <std::size_t N, class Row>
void for_each_row(const shape_t& shape, const std::array<shape_t, N>& strides,
                  const std::array<index_t, N>& base, index_t grain, Row&& row) {
  if (shape.numel() == 0) return;
  const nd_layout<N> L = coalesce<N>(shape, strides);
  const int r = L.shape.rank();
  const index_t inner = L.shape[r - 1];
  std::array<index_t, N> inner_stride;
  for (std::size_t k = 0; k < N; ++k) inner_stride[k] = L.strides[k][r - 1];
  const index_t rows = L.shape.numel() / inner;
  const index_t row_grain = grain / (inner > 0 ? inner : 1) + 1;
  parallel_for(0, rows, row_grain, [&](index_t lo, index_t hi) {
    index_t idx[max_rank] = {};
    std::array<index_t, N> off = base;
    index_t rem = lo;
    for (int ax = r - 2; ax >= 0; --ax) {
      idx[ax] = rem % L.shape[ax];
      rem /= L.shape[ax];
      for (std::size_t k = 0; k < N; ++k) off[k] += idx[ax] * L.strides[k][ax];
    }
    for (index_t q = lo; q < hi; ++q) {
      row(inner, off, inner_stride);
      for (int ax = r - 2; ax >= 0; --ax) {
        for (std::size_t k = 0; k < N; ++k) off[k] += L.strides[k][ax];
        if (++idx[ax] < L.shape[ax]) break;
        for (std::size_t k = 0; k < N; ++k) off[k] -= L.strides[k][ax] * L.shape[ax];
        idx[ax] = 0;
      }
    }
  });
}

/// When an operand of shape `b`, contiguous, broadcasts to the contiguous shape `a` as one value
/// per run of `inner` consecutive elements, the runs cycling through b's `period` values (a
/// per-channel bias (C, 1) on (B, C, P); a scalar), sets inner and period and returns true.
/// Shapes only: the caller checks that both operands are contiguous.
inline bool run_bias_layout(const shape_t& a, const shape_t& b, index_t& inner, index_t& period) {
  if (b.rank() > a.rank() || a.numel() == 0) return false;
  const int r = a.rank(), off = a.rank() - b.rank();
  // b's extents aligned to a's axes; the non-1 ones must match a and form one run.
  int first = r, last = -1;
  for (int i = 0; i < r; ++i) {
    const index_t e = i < off ? 1 : b[i - off];
    if (e == 1) continue;
    if (e != a[i]) return false;
    first = first < i ? first : i;
    last = i;
  }
  for (int i = first; i <= last; ++i)
    if ((i < off ? 1 : b[i - off]) == 1 && a[i] != 1) return false;
  inner = 1;
  for (int i = last + 1; i < r; ++i) inner *= a[i];
  period = b.numel();
  return inner > 1;  // runs of one element are the same-shape case
}

}  // namespace tessera::detail
