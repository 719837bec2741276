// SPDX-License-Identifier: Apache-2.0
// The lines of a one-axis transform of a host tensor: which elements each 1-d transform reads and
// writes. Shared by the host FFT engines (spectral/fft.hpp's Stockham loops and
// spectral/eigen_fft.hpp).
#pragma once

#include "tessera/core/tensor.hpp"

namespace tessera::spectral::detail {

/// The lines of a 1-d transform: every combination of the indices of the axes other than the
/// transform axis (and the complex pair axis), with its element offset in input and output.
struct fft_lines {
  int rank = 0;
  index_t extent[max_rank] = {};
  index_t in_stride[max_rank] = {};
  index_t out_stride[max_rank] = {};
  index_t count = 1;

  /// Offsets of line l (row-major over the other axes).
  void offsets(index_t l, index_t& in, index_t& out) const noexcept {
    in = 0;
    out = 0;
    for (int k = rank - 1; k >= 0; --k) {
      const index_t i = l % extent[k];
      l /= extent[k];
      in += i * in_stride[k];
      out += i * out_stride[k];
    }
  }
};

/// Lines over the first `logical_rank` axes of `in` and `out` except `axis`.
template <class T>
fft_lines make_lines(const tensor<T>& in, const tensor<T>& out, int axis, int logical_rank) {
  fft_lines l;
  for (int i = 0; i < logical_rank; ++i) {
    if (i == axis) continue;
    l.extent[l.rank] = in.shape()[i];
    l.in_stride[l.rank] = in.strides()[i];
    l.out_stride[l.rank] = out.strides()[i];
    l.count *= in.shape()[i];
    ++l.rank;
  }
  return l;
}

}  // namespace tessera::spectral::detail
