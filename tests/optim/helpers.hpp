// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the tessera::optim tests: scalar lists, tolerances, message checks.
#pragma once

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "tessera/core.hpp"

namespace optim_test {

using scalar_types = std::tuple<float, double>;

/// Relative tolerance for comparing one or a few update steps with values computed in double.
template <class T>
constexpr double step_tol() {
  return sizeof(T) == 4 ? 2e-6 : 1e-13;
}

/// Checks every element of `t` against `expected` to |a − e| ≤ tol · max(1, |e|).
template <class T>
void check_values(const tessera::tensor<T>& t, const std::vector<double>& expected, double tol) {
  BOOST_REQUIRE_EQUAL(t.numel(), static_cast<tessera::index_t>(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double a = t.flat(static_cast<tessera::index_t>(i)), e = expected[i];
    // equal to e rounded to T passes (tol = 0 means "bitwise as stored", infinities included)
    BOOST_TEST((a == static_cast<double>(static_cast<T>(e)) ||
                std::abs(a - e) <= tol * std::max(1.0, std::abs(e))),
               "element " << i << ": " << a << " vs expected " << e);
  }
}

/// A predicate for BOOST_CHECK_EXCEPTION: the message contains every one of `parts`.
inline auto message_has(std::vector<std::string> parts) {
  return [parts = std::move(parts)](const std::exception& e) {
    const std::string what = e.what();
    for (const std::string& p : parts)
      if (what.find(p) == std::string::npos) {
        BOOST_TEST_MESSAGE("message '" << what << "' lacks '" << p << "'");
        return false;
      }
    return true;
  };
}

template <class T>
tessera::tensor<T> vec(std::initializer_list<double> v) {
  std::vector<T> out;
  for (double x : v) out.push_back(static_cast<T>(x));
  return tessera::from_vector<T>(out, tessera::shape_t{static_cast<tessera::index_t>(out.size())});
}

}  // namespace optim_test
