// SPDX-License-Identifier: Apache-2.0
// Finite-difference checks of tessera::ad's view and joining ops: reshape, flatten, expand,
// sum_to, transpose, permute, (un)squeeze, slice, select, concat, stack, split.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gradcheck.hpp"

using namespace tessera;
using namespace tessera::test;
namespace tad = tessera::ad;
namespace bdata = boost::unit_test::data;

namespace shape_cases {

struct view_case {
  std::string name;
  shape_t in;
  std::function<dvar(const dvar&)> f;
};

/// Every view op on a few shapes, including size-1 and empty axes. The functions multiply by
/// a non-trivial op afterwards (sin) so that the adjoint reaching the view is not constant.
std::vector<view_case> view_cases() {
  using v = const dvar&;
  return {
      {"reshape",
       {2, 3, 4},
       [](v x) {
         return tad::reshape(x, shape_t{4, 6});
       }},
      {"reshape -1",
       {2, 3, 4},
       [](v x) {
         return tad::reshape(x, shape_t{3, -1, 2});
       }},
      {"reshape to scalar", {1, 1}, [](v x) { return tad::reshape(x, shape_t{}); }},
      {"reshape empty",
       {2, 0, 3},
       [](v x) {
         return tad::reshape(x, shape_t{0, 6});
       }},
      {"flatten", {2, 3, 2}, [](v x) { return tad::flatten(x); }},
      {"flatten scalar", {}, [](v x) { return tad::flatten(x); }},
      {"expand",
       {3, 1},
       [](v x) {
         return tad::expand(x, shape_t{2, 3, 4});
       }},
      {"expand scalar",
       {},
       [](v x) {
         return tad::expand(x, shape_t{2, 3});
       }},
      {"expand to empty",
       {1, 3},
       [](v x) {
         return tad::expand(x, shape_t{0, 3});
       }},
      {"sum_to (3,1)",
       {2, 3, 4},
       [](v x) {
         return tad::sum_to(x, shape_t{3, 1});
       }},
      {"sum_to (1,4)",
       {2, 3, 4},
       [](v x) {
         return tad::sum_to(x, shape_t{1, 4});
       }},
      {"sum_to ()", {2, 3}, [](v x) { return tad::sum_to(x, shape_t{}); }},
      {"sum_to same",
       {2, 3},
       [](v x) {
         return tad::sum_to(x, shape_t{2, 3});
       }},
      {"sum_to from empty",
       {2, 0, 3},
       [](v x) {
         return tad::sum_to(x, shape_t{1, 3});
       }},
      {"transpose", {2, 3, 4}, [](v x) { return tad::transpose(x, 0, 2); }},
      {"transpose negative", {2, 3, 4}, [](v x) { return tad::transpose(x, -1, -2); }},
      {"permute",
       {2, 3, 4},
       [](v x) {
         return tad::permute(x, shape_t{2, 0, 1});
       }},
      {"permute negative",
       {2, 3, 4, 2},
       [](v x) {
         return tad::permute(x, shape_t{-1, 1, -4, 2});
       }},
      {"unsqueeze", {2, 3}, [](v x) { return tad::unsqueeze(x, 1); }},
      {"unsqueeze end", {2, 3}, [](v x) { return tad::unsqueeze(x, -1); }},
      {"squeeze", {2, 1, 3}, [](v x) { return tad::squeeze(x, 1); }},
      {"squeeze negative", {2, 3, 1}, [](v x) { return tad::squeeze(x, -1); }},
      {"slice", {5, 4}, [](v x) { return tad::slice(x, 0, 1, 4); }},
      {"slice step 2", {7, 3}, [](v x) { return tad::slice(x, 0, 1, 7, 2); }},
      {"slice step 3 axis 1", {2, 8}, [](v x) { return tad::slice(x, 1, 0, 8, 3); }},
      {"slice negative bounds", {3, 6}, [](v x) { return tad::slice(x, -1, -4, -1); }},
      {"slice negative start, step", {3, 7}, [](v x) { return tad::slice(x, 1, -6, 100, 2); }},
      {"slice clamped stop", {4, 2}, [](v x) { return tad::slice(x, 0, 2, 99); }},
      {"slice empty", {4, 2}, [](v x) { return tad::slice(x, 0, 3, 1); }},
      {"slice empty step 2 at 0", {5, 2}, [](v x) { return tad::slice(x, 0, 0, 0, 2); }},
      {"slice empty step 3 at end", {5, 2}, [](v x) { return tad::slice(x, 0, 5, 9, 3); }},
      {"slice of empty axis", {0, 3}, [](v x) { return tad::slice(x, 0, 0, 2, 2); }},
      {"select", {3, 4}, [](v x) { return tad::select(x, 1, 2); }},
      {"select negative", {3, 4, 2}, [](v x) { return tad::select(x, 0, -1); }},
      {"select of rank 1", {5}, [](v x) { return tad::select(x, 0, 3); }},
      {"split",
       {7, 2},
       [](v x) {
         const auto p = tad::split(x, {2, 0, 5}, 0);
         return p[0] * 2.0 + tad::sum(p[2], shape_t{0}, true) + tad::sum(p[1]);
       }},
      {"split axis 1",
       {2, 6},
       [](v x) {
         const auto p = tad::split(x, {3, 3}, -1);
         return p[0] * p[1];
       }},
      {"chained views",
       {2, 3, 4},
       [](v x) {
         const dvar a = tad::permute(tad::slice(x, 2, 1, -1), shape_t{1, 2, 0});  // (3,2,2)
         const dvar b = tad::transpose(tad::slice(x, 2, 0, 4, 2), 0, 1);          // (3,2,2)
         return tad::reshape(a * b, shape_t{-1});
       }},
  };
}

/// x, or a non-contiguous copy of it for layout 1 (strided) and 2 (transposed).
dtensor with_layout(const dtensor& x, int layout) {
  if (x.numel() == 0 || x.rank() == 0 || layout == 0) return x;
  return layout == 1 ? strided(x) : transposed(x);
}

}  // namespace shape_cases

BOOST_AUTO_TEST_SUITE(ad)
BOOST_AUTO_TEST_SUITE(shape)
using namespace shape_cases;  // in the suite: the module compiles as one TU

BOOST_DATA_TEST_CASE(view_ops_match_finite_differences, bdata::xrange(3), layout) {
  generator gen(static_cast<std::uint64_t>(300 + layout));
  for (const auto& c : view_cases()) {
    const dtensor x = with_layout(normal(c.in, gen), layout);
    // sin after the view makes the adjoint reaching it depend on the values.
    const auto f = [&](const dvar& v) { return tad::sin(c.f(v)); };
    const check_result r = gradcheck(c.name + " layout " + std::to_string(layout), f, x);
    BOOST_TEST(r.failures == 0, c.name << ": " << r.first);
    BOOST_TEST(r.checked == x.numel());
  }
}

BOOST_AUTO_TEST_CASE(views_give_the_values_of_the_plain_views) {
  generator gen(31);
  const dtensor x = normal(shape_t{3, 7}, gen);
  tad::scope s;
  const tad::var<double> v(x, true);
  BOOST_TEST(close(tad::slice(v, 1, -6, 100, 2).value(), x.slice(1, -6, 100, 2), 0.0));
  BOOST_TEST(close(tad::select(v, 0, -1).value(), x.select(0, 2), 0.0));
  BOOST_TEST(close(tad::permute(v, shape_t{1, 0}).value(), x.transpose(0, 1), 0.0));
  BOOST_TEST(tad::unsqueeze(v, -1).shape() == (shape_t{3, 7, 1}));
  const auto parts = tad::split(v, {3, 4}, 1);
  BOOST_TEST(parts.size() == 2u);
  BOOST_TEST(close(parts[1].value(), x.slice(1, 3, 7), 0.0));
}

// Out-of-range select indices are refused by name, as tensor::select does (-5 on an extent of
// 3 used to wrap twice and pick element 1); a huge slice step keeps one element.
BOOST_AUTO_TEST_CASE(select_range_and_huge_slice_steps) {
  tad::scope s;
  const tad::var<double> x(from_list<double>({10.0, 11.0, 12.0}), true);
  for (const index_t bad : {index_t{-5}, index_t{-4}, index_t{3}})
    BOOST_CHECK_EXCEPTION(tad::select(x, 0, bad), tessera::invalid_argument,
                          [](const tessera::invalid_argument& e) {
                            return std::string(e.what()).find("ad::select") != std::string::npos;
                          });
  BOOST_TEST(tad::select(x, 0, -3).value().item() == 10.0);
  const index_t huge = std::numeric_limits<index_t>::max();
  BOOST_TEST(tad::slice(x, 0, 0, 3, huge).shape() == (shape_t{1}));
  BOOST_TEST(tad::slice(x, 0, 1, 3, huge).value().item() == 11.0);
}

BOOST_AUTO_TEST_CASE(slice_gradient_lands_on_the_sliced_elements) {
  tad::scope s;
  const tad::var<double> x(zeros<double>(shape_t{7}), true);
  tad::backward(tad::sum(tad::slice(x, 0, -6, 7, 2) * from_list<double>({1.0, 2.0, 3.0})));
  BOOST_TEST(close(x.grad(), from_list<double>({0, 1, 0, 2, 0, 3, 0}), 0.0));
}

BOOST_DATA_TEST_CASE(concat_and_stack_match_finite_differences, bdata::xrange(3), layout) {
  generator gen(static_cast<std::uint64_t>(400 + layout));
  const dtensor a = with_layout(normal(shape_t{2, 3}, gen), layout);
  const dtensor b = with_layout(normal(shape_t{2, 1}, gen), layout);
  const dtensor c = normal(shape_t{2, 0}, gen);
  const dtensor d = with_layout(normal(shape_t{2, 4}, gen), layout);
  BOOST_TEST(gradcheck(
                 "concat axis 1",
                 [](const dvar& p, const dvar& q, const dvar& r, const dvar& t) {
                   return tad::sin(tad::concat<double>({p, q, r, t, p}, -1));
                 },
                 a, b, c, d)
                 .failures == 0);
  const dtensor e = with_layout(normal(shape_t{3, 2}, gen), layout);
  BOOST_TEST(gradcheck(
                 "concat axis 0",
                 [](const dvar& p, const dvar& q) {
                   return tad::tanh(tad::concat<double>({tad::transpose(p, 0, 1), q}, 0));
                 },
                 e, a)
                 .failures == 0);
  for (int axis : {0, 1, 2, -1}) {
    BOOST_TEST(gradcheck(
                   "stack axis " + std::to_string(axis),
                   [axis](const dvar& p, const dvar& q) {
                     return tad::exp(tad::stack<double>({p, q, p * q}, axis)) * 0.5;
                   },
                   a, d.slice(1, 0, 3))
                   .failures == 0);
  }
  BOOST_TEST(gradcheck(
                 "stack of empty",
                 [](const dvar& p, const dvar& q) {
                   return tad::stack<double>({p, q}, 1);
                 },
                 c, c)
                 .failures == 0);
}

BOOST_AUTO_TEST_CASE(concat_with_a_constant_part_routes_gradients_to_variables_only) {
  tad::scope s;
  const tad::var<double> a(ones<double>(shape_t{2}), true);
  const tad::var<double> k = tad::constant(ones<double>(shape_t{3}));
  const tad::var<double> y = tad::concat<double>({k, a, k});
  BOOST_TEST(y.shape() == (shape_t{8}));
  tad::backward(tad::sum(y * from_list<double>({1, 2, 3, 4, 5, 6, 7, 8})));
  BOOST_TEST(close(a.grad(), from_list<double>({4, 5}), 0.0));
  BOOST_TEST(!k.requires_grad());
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw) {
  tad::scope s;
  const tad::var<double> x(ones<double>(shape_t{2, 3}), true);
  BOOST_CHECK_THROW(tad::reshape(x, shape_t{4, 2}), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::squeeze(x, 0), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::slice(x, 2, 0, 1), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::slice(x, 0, 0, 1, 0), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::split(x, {1, 1}, 1), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::concat<double>({}), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::stack<double>({}), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::concat<double>({x, tad::transpose(x, 0, 1)}, 0),
                    tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::permute(x, shape_t{0, 0}), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::expand(x, shape_t{2, 4}), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::select(x, 0, 2), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::select(x, 1, -4), tessera::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
