// SPDX-License-Identifier: Apache-2.0
// Finite-difference checks of tessera::ad's reductions (sum, mean, variance, max, min,
// logsumexp, norm for p = 1, 2, ∞) over several axis sets with and without keepdim.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gradcheck.hpp"

using namespace tessera;
using namespace tessera::test;
namespace tad = tessera::ad;
namespace bdata = boost::unit_test::data;

namespace reduce_cases {

/// How a reduction's input is drawn.
enum class draw { normal, distinct, distinct_abs };

struct reduce_case {
  std::string name;
  draw how;
  bool empty_ok;      // defined on empty reductions (max/min are not; the ∞-norm is 0)
  index_t min_count;  // fewest reduced elements it is smooth for (2 for the sample variance)
  std::function<dvar(const dvar&, const shape_t&, bool)> f;
};

std::vector<reduce_case> cases() {
  const double inf = std::numeric_limits<double>::infinity();
  using v = const dvar&;
  using s = const shape_t&;
  return {
      {"sum", draw::normal, true, 1, [](v x, s a, bool k) { return tad::sum(x, a, k); }},
      {"mean", draw::normal, false, 1, [](v x, s a, bool k) { return tad::mean(x, a, k); }},
      {"variance", draw::normal, false, 1,
       [](v x, s a, bool k) { return tad::variance(x, a, 0, k); }},
      {"variance (correction 1)", draw::normal, false, 2,
       [](v x, s a, bool k) { return tad::variance(x, a, 1, k); }},
      {"max", draw::distinct, false, 1, [](v x, s a, bool k) { return tad::max(x, a, k); }},
      {"min", draw::distinct, false, 1, [](v x, s a, bool k) { return tad::min(x, a, k); }},
      {"logsumexp", draw::normal, false, 1,
       [](v x, s a, bool k) { return tad::logsumexp(x, a, k); }},
      {"norm 1", draw::distinct, true, 1, [](v x, s a, bool k) { return tad::norm(x, 1.0, a, k); }},
      {"norm 2", draw::normal, true, 1, [](v x, s a, bool k) { return tad::norm(x, 2.0, a, k); }},
      {"norm inf", draw::distinct_abs, true, 1,
       [inf](v x, s a, bool k) { return tad::norm(x, inf, a, k); }},
  };
}

dtensor draw_input(draw how, const shape_t& s, generator& gen) {
  switch (how) {
    case draw::distinct:
      return distinct(s, gen, true);
    case draw::distinct_abs:
      return distinct(s, gen, true);  // |x| distinct too: the ladder's magnitudes differ
    case draw::normal:
    default:
      return normal(s, gen);
  }
}

/// Axis sets for a rank-3 input: all, one, negative, two (adjacent and not), all explicitly.
std::vector<shape_t> axis_sets() { return {{}, {0}, {1}, {-1}, {0, 2}, {2, 1}, {0, 1, 2}}; }

}  // namespace reduce_cases

BOOST_AUTO_TEST_SUITE(ad)
BOOST_AUTO_TEST_SUITE(reduce)
using namespace reduce_cases;  // in the suite: the module compiles as one TU

BOOST_DATA_TEST_CASE(reductions_match_finite_differences, bdata::xrange(3), layout) {
  generator gen(static_cast<std::uint64_t>(500 + layout));
  for (const auto& c : cases()) {
    for (const shape_t& axes : axis_sets()) {
      for (bool keepdim : {false, true}) {
        const shape_t shape = random_shape(gen, 3, 1, 4);
        if (tessera::detail::plan_reduce("test", shape, axes).inner < c.min_count) continue;
        dtensor x = draw_input(c.how, shape, gen);
        if (layout == 1) x = strided(x);
        if (layout == 2) x = transposed(x);
        const std::string what = c.name + " axes " + axes.str() + (keepdim ? " keepdim" : "") +
                                 " shape " + shape.str() + " layout " + std::to_string(layout);
        // tanh after the reduction: the adjoint reaching it varies by element.
        const auto f = [&](const dvar& v) { return tad::tanh(c.f(v, axes, keepdim)); };
        const check_result r = gradcheck(what, f, x);
        BOOST_TEST(r.failures == 0, what << ": " << r.first);
        BOOST_TEST(r.checked == x.numel());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(reductions_of_rank_0_and_1) {
  generator gen(55);
  for (const auto& c : cases()) {
    const dtensor x0 = draw_input(c.how, shape_t{}, gen);
    const dtensor x1 = draw_input(c.how, shape_t{5}, gen);
    for (bool keepdim : {false, true}) {
      const auto f = [&](const dvar& v) { return tad::sin(c.f(v, shape_t{}, keepdim)); };
      if (c.min_count <= 1) BOOST_TEST(gradcheck(c.name + " rank 0", f, x0).failures == 0);
      BOOST_TEST(gradcheck(c.name + " rank 1", f, x1).failures == 0);
      const auto g = [&](const dvar& v) { return tad::sin(c.f(v, shape_t{0}, keepdim)); };
      BOOST_TEST(gradcheck(c.name + " rank 1 axis 0", g, x1).failures == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(reductions_with_empty_axes) {
  generator gen(56);
  const dtensor x = normal(shape_t{2, 0, 3}, gen);
  for (const auto& c : cases()) {
    // Reducing only non-empty axes of an empty tensor: an empty result, an empty gradient.
    for (bool keepdim : {false, true}) {
      const auto f = [&](const dvar& v) { return c.f(v, shape_t{2}, keepdim); };
      const check_result r = gradcheck(c.name + " over a full axis of an empty tensor", f, x);
      BOOST_TEST(r.failures == 0, c.name << ": " << r.first);
    }
    // Reducing an empty axis: sums and norms (the ∞-norm too, as tessera::norm) are 0 with an
    // empty gradient; max and min throw.
    tad::scope s;
    const tad::var<double> v(x, true);
    if (c.empty_ok) {
      const tad::var<double> y = c.f(v, shape_t{1}, false);
      BOOST_TEST(y.shape() == (shape_t{2, 3}));
      BOOST_TEST(close(y.value(), zeros<double>(shape_t{2, 3}), 0.0));
      tad::backward(tad::sum(y));
      BOOST_TEST(v.grad().shape() == (shape_t{2, 0, 3}));
    } else if (c.name == "max" || c.name == "min") {
      BOOST_CHECK_THROW(c.f(v, shape_t{1}, false), tessera::invalid_argument);
    }
  }
}

// A correction at or above the count gives NaN, as tessera::var (it divided by count −
// correction ≤ 0: -2 for [1, 3] with correction 3).
BOOST_AUTO_TEST_CASE(variance_with_a_correction_at_the_count_is_nan) {
  tad::scope s;
  const dtensor x = from_list<double>({1.0, 3.0});
  for (const int correction : {2, 3}) {
    BOOST_TEST(std::isnan(tad::variance(tad::var<double>(x), {}, correction).value().item()));
    BOOST_TEST(std::isnan(tessera::var(x, {}, correction).item()));
  }
  BOOST_TEST(tad::variance(tad::var<double>(x), {}, 1).value().item() == 2.0);
}

BOOST_AUTO_TEST_CASE(max_and_min_split_the_adjoint_among_ties) {
  tad::scope s;
  const tad::var<double> x(from_vector<double>({1, 3, 3, 2, 0, 0}, shape_t{2, 3}), true);
  tad::backward(tad::sum(tad::max(x, shape_t{1})) + tad::sum(tad::min(x, shape_t{1})) * 10.0);
  BOOST_TEST(close(x.grad(), from_vector<double>({10, 0.5, 0.5, 1, 5, 5}, shape_t{2, 3})));
  const tad::var<double> a(from_list<double>({-2.0, 2.0, 1.0}), true);
  tad::backward(tad::norm(a, std::numeric_limits<double>::infinity()));
  BOOST_TEST(close(a.grad(), from_list<double>({-0.5, 0.5, 0.0})));
}

// A NaN in the reduced set makes the max (min) NaN, and the adjoint goes to the NaN elements
// (split among them), as in PyTorch; the other rows keep their ordinary gradients. Before, the
// share was 0/0 on every element of that row. A bad axis is named as ad::max / ad::min.
BOOST_AUTO_TEST_CASE(max_and_min_of_a_nan_send_the_adjoint_to_the_nans) {
  tad::scope s;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const tad::var<double> x(from_vector<double>({1, nan, 3, nan, 5, nan, 2, 7, 4}, shape_t{3, 3}),
                           true);
  tad::backward(tad::sum(tad::max(x, shape_t{1})));
  BOOST_TEST(
      close(x.grad(), from_vector<double>({0, 1, 0, 0.5, 0, 0.5, 0, 1, 0}, shape_t{3, 3}), 0.0));
  const tad::var<double> y(from_list<double>({2.0, nan, -1.0}), true);
  tad::backward(tad::min(y));
  BOOST_TEST(close(y.grad(), from_list<double>({0.0, 1.0, 0.0}), 0.0));
  const auto axis_message = [&](auto&& f) {
    try {
      f();
    } catch (const tessera::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  BOOST_TEST(axis_message([&] { (void)tad::max(x, shape_t{2}); }).find("tessera::ad::max") !=
             std::string::npos);
  BOOST_TEST(axis_message([&] { (void)tad::min(x, shape_t{5}); }).find("tessera::ad::min") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(norm_at_the_origin_has_zero_subgradient) {
  tad::scope s;
  const tad::var<double> x(zeros<double>(shape_t{2, 3}), true);
  const dtensor row1 = from_vector<double>({0, 0, 0, 3, 4, 0}, shape_t{2, 3});
  const tad::var<double> y(row1, true);
  tad::backward(tad::sum(tad::norm(x, 2.0, shape_t{1})) + tad::sum(tad::norm(y, 2.0, shape_t{1})));
  BOOST_TEST(close(x.grad(), zeros<double>(shape_t{2, 3}), 0.0));
  BOOST_TEST(close(y.grad(), from_vector<double>({0, 0, 0, 0.6, 0.8, 0}, shape_t{2, 3})));
  BOOST_TEST(std::isfinite(y.grad().flat(0)));
}

BOOST_AUTO_TEST_CASE(unsupported_norm_orders_throw) {
  tad::scope s;
  const tad::var<double> x(from_list<double>({1.0, -2.0}), true);
  BOOST_CHECK_THROW(tad::norm(x, 3.0), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::norm(x, 0.5), tessera::invalid_argument);
  // -∞ would be the smallest |x|, which ad::norm does not provide (the plain op throws too).
  BOOST_CHECK_THROW(tad::norm(x, -std::numeric_limits<double>::infinity()),
                    tessera::invalid_argument);
  BOOST_CHECK_THROW(tessera::norm(x.value(), -std::numeric_limits<double>::infinity()),
                    tessera::invalid_argument);
}

// The ∞-norm of an empty set is 0, as tessera::norm says, with a zero gradient (it threw,
// naming tessera::max).
BOOST_AUTO_TEST_CASE(infinity_norm_of_an_empty_set_is_zero) {
  tad::scope s;
  const double inf = std::numeric_limits<double>::infinity();
  const tad::var<double> e(zeros<double>(shape_t{2, 0}), true);
  const tad::var<double> rows = tad::norm(e, inf, shape_t{1});
  BOOST_TEST(close(rows.value(), tessera::norm(e.value(), inf, shape_t{1}), 0.0));
  BOOST_TEST(close(rows.value(), zeros<double>(shape_t{2}), 0.0));
  tad::backward(tad::sum(rows) + tad::norm(e, inf));
  BOOST_TEST(e.grad().shape() == (shape_t{2, 0}));
}

BOOST_AUTO_TEST_CASE(reduction_values_match_the_plain_ops) {
  generator gen(57);
  const dtensor x = normal(shape_t{3, 4, 2}, gen);
  tad::scope s;
  const tad::var<double> v(x, true);
  const shape_t ax{0, 2};
  BOOST_TEST(close(tad::sum(v, ax, true).value(), tessera::sum(x, ax, true)));
  BOOST_TEST(close(tad::mean(v, ax).value(), tessera::mean(x, ax)));
  BOOST_TEST(close(tad::variance(v, ax, 1).value(), tessera::var(x, ax, 1)));
  BOOST_TEST(close(tad::logsumexp(v, ax).value(), tessera::logsumexp(x, ax)));
  BOOST_TEST(close(tad::norm(v, 2.0, ax).value(), tessera::norm(x, 2.0, ax)));
  BOOST_TEST(close(tad::max(v, ax, true).value(), tessera::max(x, ax, true), 0.0));
  BOOST_TEST_REQUIRE(tad::sum(v, ax, true).shape() == (shape_t{1, 4, 1}));
  BOOST_CHECK_THROW(tad::sum(v, shape_t{0, 0}), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::mean(v, shape_t{3}), tessera::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
