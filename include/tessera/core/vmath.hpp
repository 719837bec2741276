// SPDX-License-Identifier: Apache-2.0
// Branch-free exp and log1p for arguments in restricted ranges, written so compilers vectorise
// loops that call them (no libm calls, no tables): the hot loops of the causal-ordering
// entropies use them. Usable in host and device code.
#pragma once

#include <bit>
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

}  // namespace tessera::vmath
