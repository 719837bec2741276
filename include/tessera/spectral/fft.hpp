// SPDX-License-Identifier: Apache-2.0
// Discrete Fourier transforms of host tensors: fft/ifft/rfft/irfft along one axis and their
// 2-d and n-d compositions, line by line through Eigen's FFT module (kissfft).
#pragma once

#include <complex>
#include <unsupported/Eigen/FFT>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::spectral {

// Complex tensors are real tensors with a trailing axis of size 2 holding (re, im), PyTorch's
// view_as_real layout: contiguous (..., n, 2) data is layout-compatible with std::complex<T>.
// Axes of a complex tensor are counted without that pair axis, so for X of real shape
// (B, H, W, 2) axis -1 is W and axis -2 is H. Normalisation follows numpy's norm="backward":
// forward transforms are unscaled, inverse transforms divide by n.

namespace detail {

/// This thread's Eigen FFT object. kissfft keeps one plan per (size, direction) and scratch
/// buffers inside it, so each thread needs its own; it is the only state the module keeps.
template <class T>
Eigen::FFT<T>& fft_engine() {
  thread_local Eigen::FFT<T> engine = [] {
    Eigen::FFT<T> e;
    e.SetFlag(Eigen::FFT<T>::HalfSpectrum);  // real forward: n/2+1 bins; real inverse reads them
    e.SetFlag(Eigen::FFT<T>::Unscaled);      // scaling is applied here, once
    return e;
  }();
  return engine;
}

/// Per-thread line buffers (slot 0, 1: input and output of one line).
template <class T>
std::complex<T>* fft_scratch(int slot, index_t n) {
  thread_local std::vector<std::complex<T>> buf[2];
  auto& b = buf[slot];
  if (static_cast<index_t>(b.size()) < n) b.resize(static_cast<std::size_t>(n));
  return b.data();
}

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

/// Lines per parallel chunk for lines of length n: about 8192 complex points per chunk.
inline index_t fft_grain(index_t n) { return std::max<index_t>(1, 8192 / std::max<index_t>(1, n)); }

/// @throws tessera::invalid_argument unless x is a complex tensor (rank >= 2, last extent 2).
template <class T>
void check_complex(const char* fn, const tensor<T>& x) {
  if (!x.defined()) throw_invalid_argument(fn, "the input tensor is undefined");
  if (x.rank() < 2 || x.shape().back() != 2)
    throw_invalid_argument(fn, "expected a complex tensor (real shape (..., n, 2)), got shape ",
                           x.shape().str());
}

/// @throws tessera::invalid_argument unless x is a real tensor of rank >= 1.
template <class T>
void check_real(const char* fn, const tensor<T>& x) {
  if (!x.defined()) throw_invalid_argument(fn, "the input tensor is undefined");
  if (x.rank() < 1) throw_invalid_argument(fn, "expected a tensor of rank >= 1, got a scalar");
}

/// scale · DFT of complex x along `axis` (logical axes): e^{-2πijk/n} forward, e^{+2πijk/n}
/// when `inverse` (unscaled either way). The primitive behind fft and ifft.
template <class T>
tensor<T> c2c(const tensor<T>& x, int axis, bool inverse, T scale) {
  const char* fn = inverse ? "spectral::ifft" : "spectral::fft";
  check_complex(fn, x);
  const int a = normalize_axis(fn, axis, x.rank() - 1);
  const index_t n = x.shape()[a];
  tensor<T> out(x.shape());
  if (out.numel() == 0) return out;
  const fft_lines lines = make_lines(x, out, a, x.rank() - 1);
  const index_t sa = x.strides()[a], sp = x.strides()[x.rank() - 1], oa = out.strides()[a];
  const T* xb = x.data();
  T* ob = out.data();
  parallel_for(0, lines.count, fft_grain(n), [&](index_t lo, index_t hi) {
    Eigen::FFT<T>& eng = fft_engine<T>();
    std::complex<T>* bin = fft_scratch<T>(0, n);
    std::complex<T>* bout = fft_scratch<T>(1, n);
    for (index_t l = lo; l < hi; ++l) {
      index_t io, oo;
      lines.offsets(l, io, oo);
      const T* src = xb + io;
      for (index_t j = 0; j < n; ++j) bin[j] = std::complex<T>(src[j * sa], src[j * sa + sp]);
      if (n == 1)
        bout[0] = bin[0];
      else if (inverse)
        eng.inv(bout, bin, n);
      else
        eng.fwd(bout, bin, n);
      T* dst = ob + oo;
      for (index_t j = 0; j < n; ++j) {
        dst[j * oa] = bout[j].real() * scale;
        dst[j * oa + 1] = bout[j].imag() * scale;
      }
    }
  });
  return out;
}

/// scale · the first n/2+1 bins of the DFT of real x along `axis`: shape (..., n/2+1, ..., 2).
/// The primitive behind rfft.
template <class T>
tensor<T> r2c(const tensor<T>& x, int axis, T scale) {
  const char* fn = "spectral::rfft";
  check_real(fn, x);
  const int a = normalize_axis(fn, axis, x.rank());
  const index_t n = x.shape()[a];
  if (n < 1) throw_invalid_argument(fn, "axis ", a, " of shape ", x.shape().str(), " is empty");
  const index_t nk = n / 2 + 1;
  shape_t os = x.shape();
  os[a] = nk;
  os.push_back(2);
  tensor<T> out(os);
  if (out.numel() == 0) return out;
  const fft_lines lines = make_lines(x, out, a, x.rank());
  const index_t sa = x.strides()[a], oa = out.strides()[a];
  const T* xb = x.data();
  T* ob = out.data();
  parallel_for(0, lines.count, fft_grain(n), [&](index_t lo, index_t hi) {
    Eigen::FFT<T>& eng = fft_engine<T>();
    T* rin = reinterpret_cast<T*>(fft_scratch<T>(0, n));  // n reals fit in n complex slots
    std::complex<T>* bout = fft_scratch<T>(1, nk);
    for (index_t l = lo; l < hi; ++l) {
      index_t io, oo;
      lines.offsets(l, io, oo);
      const T* src = xb + io;
      if (sa != 1) {
        for (index_t j = 0; j < n; ++j) rin[j] = src[j * sa];
        src = rin;
      }
      if (n == 1)
        bout[0] = std::complex<T>(src[0], T(0));
      else
        eng.fwd(bout, src, n);
      T* dst = ob + oo;
      for (index_t k = 0; k < nk; ++k) {
        dst[k * oa] = bout[k].real() * scale;
        dst[k * oa + 1] = bout[k].imag() * scale;
      }
    }
  });
  return out;
}

/// Real synthesis from a half spectrum along `axis`, n output points:
///   y_j = scale · Σ_{k < n/2+1} w_k Re(X_k e^{+2πijk/n}),
/// with w_k the Hermitian weights (1 at DC and at n/2 for even n, 2 elsewhere) when `hermitian`
/// (then scale = 1/n gives irfft), or w_k = 1 when not (then y is the adjoint of rfft, scaled).
/// Bins past X's extent count as zero and bins past n/2 are ignored, as in numpy; the
/// imaginary parts of the DC and Nyquist bins never contribute.
template <class T>
tensor<T> c2r(const tensor<T>& x, int axis, index_t n, T scale, bool hermitian) {
  const char* fn = "spectral::irfft";
  check_complex(fn, x);
  const int a = normalize_axis(fn, axis, x.rank() - 1);
  const index_t m = x.shape()[a];
  if (n < 0) n = 2 * (m - 1);
  if (n < 1)
    throw_invalid_argument(fn, "output length ", n, " must be positive (input shape ",
                           x.shape().str(), ", axis ", a, ")");
  const index_t nk = n / 2 + 1, used = std::min(m, nk);
  shape_t os = x.shape();
  os.erase(x.rank() - 1);
  os[a] = n;
  tensor<T> out(os);
  if (out.numel() == 0) return out;
  const fft_lines lines = make_lines(x, out, a, x.rank() - 1);
  const index_t sa = x.strides()[a], sp = x.strides()[x.rank() - 1], oa = out.strides()[a];
  const T* xb = x.data();
  T* ob = out.data();
  const T interior = hermitian ? T(1) : T(0.5);  // kissfft's inverse applies the weights 1, 2
  parallel_for(0, lines.count, fft_grain(n), [&](index_t lo, index_t hi) {
    Eigen::FFT<T>& eng = fft_engine<T>();
    std::complex<T>* bin = fft_scratch<T>(0, nk);
    T* rout = reinterpret_cast<T*>(fft_scratch<T>(1, n));
    for (index_t l = lo; l < hi; ++l) {
      index_t io, oo;
      lines.offsets(l, io, oo);
      const T* src = xb + io;
      for (index_t k = 0; k < used; ++k) {
        const bool edge = k == 0 || 2 * k == n;
        const T w = edge ? T(1) : interior;
        bin[k] = std::complex<T>(src[k * sa] * w, edge ? T(0) : src[k * sa + sp] * w);
      }
      for (index_t k = used; k < nk; ++k) bin[k] = std::complex<T>(0, 0);
      T* dst = ob + oo;
      T* y = oa == 1 ? dst : rout;
      if (n == 1)
        y[0] = bin[0].real();
      else
        eng.inv(y, bin, n);
      if (oa == 1) {
        if (scale != T(1))
          for (index_t j = 0; j < n; ++j) dst[j] *= scale;
      } else {
        for (index_t j = 0; j < n; ++j) dst[j * oa] = rout[j] * scale;
      }
    }
  });
  return out;
}

/// Normalised, distinct axes of an n-d transform over `rank` logical axes (all when empty).
inline shape_t transform_axes(const char* fn, const shape_t& axes, int rank) {
  shape_t out;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (index_t ax : axes) {
    const int a = normalize_axis(fn, static_cast<int>(ax), rank);
    for (index_t prev : out)
      if (prev == a) throw_invalid_argument(fn, "axes ", axes.str(), " repeat axis ", a);
    out.push_back(a);
  }
  return out;
}

/// Output lengths of an inverse real n-d transform: `s` when given, else the input extents
/// with the last axis 2(m - 1).
/// @throws tessera::invalid_argument when s has the wrong length or changes a complex axis.
template <class T>
shape_t irfftn_sizes(const char* fn, const tensor<T>& x, const shape_t& ax, const shape_t& s) {
  shape_t n;
  if (!s.empty() && s.rank() != ax.rank())
    throw_invalid_argument(fn, "s ", s.str(), " must give one length per axis of ", ax.str());
  for (int i = 0; i < ax.rank(); ++i) {
    const index_t e = x.shape()[static_cast<int>(ax[i])];
    const bool last = i + 1 == ax.rank();
    const index_t want = s.empty() ? (last ? 2 * (e - 1) : e) : s[i];
    if (!last && want != e)
      throw_invalid_argument(fn, "s ", s.str(), " changes the length of complex axis ", ax[i],
                             " (extent ", e, "); only the last axis may be resized");
    n.push_back(want);
  }
  return n;
}

}  // namespace detail

/// Complex DFT along `axis`: X_k = Σ_j x_j e^{-2πijk/n} (unscaled).
/// @param x complex tensor (..., 2); `axis` counts its complex axes (the pair axis excluded).
/// @return a contiguous complex tensor of x's shape.
/// @throws tessera::invalid_argument when x is not complex or the axis is out of range.
template <class T>
tensor<T> fft(const tensor<T>& x, int axis = -1) {
  return detail::c2c(x, axis, false, T(1));
}

/// Inverse complex DFT along `axis`: x_j = (1/n) Σ_k X_k e^{+2πijk/n}.
/// @throws tessera::invalid_argument when x is not complex or the axis is out of range.
template <class T>
tensor<T> ifft(const tensor<T>& x, int axis = -1) {
  const char* fn = "spectral::ifft";
  detail::check_complex(fn, x);
  const index_t n = x.shape()[normalize_axis(fn, axis, x.rank() - 1)];
  return detail::c2c(x, axis, true, n > 0 ? T(1) / static_cast<T>(n) : T(1));
}

/// DFT of real x along `axis`, the n/2+1 non-negative frequencies: real (..., n, ...) →
/// complex (..., n/2+1, ..., 2).
/// @throws tessera::invalid_argument for a rank-0 x, a bad axis or an empty transform axis.
template <class T>
tensor<T> rfft(const tensor<T>& x, int axis = -1) {
  return detail::r2c(x, axis, T(1));
}

/// Inverse of rfft: complex (..., m, ..., 2) → real (..., n, ...), n = 2(m - 1) by default,
/// 1/n normalised; the imaginary parts of the DC and Nyquist bins are ignored, and the input is
/// cropped or zero-padded to n/2+1 bins (numpy's irfft).
/// @throws tessera::invalid_argument when x is not complex, the axis is bad or n < 1.
template <class T>
tensor<T> irfft(const tensor<T>& x, int axis = -1, index_t n = -1) {
  detail::check_complex("spectral::irfft", x);
  const index_t m = x.shape()[normalize_axis("spectral::irfft", axis, x.rank() - 1)];
  const index_t len = n < 0 ? 2 * (m - 1) : n;
  return detail::c2r(x, axis, len, len > 0 ? T(1) / static_cast<T>(len) : T(1), true);
}

/// Complex DFT over several axes (all complex axes when `axes` is empty).
template <class T>
tensor<T> fftn(const tensor<T>& x, const shape_t& axes = {}) {
  detail::check_complex("spectral::fftn", x);
  const shape_t ax = detail::transform_axes("spectral::fftn", axes, x.rank() - 1);
  tensor<T> y = x;
  for (int i = ax.rank() - 1; i >= 0; --i) y = fft(y, static_cast<int>(ax[i]));
  return y;
}

/// Inverse complex DFT over several axes (all complex axes when `axes` is empty).
template <class T>
tensor<T> ifftn(const tensor<T>& x, const shape_t& axes = {}) {
  detail::check_complex("spectral::ifftn", x);
  const shape_t ax = detail::transform_axes("spectral::ifftn", axes, x.rank() - 1);
  tensor<T> y = x;
  for (int i = ax.rank() - 1; i >= 0; --i) y = ifft(y, static_cast<int>(ax[i]));
  return y;
}

/// fftn over the last two complex axes.
template <class T>
tensor<T> fft2(const tensor<T>& x) {
  return fftn(x, shape_t{-2, -1});
}

/// ifftn over the last two complex axes.
template <class T>
tensor<T> ifft2(const tensor<T>& x) {
  return ifftn(x, shape_t{-2, -1});
}

/// Real n-d DFT: rfft along the last of `axes` (all axes when empty), then complex DFTs along
/// the others. Real (..., H, W) with axes (-2, -1) → complex (..., H, W/2+1, 2).
/// @throws tessera::invalid_argument for bad or repeated axes.
template <class T>
tensor<T> rfftn(const tensor<T>& x, const shape_t& axes = {}) {
  detail::check_real("spectral::rfftn", x);
  const shape_t ax = detail::transform_axes("spectral::rfftn", axes, x.rank());
  tensor<T> y = rfft(x, static_cast<int>(ax.back()));
  for (int i = ax.rank() - 2; i >= 0; --i) y = fft(y, static_cast<int>(ax[i]));
  return y;
}

/// Inverse of rfftn: inverse complex DFTs along all but the last of `axes`, then irfft along
/// the last. `s` gives the output lengths per axis (default: 2(m - 1) on the last axis, the
/// extent elsewhere; only the last axis may be resized).
/// @throws tessera::invalid_argument for bad or repeated axes or an unsupported s.
template <class T>
tensor<T> irfftn(const tensor<T>& x, const shape_t& axes = {}, const shape_t& s = {}) {
  const char* fn = "spectral::irfftn";
  detail::check_complex(fn, x);
  const shape_t ax = detail::transform_axes(fn, axes, x.rank() - 1);
  const shape_t n = detail::irfftn_sizes(fn, x, ax, s);
  tensor<T> y = x;
  for (int i = ax.rank() - 2; i >= 0; --i) y = ifft(y, static_cast<int>(ax[i]));
  return irfft(y, static_cast<int>(ax.back()), n.back());
}

/// rfftn over the last two axes: real (..., H, W) → complex (..., H, W/2+1, 2).
template <class T>
tensor<T> rfft2(const tensor<T>& x) {
  return rfftn(x, shape_t{-2, -1});
}

/// irfftn over the last two complex axes; `s` = (H, W) output size (default W = 2(m - 1)).
template <class T>
tensor<T> irfft2(const tensor<T>& x, const shape_t& s = {}) {
  return irfftn(x, shape_t{-2, -1}, s);
}

}  // namespace tessera::spectral
