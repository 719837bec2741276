// SPDX-License-Identifier: Apache-2.0
// Maps a linear index over the unordered pairs {a < b} of k items to (a, b) and back, in
// row-major order: (0,1), (0,2), …, (0,k-1), (1,2), …  Host and device code.
#pragma once

#include <cmath>
#include <cstdint>

#include "tessera/config.hpp"

namespace tessera::causal {

/// Number of unordered pairs of k items.
TESSERA_HOST_DEVICE std::int64_t pair_count(std::int64_t k) { return k * (k - 1) / 2; }

/// Linear index of the pair (a, b), a < b < k.
TESSERA_HOST_DEVICE std::int64_t pair_linear(std::int64_t a, std::int64_t b, std::int64_t k) {
  return a * (2 * k - a - 1) / 2 + (b - a - 1);
}

/// The pair (a, b) with linear index p in [0, pair_count(k)). The square-root estimate of the
/// row is corrected by at most one step either way, so it is exact for every k < 2³¹.
TESSERA_HOST_DEVICE void pair_from_linear(std::int64_t p, std::int64_t k, std::int64_t& a,
                                          std::int64_t& b) {
  const double kk = static_cast<double>(k);
  const double disc = (2.0 * kk - 1.0) * (2.0 * kk - 1.0) - 8.0 * static_cast<double>(p);
  std::int64_t r =
      static_cast<std::int64_t>(((2.0 * kk - 1.0) - std::sqrt(disc > 0 ? disc : 0.0)) / 2.0);
  if (r < 0) r = 0;
  if (r > k - 2) r = k - 2;
  while (r > 0 && pair_linear(r, r + 1, k) > p) --r;
  while (r + 1 <= k - 2 && pair_linear(r + 1, r + 2, k) <= p) ++r;
  a = r;
  b = p - pair_linear(r, r + 1, k) + r + 1;
}

}  // namespace tessera::causal
