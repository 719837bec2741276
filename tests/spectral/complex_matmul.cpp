// SPDX-License-Identifier: Apache-2.0
// spectral::complex_matmul against a naive triple loop for every adjoint combination and
// broadcast batches, its gradients by finite differences and its Hessian-vector products.
#include <boost/test/unit_test.hpp>

#include <complex>
#include <string>

#include "../ad/gradcheck.hpp"
#include "helpers.hpp"
#include "tessera/spectral/complex_matmul.hpp"

using namespace tessera;
using namespace spectral_test;
namespace sp = tessera::spectral;
namespace tad = tessera::ad;
using tessera::test::check_result;
using tessera::test::dvar;

namespace {

/// Naive op(a)·op(b) for single matrices (r, c, 2) as complex long double.
template <class T>
std::vector<cld> naive(const tensor<T>& a, const tensor<T>& b, bool ta, bool tb) {
  auto at = [&](const tensor<T>& t, bool adj, index_t i, index_t j) {
    return adj ? std::conj(cld(t(j, i, 0), t(j, i, 1))) : cld(t(i, j, 0), t(i, j, 1));
  };
  const index_t m = ta ? a.size(1) : a.size(0), k = ta ? a.size(0) : a.size(1);
  const index_t n = tb ? b.size(0) : b.size(1);
  std::vector<cld> c;
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      cld acc = 0;
      for (index_t l = 0; l < k; ++l) acc += at(a, ta, i, l) * at(b, tb, l, j);
      c.push_back(acc);
    }
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(spectral)
BOOST_AUTO_TEST_SUITE(complex_matmul)

BOOST_AUTO_TEST_CASE_TEMPLATE(against_naive_every_adjoint_combination, T, float_types) {
  generator gen(31);
  const index_t m = 3, k = 4, n = 5;
  for (int combo = 0; combo < 4; ++combo) {
    const bool ta = combo & 1, tb = combo & 2;
    const std::string at = " adjoint_a=" + std::to_string(ta) + " adjoint_b=" + std::to_string(tb);
    const tensor<T> a = randn<T>(ta ? shape_t{6, k, m, 2} : shape_t{6, m, k, 2}, gen);
    const tensor<T> b = randn<T>(tb ? shape_t{6, n, k, 2} : shape_t{6, k, n, 2}, gen);
    const tensor<T> c = sp::complex_matmul(a, b, ta, tb);
    BOOST_TEST((c.shape() == shape_t{6, m, n, 2}));
    for (index_t i = 0; i < 6; ++i)
      check_complex(tensor<T>(c.select(0, i)), naive(a.select(0, i), b.select(0, i), ta, tb),
                    "batch " + std::to_string(i) + at);
  }
  // Broadcast batches: (2, 1, m, k) against (3, k, n) → (2, 3, m, n).
  const tensor<T> a = randn<T>(shape_t{2, 1, m, k, 2}, gen);
  const tensor<T> b = randn<T>(shape_t{3, k, n, 2}, gen);
  const tensor<T> c = sp::complex_matmul(a, b);
  BOOST_TEST((c.shape() == shape_t{2, 3, m, n, 2}));
  for (index_t i = 0; i < 2; ++i)
    for (index_t j = 0; j < 3; ++j)
      check_complex(tensor<T>(c.select(0, i).select(0, j)),
                    naive(a.select(0, i).select(0, 0), b.select(0, j), false, false), "broadcast");
  // Strided operands are read through contiguous copies.
  const tensor<T> s = randn<T>(shape_t{k, m, 2}, gen);
  const tensor<T> st = s.transpose(0, 1);  // (m, k, 2) non-contiguous
  check_complex(sp::complex_matmul(st, b.select(0, 0)),
                naive(st.clone(), b.select(0, 0), false, false), "strided");
}

BOOST_AUTO_TEST_CASE(errors) {
  const tensor<double> a = zeros<double>(shape_t{2, 3, 2}), b = zeros<double>(shape_t{4, 5, 2});
  BOOST_CHECK_THROW(sp::complex_matmul(a, b), invalid_argument);  // 3 vs 4
  BOOST_CHECK_THROW(sp::complex_matmul(zeros<double>(shape_t{2, 3}), b), invalid_argument);
  BOOST_CHECK_THROW(
      sp::complex_matmul(zeros<double>(shape_t{2, 2, 3, 2}), zeros<double>(shape_t{3, 3, 3, 2})),
      invalid_argument);  // batches 2 vs 3
  BOOST_TEST(sp::complex_matmul(zeros<double>(shape_t{2, 0, 2}), zeros<double>(shape_t{0, 3, 2}))
                 .shape() == (shape_t{2, 3, 2}));
}

BOOST_AUTO_TEST_CASE(gradients_and_second_order) {
  generator gen(32);
  for (int combo = 0; combo < 4; ++combo) {
    const bool ta = combo & 1, tb = combo & 2;
    const std::string at = " adjoint_a=" + std::to_string(ta) + " adjoint_b=" + std::to_string(tb);
    const tensor<double> a = randn<double>(ta ? shape_t{2, 4, 3, 2} : shape_t{2, 3, 4, 2}, gen);
    const tensor<double> b = randn<double>(tb ? shape_t{2, 2, 4, 2} : shape_t{2, 4, 2, 2}, gen);
    auto f = [ta, tb](const dvar& x, const dvar& y) { return sp::complex_matmul(x, y, ta, tb); };
    const check_result g = tessera::test::gradcheck("complex_matmul" + at, f, a, b);
    BOOST_TEST(g.failures == 0);
    // Bilinear: the Hessian is the cross term, exercised by the rules on variables.
    auto sq = [ta, tb](const dvar& x, const dvar& y) {
      return tad::tanh(sp::complex_matmul(x, y, ta, tb));
    };
    const check_result h = tessera::test::hvpcheck("tanh(complex_matmul)" + at, sq, a, b);
    BOOST_TEST(h.failures == 0);
  }
  // A broadcast operand gets its gradient summed over the batch.
  const check_result g = tessera::test::gradcheck(
      "broadcast", [](const dvar& x, const dvar& y) { return sp::complex_matmul(x, y); },
      randn<double>(shape_t{3, 2, 4, 2}, gen), randn<double>(shape_t{4, 3, 2}, gen));
  BOOST_TEST(g.failures == 0);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
