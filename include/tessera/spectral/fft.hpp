// SPDX-License-Identifier: Apache-2.0
// Discrete Fourier transforms of host tensors: fft/ifft/rfft/irfft along one axis and their
// 2-d and n-d compositions, on blocks of lines through the Stockham engine of stockham.hpp (or
// the engine fft_engine_guard chose: Eigen's FFT, eigen_fft.hpp, or FFTW, fftw.hpp).
#pragma once

#include <algorithm>
#include <type_traits>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/core/tensor.hpp"
#include "tessera/spectral/fft_engine.hpp"
#include "tessera/spectral/fft_lines.hpp"
#include "tessera/spectral/stockham.hpp"
#if TESSERA_HAS_FFTW
#include "tessera/spectral/fftw.hpp"
#endif
#if TESSERA_HAS_EIGEN_FFT
#include "tessera/spectral/eigen_fft.hpp"
#endif

namespace tessera::spectral {

// Complex tensors are real tensors with a trailing axis of size 2 holding (re, im), PyTorch's
// view_as_real layout: contiguous (..., n, 2) data is layout-compatible with std::complex<T>.
// Axes of a complex tensor are counted without that pair axis, so for X of real shape
// (B, H, W, 2) axis -1 is W and axis -2 is H. Normalisation follows numpy's norm="backward":
// forward transforms are unscaled, inverse transforms divide by n.
//
// Every function takes tensors of any memory space: host tensors run the Stockham engine
// below; tensors of another space (cuda, with <tessera/cuda/spectral.cuh>) go to that space's
// space_backend (cuFFT), after the same argument checks, so errors read the same.

namespace detail {

/// The kernels of a memory space other than host (FFTs, complex GEMMs, basis caches),
/// specialised by that space's headers (cuda/spectral.cuh) so that generic code reaches them
/// at instantiation. For FFTs it provides, on normalised distinct logical axes `ax`:
///   c2c(x, ax, inverse, scale)        scale·F±(x) over ax;
///   r2c(x, ax, scale)                 scale·(rfft along ax.back(), then fft over the others);
///   c2r(x, ax, n, scale, hermitian)   scale·(unscaled ifft over all but ax.back(), then the
///                                     real synthesis of c2r below along ax.back(), n points).
template <class Space>
struct space_backend;

/// The most scratch a thread keeps between transforms, per element type: a transform whose
/// blocks need more (1-d lengths above about 2¹⁷) frees it when its parallel chunk ends, so one
/// long FFT does not leave every worker thread holding hundreds of MiB until it exits.
inline constexpr std::size_t fft_scratch_keep_bytes = std::size_t(16) << 20;

template <class T>
std::vector<T>& fft_scratch_buffer() {
  thread_local std::vector<T> buf;
  return buf;
}

/// Per-thread scratch: four arrays of `size` elements (block, work copy; real and imaginary).
template <class T>
T* fft_scratch(index_t size) {
  std::vector<T>& buf = fft_scratch_buffer<T>();
  if (static_cast<index_t>(buf.size()) < 4 * size) buf.resize(static_cast<std::size_t>(4 * size));
  return buf.data();
}

/// Frees this thread's scratch of type T when it is above fft_scratch_keep_bytes.
template <class T>
void trim_fft_scratch() noexcept {
  std::vector<T>& buf = fft_scratch_buffer<T>();
  if (buf.capacity() * sizeof(T) > fft_scratch_keep_bytes) std::vector<T>().swap(buf);
}

/// Runs `body(first_line, lines_in_block)` over blocks of at most `per_block` lines in
/// parallel, about `default_grain` points per parallel chunk. When the innermost of the other
/// axes is long enough, blocks do not straddle it (each block's lines are then equally spaced
/// in memory) and its runs are split into near-equal blocks.
template <class F>
void for_line_blocks(const fft_lines& lines, index_t per_block, index_t n, F&& body) {
  const index_t count = lines.count;
  const index_t run = lines.rank > 0 ? lines.extent[lines.rank - 1] : 1;
  const bool aligned = run > 1 && 2 * run >= per_block;
  const index_t per_run = aligned ? (run + per_block - 1) / per_block : 1;
  const index_t blocks = aligned ? count / run * per_run : (count + per_block - 1) / per_block;
  const index_t grain = std::max<index_t>(1, default_grain / std::max<index_t>(1, n * per_block));
  parallel_for(0, blocks, grain, [&](index_t lo, index_t hi) {
    for (index_t b = lo; b < hi; ++b) {
      if (aligned) {
        const index_t o = b / per_run, piece = b % per_run;
        const index_t first = run * piece / per_run, last = run * (piece + 1) / per_run;
        body(o * run + first, last - first);
      } else {
        body(b * per_block, std::min(per_block, count - b * per_block));
      }
    }
    trim_fft_scratch<float>();
    trim_fft_scratch<double>();
  });
}

/// True when offs[c] = offs[0] + c·step for every lane.
inline bool uniform_step(const index_t* offs, index_t lanes, index_t step) {
  for (index_t c = 1; c < lanes; ++c)
    if (offs[c] != offs[0] + c * step) return false;
  return true;
}

/// @throws tessera::invalid_argument unless x is a complex tensor (rank >= 2, last extent 2).
template <class T, class S>
void check_complex(const char* fn, const tensor<T, S>& x) {
  if (!x.defined()) throw_invalid_argument(fn, "the input tensor is undefined");
  if (x.rank() < 2 || x.shape().back() != 2)
    throw_invalid_argument(fn, "expected a complex tensor (real shape (..., n, 2)), got shape ",
                           x.shape().str());
}

/// @throws tessera::invalid_argument unless x is a real tensor of rank >= 1.
template <class T, class S>
void check_real(const char* fn, const tensor<T, S>& x) {
  if (!x.defined()) throw_invalid_argument(fn, "the input tensor is undefined");
  if (x.rank() < 1) throw_invalid_argument(fn, "expected a tensor of rank >= 1, got a scalar");
}

/// scale · DFT of complex x along `axis` (logical axes): e^{-2πijk/n} forward, e^{+2πijk/n}
/// when `inverse` (unscaled either way). The primitive behind fft and ifft.
template <class T>
void c2c_into(const tensor<T>& x, const tensor<T>& out, int a, bool inverse, T scale);

template <class T>
tensor<T> c2c(const tensor<T>& x, int axis, bool inverse, T scale) {
  const char* fn = inverse ? "spectral::ifft" : "spectral::fft";
  check_complex(fn, x);
  const int a = normalize_axis(fn, axis, x.rank() - 1);
  tensor<T> out(x.shape());
  c2c_into(x, out, a, inverse, scale);
  return out;
}

/// c2c of x along logical axis a (normalised) written into `out`, a contiguous tensor of x's
/// shape that may be x itself: each block of lines is read whole before it is written.
template <class T>
void c2c_into(const tensor<T>& x, const tensor<T>& out, int a, bool inverse, T scale) {
  const index_t n = x.shape()[a];
  if (out.numel() == 0) return;
#if TESSERA_HAS_FFTW
  if (thread_fft_engine() == fft_engine::fftw && fftw::c2c(x, out, a, inverse, scale)) return;
#endif
#if TESSERA_HAS_EIGEN_FFT
  if (thread_fft_engine() == fft_engine::eigen) return eigen_fft::c2c(x, out, a, inverse, scale);
#endif
  const fft_lines lines = make_lines(x, out, a, x.rank() - 1);
  const index_t sa = x.strides()[a], sp = x.strides()[x.rank() - 1], oa = out.strides()[a];
  const T* xb = x.data();
  T* ob = out.data();
  const stockham_plan<T> plan(n, inverse);
  const index_t L = fft_lanes(n);
  for_line_blocks(lines, L, n, [&](index_t l0, index_t lanes) {
    T* re = fft_scratch<T>(n * L);
    T *im = re + n * lanes, *wr = im + n * lanes, *wi = wr + n * lanes;
    index_t io[64], oo[64];
    for (index_t c = 0; c < lanes; ++c) lines.offsets(l0 + c, io[c], oo[c]);
    // Lines contiguous along the axis: walk each line; else neighbouring lines are neighbours
    // in memory: walk across the lines.
    if (sa <= 2 * sp) {
      for (index_t c = 0; c < lanes; ++c) {
        const T* p = xb + io[c];
        for (index_t j = 0; j < n; ++j) {
          re[j * lanes + c] = p[j * sa];
          im[j * lanes + c] = p[j * sa + sp];
        }
      }
    } else if (sp == 1 && uniform_step(io, lanes, 2)) {  // interleaved neighbours: deinterleave
      for (index_t j = 0; j < n; ++j) {
        const T* p = xb + io[0] + j * sa;
        T* r = re + j * lanes;
        T* i = im + j * lanes;
        TESSERA_SPECTRAL_SIMD
        for (index_t c = 0; c < lanes; ++c) {
          r[c] = p[2 * c];
          i[c] = p[2 * c + 1];
        }
      }
    } else {
      for (index_t j = 0; j < n; ++j)
        for (index_t c = 0; c < lanes; ++c) {
          const T* p = xb + io[c] + j * sa;
          re[j * lanes + c] = p[0];
          im[j * lanes + c] = p[sp];
        }
    }
    const auto [rr, ri] = plan.run(re, im, wr, wi, lanes);
    if (oa == 2) {
      for (index_t c = 0; c < lanes; ++c) {
        T* p = ob + oo[c];
        for (index_t j = 0; j < n; ++j) {
          p[2 * j] = rr[j * lanes + c] * scale;
          p[2 * j + 1] = ri[j * lanes + c] * scale;
        }
      }
    } else if (uniform_step(oo, lanes, 2)) {
      for (index_t j = 0; j < n; ++j) {
        T* p = ob + oo[0] + j * oa;
        const T* r = rr + j * lanes;
        const T* i = ri + j * lanes;
        TESSERA_SPECTRAL_SIMD
        for (index_t c = 0; c < lanes; ++c) {
          p[2 * c] = r[c] * scale;
          p[2 * c + 1] = i[c] * scale;
        }
      }
    } else {
      for (index_t j = 0; j < n; ++j)
        for (index_t c = 0; c < lanes; ++c) {
          T* p = ob + oo[c] + j * oa;
          p[0] = rr[j * lanes + c] * scale;
          p[1] = ri[j * lanes + c] * scale;
        }
    }
  });
}

/// scale · the first n/2+1 bins of the DFT of real x along `axis`: shape (..., n/2+1, ..., 2).
/// The primitive behind rfft. Two real lines share one complex transform (x + iy), separated
/// afterwards by the Hermitian symmetry of real spectra.
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
#if TESSERA_HAS_FFTW
  if (thread_fft_engine() == fft_engine::fftw && fftw::r2c(x, out, a, scale)) return out;
#endif
#if TESSERA_HAS_EIGEN_FFT
  if (thread_fft_engine() == fft_engine::eigen) {
    eigen_fft::r2c(x, out, a, scale);
    return out;
  }
#endif
  const fft_lines lines = make_lines(x, out, a, x.rank());
  const index_t sa = x.strides()[a], oa = out.strides()[a];
  const T* xb = x.data();
  T* ob = out.data();
  const stockham_plan<T> plan(n, false);
  const index_t L = fft_lanes(n);
  const T half = T(0.5) * scale;
  for_line_blocks(lines, 2 * L, n, [&](index_t l0, index_t nl) {
    const index_t lanes = (nl + 1) / 2;
    T* re = fft_scratch<T>(n * L);
    T *im = re + n * lanes, *wr = im + n * lanes, *wi = wr + n * lanes;
    index_t io[64], oo[64];
    for (index_t c = 0; c < nl; ++c) lines.offsets(l0 + c, io[c], oo[c]);
    for (index_t c = 0; c < lanes; ++c) {
      const T* p = xb + io[2 * c];
      for (index_t j = 0; j < n; ++j) re[j * lanes + c] = p[j * sa];
      if (2 * c + 1 < nl) {
        const T* q = xb + io[2 * c + 1];
        for (index_t j = 0; j < n; ++j) im[j * lanes + c] = q[j * sa];
      } else {
        for (index_t j = 0; j < n; ++j) im[j * lanes + c] = T(0);
      }
    }
    const auto [zr, zi] = plan.run(re, im, wr, wi, lanes);
    for (index_t c = 0; c < lanes; ++c) {
      T* p = ob + oo[2 * c];
      T* q = 2 * c + 1 < nl ? ob + oo[2 * c + 1] : nullptr;
      for (index_t k = 0; k < nk; ++k) {
        const index_t k2 = k == 0 ? 0 : n - k;
        const T ar = zr[k * lanes + c], ai = zi[k * lanes + c];
        const T br = zr[k2 * lanes + c], bi = -zi[k2 * lanes + c];  // conj(Z_{n-k})
        p[k * oa] = (ar + br) * half;                               // X = (Z_k + conj Z_{n-k}) / 2
        p[k * oa + 1] = (ai + bi) * half;
        if (q) {
          q[k * oa] = (ai - bi) * half;  // Y = (Z_k - conj Z_{n-k}) / 2i
          q[k * oa + 1] = (br - ar) * half;
        }
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
/// imaginary parts of the DC and Nyquist bins never contribute. Two lines share one complex
/// inverse transform: the Hermitian extensions H_x + i·H_y, whose inverse is x + iy.
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
  const index_t used = std::min(m, n / 2 + 1);
  shape_t os = x.shape();
  os.erase(x.rank() - 1);
  os[a] = n;
  tensor<T> out(os);
  if (out.numel() == 0) return out;
#if TESSERA_HAS_FFTW
  if (thread_fft_engine() == fft_engine::fftw && fftw::c2r(x, out, a, n, scale, hermitian))
    return out;
#endif
#if TESSERA_HAS_EIGEN_FFT
  if (thread_fft_engine() == fft_engine::eigen) {
    eigen_fft::c2r(x, out, a, n, scale, hermitian);
    return out;
  }
#endif
  const fft_lines lines = make_lines(x, out, a, x.rank() - 1);
  const index_t sa = x.strides()[a], sp = x.strides()[x.rank() - 1], oa = out.strides()[a];
  const T* xb = x.data();
  T* ob = out.data();
  const T interior = hermitian ? T(1) : T(0.5);  // the extension counts interior bins twice
  const stockham_plan<T> plan(n, true);
  const index_t L = fft_lanes(n);
  for_line_blocks(lines, 2 * L, n, [&](index_t l0, index_t nl) {
    const index_t lanes = (nl + 1) / 2;
    T* re = fft_scratch<T>(n * L);
    T *im = re + n * lanes, *wr = im + n * lanes, *wi = wr + n * lanes;
    index_t io[64], oo[64];
    for (index_t c = 0; c < nl; ++c) lines.offsets(l0 + c, io[c], oo[c]);
    // Z = H_x + i·H_y from bins k <= n/2: Z_k = X_k + iY_k, Z_{n-k} = conj(X_k) + i·conj(Y_k),
    // with weights, real DC and Nyquist bins, and zeros for bins the input does not have.
    for (index_t c = 0; c < lanes; ++c) {
      const T* px = xb + io[2 * c];
      const T* py = 2 * c + 1 < nl ? xb + io[2 * c + 1] : nullptr;
      for (index_t k = 0; 2 * k <= n; ++k) {
        T xr = 0, xi = 0, yr = 0, yi = 0;
        if (k < used) {
          const bool edge = k == 0 || 2 * k == n;
          const T w = edge ? T(1) : interior;
          xr = px[k * sa] * w;
          xi = edge ? T(0) : px[k * sa + sp] * w;
          if (py) {
            yr = py[k * sa] * w;
            yi = edge ? T(0) : py[k * sa + sp] * w;
          }
        }
        re[k * lanes + c] = xr - yi;
        im[k * lanes + c] = xi + yr;
        if (k > 0 && 2 * k < n) {
          re[(n - k) * lanes + c] = xr + yi;
          im[(n - k) * lanes + c] = yr - xi;
        }
      }
    }
    const auto [zr, zi] = plan.run(re, im, wr, wi, lanes);
    for (index_t c = 0; c < lanes; ++c) {
      T* p = ob + oo[2 * c];
      for (index_t j = 0; j < n; ++j) p[j * oa] = zr[j * lanes + c] * scale;
      if (2 * c + 1 < nl) {
        T* q = ob + oo[2 * c + 1];
        for (index_t j = 0; j < n; ++j) q[j * oa] = zi[j * lanes + c] * scale;
      }
    }
  });
  return out;
}

/// The primitives on tensors of another memory space: the host's checks and messages, then
/// that space's backend (a one-axis transform).
template <class T, class S>
  requires(!std::is_same_v<S, host>)
tensor<T, S> c2c(const tensor<T, S>& x, int axis, bool inverse, T scale) {
  const char* fn = inverse ? "spectral::ifft" : "spectral::fft";
  check_complex(fn, x);
  const int a = normalize_axis(fn, axis, x.rank() - 1);
  return space_backend<S>::c2c(x, shape_t{a}, inverse, scale);
}

/// @throws tessera::invalid_argument as the host r2c (rank 0, bad axis, empty axis).
template <class T, class S>
  requires(!std::is_same_v<S, host>)
tensor<T, S> r2c(const tensor<T, S>& x, int axis, T scale) {
  const char* fn = "spectral::rfft";
  check_real(fn, x);
  const int a = normalize_axis(fn, axis, x.rank());
  if (x.shape()[a] < 1)
    throw_invalid_argument(fn, "axis ", a, " of shape ", x.shape().str(), " is empty");
  return space_backend<S>::r2c(x, shape_t{a}, scale);
}

/// @throws tessera::invalid_argument as the host c2r (not complex, bad axis, n < 1).
template <class T, class S>
  requires(!std::is_same_v<S, host>)
tensor<T, S> c2r(const tensor<T, S>& x, int axis, index_t n, T scale, bool hermitian) {
  const char* fn = "spectral::irfft";
  check_complex(fn, x);
  const int a = normalize_axis(fn, axis, x.rank() - 1);
  if (n < 0) n = 2 * (x.shape()[a] - 1);
  if (n < 1)
    throw_invalid_argument(fn, "output length ", n, " must be positive (input shape ",
                           x.shape().str(), ", axis ", a, ")");
  return space_backend<S>::c2r(x, shape_t{a}, n, scale, hermitian);
}

/// Normalised, distinct axes of an n-d transform over `rank` logical axes (all when empty).
inline shape_t transform_axes(const char* fn, const shape_t& axes, int rank) {
  shape_t out;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (index_t ax : axes) {
    const int a = normalize_axis_entry(fn, ax, rank);
    for (index_t prev : out)
      if (prev == a) throw_invalid_argument(fn, "axes ", axes.str(), " repeat axis ", a);
    out.push_back(a);
  }
  return out;
}

/// Output lengths of an inverse real n-d transform: `s` when given, else the input extents
/// with the last axis 2(m - 1).
/// @throws tessera::invalid_argument when s has the wrong length or changes a complex axis.
template <class T, class S>
shape_t irfftn_sizes(const char* fn, const tensor<T, S>& x, const shape_t& ax, const shape_t& s) {
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
template <class T, class S>
tensor<T, S> fft(const tensor<T, S>& x, int axis = -1) {
  return detail::c2c(x, axis, false, T(1));
}

/// Inverse complex DFT along `axis`: x_j = (1/n) Σ_k X_k e^{+2πijk/n}.
/// @throws tessera::invalid_argument when x is not complex or the axis is out of range.
template <class T, class S>
tensor<T, S> ifft(const tensor<T, S>& x, int axis = -1) {
  const char* fn = "spectral::ifft";
  detail::check_complex(fn, x);
  const index_t n = x.shape()[normalize_axis(fn, axis, x.rank() - 1)];
  return detail::c2c(x, axis, true, n > 0 ? T(1) / static_cast<T>(n) : T(1));
}

/// DFT of real x along `axis`, the n/2+1 non-negative frequencies: real (..., n, ...) →
/// complex (..., n/2+1, ..., 2).
/// @throws tessera::invalid_argument for a rank-0 x, a bad axis or an empty transform axis.
template <class T, class S>
tensor<T, S> rfft(const tensor<T, S>& x, int axis = -1) {
  return detail::r2c(x, axis, T(1));
}

/// Inverse of rfft: complex (..., m, ..., 2) → real (..., n, ...), n = 2(m - 1) by default,
/// 1/n normalised; the imaginary parts of the DC and Nyquist bins are ignored, and the input is
/// cropped or zero-padded to n/2+1 bins (numpy's irfft).
/// @throws tessera::invalid_argument when x is not complex, the axis is bad or n < 1.
template <class T, class S>
tensor<T, S> irfft(const tensor<T, S>& x, int axis = -1, index_t n = -1) {
  detail::check_complex("spectral::irfft", x);
  const index_t m = x.shape()[normalize_axis("spectral::irfft", axis, x.rank() - 1)];
  const index_t len = n < 0 ? 2 * (m - 1) : n;
  return detail::c2r(x, axis, len, len > 0 ? T(1) / static_cast<T>(len) : T(1), true);
}

/// Complex DFT over several axes (all complex axes when `axes` is empty).
template <class T, class S>
tensor<T, S> fftn(const tensor<T, S>& x, const shape_t& axes = {}) {
  detail::check_complex("spectral::fftn", x);
  const shape_t ax = detail::transform_axes("spectral::fftn", axes, x.rank() - 1);
  if constexpr (!std::is_same_v<S, host>) {
    return detail::space_backend<S>::c2c(x, ax, false, T(1));
  } else {
    // After the first pass the data is ours: the other passes run in place.
    tensor<T> y = fft(x, static_cast<int>(ax.back()));
    for (int i = ax.rank() - 2; i >= 0; --i)
      detail::c2c_into(y, y, static_cast<int>(ax[i]), false, T(1));
    return y;
  }
}

/// Inverse complex DFT over several axes (all complex axes when `axes` is empty).
template <class T, class S>
tensor<T, S> ifftn(const tensor<T, S>& x, const shape_t& axes = {}) {
  detail::check_complex("spectral::ifftn", x);
  const shape_t ax = detail::transform_axes("spectral::ifftn", axes, x.rank() - 1);
  T scale(1);  // 1/Π n over the transformed axes
  for (index_t a : ax)
    if (x.shape()[static_cast<int>(a)] > 0) scale /= static_cast<T>(x.shape()[static_cast<int>(a)]);
  if constexpr (!std::is_same_v<S, host>) {
    return detail::space_backend<S>::c2c(x, ax, true, scale);
  } else {
    // Unscaled transforms, the whole 1/Π n applied by the last one (one scaling, no pass of
    // its own on either engine).
    const bool one = ax.rank() == 1;
    tensor<T> y = detail::c2c(x, static_cast<int>(ax.back()), true, one ? scale : T(1));
    for (int i = ax.rank() - 2; i >= 0; --i)
      detail::c2c_into(y, y, static_cast<int>(ax[i]), true, i == 0 ? scale : T(1));
    return y;
  }
}

/// fftn over the last two complex axes.
template <class T, class S>
tensor<T, S> fft2(const tensor<T, S>& x) {
  return fftn(x, shape_t{-2, -1});
}

/// ifftn over the last two complex axes.
template <class T, class S>
tensor<T, S> ifft2(const tensor<T, S>& x) {
  return ifftn(x, shape_t{-2, -1});
}

/// Real n-d DFT: rfft along the last of `axes` (all axes when empty), then complex DFTs along
/// the others. Real (..., H, W) with axes (-2, -1) → complex (..., H, W/2+1, 2).
/// @throws tessera::invalid_argument for bad or repeated axes.
template <class T, class S>
tensor<T, S> rfftn(const tensor<T, S>& x, const shape_t& axes = {}) {
  detail::check_real("spectral::rfftn", x);
  const shape_t ax = detail::transform_axes("spectral::rfftn", axes, x.rank());
  if constexpr (!std::is_same_v<S, host>) {
    const int a = static_cast<int>(ax.back());
    if (x.shape()[a] < 1)
      throw_invalid_argument("spectral::rfft", "axis ", a, " of shape ", x.shape().str(),
                             " is empty");
    return detail::space_backend<S>::r2c(x, ax, T(1));
  } else {
    tensor<T> y = rfft(x, static_cast<int>(ax.back()));
    for (int i = ax.rank() - 2; i >= 0; --i)
      detail::c2c_into(y, y, static_cast<int>(ax[i]), false, T(1));
    return y;
  }
}

/// Inverse of rfftn: inverse complex DFTs along all but the last of `axes`, then irfft along
/// the last. `s` gives the output lengths per axis (default: 2(m - 1) on the last axis, the
/// extent elsewhere; only the last axis may be resized).
/// @throws tessera::invalid_argument for bad or repeated axes or an unsupported s.
template <class T, class S>
tensor<T, S> irfftn(const tensor<T, S>& x, const shape_t& axes = {}, const shape_t& s = {}) {
  const char* fn = "spectral::irfftn";
  detail::check_complex(fn, x);
  const shape_t ax = detail::transform_axes(fn, axes, x.rank() - 1);
  const shape_t n = detail::irfftn_sizes(fn, x, ax, s);
  if constexpr (!std::is_same_v<S, host>) {
    const int a = static_cast<int>(ax.back());
    if (n.back() < 1)
      throw_invalid_argument("spectral::irfft", "output length ", n.back(),
                             " must be positive (input shape ", x.shape().str(), ", axis ", a, ")");
    T scale = T(1) / static_cast<T>(n.back());
    for (int i = 0; i + 1 < ax.rank(); ++i) {
      const index_t e = x.shape()[static_cast<int>(ax[i])];
      if (e > 0) scale /= static_cast<T>(e);
    }
    return detail::space_backend<S>::c2r(x, ax, n.back(), scale, true);
  } else {
    // Unscaled inverse transforms over all but the last axis (the first into a new tensor,
    // the others in place), then the real synthesis along the last axis, which applies the
    // whole 1/Π n once (no separate scaling pass on either engine).
    tensor<T> y = x;
    T scale = n.back() > 0 ? T(1) / static_cast<T>(n.back()) : T(1);
    for (int i = 0; i + 1 < ax.rank(); ++i) {
      const index_t e = x.shape()[static_cast<int>(ax[i])];
      if (e > 0) scale /= static_cast<T>(e);
    }
#if TESSERA_HAS_FFTW
    // One buffer for all the axes (the inverse DFTs in place, then c2r).
    if (detail::thread_fft_engine() == fft_engine::fftw && n.back() >= 1 && x.numel() > 0) {
      shape_t os = x.shape();
      os.erase(x.rank() - 1);
      os[static_cast<int>(ax.back())] = n.back();
      tensor<T> out(os);
      if (detail::fftw::irfftn(x, ax, n.back(), scale, out)) return out;
    }
#endif
    for (int i = ax.rank() - 2; i >= 0; --i) {
      const int a = static_cast<int>(ax[i]);
      if (i == ax.rank() - 2)
        y = detail::c2c(y, a, true, T(1));
      else
        detail::c2c_into(y, y, a, true, T(1));
    }
    return detail::c2r(y, static_cast<int>(ax.back()), n.back(), scale, true);
  }
}

/// rfftn over the last two axes: real (..., H, W) → complex (..., H, W/2+1, 2).
template <class T, class S>
tensor<T, S> rfft2(const tensor<T, S>& x) {
  return rfftn(x, shape_t{-2, -1});
}

/// irfftn over the last two complex axes; `s` = (H, W) output size (default W = 2(m - 1)).
template <class T, class S>
tensor<T, S> irfft2(const tensor<T, S>& x, const shape_t& s = {}) {
  return irfftn(x, shape_t{-2, -1}, s);
}

}  // namespace tessera::spectral
