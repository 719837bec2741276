// SPDX-License-Identifier: Apache-2.0
// Finite-difference checks of tessera::ad's elementwise ops: unary functions, scalar forms,
// binary ops with broadcasting, operators; contiguous, strided, transposed and empty inputs.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "gradcheck.hpp"

using namespace tessera;
using namespace tessera::test;
namespace tad = tessera::ad;
namespace bdata = boost::unit_test::data;

namespace elementwise_cases {

/// Where an op's inputs must lie to be away from poles and kinks.
enum class domain { any, positive, nonzero, clamp_safe };

dtensor sample(domain d, const shape_t& s, generator& gen) {
  switch (d) {
    case domain::positive:
      return uniform(s, gen, 0.3, 2.0);
    case domain::nonzero:
      return away_from_zero(s, gen);
    case domain::clamp_safe: {
      // clamp(x, -0.5, 0.7): keep every x at least 0.05 from both bounds.
      dtensor x = uniform(s, gen, -1.5, 1.5);
      for (index_t i = 0; i < x.numel(); ++i) {
        double& v = x.data()[i];
        if (std::abs(v + 0.5) < 0.05) v = -0.6;
        if (std::abs(v - 0.7) < 0.05) v = 0.8;
      }
      return x;
    }
    case domain::any:
    default:
      return normal(s, gen);
  }
}

struct unary_case {
  std::string name;
  domain dom;
  std::function<dvar(const dvar&)> f;
};

std::vector<unary_case> unary_cases() {
  return {
      {"neg", domain::any, [](const dvar& x) { return tad::neg(x); }},
      {"abs", domain::nonzero, [](const dvar& x) { return tad::abs(x); }},
      {"exp", domain::any, [](const dvar& x) { return tad::exp(x); }},
      {"expm1", domain::any, [](const dvar& x) { return tad::expm1(x); }},
      {"log", domain::positive, [](const dvar& x) { return tad::log(x); }},
      {"log1p", domain::positive, [](const dvar& x) { return tad::log1p(x); }},
      {"sqrt", domain::positive, [](const dvar& x) { return tad::sqrt(x); }},
      {"rsqrt", domain::positive, [](const dvar& x) { return tad::rsqrt(x); }},
      {"square", domain::any, [](const dvar& x) { return tad::square(x); }},
      {"reciprocal", domain::nonzero, [](const dvar& x) { return tad::reciprocal(x); }},
      {"sin", domain::any, [](const dvar& x) { return tad::sin(x); }},
      {"cos", domain::any, [](const dvar& x) { return tad::cos(x); }},
      {"erf", domain::any, [](const dvar& x) { return tad::erf(x); }},
      {"tanh", domain::any, [](const dvar& x) { return tad::tanh(x); }},
      {"sigmoid", domain::any, [](const dvar& x) { return tad::sigmoid(x); }},
      {"relu", domain::nonzero, [](const dvar& x) { return tad::relu(x); }},
      {"gelu", domain::any, [](const dvar& x) { return tad::gelu(x); }},
      {"gelu_tanh", domain::any, [](const dvar& x) { return tad::gelu_tanh(x); }},
      {"silu", domain::any, [](const dvar& x) { return tad::silu(x); }},
      {"softplus", domain::any, [](const dvar& x) { return tad::softplus(x); }},
      {"clamp", domain::clamp_safe, [](const dvar& x) { return tad::clamp(x, -0.5, 0.7); }},
      {"sign (constant)", domain::nonzero, [](const dvar& x) { return tad::sign(x); }},
      {"heaviside (constant)", domain::nonzero, [](const dvar& x) { return tad::heaviside(x); }},
      {"pow(x, 3)", domain::any, [](const dvar& x) { return tad::pow(x, 3.0); }},
      {"pow(x, 2)", domain::any, [](const dvar& x) { return tad::pow(x, 2.0); }},
      {"pow(x, 0.5)", domain::positive, [](const dvar& x) { return tad::pow(x, 0.5); }},
      {"pow(x, -1.5)", domain::positive, [](const dvar& x) { return tad::pow(x, -1.5); }},
      {"add(x, s)", domain::any, [](const dvar& x) { return tad::add(x, 1.25); }},
      {"mul(x, s)", domain::any, [](const dvar& x) { return tad::mul(x, -2.5); }},
      {"rsub(x, s)", domain::any, [](const dvar& x) { return tad::rsub(x, 0.75); }},
      {"rdiv(x, s)", domain::nonzero, [](const dvar& x) { return tad::rdiv(x, 1.5); }},
      {"x + s", domain::any, [](const dvar& x) { return x + 2.0; }},
      {"s + x", domain::any, [](const dvar& x) { return 2.0 + x; }},
      {"x - s", domain::any, [](const dvar& x) { return x - 0.5; }},
      {"s - x", domain::any, [](const dvar& x) { return 0.5 - x; }},
      {"x * s", domain::any, [](const dvar& x) { return x * 3.0; }},
      {"s * x", domain::any, [](const dvar& x) { return -3.0 * x; }},
      {"x / s", domain::any, [](const dvar& x) { return x / 4.0; }},
      {"s / x", domain::nonzero, [](const dvar& x) { return 4.0 / x; }},
      {"-x", domain::any, [](const dvar& x) { return -x; }},
      {"x * x (one leaf twice)", domain::any, [](const dvar& x) { return x * x; }},
      {"x / x + x - x", domain::nonzero, [](const dvar& x) { return x / x * x + x - x * 0.5; }},
  };
}

/// Inputs of one seed: a random rank-0..3 shape, its strided and transposed layouts, a shape
/// with a size-1 axis and an empty one.
std::vector<std::pair<std::string, dtensor>> layouts(domain d, int seed) {
  generator gen(static_cast<std::uint64_t>(1000 + seed));
  const shape_t s = random_shape(gen, seed % 4, 1, 4);
  const shape_t s3 = random_shape(gen, 3, 2, 4);
  return {
      {"shape " + s.str(), sample(d, s, gen)},
      {"strided " + s3.str(), strided(sample(d, s3, gen))},
      {"transposed " + s3.str(), transposed(sample(d, s3, gen))},
      {"size-1 axes (1,3,1)", sample(d, shape_t{1, 3, 1}, gen)},
      {"empty (2,0,3)", sample(d, shape_t{2, 0, 3}, gen)},
  };
}

}  // namespace elementwise_cases

BOOST_AUTO_TEST_SUITE(ad)
BOOST_AUTO_TEST_SUITE(elementwise)
using namespace elementwise_cases;  // in the suite: the module compiles as one TU

BOOST_DATA_TEST_CASE(unary_ops_match_finite_differences, bdata::xrange(4), seed) {
  for (const auto& c : unary_cases()) {
    for (const auto& [what, x] : layouts(c.dom, seed)) {
      const auto f = [&](const dvar& v) { return c.f(v); };
      const check_result r = gradcheck(c.name + ", " + what, f, x);
      BOOST_TEST(r.failures == 0, c.name << ", " << what << ": " << r.first);
      BOOST_TEST(r.checked == x.numel());
    }
  }
}

BOOST_AUTO_TEST_CASE(empty_input_gives_empty_gradient_of_its_shape) {
  tad::scope s;
  const tad::var<double> x(zeros<double>(shape_t{3, 0, 2}), true);
  const tad::var<double> y = tad::sum(tad::exp(x) * 2.0);
  BOOST_TEST(y.item() == 0.0);
  tad::backward(y);
  BOOST_TEST(x.grad().shape() == (shape_t{3, 0, 2}));
  BOOST_TEST(x.grad().numel() == 0);
}

BOOST_AUTO_TEST_CASE(piecewise_constant_ops_are_constants) {
  tad::scope s;
  const tad::var<double> x(from_list<double>({-1.0, 2.0}), true);
  BOOST_TEST(!tad::sign(x).requires_grad());
  BOOST_TEST(!tad::heaviside(x).requires_grad());
  BOOST_TEST(!tad::eq(x, x).requires_grad());
  BOOST_TEST(!tad::lt(x, x).requires_grad());
  BOOST_TEST(!tad::gt(x, x).requires_grad());
  BOOST_TEST(tad::gt(x, tad::constant(zeros<double>(shape_t{}))).value().flat(1) == 1.0);
}

namespace elementwise_cases {

struct binary_case {
  std::string name;
  domain da, db;
  std::function<dvar(const dvar&, const dvar&)> f;
};

std::vector<binary_case> binary_cases() {
  return {
      {"add", domain::any, domain::any,
       [](const dvar& a, const dvar& b) { return tad::add(a, b); }},
      {"sub", domain::any, domain::any,
       [](const dvar& a, const dvar& b) { return tad::sub(a, b); }},
      {"mul", domain::any, domain::any,
       [](const dvar& a, const dvar& b) { return tad::mul(a, b); }},
      {"div", domain::any, domain::nonzero,
       [](const dvar& a, const dvar& b) { return tad::div(a, b); }},
      {"pow", domain::positive, domain::any,
       [](const dvar& a, const dvar& b) { return tad::pow(a, b); }},
      {"maximum", domain::any, domain::any,
       [](const dvar& a, const dvar& b) { return tad::maximum(a, b); }},
      {"minimum", domain::any, domain::any,
       [](const dvar& a, const dvar& b) { return tad::minimum(a, b); }},
      {"add_gelu", domain::any, domain::any,
       [](const dvar& a, const dvar& b) { return tad::add_gelu(a, b); }},
      {"a + b", domain::any, domain::any, [](const dvar& a, const dvar& b) { return a + b; }},
      {"a - b", domain::any, domain::any, [](const dvar& a, const dvar& b) { return a - b; }},
      {"a * b", domain::any, domain::any, [](const dvar& a, const dvar& b) { return a * b; }},
      {"a / b", domain::any, domain::nonzero, [](const dvar& a, const dvar& b) { return a / b; }},
      {"where", domain::any, domain::any,
       [](const dvar& a, const dvar& b) {
         // A fixed condition that broadcasts against the last axis of both.
         return tad::where(from_list<double>({1.0, 0.0, 2.0}).slice(0, 0, a.size(-1)), a, b);
       }},
      {"a*b + a/b - b (shared leaves)", domain::any, domain::nonzero,
       [](const dvar& a, const dvar& b) { return a * b + a / b - b; }},
  };
}

/// Shape pairs: equal, broadcasting both ways, scalars, size-1 axes, empty, per-channel.
std::vector<std::pair<shape_t, shape_t>> shape_pairs() {
  return {
      {{2, 3}, {2, 3}},    {{3, 1}, {1, 3}},       {{2, 3, 3}, {3}},    {{3}, {2, 2, 3}},
      {{}, {2, 3}},        {{3, 2, 3}, {}},        {{2, 1, 3}, {4, 1}}, {{1}, {1, 1, 3}},
      {{0, 3}, {1, 3}},    {{2, 0, 1}, {2, 1, 3}}, {{2, 0}, {2, 0}},    {{2, 4, 3}, {4, 1}},
      {{4, 1}, {2, 4, 3}},  // a per-channel bias (add_gelu's fused path)
  };
}

/// Draws an input for a binary op; `pos` picks the layout (contiguous, strided, transposed).
dtensor binary_input(domain d, const shape_t& s, generator& gen, int layout) {
  const dtensor x = sample(d, s, gen);
  if (x.numel() == 0 || x.rank() == 0) return x;
  if (layout == 1) return strided(x);
  if (layout == 2) return transposed(x);
  return x;
}

}  // namespace elementwise_cases
using namespace elementwise_cases;

BOOST_DATA_TEST_CASE(binary_ops_with_broadcasting_match_finite_differences, bdata::xrange(3),
                     layout) {
  generator gen(static_cast<std::uint64_t>(77 + layout));
  for (const auto& c : binary_cases()) {
    for (const auto& [sa, sb] : shape_pairs()) {
      const dtensor a = binary_input(c.da, sa, gen, layout);
      const dtensor b = binary_input(c.db, sb, gen, layout);
      // where's condition has a's last extent (at most 3): skip rank-0 and empty a.
      if (c.name == "where" && (sa.rank() == 0 || sa.back() == 0)) continue;
      const std::string what =
          c.name + " " + sa.str() + " with " + sb.str() + " layout " + std::to_string(layout);
      const check_result r = gradcheck(
          what, [&](const dvar& x, const dvar& y) { return c.f(x, y); }, a, b);
      BOOST_TEST(r.failures == 0, what << ": " << r.first);
      BOOST_TEST(r.checked == a.numel() + b.numel());
    }
  }
}

BOOST_AUTO_TEST_CASE(maximum_and_minimum_route_the_adjoint_to_one_side) {
  tad::scope s;
  const tad::var<double> a(from_list<double>({1.0, 5.0, 2.0}), true);
  const tad::var<double> b(from_list<double>({3.0, 4.0, 2.0}), true);
  tad::backward(tad::sum(tad::maximum(a, b) * 10.0 + tad::minimum(a, b)));
  // ties (2 vs 2) go to a for both maximum (a >= b) and minimum (a <= b)
  BOOST_TEST(close(a.grad(), from_list<double>({1.0, 10.0, 11.0})));
  BOOST_TEST(close(b.grad(), from_list<double>({10.0, 1.0, 0.0})));
}

// pow at a zero base or exponent: 0^b is constant in b (b > 0) and a^0 constant in a, so those
// gradients are 0, not 0·log 0 = NaN or 0·0^(−1) = NaN (which made a whole sum's gradient NaN).
BOOST_AUTO_TEST_CASE(pow_gradients_at_zero) {
  tad::scope s;
  const tad::var<double> a(from_list<double>({0.0, 0.0, 2.0, 3.0}), true);
  const tad::var<double> b(from_list<double>({2.0, 0.5, 3.0, 0.0}), true);
  tad::backward(tad::sum(tad::pow(a, b)));
  BOOST_TEST(
      close(b.grad(), from_list<double>({0.0, 0.0, 8.0 * std::log(2.0), std::log(3.0)}), 1e-14));
  // ā: 2·0 = 0, 0.5·0^(−0.5) = inf (the true one-sided slope), 3·2² = 12, 0 (a^0 is constant)
  BOOST_TEST(a.grad()(0) == 0.0);
  BOOST_TEST(std::isinf(a.grad()(1)));
  BOOST_TEST(a.grad()(2) == 12.0);
  BOOST_TEST(a.grad()(3) == 0.0);
  const tad::var<double> x(from_list<double>({0.0, 1.5}), true);
  tad::backward(tad::sum(tad::pow(x, 0.0)));
  BOOST_TEST(close(x.grad(), from_list<double>({0.0, 0.0}), 0.0));
  // Elsewhere the rule is the plain derivative (finite differences).
  const auto r = tessera::test::gradcheck(
      "pow(a, b) away from 0",
      [](const tad::var<double>& v) {
        return tad::pow(tad::slice(v, 0, 0, 2), tad::slice(v, 0, 2, 4));
      },
      from_list<double>({0.7, 1.9, 1.3, -0.4}));
  BOOST_TEST(r.failures == 0);
}

// mse_loss refuses a target that broadcasts pred up, as tessera::mse_loss (it averaged over the
// larger shape, with a wrong value and gradient).
BOOST_AUTO_TEST_CASE(mse_loss_target_must_broadcast_to_pred) {
  tad::scope s;
  const tad::var<double> p(from_list<double>({1.0, 2.0}), true);
  const tad::var<double> t(zeros<double>(shape_t{3, 2}));
  BOOST_CHECK_EXCEPTION(tad::mse_loss(p, t), tessera::invalid_argument,
                        [](const tessera::invalid_argument& e) {
                          return std::string(e.what()).find("ad::mse_loss") != std::string::npos;
                        });
  BOOST_TEST(tad::mse_loss(p, tad::var<double>(zeros<double>(shape_t{1}))).value().item() == 2.5);
}

BOOST_AUTO_TEST_CASE(where_with_a_condition_larger_than_its_operands) {
  generator gen(4);
  const dtensor cond = from_vector<double>({1, 0, 0, 1, 1, 0}, shape_t{2, 3});
  const dtensor a = normal(shape_t{}, gen), b = normal(shape_t{3}, gen);
  BOOST_TEST(gradcheck(
                 "where (2,3) ? () : (3)",
                 [&](const dvar& p, const dvar& q) { return tad::where(cond, p, q); }, a, b)
                 .failures == 0);
  tad::scope s;
  const tad::var<double> pa(a, true), pb(b, true);
  tad::backward(tad::sum(tad::where(cond, pa, pb)));
  BOOST_TEST(pa.grad().item() == 3.0);
  BOOST_TEST(close(pb.grad(), from_list<double>({0.0, 1.0, 2.0}), 0.0));
}

BOOST_AUTO_TEST_CASE(mixed_var_tensor_operators_treat_the_tensor_as_constant) {
  generator gen(5);
  const dtensor t = away_from_zero(shape_t{2, 3}, gen);
  const dtensor x = normal(shape_t{2, 3}, gen);
  for (int op = 0; op < 4; ++op) {
    const auto f = [&](const dvar& v) {
      switch (op) {
        case 0:
          return v + t;
        case 1:
          return v - t;
        case 2:
          return v * t;
        default:
          return v / t;
      }
    };
    BOOST_TEST(gradcheck("var op tensor " + std::to_string(op), f, x).failures == 0);
  }
  tad::scope s;
  const tad::var<double> v(x, true);
  tad::backward(tad::sum(v * t));
  BOOST_TEST(close(v.grad(), t));
}

BOOST_AUTO_TEST_CASE(gelu_fused_backward_matches_its_formula) {
  // The first-order rules are one vectorised pass; check the exact one against Φ(x) + x·φ(x)
  // in long double over [-40, 40] (tails included) for float and double, and the graph
  // (create_graph) rules of both forms against theirs.
  const auto run = [](auto zero) {
    using T = decltype(zero);
    const tensor<T> x = tessera::linspace<T>(T(-40), T(40), 8001);
    tad::scope s;
    const tad::var<T> v(x, true);
    tad::backward(tad::sum(tad::gelu(v) * tad::constant(tessera::full<T>(x.shape(), T(3)))));
    double worst = 0;
    for (index_t i = 0; i < x.numel(); ++i) {
      const long double xl = x(i);
      const long double d =
          0.5L * std::erfc(-xl / std::sqrt(2.0L)) +
          xl * std::exp(-0.5L * xl * xl) / std::sqrt(2 * std::numbers::pi_v<long double>);
      worst = std::max(worst, static_cast<double>(std::fabs(v.grad()(i) - 3 * d)));
    }
    return worst / std::numeric_limits<T>::epsilon();
  };
  BOOST_TEST(run(0.0f) <= 24.0);
  BOOST_TEST(run(0.0) <= 24.0);
  // The create-graph rule (erf and exp on vars) and the kernel's strided fallback agree with it.
  const tensor<double> x = tessera::linspace<double>(-6, 6, 61);
  tad::scope s;
  const tad::var<double> a(x, true), b(x, true);
  tad::backward(tad::sum(tad::gelu(a)));
  BOOST_TEST(close(tad::grad_graph(tad::sum(tad::gelu(b)), {b})[0].value(), a.grad(), 1e-14));
  const tensor<double> gs = tessera::linspace<double>(-1, 1, 122).slice(0, 0, 122, 2);
  const tad::var<double> c(x, true), d(x, true);
  tad::backward(tad::sum(tad::gelu_tanh(c)));
  BOOST_TEST(close(tad::grad_graph(tad::sum(tad::gelu_tanh(d)), {d})[0].value(), c.grad(), 1e-14));
  BOOST_TEST(!gs.is_contiguous());
  BOOST_TEST(close(tessera::detail::gelu_backward(gs, x), tessera::mul(gs, a.grad()), 1e-15));
  BOOST_TEST(close(tessera::detail::gelu_backward<true>(gs, x), tessera::mul(gs, c.grad()), 1e-15));
}

BOOST_AUTO_TEST_CASE(known_derivative_values) {
  // Spot values, independent of finite differences.
  tad::scope s;
  const tad::var<double> x(from_list<double>({0.0, 1.0}), true);
  tad::backward(tad::sum(tad::sigmoid(x) + tad::tanh(x) + tad::gelu(x) + tad::softplus(x) +
                         tad::silu(x) + tad::erf(x)));
  const double s1 = 1.0 / (1.0 + std::exp(-1.0)), t1 = std::tanh(1.0);
  const double pi = std::numbers::pi;
  const double phi1 = std::exp(-0.5) / std::sqrt(2 * pi);
  const double cdf1 = 0.5 * (1 + std::erf(1 / std::sqrt(2.0)));
  const double d0 = 0.25 + 1.0 + 0.5 + 0.5 + 0.5 + 2 / std::sqrt(pi);
  const double d1 = s1 * (1 - s1) + (1 - t1 * t1) + (cdf1 + phi1) + s1 + s1 * (1 + (1 - s1)) +
                    2 / std::sqrt(pi) * std::exp(-1.0);
  BOOST_TEST(close(x.grad(), from_list<double>({d0, d1}), 1e-14));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
