// SPDX-License-Identifier: Apache-2.0
// tessera::ad in single precision: typed tests over float and double with known gradients,
// and float gradients (first and second order) against double ones for a set of ops.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gradcheck.hpp"

using namespace tessera;
using namespace tessera::test;
namespace tad = tessera::ad;

namespace float_cases {

using scalar_types = std::tuple<float, double>;

/// Elementwise conversion between scalar types.
template <class To, class From>
tensor<To> cast(const tensor<From>& t) {
  tensor<To> out(t.shape());
  for (index_t i = 0; i < t.numel(); ++i) out.data()[i] = static_cast<To>(t.flat(i));
  return out;
}

/// Reverse-mode gradients of ⟨f(x...), r⟩ computed in precision T, returned in double.
template <class T, std::size_t N, class F>
std::vector<dtensor> grads_in(F f, const std::vector<dtensor>& inputs, const dtensor& r) {
  tad::scope s;
  std::vector<tad::var<T>> xs;
  for (const auto& x : inputs) xs.emplace_back(cast<T>(x), true);
  const tad::var<T> y = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return tad::var<T>(f(xs[I]...));
  }(std::make_index_sequence<N>{});
  tad::backward(y, cast<T>(r));
  std::vector<dtensor> g;
  for (const auto& x : xs) g.push_back(cast<double>(x.grad()));
  return g;
}

/// The output shape of f on double inputs (for the projection).
template <std::size_t N, class F>
shape_t output_shape(F f, const std::vector<dtensor>& inputs) {
  tad::scope s;
  std::vector<dvar> xs;
  for (const auto& x : inputs) xs.emplace_back(x, true);
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return dvar(f(xs[I]...)).shape();
  }(std::make_index_sequence<N>{});
}

/// Largest |float - double| relative to 1 + max|double| over all inputs' gradients.
template <std::size_t N, class F>
double float_vs_double(F f, const std::vector<dtensor>& inputs) {
  const dtensor r = projection(output_shape<N>(f, inputs), fd_options{});
  const std::vector<dtensor> gf = grads_in<float, N>(f, inputs, r);
  const std::vector<dtensor> gd = grads_in<double, N>(f, inputs, r);
  double worst = 0;
  for (std::size_t i = 0; i < gd.size(); ++i) {
    if (!(gf[i].shape() == gd[i].shape())) return 1e30;
    double scale = 1;
    for (index_t k = 0; k < gd[i].numel(); ++k) scale = std::max(scale, std::abs(gd[i].flat(k)));
    for (index_t k = 0; k < gd[i].numel(); ++k) {
      const double e = std::abs(gf[i].flat(k) - gd[i].flat(k)) / scale;
      worst = std::isfinite(e) ? std::max(worst, e) : 1e30;
    }
  }
  return worst;
}

template <class T>
T tol() {
  return std::is_same_v<T, float> ? T(1e-5) : T(1e-13);
}

template <class T>
bool near(const tensor<T>& a, std::initializer_list<double> expected) {
  if (a.numel() != static_cast<index_t>(expected.size())) return false;
  index_t i = 0;
  for (double e : expected) {
    if (!(std::abs(static_cast<double>(a.flat(i)) - e) <= tol<T>() * (1 + std::abs(e))))
      return false;
    ++i;
  }
  return true;
}

}  // namespace float_cases

BOOST_AUTO_TEST_SUITE(ad)
BOOST_AUTO_TEST_SUITE(precision)
using namespace float_cases;  // in the suite: the module compiles as one TU

BOOST_AUTO_TEST_CASE_TEMPLATE(known_first_and_second_derivatives, T, scalar_types) {
  tad::scope s;
  const tad::var<T> x(from_list<T>({T(1), T(2)}), true);
  const tad::var<T> y = tad::sum(x * x * x);
  static_assert(std::is_same_v<typename decltype(y)::value_type, T>);
  BOOST_TEST(near(tad::grad(y, x), {3.0, 12.0}));
  const tad::var<T> g = tad::grad_graph(y, {x})[0];
  BOOST_TEST(near(g.value(), {3.0, 12.0}));
  BOOST_TEST(near(tad::grad(tad::sum(g), x), {6.0, 12.0}));
  const tensor<T> h = tad::hvp([](const tad::var<T>& v) { return tad::sum(tad::pow(v, T(3))); },
                               from_list<T>({T(1), T(-2)}), from_list<T>({T(1), T(0.5)}));
  BOOST_TEST(near(h, {6.0, -6.0}));
  // softmax of (0, log 3): (1/4, 3/4); ∂y₀/∂x = y₀(e₀ - y) = (3/16, -3/16)
  const tad::var<T> z(from_list<T>({T(0), std::log(T(3))}), true);
  tad::backward(tad::sum(tad::softmax(z) * from_list<T>({T(1), T(0)})));
  BOOST_TEST(near(z.grad(), {3.0 / 16, -3.0 / 16}));
  tad::parameter<T> p(from_list<T>({T(0.5)}));
  for (int i = 0; i < 3; ++i) {
    tad::scope inner;
    tad::backward(tad::sum(tad::tanh(p())));
  }
  const double t = std::tanh(0.5);
  BOOST_TEST(near(p.grad(), {3 * (1 - t * t)}));
  auto pb = tad::vjp([](const tad::var<T>& a) { return tad::exp(a) * T(2); }, from_list<T>({T(0)}));
  BOOST_TEST(near(pb(from_list<T>({T(3)}))[0], {6.0}));
}

BOOST_AUTO_TEST_CASE(float_gradients_match_double) {
  generator gen(3000);
  const dtensor a = normal(shape_t{3, 4}, gen), b = normal(shape_t{4, 5}, gen);
  const dtensor pos = uniform(shape_t{3, 4}, gen, 0.5, 2.0), row = normal(shape_t{4}, gen);
  const tensor<index_t> target = from_vector<index_t>({1, 0, 3}, shape_t{3});
  const double limit = 1e-5;  // observed: about 1e-7
  const auto check = [&](const std::string& name, double err) {
    BOOST_TEST_MESSAGE(name << ": float vs double " << err);
    BOOST_TEST(err < limit, name << ": float vs double " << err);
    BOOST_TEST(err > 0.0, name << ": float gradients identical to double: not computed in float?");
  };
  // Generic lambdas: the same function runs on var<float> and var<double>.
  check("exp·tanh",
        float_vs_double<1>([](const auto& x) { return tad::exp(x) * tad::tanh(x); }, {a}));
  check("sigmoid, gelu, silu, softplus", float_vs_double<1>(
                                             [](const auto& x) {
                                               return tad::sigmoid(x) + tad::gelu(x) +
                                                      tad::silu(x) + tad::softplus(x);
                                             },
                                             {a}));
  check("log, sqrt, div", float_vs_double<2>(
                              [](const auto& x, const auto& y) {
                                return tad::log(x) + tad::sqrt(x) / (tad::square(y) + 1);
                              },
                              {pos, a}));
  check("matmul chain", float_vs_double<2>(
                            [](const auto& x, const auto& y) {
                              return tad::matmul(tad::tanh(tad::matmul(x, y)),
                                                 tad::transpose(y, 0, 1));
                            },
                            {a, b}));
  check("softmax, log_softmax",
        float_vs_double<1>(
            [](const auto& x) { return tad::softmax(x, 0) + tad::log_softmax(x, 1); }, {a}));
  check("layer_norm", float_vs_double<3>([](const auto& x, const auto& w,
                                            const auto& c) { return tad::layer_norm(x, w, c); },
                                         {a, row, row * 0.5}));
  check("reductions", float_vs_double<1>(
                          [](const auto& x) {
                            using S = typename std::decay_t<decltype(x)>::value_type;
                            const shape_t ax{1};
                            return tad::logsumexp(x, ax) + tad::norm(x, S(2), ax) +
                                   tad::variance(x, ax) + tad::max(x, ax) + tad::mean(x, ax);
                          },
                          {a}));
  check("cross_entropy", float_vs_double<2>(
                             [&](const auto& x, const auto& y) {
                               return tad::cross_entropy(tad::matmul(x, y), target);
                             },
                             {a, b}));
  check("mse_loss",
        float_vs_double<2>([](const auto& x, const auto& y) { return tad::mse_loss(x, y); },
                           {a, row}));
  check("views", float_vs_double<1>(
                     [](const auto& x) {
                       using V = std::decay_t<decltype(x)>;
                       const V top = tad::slice(x, 0, 0, 3, 2);  // rows 0 and 2: (2, 4)
                       const V mid = tad::reshape(tad::select(x, 0, -2), shape_t{4, 1});
                       return tad::sin(tad::concat<typename V::value_type>(
                           {tad::transpose(top, 0, 1), mid}, 1));  // (4, 3)
                     },
                     {a}));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
