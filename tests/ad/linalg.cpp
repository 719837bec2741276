// SPDX-License-Identifier: Apache-2.0
// Finite-difference checks of tessera::ad::matmul: 2-d, batched with broadcasting, rank-1
// operands, transposed and strided operands, empty extents.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>
#include <vector>

#include "gradcheck.hpp"

using namespace tessera;
using namespace tessera::test;
namespace tad = tessera::ad;
namespace bdata = boost::unit_test::data;

namespace linalg_cases {

/// Operand shape pairs and the result shape numpy gives.
struct matmul_case {
  shape_t a, b, y;
};

std::vector<matmul_case> cases() {
  return {
      {{3, 4}, {4, 5}, {3, 5}},
      {{1, 4}, {4, 1}, {1, 1}},
      {{2, 3, 4}, {4, 5}, {2, 3, 5}},           // batched lhs, shared rhs
      {{3, 4}, {2, 4, 5}, {2, 3, 5}},           // shared lhs, batched rhs
      {{2, 3, 4}, {2, 4, 2}, {2, 3, 2}},        // same batch
      {{2, 1, 3, 4}, {3, 4, 2}, {2, 3, 3, 2}},  // batch axes broadcast both ways
      {{1, 3, 4}, {2, 4, 2}, {2, 3, 2}},        // size-1 batch axis
      {{4}, {4, 5}, {5}},                       // vector · matrix
      {{3, 4}, {4}, {3}},                       // matrix · vector
      {{4}, {4}, {}},                           // dot product
      {{4}, {2, 4, 5}, {2, 5}},                 // vector · batch
      {{2, 3, 4}, {4}, {2, 3}},                 // batch · vector
      {{0, 3}, {3, 2}, {0, 2}},                 // no rows
      {{2, 0}, {0, 3}, {2, 3}},                 // empty inner dimension: zeros
      {{2, 3, 0}, {0, 4}, {2, 3, 4}},
      {{0, 2, 3}, {3, 2}, {0, 2, 2}},  // empty batch
  };
}

dtensor with_layout(const dtensor& x, int layout) {
  if (x.numel() == 0 || x.rank() == 0 || layout == 0) return x;
  return layout == 1 ? transposed(x) : strided(x);
}

}  // namespace linalg_cases

BOOST_AUTO_TEST_SUITE(ad)
BOOST_AUTO_TEST_SUITE(linalg)
using namespace linalg_cases;  // in the suite: the module compiles as one TU

BOOST_DATA_TEST_CASE(matmul_matches_finite_differences, bdata::xrange(3), layout) {
  generator gen(static_cast<std::uint64_t>(600 + layout));
  for (const auto& c : cases()) {
    const dtensor a = with_layout(normal(c.a, gen), layout);
    const dtensor b = with_layout(normal(c.b, gen), layout);
    const std::string what =
        "matmul " + c.a.str() + " x " + c.b.str() + " layout " + std::to_string(layout);
    {
      tad::scope s;
      const tad::var<double> y = tad::matmul(tad::var<double>(a, true), tad::var<double>(b));
      BOOST_TEST(y.shape() == c.y, what << ": shape " << y.shape());
      BOOST_TEST(close(y.value(), tessera::matmul(a, b)), what);
    }
    const check_result r = gradcheck(
        what, [](const dvar& p, const dvar& q) { return tad::sin(tad::matmul(p, q)); }, a, b);
    BOOST_TEST(r.failures == 0, what << ": " << r.first);
    BOOST_TEST(r.checked == a.numel() + b.numel());
  }
}

BOOST_AUTO_TEST_CASE(matmul_of_a_variable_with_itself_and_chains) {
  generator gen(61);
  const dtensor a = normal(shape_t{3, 3}, gen);
  const dtensor b = normal(shape_t{3, 2}, gen);
  const dtensor c = normal(shape_t{2, 4}, gen);
  BOOST_TEST(
      gradcheck(
          "A·A·Aᵀ",
          [](const dvar& p) { return tad::matmul(tad::matmul(p, p), tad::transpose(p, 0, 1)); }, a)
          .failures == 0);
  BOOST_TEST(gradcheck(
                 "tanh(A·B)·C",
                 [](const dvar& p, const dvar& q, const dvar& r) {
                   return tad::matmul(tad::tanh(tad::matmul(p, q)), r);
                 },
                 a, b, c)
                 .failures == 0);
}

BOOST_AUTO_TEST_CASE(matmul_add_is_matmul_plus_the_addend_and_matches_finite_differences) {
  generator gen(62);
  struct shapes {
    shape_t a, b, c;
  };
  // The addend with the product's shape, broadcast over a batch, as a column and as a row.
  for (const shapes& k : {shapes{{3, 4}, {4, 2}, {3, 2}}, shapes{{2, 3, 4}, {4, 5}, {2, 3, 5}},
                          shapes{{3, 4}, {2, 4, 5}, {3, 1}}, shapes{{2, 3}, {3, 4}, {4}}}) {
    const dtensor a = normal(k.a, gen), b = normal(k.b, gen), c = normal(k.c, gen);
    const std::string what = "matmul_add " + k.a.str() + " x " + k.b.str() + " + " + k.c.str();
    BOOST_TEST(close(tessera::matmul_add(a, b, c), tessera::add(tessera::matmul(a, b), c)), what);
    const check_result r = gradcheck(
        what,
        [](const dvar& p, const dvar& q, const dvar& s) {
          return tad::sin(tad::matmul_add(p, q, s));
        },
        a, b, c);
    BOOST_TEST(r.failures == 0, what << ": " << r.first);
    BOOST_TEST(r.checked == a.numel() + b.numel() + c.numel());
  }
  // The addend must broadcast to the product; vectors are not promoted.
  BOOST_CHECK_THROW(tessera::matmul_add(normal(shape_t{3, 4}, gen), normal(shape_t{4, 2}, gen),
                                        normal(shape_t{3, 3}, gen)),
                    tessera::invalid_argument);
  BOOST_CHECK_THROW(tessera::matmul_add(normal(shape_t{4}, gen), normal(shape_t{4, 2}, gen),
                                        normal(shape_t{2}, gen)),
                    tessera::invalid_argument);
}

BOOST_AUTO_TEST_CASE(matmul_add_gelu_records_its_parts_and_computes_the_same_without_a_tape) {
  generator gen(63);
  const dtensor w = normal(shape_t{5, 4}, gen), x = normal(shape_t{3, 4, 6}, gen);
  const dtensor c = normal(shape_t{3, 5, 6}, gen), b = normal(shape_t{5, 1}, gen);
  // With a gradient needed: the finite-difference check, with and without the addend.
  const check_result with_c = gradcheck(
      "matmul_add_gelu",
      [](const dvar& p, const dvar& q, const dvar& s, const dvar& t) {
        return tad::matmul_add_gelu(p, q, s, t);
      },
      w, x, c, b);
  BOOST_TEST(with_c.failures == 0, with_c.first);
  const check_result without_c = gradcheck(
      "matmul_add_gelu without addend",
      [](const dvar& p, const dvar& q, const dvar& t) {
        return tad::matmul_add_gelu(p, q, dvar(), t);
      },
      w, x, b);
  BOOST_TEST(without_c.failures == 0, without_c.first);
  // Without a tape: the tensor op, the same values as the recorded form.
  tad::scope sc;
  const dvar pw(w, true), px(x), pc(c), pb(b, true);
  const dtensor recorded = tad::matmul_add_gelu(pw, px, pc, pb).value();
  dtensor plain;
  {
    tad::no_grad ng;
    plain = tad::matmul_add_gelu(pw, px, pc, pb).value();
  }
  BOOST_TEST(close(recorded, plain));
  BOOST_TEST(close(plain, tessera::add_gelu(tessera::matmul_add(w, x, c), b)));
}

BOOST_AUTO_TEST_CASE(matmul_pair_add_gelu_records_its_parts_and_computes_the_same_without_a_tape) {
  generator gen(64);
  const dtensor w = normal(shape_t{5, 4}, gen), x = normal(shape_t{3, 4, 6}, gen);
  const dtensor w2 = normal(shape_t{5, 3}, gen), x2 = normal(shape_t{3, 3, 6}, gen);
  const dtensor c = normal(shape_t{3, 5, 6}, gen), b = normal(shape_t{5, 1}, gen);
  // With a gradient needed: the finite-difference check through every operand, with and
  // without c.
  const check_result with_c = gradcheck(
      "matmul_pair_add_gelu",
      [](const dvar& p, const dvar& q, const dvar& p2, const dvar& q2, const dvar& s,
         const dvar& t) { return tad::matmul_pair_add_gelu(p, q, p2, q2, s, t); },
      w, x, w2, x2, c, b);
  BOOST_TEST(with_c.failures == 0, with_c.first);
  const check_result without_c = gradcheck(
      "matmul_pair_add_gelu without addend",
      [](const dvar& p, const dvar& q, const dvar& p2, const dvar& q2, const dvar& t) {
        return tad::matmul_pair_add_gelu(p, q, p2, q2, dvar(), t);
      },
      w, x, w2, x2, b);
  BOOST_TEST(without_c.failures == 0, without_c.first);
  // Without a tape: the tensor op, the same values as the recorded form.
  tad::scope sc;
  const dvar pw(w, true), px(x), pw2(w2, true), px2(x2), pc(c), pb(b, true);
  const dtensor recorded = tad::matmul_pair_add_gelu(pw, px, pw2, px2, pc, pb).value();
  dtensor plain;
  {
    tad::no_grad ng;
    plain = tad::matmul_pair_add_gelu(pw, px, pw2, px2, pc, pb).value();
  }
  BOOST_TEST(close(recorded, plain));
  BOOST_TEST(close(plain, tessera::matmul_add_gelu(w, x, tessera::matmul_add(w2, x2, c), b)));
}

BOOST_AUTO_TEST_CASE(matmul_gradients_have_known_values) {
  // y = sum(A·B): Ā = 1·Bᵀ (row sums of B broadcast), B̄ = Aᵀ·1.
  tad::scope s;
  const dtensor av = from_vector<double>({1, 2, 3, 4, 5, 6}, shape_t{2, 3});
  const dtensor bv = from_vector<double>({1, -1, 2, 0, 0.5, 3}, shape_t{3, 2});
  const tad::var<double> a(av, true), b(bv, true);
  tad::backward(tad::sum(tad::matmul(a, b)));
  BOOST_TEST(close(a.grad(), from_vector<double>({0, 2, 3.5, 0, 2, 3.5}, shape_t{2, 3})));
  BOOST_TEST(close(b.grad(), from_vector<double>({5, 5, 7, 7, 9, 9}, shape_t{3, 2})));
  // Dot product of two vectors: a scalar whose gradients are the other vector.
  const tad::var<double> u(from_list<double>({1, 2, 3}), true),
      v(from_list<double>({4, 5, 6}), true);
  const tad::var<double> d = tad::matmul(u, v);
  BOOST_TEST(d.rank() == 0);
  BOOST_TEST(d.item() == 32.0);
  tad::backward(d);
  BOOST_TEST(close(u.grad(), v.value(), 0.0));
  BOOST_TEST(close(v.grad(), u.value(), 0.0));
}

BOOST_AUTO_TEST_CASE(matmul_shape_errors_throw) {
  tad::scope s;
  const tad::var<double> a(ones<double>(shape_t{2, 3}), true);
  const tad::var<double> b(ones<double>(shape_t{4, 2}), true);
  BOOST_CHECK_THROW(tad::matmul(a, b), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::matmul(a, tad::var<double>(ones<double>(shape_t{}))),
                    tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::matmul(tad::var<double>(ones<double>(shape_t{2, 2, 3})),
                                tad::var<double>(ones<double>(shape_t{3, 3, 1}))),
                    tessera::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
