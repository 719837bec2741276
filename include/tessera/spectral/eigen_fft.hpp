// SPDX-License-Identifier: Apache-2.0
// Eigen's FFT module (unsupported/Eigen/FFT with its default kissfft backend) as an engine of the
// host transforms: spectral::fft_engine::eigen. Included by spectral/fft.hpp when
// TESSERA_USE_EIGEN_FFT is defined (then it is the default engine).
//
// Each line of a one-axis transform is gathered into a contiguous complex buffer, transformed
// by an unscaled Eigen::FFT, and written back with the caller's scale. Lines run in parallel;
// each parallel chunk has its own Eigen::FFT object, since one caches its plans inside itself and
// is not safe to share between threads. The real syntheses (c2r) build the Hermitian extension of
// the half spectrum themselves and run a complex inverse, so their conventions (numpy's: bins
// past the input count as zero, bins past n/2 are ignored, the imaginary parts of the DC and
// Nyquist bins never contribute; Hermitian or unit weights) are exactly those of the Stockham
// engine, whatever Eigen's own real inverse assumes.
#pragma once

#include <algorithm>
#include <complex>
#include <vector>

// Eigen's FFTW backend plans lazily inside Eigen::FFT, without a lock, and FFTW's planner is not
// thread-safe: the engine's parallel chunks (and any two threads) would plan at once.
#ifdef EIGEN_FFTW_DEFAULT
#error \
    "TESSERA_USE_EIGEN_FFT needs Eigen's default kissfft backend: with EIGEN_FFTW_DEFAULT, Eigen plans FFTW without a lock (not thread-safe). For FFTW use TESSERA_USE_FFTW (spectral::fft_engine::fftw), whose planning is locked."
#endif

#include <unsupported/Eigen/FFT>

#include "tessera/core/parallel.hpp"
#include "tessera/core/tensor.hpp"
#include "tessera/spectral/fft_lines.hpp"

namespace tessera::spectral::detail::eigen_fft {

/// One chunk's unscaled, half-spectrum Eigen::FFT and two line buffers of n complex values.
template <class T>
struct line_fft {
  explicit line_fft(index_t n) : a(static_cast<std::size_t>(n)), b(static_cast<std::size_t>(n)) {
    fft.SetFlag(Eigen::FFT<T>::Unscaled);
    fft.SetFlag(Eigen::FFT<T>::HalfSpectrum);  // real forward transforms: bins 0 … n/2 only
  }
  /// b = the unscaled DFT of a's n values (e^{+2πijk/n} when `inverse`).
  void complex_dft(bool inverse, index_t n) {
    if (n == 1) {  // the identity; kissfft has no plan of length 1 (it reads past its factors)
      b[0] = a[0];
    } else if (inverse) {
      fft.inv(b.data(), a.data(), n);
    } else {
      fft.fwd(b.data(), a.data(), n);
    }
  }
  /// b[0 … n/2] = the unscaled DFT of the n real values at `line`.
  void real_dft(const T* line, index_t n) {
    if (n == 1)
      b[0] = {line[0], T(0)};
    else
      fft.fwd(b.data(), line, n);
  }

  Eigen::FFT<T> fft;
  std::vector<std::complex<T>> a, b;
};

/// Runs body(w, in_offset, out_offset) for every line, in parallel chunks of about
/// default_grain points, each chunk with its own line_fft w of length n.
template <class T, class F>
void for_each_line(const fft_lines& lines, index_t n, F&& body) {
  const index_t grain = std::max<index_t>(1, default_grain / std::max<index_t>(1, n));
  parallel_for(0, lines.count, grain, [&](index_t lo, index_t hi) {
    line_fft<T> w(n);
    for (index_t l = lo; l < hi; ++l) {
      index_t io = 0, oo = 0;
      lines.offsets(l, io, oo);
      body(w, io, oo);
    }
  });
}

/// out = scale · the DFT of complex x along logical axis a (e^{+2πijk/n} when `inverse`);
/// out is a tensor of x's shape and may be x itself (each line is read whole before it is
/// written).
template <class T>
void c2c(const tensor<T>& x, const tensor<T>& out, int a, bool inverse, T scale) {
  const index_t n = x.shape()[a];
  const int r = x.rank() - 1;
  const index_t sa = x.strides()[a], sp = x.strides()[r], oa = out.strides()[a],
                op = out.strides()[r];
  const T* xb = x.data();
  T* ob = out.data();
  for_each_line<T>(make_lines(x, out, a, r), n, [&](line_fft<T>& w, index_t io, index_t oo) {
    for (index_t j = 0; j < n; ++j)
      w.a[static_cast<std::size_t>(j)] = {xb[io + j * sa], xb[io + j * sa + sp]};
    w.complex_dft(inverse, n);
    for (index_t j = 0; j < n; ++j) {
      ob[oo + j * oa] = w.b[static_cast<std::size_t>(j)].real() * scale;
      ob[oo + j * oa + op] = w.b[static_cast<std::size_t>(j)].imag() * scale;
    }
  });
}

/// out (…, n/2+1, …, 2) = scale · the first n/2+1 bins of the DFT of real x along axis a.
template <class T>
void r2c(const tensor<T>& x, const tensor<T>& out, int a, T scale) {
  const index_t n = x.shape()[a], nk = n / 2 + 1;
  const int r = x.rank();
  const index_t sa = x.strides()[a], oa = out.strides()[a], op = out.strides()[r];
  const T* xb = x.data();
  T* ob = out.data();
  for_each_line<T>(make_lines(x, out, a, r), n, [&](line_fft<T>& w, index_t io, index_t oo) {
    // The real line in the first n real slots of buffer a (its storage is n complex values).
    T* line = reinterpret_cast<T*>(w.a.data());
    for (index_t j = 0; j < n; ++j) line[j] = xb[io + j * sa];
    w.real_dft(line, n);
    for (index_t k = 0; k < nk; ++k) {
      ob[oo + k * oa] = w.b[static_cast<std::size_t>(k)].real() * scale;
      ob[oo + k * oa + op] = w.b[static_cast<std::size_t>(k)].imag() * scale;
    }
  });
}

/// out (…, n, …) = scale · Σ_{k < n/2+1} w_k Re(X_k e^{+2πijk/n}) along axis a, with w_k the
/// Hermitian weights (1 at DC and Nyquist, 2 elsewhere) when `hermitian`, else 1
/// (spectral/fft.hpp's c2r); X's bins past its extent are zero.
template <class T>
void c2r(const tensor<T>& x, const tensor<T>& out, int a, index_t n, T scale, bool hermitian) {
  const index_t m = x.shape()[a], used = std::min(m, n / 2 + 1);
  const int r = x.rank() - 1;
  const index_t sa = x.strides()[a], sp = x.strides()[r], oa = out.strides()[a];
  const T* xb = x.data();
  T* ob = out.data();
  // The Hermitian extension counts each interior bin twice: halve it for unit weights.
  const T interior = hermitian ? T(1) : T(0.5);
  for_each_line<T>(make_lines(x, out, a, r), n, [&](line_fft<T>& w, index_t io, index_t oo) {
    for (index_t k = 0; 2 * k <= n; ++k) {
      T re = 0, im = 0;
      if (k < used) {
        const bool edge = k == 0 || 2 * k == n;
        re = xb[io + k * sa] * (edge ? T(1) : interior);
        im = edge ? T(0) : xb[io + k * sa + sp] * interior;
      }
      w.a[static_cast<std::size_t>(k)] = {re, im};
      if (k > 0 && 2 * k < n) w.a[static_cast<std::size_t>(n - k)] = {re, -im};
    }
    w.complex_dft(true, n);
    for (index_t j = 0; j < n; ++j)
      ob[oo + j * oa] = w.b[static_cast<std::size_t>(j)].real() * scale;
  });
}

}  // namespace tessera::spectral::detail::eigen_fft
