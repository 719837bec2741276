// SPDX-License-Identifier: Apache-2.0
// Second-order checks of tessera::ad: Hessian-vector products of every smooth op family
// against finite differences of gradients, ad::hvp against known Hessians, and a gradient
// penalty ‖∇ₓf‖² differentiated with respect to parameters.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <string>
#include <vector>

#include "gradcheck.hpp"

using namespace tessera;
using namespace tessera::test;
namespace tad = tessera::ad;
namespace bdata = boost::unit_test::data;

namespace second_order_cases {

struct unary_case {
  std::string name;
  bool positive;  // needs x > 0
  std::function<dvar(const dvar&)> f;
};

std::vector<unary_case> unary_cases() {
  using v = const dvar&;
  return {
      {"exp", false, [](v x) { return tad::exp(x); }},
      {"expm1", false, [](v x) { return tad::expm1(x); }},
      {"tanh", false, [](v x) { return tad::tanh(x); }},
      {"sigmoid", false, [](v x) { return tad::sigmoid(x); }},
      {"softplus", false, [](v x) { return tad::softplus(x); }},
      {"gelu", false, [](v x) { return tad::gelu(x); }},
      {"gelu_tanh", false, [](v x) { return tad::gelu_tanh(x); }},
      {"silu", false, [](v x) { return tad::silu(x); }},
      {"erf", false, [](v x) { return tad::erf(x); }},
      {"sin", false, [](v x) { return tad::sin(x); }},
      {"cos", false, [](v x) { return tad::cos(x); }},
      {"square", false, [](v x) { return tad::square(x); }},
      {"x * x", false, [](v x) { return x * x; }},
      {"pow(x, 3)", false, [](v x) { return tad::pow(x, 3.0); }},
      {"pow(x, 2)", false, [](v x) { return tad::pow(x, 2.0); }},
      {"log", true, [](v x) { return tad::log(x); }},
      {"log1p", true, [](v x) { return tad::log1p(x); }},
      {"sqrt", true, [](v x) { return tad::sqrt(x); }},
      {"rsqrt", true, [](v x) { return tad::rsqrt(x); }},
      {"reciprocal", true, [](v x) { return tad::reciprocal(x); }},
      {"rdiv", true, [](v x) { return 2.0 / x; }},
      {"pow(x, -1.5)", true, [](v x) { return tad::pow(x, -1.5); }},
      {"pow(x, 0.5)", true, [](v x) { return tad::pow(x, 0.5); }},
      {"softmax", false, [](v x) { return tad::softmax(x, -1); }},
      {"softmax axis 0", false, [](v x) { return tad::softmax(x, 0); }},
      {"log_softmax", false, [](v x) { return tad::log_softmax(x, -1); }},
      {"log_softmax axis 0", false, [](v x) { return tad::log_softmax(x, 0); }},
      {"logsumexp", false, [](v x) { return tad::logsumexp(x, shape_t{-1}); }},
      {"logsumexp all", false, [](v x) { return tad::logsumexp(x); }},
      {"norm 2", false, [](v x) { return tad::norm(x, 2.0, shape_t{-1}, true); }},
      {"norm 2 all", false, [](v x) { return tad::norm(x); }},
      {"variance", false, [](v x) { return tad::variance(x, shape_t{0}, 1); }},
      {"mean of cubes", false, [](v x) { return tad::mean(x * x * x, shape_t{1}); }},
      {"layer_norm", false, [](v x) { return tad::layer_norm(x, dvar(), dvar(), 1e-5); }},
      {"rms_norm", false, [](v x) { return tad::rms_norm(x, dvar(), 1e-6); }},
      // Linear maps in front of a nonlinearity: their rules run in create-graph mode.
      {"exp∘slice step 2", false, [](v x) { return tad::exp(tad::slice(x, 1, 0, 4, 2)); }},
      {"exp∘empty slice", false, [](v x) { return tad::exp(tad::slice(x, 1, 0, 0, 2)) + 1.0; }},
      {"tanh∘transpose∘expand", false,
       [](v x) {
         return tad::tanh(
             tad::transpose(tad::expand(tad::unsqueeze(x, 0), shape_t{2, 3, 4}), 0, 2));
       }},
      {"tanh∘sum_to", false,
       [](v x) {
         return tad::tanh(tad::sum_to(tad::reshape(x, shape_t{3, 2, 2}), shape_t{2, 1}));
       }},
      {"sin∘permute∘concat", false,
       [](v x) {
         return tad::sin(tad::permute(tad::concat<double>({x, x * 2.0}, 0), shape_t{1, 0}));
       }},
      {"exp∘select", false, [](v x) { return tad::exp(tad::select(x, 0, -1)); }},
      {"exp∘index_select", false,
       [](v x) {
         return tad::exp(tad::index_select(x, 1, from_vector<index_t>({3, 0, 3}, shape_t{3})));
       }},
      {"exp∘gather", false,
       [](v x) {
         return tad::exp(tad::gather(x, 0, from_vector<index_t>({2, 0, 1, 2}, shape_t{1, 4})));
       }},
      {"max·x", false, [](v x) { return tad::max(x, shape_t{1}, true) * x; }},
      {"abs·x", false, [](v x) { return tad::abs(x) * x; }},
      {"relu·x", false, [](v x) { return tad::relu(x) * x; }},
  };
}

/// The model of the gradient-penalty tests: f(x; W1, b1, w2) = Σ tanh(x·W1 + b1)·w2.
dvar mlp(const dvar& x, const dvar& w1, const dvar& b1, const dvar& w2) {
  return tad::sum(tad::matmul(tad::tanh(tad::matmul(x, w1) + b1), w2));
}

}  // namespace second_order_cases

BOOST_AUTO_TEST_SUITE(ad)
BOOST_AUTO_TEST_SUITE(second_order)
using namespace second_order_cases;  // in the suite: the module compiles as one TU

BOOST_DATA_TEST_CASE(hessian_vector_products_of_unary_families, bdata::xrange(2), layout) {
  generator gen(static_cast<std::uint64_t>(1100 + layout));
  for (const auto& c : unary_cases()) {
    dtensor x =
        c.positive ? uniform(shape_t{3, 4}, gen, 0.4, 2.0) : away_from_zero(shape_t{3, 4}, gen);
    if (layout == 1) x = transposed(x);
    const check_result r = hvpcheck(
        c.name, [&](const dvar& v) { return c.f(v); }, x);
    BOOST_TEST(r.failures == 0, c.name << ": " << r.first);
    BOOST_TEST(r.checked == 2 * x.numel());  // against FD and against ad::hvp
  }
}

BOOST_AUTO_TEST_CASE(hessian_vector_products_of_binary_ops) {
  generator gen(1200);
  const dtensor a = normal(shape_t{2, 3}, gen), b = away_from_zero(shape_t{3}, gen);
  const dtensor pa = uniform(shape_t{2, 3}, gen, 0.5, 2.0);
  using v = const dvar&;
  BOOST_TEST(hvpcheck(
                 "div", [](v p, v q) { return tad::div(p, q); }, a, b)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "mul", [](v p, v q) { return p * q * q; }, a, b)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "pow(var, var)", [](v p, v q) { return tad::pow(p, q); }, pa, b)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "a/b - b/a", [](v p, v q) { return p / q - q / p; }, pa, b)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "sub·add", [](v p, v q) { return (p - q) * (p + q); }, a, b)
                 .failures == 0);
  BOOST_TEST(
      hvpcheck(
          "maximum·minimum", [](v p, v q) { return tad::maximum(p, q) * tad::minimum(p, q); }, a, b)
          .failures == 0);
  BOOST_TEST(hvpcheck(
                 "where",
                 [](v p, v q) {
                   return tad::where(from_list<double>({1.0, 0.0, 1.0}), p * p, q * q * q);
                 },
                 a, b)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "mse_loss", [](v p, v q) { return tad::mse_loss(p * p, q); }, a, b)
                 .failures == 0);
}

BOOST_AUTO_TEST_CASE(hessian_vector_products_of_matmul_chains) {
  generator gen(1300);
  const dtensor a = normal(shape_t{3, 4}, gen), b = normal(shape_t{4, 2}, gen),
                c = normal(shape_t{2, 5}, gen);
  const dtensor batch = normal(shape_t{2, 3, 4}, gen), vec = normal(shape_t{4}, gen);
  using v = const dvar&;
  BOOST_TEST(hvpcheck(
                 "tanh(A·B)·C",
                 [](v p, v q, v r) { return tad::matmul(tad::tanh(tad::matmul(p, q)), r); }, a, b,
                 c)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "A·B·C (trilinear)",
                 [](v p, v q, v r) { return tad::matmul(tad::matmul(p, q), r); }, a, b, c)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "batched softplus(X·B)·(Bᵀ·u)",
                 [](v x, v q, v u) {
                   return tad::matmul(tad::softplus(tad::matmul(x, q)),
                                      tad::matmul(tad::transpose(q, 0, 1), u));
                 },
                 batch, b, vec)
                 .failures == 0);
  BOOST_TEST(
      hvpcheck(
          "vector chains",
          [](v u, v p) { return tad::matmul(tad::sigmoid(tad::matmul(p, u)), tad::matmul(p, u)); },
          vec, a)
          .failures == 0);
  BOOST_TEST(hvpcheck(
                 "AᵀA", [](v p) { return tad::matmul(tad::transpose(p, 0, 1), p); }, a)
                 .failures == 0);
}

BOOST_AUTO_TEST_CASE(hessian_vector_products_of_nn_losses) {
  generator gen(1400);
  const dtensor logits = normal(shape_t{4, 5}, gen, 1.5);
  const tensor<index_t> target = from_vector<index_t>({4, 0, 2, 2}, shape_t{4});
  // distinct values: no row of x has a tiny variance, where layer norm's higher derivatives
  // blow up and central differences of its gradient lose their accuracy.
  const dtensor x = distinct(shape_t{4, 3}, gen) * 0.5, w = normal(shape_t{3, 5}, gen),
                g = normal(shape_t{3}, gen), bta = normal(shape_t{3}, gen);
  using v = const dvar&;
  BOOST_TEST(hvpcheck(
                 "cross_entropy", [&](v l) { return tad::cross_entropy(l, target); }, logits)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "cross_entropy(layer_norm(x; γ, β)·W)",
                 [&](v p, v q, v r, v s) {
                   return tad::cross_entropy(tad::matmul(tad::layer_norm(p, r, s, 1e-5), q),
                                             target);
                 },
                 x, w, g, bta)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "rms_norm(x; γ)", [](v p, v r) { return tad::rms_norm(p, r, 1e-6); }, x, g)
                 .failures == 0);
  const tensor<index_t> tok = from_vector<index_t>({1, 0, 1, 3}, shape_t{2, 2});
  BOOST_TEST(hvpcheck(
                 "embedding → logsumexp",
                 [&](v e) { return tad::logsumexp(tad::embedding(e, tok), shape_t{-1}); }, x)
                 .failures == 0);
}

BOOST_AUTO_TEST_CASE(hvp_matches_known_hessians) {
  // f(x) = Σ x³ → H = diag(6x);  f(x) = ½ xᵀAx with A symmetric → H = A.
  const dtensor x = from_list<double>({1.0, -2.0, 0.5});
  const dtensor v = from_list<double>({1.0, 1.0, 2.0});
  const dtensor h = tad::hvp([](const dvar& p) { return tad::sum(p * p * p); }, x, v);
  BOOST_TEST(close(h, from_list<double>({6.0, -12.0, 6.0})));
  const dtensor A = from_vector<double>({2, 1, 0, 1, 3, -1, 0, -1, 4}, shape_t{3, 3});
  const dtensor h2 = tad::hvp(
      [&](const dvar& p) { return tad::matmul(p, tad::matmul(tad::constant(A), p)) * 0.5; }, x, v);
  BOOST_TEST(close(h2, tessera::matmul(A, v)));
  // A linear function has a zero Hessian (its gradient is a constant).
  const dtensor h3 = tad::hvp([](const dvar& p) { return tad::sum(p * 3.0); }, x, v);
  BOOST_TEST(close(h3, zeros<double>(shape_t{3}), 0.0));
  BOOST_CHECK_THROW(
      tad::hvp([](const dvar& p) { return tad::sum(p); }, x, zeros<double>(shape_t{2})),
      tessera::invalid_argument);
}

BOOST_AUTO_TEST_CASE(hvp_leaves_the_tape_as_it_found_it) {
  const tad::tape& tp = tad::current_tape();
  const std::size_t objects = tp.object_count(), nodes = tp.node_count();
  const dtensor x = from_list<double>({0.3, -0.2});
  (void)tad::hvp([](const dvar& p) { return tad::sum(tad::exp(p * p)); }, x, x);
  BOOST_TEST(tp.object_count() == objects);
  BOOST_TEST(tp.node_count() == nodes);
}

BOOST_AUTO_TEST_CASE(gradient_penalty_matches_finite_differences) {
  generator gen(1500);
  const dtensor x = normal(shape_t{4, 3}, gen);
  const dtensor w1 = normal(shape_t{3, 5}, gen), b1 = normal(shape_t{5}, gen),
                w2 = normal(shape_t{5}, gen);
  // P(θ) = ‖∇ₓ f(x; θ)‖², differentiated with respect to θ = (W1, b1, w2) and to x itself.
  const auto penalty = [](const dvar& xv, const dvar& p, const dvar& q, const dvar& r) {
    const dvar gx = tad::grad_graph(mlp(xv, p, q, r), {xv})[0];
    return tad::sum(tad::square(gx));
  };
  const check_result res = gradcheck("gradient penalty", penalty, x, w1, b1, w2);
  BOOST_TEST(res.failures == 0, res.first);
  BOOST_TEST(res.checked == x.numel() + w1.numel() + b1.numel() + w2.numel());
}

BOOST_AUTO_TEST_CASE(gradient_penalty_into_parameters) {
  // The training-loop form: parameters, a scope per step, backward into parameter gradients.
  generator gen(1501);
  const dtensor x = normal(shape_t{4, 3}, gen);
  tad::parameter<double> w1(normal(shape_t{3, 5}, gen)), b1(normal(shape_t{5}, gen)),
      w2(normal(shape_t{5}, gen));
  const auto loss_value = [&]() {
    tad::scope s;
    const tad::var<double> xv(x, true);
    const tad::var<double> y = mlp(xv, w1(), b1(), w2());
    const tad::var<double> gx = tad::grad_graph(y, {xv})[0];
    return (tad::sum(tad::square(gx)) + y * 0.1).item();
  };
  {
    tad::scope s;
    const tad::var<double> xv(x, true);
    const tad::var<double> y = mlp(xv, w1(), b1(), w2());
    const tad::var<double> gx = tad::grad_graph(y, {xv})[0];
    // grad_graph leaves first-order adjoints alone: nothing accumulated yet.
    BOOST_TEST(!w1.grad().defined());
    tad::backward(tad::sum(tad::square(gx)) + y * 0.1);
  }
  for (tad::parameter<double>* p : {&w1, &b1, &w2}) {
    BOOST_TEST_REQUIRE(p->grad().defined());
    for (index_t k = 0; k < p->numel(); ++k) {
      double& e = p->value().data()[k];
      const double e0 = e;
      e = e0 + 1e-6;
      const double fp = loss_value();
      e = e0 - 1e-6;
      const double fm = loss_value();
      e = e0;
      const double num = (fp - fm) / 2e-6, ana = p->grad().data()[k];
      BOOST_TEST(std::abs(num - ana) <= 1e-6 + 1e-6 * std::abs(num),
                 "parameter element " << k << ": reverse " << ana << ", fd " << num);
    }
  }
}

BOOST_AUTO_TEST_CASE(third_derivative_by_nesting_grad_graph) {
  // f = x⁴: f' = 4x³, f'' = 12x², f''' = 24x.
  tad::scope s;
  const tad::var<double> x(from_list<double>({0.5, -1.5}), true);
  const tad::var<double> f = tad::sum(tad::pow(x, 4.0));
  const tad::var<double> g1 = tad::grad_graph(f, {x})[0];
  const tad::var<double> g2 = tad::grad_graph(tad::sum(g1), {x})[0];
  const tad::var<double> g3 = tad::grad_graph(tad::sum(g2), {x})[0];
  BOOST_TEST(close(g1.value(), from_list<double>({0.5, -13.5})));
  BOOST_TEST(close(g2.value(), from_list<double>({3.0, 27.0})));
  BOOST_TEST(close(g3.value(), from_list<double>({12.0, -36.0})));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
