// SPDX-License-Identifier: Apache-2.0
// The hygiene tests' check of a matmul through whatever GEMM backend their flags select: the
// product against the sum over k, in double. Compiled under strict_warnings.cpp's flags too.
#pragma once

#include <boost/test/unit_test.hpp>

#include "tessera/core/tensor.hpp"

namespace hygiene {

/// c = a·b for a (m×k) and b (k×n), element by element, to relative tolerance `tol`.
template <class T>
void check_matmul_against_loops(const tessera::tensor<T>& a, const tessera::tensor<T>& b,
                                const tessera::tensor<T>& c, double tol) {
  using tessera::index_t;
  const index_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  BOOST_TEST_REQUIRE((c.shape() == tessera::shape_t{m, n}));
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      double s = 0;
      for (index_t p = 0; p < k; ++p)
        s += static_cast<double>(a(i, p)) * static_cast<double>(b(p, j));
      BOOST_TEST(static_cast<double>(c(i, j)) == s, boost::test_tools::tolerance(tol));
    }
}

}  // namespace hygiene
