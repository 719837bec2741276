// SPDX-License-Identifier: Apache-2.0
// Philox 4x32-10 counter-based generator, usable in host and device code.
#pragma once

#include <cmath>
#include <cstdint>

#include "tessera/config.hpp"

namespace tessera {

/// Philox 4x32 with 10 rounds (Salmon et al., SC'11): a keyed bijection on 128-bit counters.
/// Element i of a draw depends only on (seed, stream, i), so the same seed gives the same
/// numbers on CPU and GPU and in any thread order.
struct philox4x32 {
  std::uint32_t c[4];

  /// Runs 10 rounds on `counter` with `key`.
  TESSERA_HOST_DEVICE static philox4x32 apply(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                              std::uint32_t c3, std::uint32_t k0,
                                              std::uint32_t k1) {
    constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
      const std::uint64_t p0 = static_cast<std::uint64_t>(M0) * c0;
      const std::uint64_t p1 = static_cast<std::uint64_t>(M1) * c2;
      const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32),
                          lo0 = static_cast<std::uint32_t>(p0);
      const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32),
                          lo1 = static_cast<std::uint32_t>(p1);
      const std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
      c0 = n0;
      c1 = lo1;
      c2 = n2;
      c3 = lo0;
      k0 += W0;
      k1 += W1;
    }
    return philox4x32{{c0, c1, c2, c3}};
  }
};

/// Maps 32 random bits to a float in [0, 1).
TESSERA_HOST_DEVICE float uint_to_unit_float(std::uint32_t x) {
  return static_cast<float>(x >> 8) * (1.0f / 16777216.0f);
}
/// Maps 64 random bits to a double in [0, 1).
TESSERA_HOST_DEVICE double uint_to_unit_double(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t x = (static_cast<std::uint64_t>(hi) << 32) | lo;
  return static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0);
}

/// The numbers of one draw: element i of draw (seed, stream) for uniform or normal samples.
/// Philox counter = (i / 4 lo, i / 4 hi, stream lo, stream hi), key = seed words.
struct philox_stream {
  std::uint64_t seed;
  std::uint64_t stream;

  TESSERA_HOST_DEVICE philox4x32 block(std::uint64_t b) const {
    return philox4x32::apply(
        static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(b >> 32),
        static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32),
        static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  }

  /// Uniform in [0, 1): float uses one 32-bit word per element, double two.
  template <class T>
  TESSERA_HOST_DEVICE T uniform(std::uint64_t i) const {
    if constexpr (sizeof(T) == 4) {
      const philox4x32 r = block(i / 4);
      return uint_to_unit_float(r.c[i % 4]);
    } else {
      const philox4x32 r = block(i / 2);
      const unsigned j = static_cast<unsigned>(i % 2) * 2;
      return uint_to_unit_double(r.c[j], r.c[j + 1]);
    }
  }

  /// Standard normal by Box–Muller on the pair of uniforms that element i belongs to.
  template <class T>
  TESSERA_HOST_DEVICE T normal(std::uint64_t i) const {
    const std::uint64_t pair = i / 2;
    const T u1 = T(1) - uniform<T>(2 * pair);  // (0, 1]: log stays finite
    const T u2 = uniform<T>(2 * pair + 1);
    const T rad = std::sqrt(T(-2) * std::log(u1));
    const T ang = T(6.283185307179586476925) * u2;
    return (i % 2 == 0) ? rad * std::cos(ang) : rad * std::sin(ang);
  }
};

/// A user-owned source of independent draws: each call to next() returns a fresh stream of
/// the same seed. Not shared between threads unless the caller synchronises; no global state.
class generator {
 public:
  explicit generator(std::uint64_t seed = 0) noexcept : seed_(seed) {}
  /// The stream for the next draw, advancing the generator.
  philox_stream next() noexcept { return philox_stream{seed_, stream_++}; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
  [[nodiscard]] std::uint64_t position() const noexcept { return stream_; }
  /// Jumps to a given stream index (for checkpoint/restore).
  void set_position(std::uint64_t s) noexcept { stream_ = s; }

 private:
  std::uint64_t seed_;
  std::uint64_t stream_ = 0;
};

}  // namespace tessera
