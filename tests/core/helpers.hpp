// SPDX-License-Identifier: Apache-2.0
// Test helpers for tessera core: independent index arithmetic, value checks, error checks.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "tessera/core.hpp"

namespace core_test {

using tessera::index_t;
using tessera::shape_t;
using tessera::tensor;

using float_types = std::tuple<float, double>;

/// Row-major multi-index of flat position `i` in `shape`.
inline std::vector<index_t> unravel(index_t i, const shape_t& shape) {
  std::vector<index_t> idx(static_cast<std::size_t>(shape.rank()));
  for (int k = shape.rank() - 1; k >= 0; --k) {
    idx[static_cast<std::size_t>(k)] = i % shape[k];
    i /= shape[k];
  }
  return idx;
}

/// Row-major flat position of a multi-index.
inline index_t ravel(const std::vector<index_t>& idx, const shape_t& shape) {
  index_t f = 0;
  for (int k = 0; k < shape.rank(); ++k) f = f * shape[k] + idx[static_cast<std::size_t>(k)];
  return f;
}

/// Element of `t` at a multi-index, computed from shape, strides and offset directly.
template <class T>
T at(const tensor<T>& t, const std::vector<index_t>& idx) {
  index_t off = t.offset();
  for (int k = 0; k < t.rank(); ++k) off += idx[static_cast<std::size_t>(k)] * t.strides()[k];
  return t.storage().get()[off];
}

/// A tensor holding its own row-major positions: t.flat(i) == i.
template <class T>
tensor<T> iota(const shape_t& shape) {
  tensor<T> t(shape);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(i);
  return t;
}

/// Uniform values in [lo, hi) from std::mt19937_64 (independent of tessera's generator).
template <class T>
tensor<T> random_tensor(const shape_t& shape, std::uint64_t seed, double lo = -1.0,
                        double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  tensor<T> t(shape);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(u(rng));
  return t;
}

/// Checks shape and values against `want` (row-major) within |got-want| <= atol + rtol|want|.
/// Reports at most a few mismatches so a broken op does not flood the log.
template <class T>
void check_values(const tensor<T>& got, const shape_t& want_shape, const std::vector<double>& want,
                  double rtol, double atol = 0.0) {
  BOOST_TEST_REQUIRE(got.shape() == want_shape, "shape " << got.shape() << " vs " << want_shape);
  BOOST_TEST_REQUIRE(static_cast<std::size_t>(got.numel()) == want.size());
  int reported = 0;
  for (index_t i = 0; i < got.numel(); ++i) {
    const double g = static_cast<double>(got.flat(i)), w = want[static_cast<std::size_t>(i)];
    const bool ok =
        (std::isnan(g) && std::isnan(w)) || g == w || std::abs(g - w) <= atol + rtol * std::abs(w);
    if (!ok && reported++ < 5) BOOST_ERROR("element " << i << ": got " << g << ", want " << w);
  }
  BOOST_TEST(reported == 0, reported << " elements differ");
}

/// Checks that `f` throws tessera::invalid_argument whose message contains every part.
template <class E = tessera::invalid_argument, class F>
void check_throws(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const E& e) {
    const std::string m = e.what();
    for (const std::string& p : parts)
      BOOST_TEST(m.find(p) != std::string::npos,
                 "message \"" << m << "\" should contain \"" << p << "\"");
    return;
  }
  BOOST_ERROR("expected an exception containing \"" << *parts.begin() << "\"; none was thrown");
}

}  // namespace core_test
