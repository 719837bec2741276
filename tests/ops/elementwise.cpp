// SPDX-License-Identifier: Apache-2.0
// Elementwise ops against std:: scalar functions, on contiguous, strided, empty and rank-0
// inputs, with numpy broadcasting checked against index arithmetic done here.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <vector>

#include "helpers.hpp"

using namespace tessera;
using ops_test::broadcast_at;
using ops_test::check_throws;
using ops_test::check_values;
using ops_test::float_types;
using ops_test::random_tensor;
using ops_test::rtol;
using ops_test::strided_copy;
using ops_test::unravel;

namespace {

template <class T>
struct unary_case {
  const char* name;
  std::function<tensor<T>(const tensor<T>&)> op;
  std::function<double(double)> ref;
  double lo, hi;  // input domain
};

template <class T>
std::vector<unary_case<T>> unary_cases() {
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  return {
      {"neg", [](const tensor<T>& x) { return neg(x); }, [](double v) { return -v; }, -3, 3},
      {"abs", [](const tensor<T>& x) { return abs(x); }, [](double v) { return std::abs(v); }, -3,
       3},
      {"sign", [](const tensor<T>& x) { return sign(x); },
       [](double v) { return double((v > 0) - (v < 0)); }, -3, 3},
      {"exp", [](const tensor<T>& x) { return exp(x); }, [](double v) { return std::exp(v); }, -20,
       20},
      {"expm1", [](const tensor<T>& x) { return expm1(x); }, [](double v) { return std::expm1(v); },
       -1e-3, 1e-3},
      {"log", [](const tensor<T>& x) { return log(x); }, [](double v) { return std::log(v); }, 1e-3,
       50},
      {"log1p", [](const tensor<T>& x) { return log1p(x); }, [](double v) { return std::log1p(v); },
       -1e-4, 1e-4},
      {"sqrt", [](const tensor<T>& x) { return sqrt(x); }, [](double v) { return std::sqrt(v); }, 0,
       9},
      {"rsqrt", [](const tensor<T>& x) { return rsqrt(x); },
       [](double v) { return 1 / std::sqrt(v); }, 0.01, 9},
      {"square", [](const tensor<T>& x) { return square(x); }, [](double v) { return v * v; }, -3,
       3},
      {"reciprocal", [](const tensor<T>& x) { return reciprocal(x); },
       [](double v) { return 1 / v; }, 0.1, 4},
      {"sin", [](const tensor<T>& x) { return sin(x); }, [](double v) { return std::sin(v); }, -6,
       6},
      {"cos", [](const tensor<T>& x) { return cos(x); }, [](double v) { return std::cos(v); }, -6,
       6},
      {"erf", [](const tensor<T>& x) { return erf(x); }, [](double v) { return std::erf(v); }, -3,
       3},
      {"tanh", [](const tensor<T>& x) { return tanh(x); }, [](double v) { return std::tanh(v); },
       -5, 5},
      {"sigmoid", [](const tensor<T>& x) { return sigmoid(x); }, sig, -30, 30},
      {"relu", [](const tensor<T>& x) { return relu(x); }, [](double v) { return v > 0 ? v : 0; },
       -3, 3},
      {"heaviside", [](const tensor<T>& x) { return heaviside(x); },
       [](double v) { return v > 0 ? 1.0 : 0.0; }, -3, 3},
      {"gelu", [](const tensor<T>& x) { return gelu(x); },
       [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, -5, 5},
      {"gelu_tanh", [](const tensor<T>& x) { return gelu_tanh(x); },
       [](double v) {
         return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
       },
       -5, 5},
      {"silu", [](const tensor<T>& x) { return silu(x); }, [sig](double v) { return v * sig(v); },
       -10, 10},
      {"softplus", [](const tensor<T>& x) { return softplus(x); },
       [](double v) { return std::log1p(std::exp(v)); }, -30, 30},
      {"pow3", [](const tensor<T>& x) { return pow(x, T(3)); }, [](double v) { return v * v * v; },
       -3, 3},
      {"pow2", [](const tensor<T>& x) { return pow(x, T(2)); }, [](double v) { return v * v; }, -3,
       3},
      {"pow_half", [](const tensor<T>& x) { return pow(x, T(0.5)); },
       [](double v) { return std::sqrt(v); }, 0, 4},
      {"clamp", [](const tensor<T>& x) { return clamp(x, T(-0.25), T(0.5)); },
       [](double v) { return v < -0.25 ? -0.25 : (v > 0.5 ? 0.5 : v); }, -1, 1},
      {"inside_mask", [](const tensor<T>& x) { return inside_mask(x, T(-0.25), T(0.5)); },
       [](double v) { return v >= -0.25 && v <= 0.5 ? 1.0 : 0.0; }, -1, 1},
      {"add_scalar", [](const tensor<T>& x) { return add(x, T(1.5)); },
       [](double v) { return v + 1.5; }, -3, 3},
      {"mul_scalar", [](const tensor<T>& x) { return mul(x, T(-2)); },
       [](double v) { return -2 * v; }, -3, 3},
      {"rsub", [](const tensor<T>& x) { return rsub(x, T(1)); }, [](double v) { return 1 - v; }, -3,
       3},
      {"rdiv", [](const tensor<T>& x) { return rdiv(x, T(2)); }, [](double v) { return 2 / v; },
       0.5, 3},
      {"op+s", [](const tensor<T>& x) { return x + T(2); }, [](double v) { return v + 2; }, -3, 3},
      {"s+op", [](const tensor<T>& x) { return T(2) + x; }, [](double v) { return v + 2; }, -3, 3},
      {"op-s", [](const tensor<T>& x) { return x - T(2); }, [](double v) { return v - 2; }, -3, 3},
      {"s-op", [](const tensor<T>& x) { return T(2) - x; }, [](double v) { return 2 - v; }, -3, 3},
      {"op*s", [](const tensor<T>& x) { return x * T(3); }, [](double v) { return 3 * v; }, -3, 3},
      {"s*op", [](const tensor<T>& x) { return T(3) * x; }, [](double v) { return 3 * v; }, -3, 3},
      {"op/s", [](const tensor<T>& x) { return x / T(4); }, [](double v) { return v / 4; }, -3, 3},
      {"s/op", [](const tensor<T>& x) { return T(4) / x; }, [](double v) { return 4 / v; }, 0.5, 3},
      {"unary-", [](const tensor<T>& x) { return -x; }, [](double v) { return -v; }, -3, 3},
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops)
BOOST_AUTO_TEST_SUITE(elementwise)

BOOST_AUTO_TEST_CASE_TEMPLATE(unary_against_std, T, float_types) {
  const std::vector<shape_t> shapes = {shape_t{},        shape_t{7},    shape_t{3, 5},
                                       shape_t{2, 3, 4}, shape_t{0, 3}, shape_t{1, 1, 9}};
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-13;
  std::uint64_t seed = 1;
  for (const unary_case<T>& c : unary_cases<T>()) {
    for (const shape_t& s : shapes) {
      const tensor<T> x = random_tensor<T>(s, seed++, c.lo, c.hi);
      std::vector<double> want;
      for (index_t i = 0; i < x.numel(); ++i) want.push_back(c.ref(static_cast<double>(x.flat(i))));
      BOOST_TEST_CONTEXT(c.name << " on " << s) {
        check_values(c.op(x), s, want, tol, tol * 1e-1);
        check_values(c.op(strided_copy(x)), s, want, tol, tol * 1e-1);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(unary_large_inputs_use_every_thread_path, T, float_types) {
  // Above the parallel grain, contiguous and strided.
  const tensor<T> x = random_tensor<T>(shape_t{300, 400}, 99, -4, 4);
  std::vector<double> want;
  for (index_t i = 0; i < x.numel(); ++i) want.push_back(std::tanh(static_cast<double>(x.flat(i))));
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-13;
  check_values(tanh(x), x.shape(), want, tol, tol * 0.1);
  check_values(tanh(strided_copy(x)), x.shape(), want, tol, tol * 0.1);
  want.clear();
  for (index_t i = 0; i < x.numel(); ++i) want.push_back(std::exp(static_cast<double>(x.flat(i))));
  check_values(exp(x), x.shape(), want, tol);
  check_values(exp(x.transpose(0, 1)).transpose(0, 1), x.shape(), want, tol);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(stable_at_extremes, T, float_types) {
  const tensor<T> x = from_list<T>({T(-1000), T(-100), T(0), T(100), T(1000)});
  check_values(sigmoid(x), x.shape(), {0, std::exp(-100.0), 0.5, 1, 1}, rtol<T>(), 1e-30);
  check_values(softplus(x), x.shape(), {0, std::exp(-100.0), std::log(2.0), 100, 1000}, rtol<T>(),
               1e-30);
  check_values(silu(x), x.shape(), {-0.0, -100 * std::exp(-100.0), 0, 100, 1000}, rtol<T>(), 1e-30);
  const tensor<T> e = exp(x);
  BOOST_TEST(e(0) == T(0));
  // Below log(min normal) exp must underflow like std::exp (subnormal, then 0), -inf giving 0.
  const T inf = std::numeric_limits<T>::infinity();
  const tensor<T> tiny = from_list<T>({-inf, T(-87.5), T(-90), T(-100), T(-710), T(-745), T(-800)});
  const tensor<T> et = exp(tiny), ets = exp(strided_copy(tiny));
  for (index_t i = 0; i < tiny.numel(); ++i) {
    const T want = std::exp(tiny(i));
    if (want < std::numeric_limits<T>::min()) {  // subnormal or zero: exactly std::exp
      BOOST_TEST(et(i) == want, "exp(" << tiny(i) << ")");
      BOOST_TEST(ets(i) == want, "strided exp(" << tiny(i) << ")");
    } else {
      BOOST_TEST(et(i) == want, boost::test_tools::tolerance(T(rtol<T>())));
      BOOST_TEST(ets(i) == want, boost::test_tools::tolerance(T(rtol<T>())));
    }
  }
  BOOST_TEST(std::isinf(e(4)));
  BOOST_TEST(all_finite(sigmoid(x)));
  BOOST_TEST(!all_finite(e));
  BOOST_TEST(!all_finite(from_list<T>({T(1), std::numeric_limits<T>::quiet_NaN()})));
  BOOST_TEST(all_finite(zeros<T>(shape_t{0})));
  BOOST_TEST(all_finite(strided_copy(random_tensor<T>(shape_t{3, 4}, 1))));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(vmath_erf_cdf_gelu_against_long_double, T, float_types) {
  // Every float in a dense grid over [-30, 30] (steps of 1e-3, plus the tails' subnormal edge),
  // in ulp of the long-double reference rounded to T. erf: a few ulp; Φ and GELU: up to 8.5 and
  // 11.5 ulp (10 and 13.5 without FMA) where ½ + ½erf(x/√2) cancels (x in [-√2, -0.7]), else a
  // few; GELU' absolute.
  using ld = long double;
  const auto ulps = [](T got, ld want) {
    const T w = static_cast<T>(want);
    const T up = std::nextafter(std::fabs(w), std::numeric_limits<T>::infinity()) - std::fabs(w);
    return static_cast<double>(std::fabs(static_cast<ld>(got) - want) / static_cast<ld>(up));
  };
  double erf_max = 0, cdf_max = 0, gelu_max = 0, der_max = 0;
  std::vector<T> grid;
  for (int i = -30000; i <= 30000; ++i) grid.push_back(static_cast<T>(i * 1e-3L));
  for (int i = 0; i < 200; ++i) grid.push_back(static_cast<T>(-1e-30L * std::pow(10.0L, i % 40)));
  for (const T x : grid) {
    const ld xl = x;
    const ld cdf = 0.5L * std::erfc(-xl / std::sqrt(2.0L));
    const ld der = cdf + xl * std::exp(-0.5L * xl * xl) / std::sqrt(2 * std::numbers::pi_v<ld>);
    erf_max = std::max(erf_max, ulps(vmath::erf(x), std::erf(xl)));
    if (cdf >= std::numeric_limits<T>::min())
      cdf_max = std::max(cdf_max, ulps(vmath::normal_cdf(x), cdf));
    if (std::fabs(xl * cdf) >= std::numeric_limits<T>::min() || x == 0)
      gelu_max = std::max(gelu_max, ulps(vmath::gelu(x), xl * cdf));
    der_max = std::max(der_max, static_cast<double>(std::fabs(vmath::gelu_derivative(x) - der)));
  }
  BOOST_TEST(erf_max <= 3.0, "erf max " << erf_max << " ulp");
  BOOST_TEST(cdf_max <= 12.0, "normal_cdf max " << cdf_max << " ulp");
  BOOST_TEST(gelu_max <= 16.0, "gelu max " << gelu_max << " ulp");
  BOOST_TEST_MESSAGE("erf " << erf_max << " normal_cdf " << cdf_max << " gelu " << gelu_max
                            << " ulp, gelu' " << der_max << " abs");
  BOOST_TEST(der_max <= 8 * std::numeric_limits<T>::epsilon(), "gelu' max abs err " << der_max);
  // Special values: signed zeros, infinities, NaN.
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  BOOST_TEST((vmath::erf(T(0)) == 0 && !std::signbit(vmath::erf(T(0)))));
  BOOST_TEST((vmath::erf(T(-0.0)) == 0 && std::signbit(vmath::erf(T(-0.0)))));
  BOOST_TEST(vmath::erf(inf) == T(1));
  BOOST_TEST(vmath::erf(-inf) == T(-1));
  BOOST_TEST(std::isnan(vmath::erf(nan)));
  BOOST_TEST(vmath::normal_cdf(inf) == T(1));
  BOOST_TEST(vmath::normal_cdf(-inf) == T(0));
  BOOST_TEST(std::isnan(vmath::normal_cdf(nan)));
  BOOST_TEST(vmath::gelu(inf) == inf);
  BOOST_TEST((vmath::gelu(-inf) == 0 && std::signbit(vmath::gelu(-inf))));
  BOOST_TEST(std::isnan(vmath::gelu(nan)));
  BOOST_TEST(vmath::gelu_derivative(inf) == T(1));
  BOOST_TEST(vmath::gelu_derivative(-inf) == T(0));
  BOOST_TEST(std::isnan(vmath::gelu_derivative(nan)));
  // The tanh form as x·σ(2u): its relative error stays within a few ulp times the condition
  // number of x ↦ x·σ(2u(x)), 1 + x·2u'(x)·(1 - σ), which grows like x³ in the left tail.
  double tanh_max = 0, tanh_der_max = 0;
  for (const T x : grid) {
    const ld xl = x, k = std::sqrt(2 / std::numbers::pi_v<ld>), a = 0.044715L;
    const ld u = k * (xl + a * xl * xl * xl), du = k * (1 + 3 * a * xl * xl);
    const ld sg = 1 / (1 + std::exp(-2 * u));
    const ld want = xl * sg;
    if (std::fabs(want) >= 64 * std::numeric_limits<T>::min()) {
      const ld cond = 1 + std::fabs(xl * 2 * du * (1 - sg));
      tanh_max = std::max(tanh_max, ulps(vmath::gelu_tanh(x), want) / static_cast<double>(cond));
    }
    const ld der = sg + xl * 2 * sg * (1 - sg) * du;
    tanh_der_max = std::max(tanh_der_max,
                            static_cast<double>(std::fabs(vmath::gelu_tanh_derivative(x) - der)));
  }
  BOOST_TEST(tanh_max <= 4.0, "gelu_tanh max " << tanh_max << " ulp per unit condition");
  BOOST_TEST(tanh_der_max <= 8 * std::numeric_limits<T>::epsilon(), "gelu_tanh' " << tanh_der_max);
  BOOST_TEST(vmath::gelu_tanh(inf) == inf);
  BOOST_TEST((vmath::gelu_tanh(-inf) == 0 && std::signbit(vmath::gelu_tanh(-inf))));
  BOOST_TEST(std::isnan(vmath::gelu_tanh(nan)));
  BOOST_TEST(vmath::gelu_tanh_derivative(inf) == T(1));
  BOOST_TEST(vmath::gelu_tanh_derivative(-inf) == T(0));
  BOOST_TEST(std::isnan(vmath::gelu_tanh_derivative(nan)));
  // The tensor op: tails keep their relative accuracy (½(1 + erf) would give 0 below -5.5 in
  // float), on the parallel and the strided path.
  const tensor<T> x = random_tensor<T>(shape_t{300, 400}, 7, -12, 12);
  std::vector<double> want;
  for (index_t i = 0; i < x.numel(); ++i) {
    const ld v = x.flat(i);
    want.push_back(static_cast<double>(0.5L * v * std::erfc(-v / std::sqrt(2.0L))));
  }
  check_values(gelu(x), x.shape(), want, 16 * std::numeric_limits<T>::epsilon(), 1e-300);
  check_values(gelu(strided_copy(x)), x.shape(), want, 16 * std::numeric_limits<T>::epsilon(),
               1e-300);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(binary_broadcasting_against_index_arithmetic, T, float_types) {
  const std::vector<std::pair<shape_t, shape_t>> pairs = {
      {shape_t{2, 3}, shape_t{2, 3}},
      {shape_t{2, 3}, shape_t{3}},
      {shape_t{2, 1}, shape_t{1, 3}},
      {shape_t{4, 1, 3}, shape_t{2, 1}},
      {shape_t{}, shape_t{2, 3}},
      {shape_t{2, 3}, shape_t{}},
      {shape_t{}, shape_t{}},
      {shape_t{0, 3}, shape_t{1, 3}},
      {shape_t{2, 0}, shape_t{2, 1}},
      {shape_t{1}, shape_t{0}},
      {shape_t{3, 1, 1, 2}, shape_t{1, 4, 1}},
      {shape_t{5, 1}, shape_t{1}},
      {shape_t{1, 7}, shape_t{6, 1}},
      {shape_t{128, 300}, shape_t{300}},
  };
  using bin = std::function<tensor<T>(const tensor<T>&, const tensor<T>&)>;
  const std::vector<std::tuple<const char*, bin, std::function<double(double, double)>>> ops = {
      {"add", [](auto& a, auto& b) { return add(a, b); }, [](double a, double b) { return a + b; }},
      {"sub", [](auto& a, auto& b) { return sub(a, b); }, [](double a, double b) { return a - b; }},
      {"mul", [](auto& a, auto& b) { return mul(a, b); }, [](double a, double b) { return a * b; }},
      {"div", [](auto& a, auto& b) { return div(a, b); }, [](double a, double b) { return a / b; }},
      {"pow", [](auto& a, auto& b) { return pow(a, b); },
       [](double a, double b) { return std::pow(a, b); }},
      {"maximum", [](auto& a, auto& b) { return maximum(a, b); },
       [](double a, double b) { return std::max(a, b); }},
      {"minimum", [](auto& a, auto& b) { return minimum(a, b); },
       [](double a, double b) { return std::min(a, b); }},
      {"op+", [](auto& a, auto& b) { return a + b; }, [](double a, double b) { return a + b; }},
      {"op-", [](auto& a, auto& b) { return a - b; }, [](double a, double b) { return a - b; }},
      {"op*", [](auto& a, auto& b) { return a * b; }, [](double a, double b) { return a * b; }},
      {"op/", [](auto& a, auto& b) { return a / b; }, [](double a, double b) { return a / b; }},
  };
  std::uint64_t seed = 100;
  for (const auto& [sa, sb] : pairs) {
    const shape_t out = broadcast_shapes("test", sa, sb);
    // Positive inputs keep pow and div well defined.
    const tensor<T> a = random_tensor<T>(sa, seed++, 0.5, 2.0);
    const tensor<T> b = random_tensor<T>(sb, seed++, 0.5, 2.0);
    for (const auto& [name, op, ref] : ops) {
      std::vector<double> want;
      for (index_t f = 0; f < out.numel(); ++f) {
        const std::vector<index_t> idx = unravel(f, out);
        want.push_back(ref(broadcast_at(a, out, idx), broadcast_at(b, out, idx)));
      }
      BOOST_TEST_CONTEXT(name << " " << sa << " with " << sb) {
        check_values(op(a, b), out, want, rtol<T>());
        check_values(op(strided_copy(a), b), out, want, rtol<T>());
        check_values(op(a, strided_copy(b)), out, want, rtol<T>());
        check_values(op(strided_copy(a), strided_copy(b)), out, want, rtol<T>());
      }
    }
  }
  // Operands that are themselves expanded views (stride 0) and offset slices.
  const tensor<T> row = random_tensor<T>(shape_t{1, 5}, 3);
  const tensor<T> big = random_tensor<T>(shape_t{6, 10}, 4);
  const tensor<T> a = row.expand(shape_t{4, 5});
  const tensor<T> b = big.slice(0, 1, 5).slice(1, 1, 10, 2);  // (4,5), offset, stride 2
  std::vector<double> want;
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 5; ++j)
      want.push_back(static_cast<double>(row(0, j)) * static_cast<double>(big(i + 1, 1 + 2 * j)));
  check_values(mul(a, b), shape_t{4, 5}, want, rtol<T>());
  check_values(mul(b, a), shape_t{4, 5}, want, rtol<T>());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(add_gelu_fused_layouts_match_the_sum_then_gelu, T, float_types) {
  // add_gelu and its backward take one pass for same-shape operands and for a bias constant
  // along runs of the other operand (per channel, a scalar), in either order; every layout
  // must give gelu(x + y) and g·gelu'(x + y) as computed from the materialised sum.
  const std::vector<std::pair<shape_t, shape_t>> pairs = {
      {shape_t{4, 3, 50}, shape_t{3, 1}},       // per-channel bias, runs of 50
      {shape_t{3, 1}, shape_t{4, 3, 50}},       // the same, bias first
      {shape_t{4, 3, 50}, shape_t{1, 3, 1}},    // the bias with a leading 1
      {shape_t{2, 3, 5, 7}, shape_t{3, 5, 1}},  // two channel axes, runs of 7
      {shape_t{2, 3, 1, 9}, shape_t{3, 1, 1}},  // a size-1 axis inside the run
      {shape_t{6, 40}, shape_t{}},              // a scalar
      {shape_t{6, 40}, shape_t{6, 40}},         // same shape
      {shape_t{6, 40}, shape_t{40}},            // a row: the generic path
      {shape_t{2, 3, 1}, shape_t{3, 1}},        // runs of one: the generic path
      {shape_t{0, 3, 4}, shape_t{3, 1}},        // empty
  };
  std::uint64_t seed = 300;
  for (const auto& [sa, sb] : pairs) {
    for (int layout = 0; layout < 2; ++layout) {
      tensor<T> x = random_tensor<T>(sa, seed++, -4, 4), y = random_tensor<T>(sb, seed++, -4, 4);
      if (layout == 1 && x.numel() > 0) x = strided_copy(x);  // non-contiguous: generic path
      const tensor<T> s = add(x, y);
      const tensor<T> g = random_tensor<T>(s.shape(), seed++, -2, 2);
      BOOST_TEST_CONTEXT(sa << " with " << sb << (layout ? " (strided)" : "")) {
        const tensor<T> want = gelu(s);
        const tensor<T> got = add_gelu(x, y);
        BOOST_TEST_REQUIRE(got.shape() == want.shape());
        const std::vector<T> gv = got.contiguous().to_vector(), wv = want.contiguous().to_vector();
        BOOST_TEST(gv == wv, boost::test_tools::per_element());  // the same float operations
        const std::vector<T> bv = add_gelu_backward(g, x, y).contiguous().to_vector();
        const std::vector<T> bw = detail::gelu_backward(g, s).contiguous().to_vector();
        BOOST_TEST(bv == bw, boost::test_tools::per_element());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(comparisons_and_where, T, float_types) {
  // Small integers so that ties occur.
  tensor<T> a = random_tensor<T>(shape_t{4, 5}, 7, 0, 3);
  tensor<T> b = random_tensor<T>(shape_t{5}, 8, 0, 3);
  a = detail::unary_map<T>(a, [](T v) { return std::floor(v); });
  b = detail::unary_map<T>(b, [](T v) { return std::floor(v); });
  const shape_t out{4, 5};
  const std::vector<std::tuple<const char*, tensor<T>, std::function<bool(double, double)>>> cmp = {
      {"eq", eq(a, b), std::equal_to<double>()}, {"ne", ne(a, b), std::not_equal_to<double>()},
      {"lt", lt(a, b), std::less<double>()},     {"le", le(a, b), std::less_equal<double>()},
      {"gt", gt(a, b), std::greater<double>()},  {"ge", ge(a, b), std::greater_equal<double>()},
  };
  for (const auto& [name, got, ref] : cmp) {
    std::vector<double> want;
    for (index_t i = 0; i < 4; ++i)
      for (index_t j = 0; j < 5; ++j)
        want.push_back(ref(static_cast<double>(a(i, j)), static_cast<double>(b(j))) ? 1.0 : 0.0);
    BOOST_TEST_CONTEXT(name) { check_values(got, out, want, 0.0); }
  }
  BOOST_TEST(ops_test::values(eq(a, b)).size() == 20u);

  // where(cond, x, y) with all three broadcasting.
  const tensor<T> cond = from_vector<T>({1, 0, 0, 2}, shape_t{4, 1});
  const tensor<T> x = random_tensor<T>(shape_t{1, 3}, 9);
  const tensor<T> y = random_tensor<T>(shape_t{3}, 10);
  std::vector<double> want;
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 3; ++j)
      want.push_back(cond(i, 0) != T(0) ? static_cast<double>(x(0, j)) : static_cast<double>(y(j)));
  check_values(where(cond, x, y), shape_t{4, 3}, want, 0.0);
  check_values(where(strided_copy(cond), strided_copy(x), y), shape_t{4, 3}, want, 0.0);
  // where picks, it does not blend: NaN in the unpicked branch does not leak.
  const tensor<T> nan = full<T>(shape_t{3}, std::numeric_limits<T>::quiet_NaN());
  BOOST_TEST(all_finite(where(ones<T>(shape_t{3}), x, nan)));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(in_place_updates, T, float_types) {
  tensor<T> base = random_tensor<T>(shape_t{4, 6}, 11);
  const tensor<T> before = base.clone();
  const tensor<T> dst = base.slice(1, 1, 6, 2);  // (4,3), strided, offset
  const tensor<T> src = random_tensor<T>(shape_t{3}, 12);
  add_(dst, src);
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 6; ++j) {
      const double want = static_cast<double>(before(i, j)) +
                          (j % 2 == 1 ? static_cast<double>(src((j - 1) / 2)) : 0.0);
      BOOST_TEST(static_cast<double>(base(i, j)) == want, boost::test_tools::tolerance(rtol<T>()));
    }
  tensor<T> c = random_tensor<T>(shape_t{3, 4}, 13);
  const tensor<T> c0 = c.clone();
  const tensor<T> g = random_tensor<T>(shape_t{3, 1}, 14);
  axpy_(c, T(-0.5), g);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 4; ++j)
      BOOST_TEST(static_cast<double>(c(i, j)) ==
                     static_cast<double>(c0(i, j)) - 0.5 * static_cast<double>(g(i, 0)),
                 boost::test_tools::tolerance(rtol<T>()));
  // scale_ on contiguous and strided destinations.
  tensor<T> s = random_tensor<T>(shape_t{5, 4}, 15);
  const tensor<T> s0 = s.clone();
  scale_(s, T(3));
  scale_(s.transpose(0, 1).slice(0, 0, 4, 3), T(-1));  // columns 0 and 3
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 4; ++j)
      BOOST_TEST(
          static_cast<double>(s(i, j)) == (j % 3 == 0 ? -3.0 : 3.0) * static_cast<double>(s0(i, j)),
          boost::test_tools::tolerance(rtol<T>()));
  check_throws([&] { add_(g, c); }, {"tessera::add_", "(3,4)", "(3,1)"});
  check_throws([&] { axpy_(c, T(1), random_tensor<T>(shape_t{2}, 1)); },
               {"tessera::axpy_", "(3,4)", "(2)"});
}

// NaN propagates through maximum, minimum and relu whichever operand holds it (numpy, PyTorch
// and the max/min reductions); maximum(nan, 0) was 0 while maximum(0, nan) was nan.
BOOST_AUTO_TEST_CASE_TEMPLATE(nan_propagates_through_maximum_minimum_relu, T, float_types) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const tensor<T> a = from_vector<T>({nan, T(0), T(1), nan}, shape_t{4});
  const tensor<T> b = from_vector<T>({T(0), nan, T(2), nan}, shape_t{4});
  for (const tensor<T>& m : {maximum(a, b), maximum(b, a), minimum(a, b), minimum(b, a)}) {
    BOOST_TEST(std::isnan(m(0)));
    BOOST_TEST(std::isnan(m(1)));
    BOOST_TEST(std::isnan(m(3)));
  }
  BOOST_TEST(maximum(a, b)(2) == T(2));
  BOOST_TEST(minimum(a, b)(2) == T(1));
  const tensor<T> r = relu(from_vector<T>({nan, T(-1), T(3)}, shape_t{3}));
  BOOST_TEST(std::isnan(r(0)));
  BOOST_TEST(r(1) == T(0));
  BOOST_TEST(r(2) == T(3));
}

// The same rules on 1027 elements, where the maps run vectorised (with a scalar tail): NaNs
// in either operand at scattered positions, and relu(−0) = +0 as before.
BOOST_AUTO_TEST_CASE_TEMPLATE(nan_propagates_through_vectorised_maximum_minimum_relu, T,
                              float_types) {
  const index_t n = 1027;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  tensor<T> a(shape_t{n}), b(shape_t{n});
  for (index_t i = 0; i < n; ++i) {
    a(i) = i % 7 == 0 ? nan : static_cast<T>((i * 37) % 19) - T(9);
    b(i) = i % 11 == 0 ? nan : static_cast<T>((i * 53) % 23) - T(11);
  }
  a(5) = -T(0);
  const tensor<T> mx = maximum(a, b), mn = minimum(a, b), r = relu(a);
  for (index_t i = 0; i < n; ++i) {
    const T x = a(i), y = b(i);
    if (std::isnan(x) || std::isnan(y)) {
      BOOST_TEST(std::isnan(mx(i)), "maximum at " << i);
      BOOST_TEST(std::isnan(mn(i)), "minimum at " << i);
    } else {
      BOOST_TEST(mx(i) == std::max(x, y), "maximum at " << i);
      BOOST_TEST(mn(i) == std::min(x, y), "minimum at " << i);
    }
    if (std::isnan(x))
      BOOST_TEST(std::isnan(r(i)), "relu at " << i);
    else
      BOOST_TEST(r(i) == (x > T(0) ? x : T(0)), "relu at " << i);
  }
  BOOST_TEST(!std::signbit(r(5)));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(elementwise_errors, T, float_types) {
  const tensor<T> a = random_tensor<T>(shape_t{2, 3}, 1);
  const tensor<T> b = random_tensor<T>(shape_t{4, 3}, 2);
  check_throws([&] { (void)add(a, b); }, {"tessera::add", "(2,3)", "(4,3)"});
  check_throws([&] { (void)sub(a, b); }, {"tessera::sub", "(2,3)", "(4,3)"});
  check_throws([&] { (void)mul(a, b); }, {"tessera::mul"});
  check_throws([&] { (void)div(a, b); }, {"tessera::div"});
  check_throws([&] { (void)pow(a, b); }, {"tessera::pow"});
  check_throws([&] { (void)maximum(a, b); }, {"tessera::maximum"});
  check_throws([&] { (void)minimum(a, b); }, {"tessera::minimum"});
  check_throws([&] { (void)eq(a, b); }, {"tessera::eq"});
  check_throws([&] { (void)(a + b); }, {"tessera::add", "(2,3)", "(4,3)"});
  check_throws([&] { (void)where(a, a, b); }, {"tessera::where", "(2,3)", "(4,3)"});
  check_throws([&] { (void)clamp(a, T(1), T(0)); }, {"tessera::clamp", "lo 1", "hi 0"});
  check_throws([&] { (void)clamp(a, std::numeric_limits<T>::quiet_NaN(), T(0)); },
               {"tessera::clamp", "lo nan"});
}

// An undefined (default-constructed) tensor has a rank-0 shape, one element by its shape and
// no storage: ops read a null pointer. They refuse it by name now.
BOOST_AUTO_TEST_CASE(undefined_tensors_are_refused_by_name) {
  const tensor<float> none, a = ones<float>(shape_t{3});
  const std::string undefined = "is an undefined tensor (default-constructed or moved from)";
  check_throws([&] { (void)tessera::exp(none); },
               {"tessera::elementwise op: its input", undefined});
  check_throws([&] { (void)tessera::neg(none); },
               {"tessera::elementwise op: its input", undefined});
  check_throws([&] { (void)tessera::add(a, none); },
               {"tessera::add", "the second operand", undefined});
  check_throws([&] { (void)tessera::sum(none); }, {"tessera::sum", "the input", undefined});
  check_throws([&] { (void)tessera::max(none); }, {"the input", undefined});
  check_throws([&] { (void)none.clone(); }, {"tessera::tensor::copy_from: the source", undefined});
  check_throws([&] { a.copy_from(none); }, {"tessera::tensor::copy_from: the source", undefined});
  check_throws([&] { (void)none.item(); }, {"tessera::tensor::item", "undefined"});
  // flat's index is checked (a zero-size axis divided by zero; an index past the end read
  // outside the tensor).
  check_throws(
      [&] {
        (void)ones<float>(shape_t{3, 0}).flat(0);
      },
      {"tessera::tensor::flat", "index 0 is out of range for 0 elements", "(3,0)"});
  check_throws([&] { (void)a.flat(3); }, {"tessera::tensor::flat", "index 3", "3 elements"});
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
