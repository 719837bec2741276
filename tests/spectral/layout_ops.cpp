// SPDX-License-Identifier: Apache-2.0
// The internal layout ops of the truncated-DFT path: permute_copy against tensor::permute for
// every permutation of several shapes (the tiled copy has many code paths), stack_permuted and
// right_matmul by definition, and their gradients and Hessian-vector products.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <numeric>

#include "../ad/gradcheck.hpp"
#include "helpers.hpp"
#include "tessera/spectral/layout_ops.hpp"

using namespace tessera;
using namespace spectral_test;
namespace d = tessera::spectral::detail;
using tessera::test::dvar;

BOOST_AUTO_TEST_SUITE(spectral)
BOOST_AUTO_TEST_SUITE(layout_ops)

BOOST_AUTO_TEST_CASE(permute_copy_every_permutation) {
  generator gen(71);
  for (const shape_t& s :
       {shape_t{3, 1, 70, 2}, shape_t{2, 17, 5, 3}, shape_t{33, 2, 65}, shape_t{2, 3, 4, 5, 2}}) {
    const tensor<double> x = randn<double>(s, gen);
    shape_t order = shape_t::filled(s.rank(), 0);
    std::iota(order.begin(), order.end(), index_t(0));
    int count = 0;
    do {
      const tensor<double> want = x.permute(order).clone();
      const tensor<double> got = d::permute_copy(x, s, order);
      BOOST_TEST((got.shape() == want.shape()));
      BOOST_TEST(max_abs_diff(got, want) == 0.0, s.str() << " order " << order.str());
      // Strided sources too (every other element of the last axis of a wider tensor).
      shape_t wide = s;
      wide[wide.rank() - 1] *= 2;
      const tensor<double> xs = randn<double>(wide, gen).slice(-1, 0, wide.back(), 2);
      BOOST_TEST(max_abs_diff(d::permute_copy(xs, s, order), xs.permute(order).clone()) == 0.0);
      ++count;
    } while (std::next_permutation(order.begin(), order.end()));
    BOOST_TEST(count > 1);
  }
  // A view shape and an output shape.
  const tensor<double> x = randn<double>(shape_t{6, 20}, gen);
  const tensor<double> y =
      d::permute_copy(x, shape_t{2, 3, 4, 5}, shape_t{3, 1, 0, 2}, shape_t{5, 3, 8});
  BOOST_TEST((y.shape() == shape_t{5, 3, 8}));
  BOOST_TEST(max_abs_diff(y, x.reshape(shape_t{2, 3, 4, 5})
                                 .permute(shape_t{3, 1, 0, 2})
                                 .clone()
                                 .reshape(shape_t{5, 3, 8})) == 0.0);
}

BOOST_AUTO_TEST_CASE(stack_permuted_and_right_matmul_by_definition) {
  generator gen(72);
  const tensor<double> a = randn<double>(shape_t{3, 4, 2}, gen), b = randn<double>(a.shape(), gen);
  const tensor<double> y = d::stack_permuted(a, b, a.shape(), shape_t{1, 0, 2});
  BOOST_TEST((y.shape() == shape_t{2, 4, 3, 2}));
  BOOST_TEST(max_abs_diff(tensor<double>(y.select(0, 0)), a.permute(shape_t{1, 0, 2}).clone()) ==
             0.0);
  BOOST_TEST(max_abs_diff(tensor<double>(y.select(0, 1)), b.permute(shape_t{1, 0, 2}).clone()) ==
             0.0);
  const tensor<double> g = randn<double>(shape_t{4, 5}, gen);
  const tensor<double> x = randn<double>(shape_t{2, 3, 4}, gen);
  const tensor<double> r = d::right_matmul(x, g, shape_t{2, 15});
  // Different GEMM kernels (FMA contraction order) may differ in the last bit.
  BOOST_TEST(max_abs_diff(r, matmul(x.reshape(shape_t{6, 4}), g).reshape(shape_t{2, 15})) <= 1e-14);
}

BOOST_AUTO_TEST_CASE(gradients_and_second_order) {
  generator gen(73);
  const shape_t order{2, 0, 3, 1};
  auto pc = [order](const dvar& v) {
    return tessera::ad::tanh(d::permute_copy(v, shape_t{2, 3, 4, 2}, order, shape_t{4, 12}));
  };
  const tensor<double> x = randn<double>(shape_t{6, 8}, gen);
  BOOST_TEST(tessera::test::gradcheck("permute_copy", pc, x).failures == 0);
  BOOST_TEST(tessera::test::hvpcheck("tanh(permute_copy)", pc, x).failures == 0);
  auto sp = [](const dvar& a, const dvar& b) {
    return tessera::ad::tanh(d::stack_permuted(a, b, shape_t{3, 4}, shape_t{1, 0}, shape_t{8, 3}));
  };
  const tensor<double> a = randn<double>(shape_t{3, 4}, gen), b = randn<double>(shape_t{3, 4}, gen);
  BOOST_TEST(tessera::test::gradcheck("stack_permuted", sp, a, b).failures == 0);
  BOOST_TEST(tessera::test::hvpcheck("tanh(stack_permuted)", sp, a, b).failures == 0);
  const tensor<double> g = randn<double>(shape_t{4, 3}, gen);
  auto rm = [g](const dvar& v) {
    return tessera::ad::tanh(d::right_matmul(v, g, shape_t{2, 2, 3}));
  };
  BOOST_TEST(
      tessera::test::gradcheck("right_matmul", rm, randn<double>(shape_t{2, 2, 4}, gen)).failures ==
      0);
  BOOST_TEST(tessera::test::hvpcheck("tanh(right_matmul)", rm, randn<double>(shape_t{2, 2, 4}, gen))
                 .failures == 0);
  const tensor<double> f = randn<double>(shape_t{3, 5}, gen);
  auto nt = [f](const dvar& v) { return tessera::ad::tanh(d::matmul_nt(f, v)); };
  BOOST_TEST(
      tessera::test::gradcheck("matmul_nt", nt, randn<double>(shape_t{2, 4, 5}, gen)).failures ==
      0);
  BOOST_TEST(tessera::test::hvpcheck("tanh(matmul_nt)", nt, randn<double>(shape_t{2, 4, 5}, gen))
                 .failures == 0);
  auto tn = [f](const dvar& v) { return tessera::ad::tanh(d::matmul_tn(v, f)); };
  BOOST_TEST(
      tessera::test::gradcheck("matmul_tn", tn, randn<double>(shape_t{2, 3, 4}, gen)).failures ==
      0);
  BOOST_TEST(tessera::test::hvpcheck("tanh(matmul_tn)", tn, randn<double>(shape_t{2, 3, 4}, gen))
                 .failures == 0);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
