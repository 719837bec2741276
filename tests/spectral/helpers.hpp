// SPDX-License-Identifier: Apache-2.0
// Test helpers for tessera::spectral: naive O(n²) DFTs in long double (the independent
// reference every transform is checked against) and tolerance-aware comparisons.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <complex>
#include <numbers>
#include <string>
#include <tuple>
#include <vector>

#include "tessera/core.hpp"
#include "tessera/ops.hpp"

namespace spectral_test {

using tessera::index_t;
using tessera::shape_t;
using tessera::tensor;
using float_types = std::tuple<float, double>;
using cld = std::complex<long double>;

/// Comparison tolerance per element type, relative to the size of the reference.
template <class T>
constexpr double tol() {
  return sizeof(T) == 4 ? 2e-5 : 1e-12;
}

/// e^{i·2π·num/den} in long double, with num reduced first.
inline cld root(index_t num, index_t den) {
  const index_t r = ((num % den) + den) % den;
  const long double t = 2.0L * std::numbers::pi_v<long double> * static_cast<long double>(r) /
                        static_cast<long double>(den);
  return {std::cos(t), std::sin(t)};
}

/// The complex values of a complex tensor (..., 2) in row-major order of its complex axes.
template <class T>
std::vector<cld> to_complex(const tensor<T>& x) {
  std::vector<cld> v(static_cast<std::size_t>(x.numel() / 2));
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = cld(x.flat(static_cast<index_t>(2 * i)), x.flat(static_cast<index_t>(2 * i + 1)));
  return v;
}

/// Naive DFT of complex data along one axis of the complex shape `s`:
/// out_k = scale·Σ_j in_j e^{sign·2πijk/n}.
inline std::vector<cld> naive_dft(const std::vector<cld>& in, const shape_t& s, int axis, int sign,
                                  long double scale = 1.0L) {
  index_t inner = 1, outer = 1;
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
  for (int i = 0; i < axis; ++i) outer *= s[i];
  const index_t n = s[axis];
  std::vector<cld> roots(static_cast<std::size_t>(n));
  for (index_t t = 0; t < n; ++t) roots[static_cast<std::size_t>(t)] = root(sign * t, n);
  std::vector<cld> out(in.size());
  for (index_t o = 0; o < outer; ++o)
    for (index_t q = 0; q < inner; ++q)
      for (index_t k = 0; k < n; ++k) {
        cld acc = 0;
        for (index_t j = 0; j < n; ++j)
          acc += in[static_cast<std::size_t>((o * n + j) * inner + q)] *
                 roots[static_cast<std::size_t>((j * k) % n)];
        out[static_cast<std::size_t>((o * n + k) * inner + q)] = acc * scale;
      }
  return out;
}

/// Keeps the first `m` entries along `axis` of complex data of shape `s` (cropping).
inline std::vector<cld> crop(const std::vector<cld>& in, const shape_t& s, int axis, index_t m) {
  index_t inner = 1, outer = 1;
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
  for (int i = 0; i < axis; ++i) outer *= s[i];
  std::vector<cld> out;
  for (index_t o = 0; o < outer; ++o)
    for (index_t k = 0; k < m; ++k)
      for (index_t q = 0; q < inner; ++q)
        out.push_back(in[static_cast<std::size_t>((o * s[axis] + k) * inner + q)]);
  return out;
}

/// Largest |a - b| over complex values, and the largest |b|.
template <class T>
std::pair<double, double> max_diff(const tensor<T>& got, const std::vector<cld>& want) {
  BOOST_REQUIRE_EQUAL(got.numel(), static_cast<index_t>(2 * want.size()));
  const std::vector<cld> g = to_complex(got);
  double d = 0, m = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    d = std::max(d, static_cast<double>(std::abs(g[i] - want[i])));
    m = std::max(m, static_cast<double>(std::abs(want[i])));
  }
  return {d, m};
}

/// Checks a complex tensor against reference values within tol<T>()·max(1, max|ref|).
template <class T>
void check_complex(const tensor<T>& got, const std::vector<cld>& want, const std::string& what) {
  const auto [d, m] = max_diff(got, want);
  BOOST_TEST(d <= tol<T>() * std::max(1.0, m),
             what << ": max error " << d << " (reference max " << m << ")");
}

/// Checks a real tensor against reference values within tol<T>()·max(1, max|ref|).
template <class T>
void check_real(const tensor<T>& got, const std::vector<long double>& want,
                const std::string& what) {
  BOOST_REQUIRE_EQUAL(got.numel(), static_cast<index_t>(want.size()));
  double d = 0, m = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    d = std::max(d, static_cast<double>(std::abs(got.flat(static_cast<index_t>(i)) - want[i])));
    m = std::max(m, static_cast<double>(std::abs(want[i])));
  }
  BOOST_TEST(d <= tol<T>() * std::max(1.0, m),
             what << ": max error " << d << " (reference max " << m << ")");
}

/// Largest elementwise |a - b| of two real tensors of the same shape.
template <class T>
double max_abs_diff(const tensor<T>& a, const tensor<T>& b) {
  BOOST_REQUIRE(a.shape() == b.shape());
  double d = 0;
  for (index_t i = 0; i < a.numel(); ++i)
    d = std::max(d, static_cast<double>(std::abs(a.flat(i) - b.flat(i))));
  return d;
}

/// Largest |a|.
template <class T>
double max_abs(const tensor<T>& a) {
  double d = 0;
  for (index_t i = 0; i < a.numel(); ++i) d = std::max(d, static_cast<double>(std::abs(a.flat(i))));
  return d;
}

}  // namespace spectral_test
