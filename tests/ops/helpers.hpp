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

#include "tessera/ops.hpp"

namespace ops_test {

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
