// SPDX-License-Identifier: Apache-2.0
// The FNO spectral convolutions (the legacy SpectralConv1d/SpectralConv2d of Li et al.): keep
// the lowest Fourier modes, multiply them by complex weights, transform back. Two equal
// computations: truncated DFTs as GEMMs (the default, fast) and full FFTs (the reference).
#pragma once

#include <cmath>
#include <numbers>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/ad/linalg.hpp"
#include "tessera/ad/reduce.hpp"
#include "tessera/ad/shape.hpp"
#include "tessera/core/creation.hpp"
#include "tessera/spectral/ad_fft.hpp"
#include "tessera/spectral/complex_matmul.hpp"
#include "tessera/spectral/layout_ops.hpp"

namespace tessera::spectral {

/// How a spectral convolution computes its kept modes.
enum class spectral_method {
  /// Truncated DFTs as matrix products with constant cosine/sine matrices: only the kept modes
  /// are ever computed (O(n·modes) per line instead of O(n log n), but GEMM-fast). Default.
  truncated_dft,
  /// Full rfft2 / irfft2 and slicing, the textbook computation (reference for tests).
  fft,
  /// The truncated DFTs as GEMMs everywhere: where a space has fused kernels for them
  /// (spectral_conv2d on cuda, recorded or not), `truncated_dft` uses those instead; this one
  /// keeps the GEMMs (for comparisons, and as the fallback should the fused kernels misbehave).
  truncated_dft_gemm,
};

namespace detail {

/// cos and sin of 2π·num/den, with num reduced mod den first (exact at the quarter points,
/// accurate for large products).
inline std::pair<double, double> unit_root(index_t num, index_t den) {
  const index_t r = ((num % den) + den) % den;
  const double t = 2.0 * std::numbers::pi * static_cast<double>(r) / static_cast<double>(den);
  return {std::cos(t), std::sin(t)};
}

/// Weight of bin k in a real inverse DFT of length n: 1 at DC and Nyquist, 2 elsewhere.
inline double hermitian_weight(index_t k, index_t n) { return (k == 0 || 2 * k == n) ? 1.0 : 2.0; }

/// The constant matrices of the truncated-DFT spectral_conv2d for an (H, W) grid keeping rows
/// [0, m1) ∪ [H-m1, H) and columns [0, m2) of the rfft2 spectrum. Kept row r of the block stack
/// (block = r / m1, r' = r % m1) is frequency k_r = r' (low block) or H - m1 + r' (high block).
template <class T, class S = host>
struct conv2d_bases {
  tensor<T, S> f1;    // (2m2, W):  row (k, p): p = 0 cos(2πkw/W), p = 1 -sin(2πkw/W)
  tensor<T, S> g;     // (2H, 4m1): forward DFT along H, (p, h) → (r, q), complex as real blocks
  tensor<T, S> ginv;  // (4m1, 2H): unscaled inverse DFT along H, (r, q) → (p, h)
  tensor<T, S> finv;  // (2m2, W):  real synthesis along W with weights c_k / (H·W)
};

template <class T>
conv2d_bases<T> make_conv2d_bases(index_t H, index_t W, index_t m1, index_t m2) {
  conv2d_bases<T> b{tensor<T>(shape_t{2 * m2, W}), tensor<T>(shape_t{2 * H, 4 * m1}),
                    tensor<T>(shape_t{4 * m1, 2 * H}), tensor<T>(shape_t{2 * m2, W})};
  const double norm = 1.0 / (static_cast<double>(H) * static_cast<double>(W));
  for (index_t k = 0; k < m2; ++k)
    for (index_t w = 0; w < W; ++w) {
      const auto [cs, sn] = unit_root(k * w, W);
      const double ck = hermitian_weight(k, W) * norm;
      b.f1(2 * k, w) = static_cast<T>(cs);
      b.f1(2 * k + 1, w) = static_cast<T>(-sn);
      b.finv(2 * k, w) = static_cast<T>(ck * cs);
      b.finv(2 * k + 1, w) = static_cast<T>(-ck * sn);
    }
  for (index_t r = 0; r < 2 * m1; ++r) {
    const index_t k = r < m1 ? r : H - 2 * m1 + r;
    for (index_t h = 0; h < H; ++h) {
      const auto [cs, sn] = unit_root(k * h, H);  // forward kernel e^{-iθ} = cs - i·sn
      const T c = static_cast<T>(cs), s = static_cast<T>(sn);
      // forward: Y_re = Σ cs·X_re + sn·X_im, Y_im = Σ -sn·X_re + cs·X_im
      b.g(h, 2 * r) = c;
      b.g(H + h, 2 * r) = s;
      b.g(h, 2 * r + 1) = -s;
      b.g(H + h, 2 * r + 1) = c;
      // inverse: z_re = Σ cs·Y_re - sn·Y_im, z_im = Σ sn·Y_re + cs·Y_im
      b.ginv(2 * r, h) = c;
      b.ginv(2 * r + 1, h) = -s;
      b.ginv(2 * r, H + h) = s;
      b.ginv(2 * r + 1, H + h) = c;
    }
  }
  return b;
}

/// The truncated-DFT matrices in memory space S: built here on the host (a few thousand sines
/// and cosines per call); on another space, the space's backend keeps one copy per shape.
template <class T, class S>
conv2d_bases<T, S> conv2d_bases_for(index_t H, index_t W, index_t m1, index_t m2) {
  if constexpr (std::is_same_v<S, host>)
    return make_conv2d_bases<T>(H, W, m1, m2);
  else
    return space_backend<S>::template conv2d_matrices<T>(H, W, m1, m2);
}

/// The memory space of a tensor or variable type.
template <class X>
struct space_of {
  using type = typename X::space_type;
};

/// Checks x (B, Cin, H, W) against weights (Cin, Cout, m1, m2, 2).
/// @throws tessera::invalid_argument naming the shapes when they do not fit.
template <class T, class S>
void check_conv2d(const tensor<T, S>& x, const tensor<T, S>& w1, const tensor<T, S>& w2) {
  const char* fn = "spectral::spectral_conv2d";
  if (x.rank() != 4) throw_invalid_argument(fn, "x must be (B, Cin, H, W), got ", x.shape().str());
  if (w1.rank() != 5 || w1.shape().back() != 2 || !(w1.shape() == w2.shape()))
    throw_invalid_argument(fn, "weights must both be (Cin, Cout, m1, m2, 2), got ",
                           w1.shape().str(), " and ", w2.shape().str());
  if (w1.shape()[0] != x.shape()[1])
    throw_invalid_argument(fn, "weights ", w1.shape().str(), " expect ", w1.shape()[0],
                           " input channels, x ", x.shape().str(), " has ", x.shape()[1]);
  const index_t H = x.shape()[2], W = x.shape()[3], m1 = w1.shape()[2], m2 = w1.shape()[3];
  if (m1 < 1 || 2 * m1 > H || m2 < 1 || W < 1 || m2 > W / 2 + 1)
    throw_invalid_argument(fn, "modes (", m1, ", ", m2, ") do not fit a ", H, "×", W,
                           " grid: need W >= 1, 1 <= m1 <= H/2 and 1 <= m2 <= W/2+1");
}

/// The legacy contraction "bixy,ioxy->boxy" of complex a (B, Cin, X, Y, 2) and w (Cin, Cout,
/// X, Y, 2) by broadcasting and summing (the reference; the GEMM path uses complex_matmul).
template <class T, class S>
ad::var<T, S> mode_mix_reference(const ad::var<T, S>& a, const ad::var<T, S>& w) {
  using V = ad::var<T, S>;
  const V ar = ad::unsqueeze(ad::select(a, -1, 0), 2);  // (B, Cin, 1, X, Y)
  const V ai = ad::unsqueeze(ad::select(a, -1, 1), 2);
  const V wr = ad::select(w, -1, 0);  // (Cin, Cout, X, Y)
  const V wi = ad::select(w, -1, 1);
  const V re = ad::sum(ar * wr - ai * wi, shape_t{1});  // (B, Cout, X, Y)
  const V im = ad::sum(ar * wi + ai * wr, shape_t{1});
  return ad::stack(std::vector<V>{re, im}, -1);
}

/// x with zeros appended along `axis` up to extent `len`.
template <class T, class S>
ad::var<T, S> pad_zeros(const ad::var<T, S>& x, int axis, index_t len) {
  const index_t m = x.shape()[axis];
  if (m == len) return x;
  shape_t zs = x.shape();
  zs[axis] = len - m;
  return ad::concat(std::vector<ad::var<T, S>>{x, ad::constant(zeros<T, S>(zs))}, axis);
}

/// The FFT path (any memory space: on cuda the transforms run on cuFFT).
template <class T, class S>
ad::var<T, S> spectral_conv2d_fft(const ad::var<T, S>& x, const ad::var<T, S>& w1,
                                  const ad::var<T, S>& w2) {
  using V = ad::var<T, S>;
  const index_t B = x.size(0), Cout = w1.size(1), H = x.size(2), W = x.size(3);
  const index_t m1 = w1.size(2), m2 = w1.size(3);
  const V xf = rfft2(x);  // (B, Cin, H, W/2+1, 2)
  const V cols = ad::slice(xf, 3, 0, m2);
  const V top = mode_mix_reference(ad::slice(cols, 2, 0, m1), w1);
  const V bottom = mode_mix_reference(ad::slice(cols, 2, H - m1, H), w2);
  std::vector<V> rows{top};
  if (H > 2 * m1) rows.push_back(ad::constant(zeros<T, S>(shape_t{B, Cout, H - 2 * m1, m2, 2})));
  rows.push_back(bottom);
  const V spectrum = pad_zeros(ad::concat(rows, 2), 3, W / 2 + 1);  // (B,Cout,H,W/2+1,2)
  return irfft2(spectrum, shape_t{H, W});
}

/// The weights w1, w2 (Cin, Cout, m1, m2, 2) in the order of the per-mode products:
/// (block·m2 + k, m1, Cin, Cout, 2), block 0 for w1 and 1 for w2 (tensors or variables).
template <class X>
X mode_weights(const X& w1, const X& w2) {
  const index_t Cin = w1.size(0), Cout = w1.size(1), m1 = w1.size(2), m2 = w1.size(3);
  return stack_permuted(w1, w2, w1.shape(), shape_t{3, 2, 0, 1, 4},
                        shape_t{2 * m2, m1, Cin, Cout, 2});
}

/// Whether memory space S has fused truncated-DFT kernels for T (space_backend<S>::tdft2_forward
/// / tdft2_inverse, cuda/spectral.cuh), and whether they take (H, W, m1, m2).
template <class T, class S>
inline constexpr bool has_fused_dft =
    requires(index_t n) { space_backend<S>::template tdft2_fits<T>(n, n, n, n); };
template <class T, class S>
bool fused_dft_fits(index_t H, index_t W, index_t m1, index_t m2) {
  if constexpr (has_fused_dft<T, S>)
    return space_backend<S>::template tdft2_fits<T>(H, W, m1, m2);
  else
    return false;
}

/// The factors between the fused transforms (tdft2_modes, tdft2_synthesis) and each other's
/// adjoints, shaped (2·m2, 1, 1, 1, 1) to broadcast against the mode-major layout
/// (2·m2, m1, B, C, 2), whose rows k and m2 + k hold W-column k: c_k/(H·W) (c_k = 1 at DC and
/// Nyquist, 2 elsewhere), or its reciprocal. With the bases of make_conv2d_bases, the forward
/// transform is F = gᵀ·f1 and the inverse I = f1ᵀ·D·g with D = diag(c_k/(H·W)) (finv = D·f1,
/// ginv = gᵀ), so adjoint(I) = D·F and adjoint(F) = I·D⁻¹. Filled by fills of views (kernels on
/// cuda: nothing is copied from the host).
template <class T, class S>
tensor<T, S> tdft2_adjoint_scale(index_t H, index_t W, index_t m2, bool reciprocal) {
  const double hw = static_cast<double>(H) * static_cast<double>(W);
  const auto factor = [&](double c) { return static_cast<T>(reciprocal ? hw / c : c / hw); };
  tensor<T, S> s(shape_t{2 * m2, 1, 1, 1, 1});
  s.fill_(factor(2.0));
  for (index_t k = 0; k < m2; ++k) {
    if (hermitian_weight(k, W) == 2.0) continue;  // DC, and Nyquist when it is kept
    s.slice(0, k, k + 1).fill_(factor(1.0));
    s.slice(0, m2 + k, m2 + k + 1).fill_(factor(1.0));
  }
  return s;
}

/// The fused truncated DFTs of a space with them (space_backend<S>::tdft2_forward and
/// tdft2_inverse): x (B, C, H, W) → the kept modes, mode-major (2·m2, m1, B, C, 2), and back.
/// On variables each one's reverse rule is the other one (with tdft2_adjoint_scale), so
/// gradients of every order exist. Declared first so that each rule finds both versions.
template <class T, class S>
ad::var<T, S> tdft2_modes(const ad::var<T, S>& x, index_t m1, index_t m2);
template <class T, class S>
ad::var<T, S> tdft2_synthesis(const ad::var<T, S>& y, index_t H, index_t W);
template <class T, class S>
tensor<T, S> tdft2_modes(const tensor<T, S>& x, index_t m1, index_t m2) {
  return space_backend<S>::template tdft2_forward<T>(x, m1, m2);
}
template <class T, class S>
tensor<T, S> tdft2_synthesis(const tensor<T, S>& y, index_t H, index_t W) {
  return space_backend<S>::template tdft2_inverse<T>(y, H, W);
}
/// m·s for a mode tensor or variable m and constant factors s.
template <class X, class T, class S>
X scale_modes(const X& m, const tensor<T, S>& s) {
  if constexpr (std::is_same_v<X, tensor<T, S>>)
    return m * s;
  else
    return m * ad::constant(s);
}
/// X = F(x);  x̄ += F*(X̄) = I(D⁻¹·X̄).
template <class T, class S>
ad::var<T, S> tdft2_modes(const ad::var<T, S>& x, index_t m1, index_t m2) {
  const index_t H = x.size(2), W = x.size(3);
  return ad::make_op(tdft2_modes(x.value(), m1, m2), {x}, [H, W, m2](auto& c) {
    c.acc(0, tdft2_synthesis(scale_modes(c.gy(), tdft2_adjoint_scale<T, S>(H, W, m2, true)), H, W));
  });
}
/// y = I(Y);  Ȳ += I*(ȳ) = D·F(ȳ).
template <class T, class S>
ad::var<T, S> tdft2_synthesis(const ad::var<T, S>& y, index_t H, index_t W) {
  const index_t m1 = y.size(1), m2 = y.size(0) / 2;
  return ad::make_op(tdft2_synthesis(y.value(), H, W), {y}, [H, W, m1, m2](auto& c) {
    c.acc(0, scale_modes(tdft2_modes(c.gy(), m1, m2), tdft2_adjoint_scale<T, S>(H, W, m2, false)));
  });
}

/// The truncated-DFT path, on tensors (no tape: temporaries die as soon as they are used) or
/// on variables (recorded).
/// With `fused`, tensors and variables of a space with fused truncated-DFT kernels
/// (space_backend<S>::tdft2_forward / tdft2_inverse, for the shapes tdft2_fits accepts) take
/// those for the transforms (on variables with their adjoints as the reverse rules); the
/// per-mode products are the same.
template <class X>
X spectral_conv2d_gemm(const X& x, const X& w1, const X& w2, bool fused = true) {
  using T = typename X::value_type;
  using S = typename space_of<X>::type;
  const index_t B = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const index_t Cout = w1.size(1), m1 = w1.size(2), m2 = w1.size(3);
  if constexpr (has_fused_dft<T, S>) {
    if (fused && fused_dft_fits<T, S>(H, W, m1, m2)) {
      const X xm = tdft2_modes(x, m1, m2);  // (2m2, m1, B, Cin, 2)
      return tdft2_synthesis(complex_matmul(xm, mode_weights(w1, w2)), H, W);
    }
  }
  const conv2d_bases<T, S> b = conv2d_bases_for<T, S>(H, W, m1, m2);
  // Each intermediate is dropped once used, so that on tensors its storage is reused at once.
  // Along W, the m2 kept columns of rfft, transposed on the way: (B, Cin, [m2, re/im], H).
  X xw = matmul_nt(b.f1, x);
  // Along H, the 2·m1 kept rows: (B·Cin·m2, [re/im, H])·g → (B, Cin, m2, block, m1, re/im).
  X xh = right_matmul(xw, b.g, shape_t{B, Cin, m2, 2, m1, 2});
  xw = X();
  // Modes first for the per-mode products: batches (block·m2, m1) of (B, Cin) complex.
  X xm = permute_copy(xh, xh.shape(), shape_t{3, 2, 4, 0, 1, 5}, shape_t{2 * m2, m1, B, Cin, 2});
  xh = X();
  // The weights in the same mode order: (Cin, Cout, m1, m2, 2) → (block·m2, m1, Cin, Cout, 2).
  X wm = mode_weights(w1, w2);
  X ym = complex_matmul(xm, wm);  // (block·m2, m1, B, Cout, 2)
  xm = X();
  wm = X();
  // Back to (B, Cout, m2, [block, m1, re/im]), along H to (B, Cout, [m2, re/im], H), along W.
  X yh = permute_copy(ym, shape_t{2, m2, m1, B, Cout, 2}, shape_t{3, 4, 1, 0, 2, 5},
                      shape_t{B, Cout, m2, 4 * m1});
  ym = X();
  X yw = right_matmul(yh, b.ginv, shape_t{B, Cout, 2 * m2, H});
  yh = X();
  return matmul_tn(yw, b.finv);  // (B, Cout, H, W)
}

/// The constant matrices of the truncated-DFT spectral_conv1d on n points keeping m modes.
template <class T>
std::pair<tensor<T>, tensor<T>> make_conv1d_bases(index_t n, index_t m) {
  tensor<T> f(shape_t{n, 2 * m}), finv(shape_t{2 * m, n});
  for (index_t k = 0; k < m; ++k)
    for (index_t j = 0; j < n; ++j) {
      const auto [cs, sn] = unit_root(k * j, n);
      const double ck = hermitian_weight(k, n) / static_cast<double>(n);
      f(j, 2 * k) = static_cast<T>(cs);
      f(j, 2 * k + 1) = static_cast<T>(-sn);
      finv(2 * k, j) = static_cast<T>(ck * cs);
      finv(2 * k + 1, j) = static_cast<T>(-ck * sn);
    }
  return {f, finv};
}

/// The truncated-DFT matrices of spectral_conv1d in memory space S (see conv2d_bases_for).
template <class T, class S>
std::pair<tensor<T, S>, tensor<T, S>> conv1d_bases_for(index_t n, index_t m) {
  if constexpr (std::is_same_v<S, host>)
    return make_conv1d_bases<T>(n, m);
  else
    return space_backend<S>::template conv1d_matrices<T>(n, m);
}

template <class T, class S>
void check_conv1d(const tensor<T, S>& x, const tensor<T, S>& w) {
  const char* fn = "spectral::spectral_conv1d";
  if (x.rank() != 3) throw_invalid_argument(fn, "x must be (B, Cin, N), got ", x.shape().str());
  if (w.rank() != 4 || w.shape().back() != 2)
    throw_invalid_argument(fn, "weight must be (Cin, Cout, m, 2), got ", w.shape().str());
  if (w.shape()[0] != x.shape()[1])
    throw_invalid_argument(fn, "weight ", w.shape().str(), " expects ", w.shape()[0],
                           " input channels, x ", x.shape().str(), " has ", x.shape()[1]);
  const index_t n = x.shape()[2], m = w.shape()[2];
  if (m < 1 || n < 1 || m > n / 2 + 1)
    throw_invalid_argument(fn, "modes ", m, " do not fit ", n,
                           " points: need N >= 1 and 1 <= m <= N/2+1");
}

template <class T, class S>
ad::var<T, S> spectral_conv1d_fft(const ad::var<T, S>& x, const ad::var<T, S>& w) {
  const index_t n = x.size(2), m = w.size(2);
  const ad::var<T, S> xf = ad::slice(rfft(x), 2, 0, m);  // (B, Cin, m, 2)
  // "bix,iox->box" through the 2-d reference with a unit axis.
  const ad::var<T, S> y = ad::squeeze(mode_mix_reference(ad::unsqueeze(xf, 3), ad::unsqueeze(w, 3)),
                                      3);  // (B, Cout, m, 2)
  return irfft(pad_zeros(y, 2, n / 2 + 1), -1, n);
}

template <class X>
X spectral_conv1d_gemm(const X& x, const X& w) {
  using T = typename X::value_type;
  using S = typename space_of<X>::type;
  const index_t B = x.size(0), Cin = x.size(1), n = x.size(2), Cout = w.size(1), m = w.size(2);
  const auto [f, finv] = conv1d_bases_for<T, S>(n, m);
  const X xf = right_matmul(x, f, shape_t{B, Cin, m, 2});
  const X xm = permute_copy(xf, xf.shape(), shape_t{2, 0, 1, 3});  // (m, B, Cin, 2)
  const X wm = permute_copy(w, w.shape(), shape_t{2, 0, 1, 3});    // (m, Cin, Cout, 2)
  const X ym = complex_matmul(xm, wm);                             // (m, B, Cout, 2)
  const X yf = permute_copy(ym, ym.shape(), shape_t{1, 2, 0, 3});  // (B, Cout, m, 2)
  return right_matmul(yf, finv, shape_t{B, Cout, n});
}

}  // namespace detail

/// The legacy FNO SpectralConv2d, differentiable: y = irfft2(K ⊙ rfft2(x)) where the rfft2
/// spectrum (norm "backward") keeps rows [0, m1) with weights w1 and rows [H-m1, H) with w2,
/// columns [0, m2), every kept mode mixing channels as out[b,o] = Σ_i x̂[b,i]·w[i,o]
/// ("bixy,ioxy->boxy"), all other modes zero; inverse at the original (H, W). No bias.
/// @param x real (B, Cin, H, W).
/// @param w1 complex weights (Cin, Cout, m1, m2, 2) of the low rows.
/// @param w2 complex weights (Cin, Cout, m1, m2, 2) of the high (negative-frequency) rows.
/// @param method truncated DFTs (default: by GEMM, or on cuda by the fused kernels where the
///   shape fits them, recorded or not), truncated DFTs always by GEMM, or full FFTs; equal up
///   to rounding.
/// @return real (B, Cout, H, W).
/// @throws tessera::invalid_argument when the shapes do not fit or 2·m1 > H or m2 > W/2+1.
template <class T, class S>
ad::var<T, S> spectral_conv2d(const ad::var<T, S>& x, const ad::var<T, S>& w1,
                              const ad::var<T, S>& w2,
                              spectral_method method = spectral_method::truncated_dft) {
  detail::check_conv2d(x.value(), w1.value(), w2.value());
  if (method == spectral_method::fft) return detail::spectral_conv2d_fft(x, w1, w2);
  if (ad::grad_disabled() || !(x.requires_grad() || w1.requires_grad() || w2.requires_grad()))
    return ad::constant(detail::spectral_conv2d_gemm(x.value(), w1.value(), w2.value(),
                                                     method == spectral_method::truncated_dft));
  return detail::spectral_conv2d_gemm(x, w1, w2, method == spectral_method::truncated_dft);
}

/// spectral_conv2d on plain tensors (nothing recorded), host or cuda. On cuda the truncated
/// DFTs run as two fused kernels (spectral/dft_blocks.hpp: one block per (batch, channel) slice,
/// for grids whose slice fits 48 KB of shared memory: with 12×12 modes, up to 99×99 in float)
/// around the per-mode products on cuBLAS, or as cuBLAS GEMMs (truncated_dft_gemm, and any shape
/// the kernels do not take); the FFT method runs on cuFFT.
/// @throws tessera::invalid_argument as the differentiable form.
template <class T, class S>
tensor<T, S> spectral_conv2d(const tensor<T, S>& x, const tensor<T, S>& w1, const tensor<T, S>& w2,
                             spectral_method method = spectral_method::truncated_dft) {
  if (method != spectral_method::fft) {
    detail::check_conv2d(x, w1, w2);
    return detail::spectral_conv2d_gemm(x, w1, w2, method == spectral_method::truncated_dft);
  }
  ad::no_grad ng;
  ad::scope s;
  return spectral_conv2d(ad::constant(x), ad::constant(w1), ad::constant(w2), method).value();
}

/// The mode weights of spectral_conv2d_linear_gelu's fused path: w·Lᵀ per mode (L real, so
/// that L·IDFT(Σ_i x̂_i w_i) = IDFT(Σ_i x̂_i (w·Lᵀ)_i)), in the layout of the fused kernels'
/// per-mode products, (2·m2, m1, Cin, Cl, 2), for weights (Cin, Cout, m1, m2, 2) and L (Cl, Cout).
/// spectral_conv2d_linear_gelu computes them on every call; computed once (this function), they
/// serve every call with the same weights (its `folded` argument: a fixed-point solve's
/// iterations apply the same layer many times).
/// @throws tessera::invalid_argument when the shapes do not fit.
template <class T, class S>
tensor<T, S> spectral_conv2d_linear_gelu_weights(const tensor<T, S>& w1, const tensor<T, S>& w2,
                                                 const tensor<T, S>& L) {
  const char* fn = "spectral::spectral_conv2d_linear_gelu_weights";
  if (w1.rank() != 5 || w1.size(4) != 2 || !(w2.shape() == w1.shape()))
    throw_invalid_argument(fn, "expected two complex weight blocks (Cin, Cout, m1, m2, 2) of one ",
                           "shape, got ", w1.shape().str(), " and ", w2.shape().str());
  const index_t Cout = w1.size(1);
  if (L.rank() != 2 || L.size(1) != Cout)
    throw_invalid_argument(fn, "L must be (Cl, ", Cout, ") for weights ", w1.shape().str(),
                           ", got ", L.shape().str());
  const index_t Cl = L.size(0);
  // Lᵀ as a complex (Cout, Cl) matrix, shared by every mode.
  const tensor<T, S> lt =
      stack(std::vector<tensor<T, S>>{L.transpose(0, 1), zeros<T, S>(shape_t{Cout, Cl})}, 2);
  return complex_matmul(detail::mode_weights(w1, w2), lt);
}

/// gelu(L·spectral_conv2d(x, w1, w2) + b), L applied to every pixel's channels: the spectral
/// path of an FNO layer through its MLP's first product (spectral::fourier_layer_apply uses it
/// when nothing is recorded). On plain tensors: the two ops one after the other, except on
/// cuda with the fused DFT kernels (method truncated_dft, a shape they take), where L is folded
/// into the mode weights (spectral_conv2d_linear_gelu_weights) and the bias and GELU are applied
/// as the inverse kernel writes each value: the (B, Cout, H, W) convolution output is never
/// stored.
/// @param L real (Cl, Cout); @param b Cl values ((Cl), (Cl, 1), ...).
/// @param folded undefined, or spectral_conv2d_linear_gelu_weights(w1, w2, L) computed
///   beforehand from the same values (the fused path then takes them instead of folding L
///   again; the other paths do not need them).
/// @return real (B, Cl, H, W).
/// @throws tessera::invalid_argument when the shapes do not fit.
template <class T, class S>
tensor<T, S> spectral_conv2d_linear_gelu(const tensor<T, S>& x, const tensor<T, S>& w1,
                                         const tensor<T, S>& w2, const tensor<T, S>& L,
                                         const tensor<T, S>& b,
                                         spectral_method method = spectral_method::truncated_dft,
                                         const tensor<T, S>& folded = {}) {
  const char* fn = "spectral::spectral_conv2d_linear_gelu";
  detail::check_conv2d(x, w1, w2);
  const index_t B = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const index_t Cout = w1.size(1), m1 = w1.size(2), m2 = w1.size(3);
  if (L.rank() != 2 || L.size(1) != Cout)
    throw_invalid_argument(fn, "L must be (Cl, ", Cout, ") for weights ", w1.shape().str(),
                           ", got ", L.shape().str());
  const index_t Cl = L.size(0);
  if (b.numel() != Cl)
    throw_invalid_argument(fn, "b ", b.shape().str(), " must hold one value per row of L ",
                           L.shape().str());
  if (folded.defined() && !(folded.shape() == shape_t{2 * m2, m1, Cin, Cl, 2}))
    throw_invalid_argument(fn, "folded weights ", folded.shape().str(), " do not fit weights ",
                           w1.shape().str(), " and L ", L.shape().str(), " (expected ",
                           shape_t{2 * m2, m1, Cin, Cl, 2}.str(), ")");
  if constexpr (!std::is_same_v<S, host>) {
    if (method == spectral_method::truncated_dft && detail::fused_dft_fits<T, S>(H, W, m1, m2)) {
      using backend = detail::space_backend<S>;
      const tensor<T, S> xm = backend::template tdft2_forward<T>(x, m1, m2);
      return backend::template tdft2_inverse<T>(
          complex_matmul(
              xm, folded.defined() ? folded : spectral_conv2d_linear_gelu_weights(w1, w2, L)),
          H, W, 0, b.reshape(shape_t{Cl}));
    }
  }
  const tensor<T, S> k = spectral_conv2d(x, w1, w2, method);
  return matmul_add_gelu(L, k.reshape(shape_t{B, Cout, H * W}), tensor<T, S>(),
                         b.reshape(shape_t{Cl, 1}))
      .reshape(shape_t{B, Cl, H, W});
}

/// The legacy FNO SpectralConv1d, differentiable: y = irfft(K ⊙ rfft(x)) keeping modes [0, m)
/// with out[b,o,k] = Σ_i x̂[b,i,k]·w[i,o,k] ("bix,iox->box").
/// @param x real (B, Cin, N).
/// @param w complex weights (Cin, Cout, m, 2), m <= N/2+1.
/// @return real (B, Cout, N).
/// @throws tessera::invalid_argument when the shapes do not fit.
template <class T, class S>
ad::var<T, S> spectral_conv1d(const ad::var<T, S>& x, const ad::var<T, S>& w,
                              spectral_method method = spectral_method::truncated_dft) {
  detail::check_conv1d(x.value(), w.value());
  if (method == spectral_method::fft) return detail::spectral_conv1d_fft(x, w);
  if (ad::grad_disabled() || !(x.requires_grad() || w.requires_grad()))
    return ad::constant(detail::spectral_conv1d_gemm(x.value(), w.value()));
  return detail::spectral_conv1d_gemm(x, w);
}

/// spectral_conv1d on plain tensors (nothing recorded), host or cuda (as spectral_conv2d).
template <class T, class S>
tensor<T, S> spectral_conv1d(const tensor<T, S>& x, const tensor<T, S>& w,
                             spectral_method method = spectral_method::truncated_dft) {
  if (method != spectral_method::fft) {
    detail::check_conv1d(x, w);
    return detail::spectral_conv1d_gemm(x, w);
  }
  ad::no_grad ng;
  ad::scope s;
  return spectral_conv1d(ad::constant(x), ad::constant(w), method).value();
}

/// Weights of a spectral convolution drawn as in the legacy FNO: real and imaginary parts
/// each U[0, 1)·1/(Cin·Cout).
/// @param shape (Cin, Cout, modes..., 2).
template <class T>
tensor<T> spectral_weights(const shape_t& shape, generator& gen) {
  if (shape.rank() < 3 || shape.back() != 2)
    throw_invalid_argument("spectral::spectral_weights", "shape ", shape.str(),
                           " is not (Cin, Cout, modes..., 2)");
  const T scale = T(1) / static_cast<T>(shape[0] * shape[1]);
  return rand<T>(shape, gen, T(0), scale);
}

}  // namespace tessera::spectral
