// SPDX-License-Identifier: Apache-2.0
// The backend-comparison harness (ggml's test-backend-ops idea): one op body, written once as a
// generic lambda, runs on host tensors and on cuda tensors made from the same inputs; the
// results are compared by normalised squared error against a per-op tolerance.
#pragma once

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "tessera/cuda.hpp"

namespace tessera::test {

/// Σ(ref - got)² / Σ ref² in double (ggml's NMSE); NaN at the same place in both counts as
/// equal, a NaN or infinity in only one makes the error infinite. 0 for two empty tensors.
template <class T>
double nmse(const tensor<T>& ref, const tensor<T>& got) {
  if (!(ref.shape() == got.shape())) return INFINITY;
  const std::vector<T> a = ref.to_vector(), b = got.to_vector();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = b[i];
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) return INFINITY;
      continue;
    }
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return INFINITY;
      continue;
    }
    num += (x - y) * (x - y);
    den += x * x;
  }
  if (num == 0) return 0;
  return num / (den > 0 ? den : 1e-300);
}

/// Per-op tolerance on the NMSE, by scalar type.
struct tolerance {
  double f32 = 1e-10;  // a few ulps of float on every element
  double f64 = 1e-24;
  template <class T>
  [[nodiscard]] double of() const {
    return std::is_same_v<T, float> ? f32 : f64;
  }
};

template <class T>
std::vector<tensor<T, cuda>> to_device(const std::vector<tensor<T>>& xs) {
  std::vector<tensor<T, cuda>> d;
  d.reserve(xs.size());
  for (const auto& x : xs) d.push_back(to<cuda>(x));
  return d;
}

/// Runs `body(inputs)` on host and on cuda and checks that the results agree.
template <class T, class Body>
void check_op(const std::string& name, const std::vector<tensor<T>>& inputs, tolerance tol,
              Body body) {
  const tensor<T> ref = body(inputs);
  const tensor<T> got = to<host>(body(to_device(inputs)));
  const double e = nmse(ref, got);
  BOOST_TEST_CONTEXT(name << " (" << (std::is_same_v<T, float> ? "float" : "double") << "), shape "
                          << ref.shape().str()) {
    BOOST_TEST(ref.shape() == got.shape());
    BOOST_TEST(e <= tol.of<T>(), "NMSE " << e << " exceeds " << tol.of<T>());
  }
}

/// Uniform inputs in [lo, hi) from a fixed seed.
template <class T>
tensor<T> uniform(const shape_t& shape, std::uint64_t seed, T lo = T(-2), T hi = T(2)) {
  generator g(seed);
  return rand<T>(shape, g, lo, hi);
}

}  // namespace tessera::test
