// SPDX-License-Identifier: Apache-2.0
// Branch-free exp and log1p for arguments in restricted ranges, and erf, Φ and the exact GELU
// for all arguments, written so compilers vectorise loops that call them (no libm calls other
// than fma/copysign, no tables): the hot loops of the causal-ordering entropies and of GELU use
// them. Usable in host and device code.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tessera/config.hpp"

namespace tessera::vmath {

namespace detail {
// Bit casts usable in host and device code (std::bit_cast is host-only under nvcc).
TESSERA_HOST_DEVICE std::int32_t to_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(x);
#else
  return std::bit_cast<std::int32_t>(x);
#endif
}
TESSERA_HOST_DEVICE std::int64_t to_bits(double x) {
#if defined(__CUDA_ARCH__)
  return __double_as_longlong(x);
#else
  return std::bit_cast<std::int64_t>(x);
#endif
}
TESSERA_HOST_DEVICE float float_from_bits(std::int32_t b) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(b);
#else
  return std::bit_cast<float>(b);
#endif
}
TESSERA_HOST_DEVICE double double_from_bits(std::int64_t b) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(b);
#else
  return std::bit_cast<double>(b);
#endif
}
}  // namespace detail

/// e^x for x <= 0 (results below the smallest normal number are clamped there, so the result
/// is never subnormal: for x < -87.3 (float) / -708 (double) it is 2⁻¹²⁶·p or 2⁻¹⁰²²·p, p in
/// [0.7, 1.5], instead of 0). Valid for |x| < 2²² (float) / 2⁵¹ (double). Accuracy: about 2 ulp
/// (float) / 3 ulp (double). The clamp acts on the integer exponent: a floating-point select
/// would stop GCC from vectorising under the default -ftrapping-math.
template <class C>
TESSERA_HOST_DEVICE C exp_nonpositive(C x) {
  static_assert(std::is_same_v<C, float> || std::is_same_v<C, double>);
  if constexpr (std::is_same_v<C, float>) {
    // Round x·log2(e) to an integer k with the 1.5·2²³ trick; k sits in t's low mantissa bits.
    const float magic = 12582912.0f;
    const float t = x * 1.44269504088896341f + magic;
    const float k = t - magic;
    const float r = (x - k * 0.693145751953125f) - k * 1.42860682030941723e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    std::int32_t ki = detail::to_bits(t) - detail::to_bits(magic);
    ki = ki < -126 ? -126 : ki;
    return p * detail::float_from_bits((ki + 127) << 23);
  } else {
    const double magic = 6755399441055744.0;  // 1.5·2⁵²
    const double t = x * 1.4426950408889634074 + magic;
    const double k = t - magic;
    const double r = (x - k * 0.693147180369123816490) - k * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;  // 1/13!
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    std::int64_t ki = detail::to_bits(t) - detail::to_bits(magic);
    ki = ki < -1022 ? -1022 : ki;
    return p * detail::double_from_bits((ki + 1023) << 52);
  }
}

/// log(1 + e) for e in [0, 1], as 2·atanh(e / (2 + e)) by its odd series (|t| <= 1/3).
/// Accuracy: about 1 ulp (float) / 2 ulp (double).
template <class C>
TESSERA_HOST_DEVICE C log1p_unit(C e) {
  static_assert(std::is_same_v<C, float> || std::is_same_v<C, double>);
  const C t = e / (C(2) + e);
  const C t2 = t * t;
  C p;
  if constexpr (std::is_same_v<C, float>) {
    p = C(1) / C(15);
    p = p * t2 + C(1) / C(13);
    p = p * t2 + C(1) / C(11);
    p = p * t2 + C(1) / C(9);
    p = p * t2 + C(1) / C(7);
    p = p * t2 + C(1) / C(5);
    p = p * t2 + C(1) / C(3);
    p = p * t2 + C(1);
  } else {
    p = C(1) / C(37);
    p = p * t2 + C(1) / C(35);
    p = p * t2 + C(1) / C(33);
    p = p * t2 + C(1) / C(31);
    p = p * t2 + C(1) / C(29);
    p = p * t2 + C(1) / C(27);
    p = p * t2 + C(1) / C(25);
    p = p * t2 + C(1) / C(23);
    p = p * t2 + C(1) / C(21);
    p = p * t2 + C(1) / C(19);
    p = p * t2 + C(1) / C(17);
    p = p * t2 + C(1) / C(15);
    p = p * t2 + C(1) / C(13);
    p = p * t2 + C(1) / C(11);
    p = p * t2 + C(1) / C(9);
    p = p * t2 + C(1) / C(7);
    p = p * t2 + C(1) / C(5);
    p = p * t2 + C(1) / C(3);
    p = p * t2 + C(1);
  }
  return C(2) * t * p;
}

// The erf/GELU kernels are large enough that GCC's inliner leaves them as calls, which stops
// the caller's loop from vectorising: they are forced inline.
#if defined(__GNUC__) || defined(__clang__)
#define TESSERA_VMATH_INLINE TESSERA_HOST_DEVICE __attribute__((always_inline))
#else
#define TESSERA_VMATH_INLINE TESSERA_HOST_DEVICE
#endif

namespace detail {
/// √π/2·erf(x)/x = Σₙ (-t)ⁿ/(n!(2n+1)) for t = x² in [0, 1], by its Taylor series (alternating
/// with decreasing terms: the error is below the first dropped term, 1.3e-8 / 4e-18).
template <class C>
TESSERA_VMATH_INLINE C erf_series(C t) {
  C p;
  if constexpr (std::is_same_v<C, float>) {
    p = C(-1) / C(6894720);
    p = p * t + C(1) / C(685440);
    p = p * t - C(1) / C(75600);
  } else {
    p = C(-1) / C(12449059983360000.0);
    p = p * t + C(1) / C(690452066304000.0);
    p = p * t - C(1) / C(40537905408000.0);
    p = p * t + C(1) / C(2528170444800.0);
    p = p * t - C(1) / C(168129561600.0);
    p = p * t + C(1) / C(11975040000.0);
    p = p * t - C(1) / C(918086400);
    p = p * t + C(1) / C(76204800);
    p = p * t - C(1) / C(6894720);
    p = p * t + C(1) / C(685440);
    p = p * t - C(1) / C(75600);
  }
  p = p * t + C(1) / C(9360);
  p = p * t - C(1) / C(1320);
  p = p * t + C(1) / C(216);
  p = p * t - C(1) / C(42);
  p = p * t + C(1) / C(10);
  p = p * t - C(1) / C(3);
  p = p * t + C(1);
  return p;
}

/// erfcx(a) = e^(a²)·erfc(a) for a in [1, 9.5] (float) / [1, 27] (double), in Weideman's form
/// erfcx(a) = q(Z)/(L + a), Z = (L - a)/(L + a) (SIAM J. Numer. Anal. 31, 1994), L = 2 / 3.
/// q is a polynomial in w = (Z - c)/h, the affine map of the range of Z onto [-1, 1]; its
/// coefficients come from Chebyshev interpolation of q at 50 digits (mpmath), degree 7 / 18:
/// relative error 1.5e-7 / 3.2e-16 in float / double arithmetic, rounding included.
template <class C>
TESSERA_VMATH_INLINE C erfcx_tail(C a) {
  if constexpr (std::is_same_v<C, float>) {
    constexpr C l = 2, c = -0.15942029f, h = 0.49275362f;
    const C r = C(1) / (l + a);
    const C w = ((l - a) * r - c) * (C(1) / h);
    C q = 1.0182455e-05f;
    q = q * w + 2.1872116e-05f;
    q = q * w - 0.00025636857f;
    q = q * w - 0.00090129854f;
    q = q * w + 0.005776843f;
    q = q * w + 0.06289943f;
    q = q * w + 0.2962228f;
    q = q * w + 0.91897726f;
    return q * r;
  } else {
    constexpr C l = 3, c = -0.15, h = 0.65;
    const C r = C(1) / (l + a);
    const C w = ((l - a) * r - c) * (C(1) / h);
    C q = 4.2351728641009156e-11;
    q = q * w - 3.806559890032877e-11;
    q = q * w - 6.654705983523342e-10;
    q = q * w + 7.402818498570006e-10;
    q = q * w + 8.34171072333926e-09;
    q = q * w - 8.90791833680646e-09;
    q = q * w - 1.1377221386464562e-07;
    q = q * w + 4.778411248952103e-08;
    q = q * w + 1.7336581697338331e-06;
    q = q * w + 1.906342896976637e-06;
    q = q * w - 2.551911122791794e-05;
    q = q * w - 0.00010782034659419195;
    q = q * w + 0.00011778567380086678;
    q = q * w + 0.003086826443622597;
    q = q * w + 0.017731871291588132;
    q = q * w + 0.06723297424087021;
    q = q * w + 0.19677699161113754;
    q = q * w + 0.47172910619609393;
    q = q * w + 0.9537885150980818;
    return q * r;
  }
}

/// Past this |x|, erfc(|x|) is below the smallest normal number (and e^(-x²) would be
/// clamped by exp_nonpositive): erfc is taken as 0 there.
template <class C>
inline constexpr C erfc_cutoff = std::is_same_v<C, float> ? C(9.3) : C(26.5);

template <class C>
TESSERA_VMATH_INLINE C min_of(C a, C b) {
  return b < a ? b : a;  // NaN in a stays NaN
}
/// min(a, b) with NaN in a giving b: exp_nonpositive's integer exponent must never see a NaN
/// (its shift would overflow); the NaN reaches the result through another operand.
template <class C>
TESSERA_VMATH_INLINE C min_or_bound(C a, C b) {
  return a < b ? a : b;
}

/// Φ(x) and e^(-x²/2) (the latter 0 past the cutoff), sharing one exp. x²/2 is carried as
/// h + l with l from an fma, so the tails keep their relative accuracy.
template <class C>
TESSERA_VMATH_INLINE void normal_cdf_and_exp(C x, C& cdf, C& e) {
  constexpr C cut = erfc_cutoff<C>;
  const C xx = x * x;
  const C h = C(0.5) * xx;
  const C l = C(0.5) * std::fma(x, x, -xx);
  const C a = std::fabs(x) * C(0.70710678118654752440);  // |x|/√2
  const C ac = min_of(a, cut);
  const C ec = exp_nonpositive(-min_or_bound(h, cut * cut)) * (C(1) - l);
  const C half_erfc = C(0.5) * ec * erfcx_tail(ac < C(1) ? C(1) : ac);
  // |x|/√2 < 1: Φ = ½ + ½·erf(x/√2) with erf from the series (x keeps its sign).
  const C central = C(0.5) + x * (C(0.70710678118654752440) * C(0.56418958354775628695)) *
                                 erf_series(min_of(h, C(1)));
  const C tail = a > cut ? C(0) : half_erfc;
  cdf = a < C(1) ? central : (x > C(0) ? C(1) - tail : tail);
  e = a > cut ? C(0) : ec;
}
}  // namespace detail

/// erf x for all x (±0, ±∞ and NaN included). Accuracy: a few ulp in float and double (tested
/// on a dense grid against std::erf).
template <class C>
TESSERA_VMATH_INLINE C erf(C x) {
  static_assert(std::is_same_v<C, float> || std::is_same_v<C, double>);
  constexpr C cut = detail::erfc_cutoff<C>;
  const C a = std::fabs(x);
  const C ac = detail::min_of(a, cut);
  const C t = a * a;
  const C hc = ac * ac;
  const C lc = std::fma(ac, ac, -hc);
  const C small = a * C(1.12837916709551257390) * detail::erf_series(detail::min_of(t, C(1)));
  const C erfc = exp_nonpositive(-detail::min_or_bound(hc, cut * cut)) * (C(1) - lc) *
                 detail::erfcx_tail(ac < C(1) ? C(1) : ac);
  const C r = a < C(1) ? small : (a > cut ? C(1) : C(1) - erfc);
  return std::copysign(r, x);
}

/// Φ(x) = ½·erfc(-x/√2), the standard normal CDF, accurate in relative terms in both tails
/// (down to the smallest normal number; 0 below). Accuracy: a few ulp.
template <class C>
TESSERA_VMATH_INLINE C normal_cdf(C x) {
  static_assert(std::is_same_v<C, float> || std::is_same_v<C, double>);
  C cdf, e;
  detail::normal_cdf_and_exp(x, cdf, e);
  return cdf;
}

/// The exact GELU x·Φ(x) (-0 for x = -∞).
template <class C>
TESSERA_VMATH_INLINE C gelu(C x) {
  static_assert(std::is_same_v<C, float> || std::is_same_v<C, double>);
  C cdf, e;
  detail::normal_cdf_and_exp(x, cdf, e);
  return cdf == C(0) ? C(-0.0) : x * cdf;  // Φ = 0 only far left, where x·Φ is -0 (NaN at -∞)
}

/// d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = e^(-x²/2)/√(2π) (1 at +∞, 0 at -∞).
template <class C>
TESSERA_VMATH_INLINE C gelu_derivative(C x) {
  static_assert(std::is_same_v<C, float> || std::is_same_v<C, double>);
  C cdf, e;
  detail::normal_cdf_and_exp(x, cdf, e);
  const C xphi = e == C(0) ? C(0) : x * e * C(0.39894228040143267794);
  return cdf + xphi;
}

namespace detail {
/// σ(2u) = ½(1 + tanh u) for u = √(2/π)(x + 0.044715x³), and e = e^(-2|u|) (0 where it is
/// below the smallest normal number), from one exp.
template <class C>
TESSERA_VMATH_INLINE void gelu_tanh_parts(C x, C& s, C& e) {
  constexpr C cut = std::is_same_v<C, float> ? C(87) : C(708);
  const C u2 = C(2 * 0.79788456080286535588) * (x + C(0.044715) * x * x * x);
  const C m = std::fabs(u2);
  const C ex = exp_nonpositive(-min_or_bound(m, cut));
  e = m >= cut ? C(0) : ex;  // NaN x: e, s finite, x·s NaN
  const C r = C(1) / (C(1) + e);
  s = u2 >= C(0) ? r : e * r;
}
}  // namespace detail

/// The tanh approximation of GELU, ½x(1 + tanh(√(2/π)(x + 0.044715x³))), evaluated as x·σ(2u)
/// so the left tail keeps its relative accuracy (-0 at -∞). Accuracy: a few ulp.
template <class C>
TESSERA_VMATH_INLINE C gelu_tanh(C x) {
  static_assert(std::is_same_v<C, float> || std::is_same_v<C, double>);
  C s, e;
  detail::gelu_tanh_parts(x, s, e);
  return s == C(0) ? C(-0.0) : x * s;
}

/// d/dx of gelu_tanh: σ(2u) + x·2σ(2u)(1 - σ(2u))·u', with σ(1 - σ) = e/(1 + e)², e = e^(-2|u|),
/// u' = √(2/π)(1 + 3·0.044715x²) (1 at +∞, 0 at -∞).
template <class C>
TESSERA_VMATH_INLINE C gelu_tanh_derivative(C x) {
  static_assert(std::is_same_v<C, float> || std::is_same_v<C, double>);
  C s, e;
  detail::gelu_tanh_parts(x, s, e);
  const C r = C(1) / (C(1) + e);
  const C du = C(2 * 0.79788456080286535588) * (C(1) + C(3 * 0.044715) * x * x);
  return s + (e == C(0) ? C(0) : x * e * r * r * du);
}

}  // namespace tessera::vmath
