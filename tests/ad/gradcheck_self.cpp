// SPDX-License-Identifier: Apache-2.0
// Tests of the finite-difference checkers themselves: they pass correct gradients and catch
// wrong first and second derivatives, naming the op, input and element.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "gradcheck.hpp"

using namespace tessera;
using namespace tessera::test;
namespace tad = tessera::ad;

namespace gradcheck_self_cases {

/// y = x³ with a pullback that is off by a factor `scale` (1 is right).
dvar cube_custom(const dvar& x, double scale) {
  const dtensor xv = x.value();
  return tad::custom_vjp<double>(tessera::pow(xv, 3.0), {x}, [xv, scale](const dtensor& gy) {
    return std::vector<dtensor>{gy * tessera::square(xv) * (3.0 * scale)};
  });
}

/// y = x³ whose rule treats 3x² as a constant: first derivative right, second derivative lost.
dvar cube_first_order_only(const dvar& x) {
  return tad::make_op(tessera::pow(x.value(), 3.0), {x},
                      [](auto& c) { c.acc(0, c.gy() * c.lift(tessera::square(c.xv(0)) * 3.0)); });
}

}  // namespace gradcheck_self_cases

BOOST_AUTO_TEST_SUITE(ad)
BOOST_AUTO_TEST_SUITE(gradcheck_self)
using namespace gradcheck_self_cases;  // in the suite: the module compiles as one TU

BOOST_AUTO_TEST_CASE(accepts_a_correct_gradient) {
  generator gen(1);
  const dtensor x = normal(shape_t{3, 2}, gen);
  const check_result r = gradcheck(
      "cube", [](const dvar& v) { return cube_custom(v, 1.0); }, x);
  BOOST_TEST(r.failures == 0);
  BOOST_TEST(r.checked == 6);
}

BOOST_AUTO_TEST_CASE(catches_a_wrong_gradient_and_names_op_input_and_element) {
  generator gen(2);
  const dtensor x = normal(shape_t{3, 2}, gen);
  const dtensor w = normal(shape_t{2}, gen);
  fd_options quiet;
  quiet.report = false;
  const check_result r = gradcheck("scaled cube", unpack<2>([](const dvar& a, const dvar& b) {
                                     return cube_custom(a, 1.0) * cube_custom(b, 1.01);
                                   }),
                                   {x, w}, quiet);
  // Only the second input's gradient is wrong (by 1%).
  BOOST_TEST(r.failures == 2);
  BOOST_TEST(r.checked == 8);
  BOOST_TEST(r.first.find("scaled cube: input 1 element (0)") == 0, r.first);
  BOOST_TEST(r.first.find("reverse mode") != std::string::npos);
  BOOST_TEST(r.first.find("finite differences") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(catches_a_gradient_of_the_wrong_shape) {
  fd_options quiet;
  quiet.report = false;
  const dtensor x = ones<double>(shape_t{2, 2});
  // A pullback whose gradient cannot be summed down to the input's shape: the sweep reports it.
  const auto bad = [](const dvar& v) {
    return tad::custom_vjp<double>(v.value().clone(), {v}, [](const dtensor&) {
      return std::vector<dtensor>{ones<double>(shape_t{3})};
    });
  };
  BOOST_CHECK_THROW(gradcheck("bad shape", unpack<1>(bad), {x}, quiet), tessera::invalid_argument);
}

BOOST_AUTO_TEST_CASE(hvpcheck_accepts_correct_and_catches_missing_second_derivatives) {
  generator gen(3);
  const dtensor x = normal(shape_t{4}, gen);
  BOOST_TEST(hvpcheck(
                 "cube", [](const dvar& v) { return tad::pow(v, 3.0); }, x)
                 .failures == 0);
  fd_options quiet;
  quiet.report = false;
  const check_result r = hvpcheck("first order only", unpack<1>(cube_first_order_only), {x}, quiet);
  BOOST_TEST(r.failures >= 4);
  BOOST_TEST(r.first.find("first order only (Hessian-vector product): input 0") == 0, r.first);
}

BOOST_AUTO_TEST_CASE(input_generators_are_deterministic_and_keep_their_promises) {
  generator g1(9), g2(9);
  BOOST_TEST(close(normal(shape_t{5}, g1), normal(shape_t{5}, g2), 0.0));
  const dtensor d = distinct(shape_t{4, 5}, g1);
  for (index_t i = 0; i < d.numel(); ++i)
    for (index_t j = 0; j < i; ++j)
      BOOST_TEST(std::abs(std::abs(d.flat(i)) - std::abs(d.flat(j))) >= 0.25 - 1e-12);
  const dtensor a = away_from_zero(shape_t{50}, g1);
  for (index_t i = 0; i < a.numel(); ++i) BOOST_TEST(std::abs(a.flat(i)) >= 0.2);
  const dtensor t = normal(shape_t{2, 3, 4}, g1);
  const dtensor s = strided(t), tr = transposed(t);
  BOOST_TEST(!s.is_contiguous());
  BOOST_TEST(!tr.is_contiguous());
  BOOST_TEST(close(s, t, 0.0));
  BOOST_TEST(close(tr, t, 0.0));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
