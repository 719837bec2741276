// SPDX-License-Identifier: Apache-2.0
// Test helpers for tessera ops: independent index arithmetic, value checks, error checks.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../core/helpers.hpp"
#include "tessera/ops.hpp"

namespace ops_test {

// Index arithmetic, value and error checks shared with the core tests.
using namespace core_test;

/// Relative tolerance for results computed in T by a few operations.
template <class T>
constexpr double rtol() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

/// Element of `t` broadcast to `out` at the output multi-index `idx` (numpy rules).
template <class T>
double broadcast_at(const tensor<T>& t, const shape_t& out, const std::vector<index_t>& idx) {
  const int lead = out.rank() - t.rank();
  index_t off = t.offset();
  for (int k = 0; k < t.rank(); ++k) {
    const index_t i = t.shape()[k] == 1 ? 0 : idx[static_cast<std::size_t>(lead + k)];
    off += i * t.strides()[k];
  }
  return static_cast<double>(t.storage().get()[off]);
}

/// Values of `t` in row-major order as doubles.
template <class T>
std::vector<double> values(const tensor<T>& t) {
  std::vector<double> v(static_cast<std::size_t>(t.numel()));
  for (index_t i = 0; i < t.numel(); ++i)
    v[static_cast<std::size_t>(i)] = static_cast<double>(t.flat(i));
  return v;
}

/// Σ a·b over all elements (same shapes), in double.
template <class T>
double dot_all(const tensor<T>& a, const tensor<T>& b) {
  BOOST_TEST_REQUIRE(a.shape() == b.shape());
  double s = 0;
  for (index_t i = 0; i < a.numel(); ++i)
    s += static_cast<double>(a.flat(i)) * static_cast<double>(b.flat(i));
  return s;
}

/// A copy of `t` laid out transposed in memory but with the same logical values: a
/// non-contiguous input for ops that must not care about layout.
template <class T>
tensor<T> strided_copy(const tensor<T>& t) {
  if (t.rank() < 2) {
    // Every other element of a buffer twice as long.
    shape_t s = t.shape();
    if (t.rank() == 0) return t;
    s[0] *= 2;
    tensor<T> big(s);
    big.fill_(T(-777));
    const tensor<T> v = big.slice(0, 0, s[0], 2);
    v.copy_from(t);
    return v;
  }
  const tensor<T> c = t.transpose(0, t.rank() - 1).clone();
  return c.transpose(0, t.rank() - 1);
}

}  // namespace ops_test
