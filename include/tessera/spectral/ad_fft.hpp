// SPDX-License-Identifier: Apache-2.0
// Differentiable Fourier transforms on ad::var: fft/ifft/rfft/irfft and their n-d compositions.
// Each linear op's reverse rule calls its adjoint op and the adjoint's rule calls the op back,
// so gradients of every order exist (Hessian-vector products, gradient penalties).
#pragma once

#include <vector>

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/shape.hpp"
#include "tessera/spectral/fft.hpp"

namespace tessera::spectral {

namespace detail {

// The three primitives on variables (their tensor versions are in fft.hpp). Declared first so
// that every rule below finds both versions: a rule runs on tensors in a first-order sweep and
// on variables in a create-graph sweep.
template <class T, class S>
ad::var<T, S> c2c(const ad::var<T, S>& x, int axis, bool inverse, T scale);
template <class T, class S>
ad::var<T, S> r2c(const ad::var<T, S>& x, int axis, T scale);
template <class T, class S>
ad::var<T, S> c2r(const ad::var<T, S>& x, int axis, index_t n, T scale, bool hermitian);

/// Per-bin weights of c2r's adjoint, shaped to broadcast against a complex tensor whose
/// logical axis `axis` (of `logical_rank`) holds n/2+1 bins: w_k on the real part, and on the
/// imaginary part too except at DC and Nyquist, where it is 0 (those imaginary parts never
/// reach the output, so their gradient is exactly zero). Filled in memory space S by fills of
/// views (kernels on cuda: nothing is copied from the host).
template <class T, class S = host>
tensor<T, S> c2r_weights(index_t n, bool hermitian, int axis, int logical_rank) {
  const index_t nk = n / 2 + 1;
  shape_t s = shape_t::filled(logical_rank + 1, 1);
  s[axis] = nk;
  s[logical_rank] = 2;
  tensor<T, S> w(s);
  w.fill_(hermitian ? T(2) : T(1));
  for (const index_t k : {index_t(0), n / 2}) {
    if (k != 0 && 2 * k != n) continue;  // the Nyquist bin exists for even n only
    const tensor<T, S> bin = w.slice(axis, k, k + 1);
    bin.select(logical_rank, 0).fill_(T(1));
    bin.select(logical_rank, 1).fill_(T(0));
  }
  return w;
}

/// x resized along `axis` to `len` entries: cropped, or zero-padded at the end. Works on
/// tensors and on variables (crop = slice, pad = concat with zeros, both differentiable).
template <class X>
X fit_length(const X& x, int axis, index_t len) {
  using T = typename X::value_type;
  const index_t m = x.shape()[axis];
  if (m == len) return x;
  if (m > len) return slice(x, axis, 0, len);
  using S = typename X::space_type;
  shape_t zs = x.shape();
  zs[axis] = len - m;
  tensor<T, S> z(zs);
  z.fill_(T(0));
  if constexpr (std::is_same_v<X, tensor<T, S>>)
    return tessera::concat(std::vector<tensor<T, S>>{x, z}, axis);
  else
    return ad::concat(std::vector<X>{x, ad::constant(z)}, axis);
}

/// y = scale·F±(x) along `axis` (F- forward, F+ inverse, both unscaled);
/// x̄ += scale·F∓(ȳ): the adjoint of a DFT matrix is its conjugate transpose.
template <class T, class S>
ad::var<T, S> c2c(const ad::var<T, S>& x, int axis, bool inverse, T scale) {
  tensor<T, S> y = c2c(x.value(), axis, inverse, scale);
  const int a = normalize_axis("spectral::fft", axis, x.rank() - 1);
  return ad::make_op(std::move(y), {x}, [a, inverse, scale](auto& c) {
    c.acc(0, detail::c2c(c.gy(), a, !inverse, scale));
  });
}

/// y = scale·rfft(x) along `axis`;  x̄ += scale·Σ_k Re(ȳ_k e^{+2πijk/n}) (= c2r without the
/// Hermitian doubling: each kept bin appears once in y).
template <class T, class S>
ad::var<T, S> r2c(const ad::var<T, S>& x, int axis, T scale) {
  tensor<T, S> y = r2c(x.value(), axis, scale);
  const int a = normalize_axis("spectral::rfft", axis, x.rank());
  const index_t n = x.shape()[a];
  return ad::make_op(std::move(y), {x},
                     [a, n, scale](auto& c) { c.acc(0, detail::c2r(c.gy(), a, n, scale, false)); });
}

/// y_j = scale·Σ_{k<n/2+1} w_k Re(X_k e^{+2πijk/n}) (w_k Hermitian weights or 1);
/// X̄_k += scale·w_k·rfft(ȳ)_k, with zero imaginary parts at DC and Nyquist, cropped or padded
/// back to X's extent (bins beyond n/2 get no gradient).
template <class T, class S>
ad::var<T, S> c2r(const ad::var<T, S>& x, int axis, index_t n, T scale, bool hermitian) {
  tensor<T, S> y = c2r(x.value(), axis, n, scale, hermitian);
  const int lr = x.rank() - 1;
  const int a = normalize_axis("spectral::irfft", axis, lr);
  if (n < 0) n = 2 * (x.shape()[a] - 1);
  const index_t m = x.shape()[a];
  tensor<T, S> w = c2r_weights<T, S>(n, hermitian, a, lr);
  return ad::make_op(std::move(y), {x}, [a, m, scale, w](auto& c) {
    c.acc(0, fit_length(detail::r2c(c.gy(), a, scale) * c.lift(w), a, m));
  });
}

}  // namespace detail

/// Differentiable fft (see the tensor overload);  x̄ += n·ifft(ȳ) = F⁺ȳ.
template <class T, class S>
ad::var<T, S> fft(const ad::var<T, S>& x, int axis = -1) {
  return detail::c2c(x, axis, false, T(1));
}

/// Differentiable ifft;  x̄ += fft(ȳ)/n.
template <class T, class S>
ad::var<T, S> ifft(const ad::var<T, S>& x, int axis = -1) {
  detail::check_complex("spectral::ifft", x.value());
  const index_t n = x.shape()[normalize_axis("spectral::ifft", axis, x.rank() - 1)];
  return detail::c2c(x, axis, true, n > 0 ? T(1) / static_cast<T>(n) : T(1));
}

/// Differentiable rfft;  x̄ += Re(n·ifft(ȳ zero-padded from n/2+1 to n bins)).
template <class T, class S>
ad::var<T, S> rfft(const ad::var<T, S>& x, int axis = -1) {
  return detail::r2c(x, axis, T(1));
}

/// Differentiable irfft;  X̄ += rfft(ȳ)·c_k/n with c_0 = 1, c_{n/2} = 1 for even n, c_k = 2
/// otherwise, and zero imaginary parts at DC and Nyquist (the "factor 2" of the adjoint).
template <class T, class S>
ad::var<T, S> irfft(const ad::var<T, S>& x, int axis = -1, index_t n = -1) {
  detail::check_complex("spectral::irfft", x.value());
  const index_t m = x.shape()[normalize_axis("spectral::irfft", axis, x.rank() - 1)];
  const index_t len = n < 0 ? 2 * (m - 1) : n;
  return detail::c2r(x, axis, len, len > 0 ? T(1) / static_cast<T>(len) : T(1), true);
}

/// Differentiable fftn.
template <class T, class S>
ad::var<T, S> fftn(const ad::var<T, S>& x, const shape_t& axes = {}) {
  detail::check_complex("spectral::fftn", x.value());
  const shape_t ax = detail::transform_axes("spectral::fftn", axes, x.rank() - 1);
  ad::var<T, S> y = x;
  for (int i = ax.rank() - 1; i >= 0; --i) y = fft(y, static_cast<int>(ax[i]));
  return y;
}

/// Differentiable ifftn.
template <class T, class S>
ad::var<T, S> ifftn(const ad::var<T, S>& x, const shape_t& axes = {}) {
  detail::check_complex("spectral::ifftn", x.value());
  const shape_t ax = detail::transform_axes("spectral::ifftn", axes, x.rank() - 1);
  ad::var<T, S> y = x;
  for (int i = ax.rank() - 1; i >= 0; --i) y = ifft(y, static_cast<int>(ax[i]));
  return y;
}

/// Differentiable fft2.
template <class T, class S>
ad::var<T, S> fft2(const ad::var<T, S>& x) {
  return fftn(x, shape_t{-2, -1});
}

/// Differentiable ifft2.
template <class T, class S>
ad::var<T, S> ifft2(const ad::var<T, S>& x) {
  return ifftn(x, shape_t{-2, -1});
}

/// Differentiable rfftn.
template <class T, class S>
ad::var<T, S> rfftn(const ad::var<T, S>& x, const shape_t& axes = {}) {
  detail::check_real("spectral::rfftn", x.value());
  const shape_t ax = detail::transform_axes("spectral::rfftn", axes, x.rank());
  ad::var<T, S> y = rfft(x, static_cast<int>(ax.back()));
  for (int i = ax.rank() - 2; i >= 0; --i) y = fft(y, static_cast<int>(ax[i]));
  return y;
}

/// Differentiable irfftn.
template <class T, class S>
ad::var<T, S> irfftn(const ad::var<T, S>& x, const shape_t& axes = {}, const shape_t& s = {}) {
  const char* fn = "spectral::irfftn";
  detail::check_complex(fn, x.value());
  const shape_t ax = detail::transform_axes(fn, axes, x.rank() - 1);
  const shape_t n = detail::irfftn_sizes(fn, x.value(), ax, s);
  ad::var<T, S> y = x;
  for (int i = ax.rank() - 2; i >= 0; --i) y = ifft(y, static_cast<int>(ax[i]));
  return irfft(y, static_cast<int>(ax.back()), n.back());
}

/// Differentiable rfft2.
template <class T, class S>
ad::var<T, S> rfft2(const ad::var<T, S>& x) {
  return rfftn(x, shape_t{-2, -1});
}

/// Differentiable irfft2.
template <class T, class S>
ad::var<T, S> irfft2(const ad::var<T, S>& x, const shape_t& s = {}) {
  return irfftn(x, shape_t{-2, -1}, s);
}

}  // namespace tessera::spectral
