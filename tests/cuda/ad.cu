// SPDX-License-Identifier: Apache-2.0
// The tape on cuda tensors: every differentiable op's value and gradients through ad::var<T,
// cuda> against the same sweep on ad::var<T> (host), from the same inputs and cotangent,
// compared by NMSE with a per-op tolerance; gradients of gradients (grad_graph, hvp); the
// accumulating matmul (cuBLAS β = 1).
// Boost.Test first: under nvcc, <boost/mpl/list.hpp> included before it turns off the
// variadic BOOST_TEST forms.
#include <boost/test/unit_test.hpp>

#include <boost/mpl/list.hpp>
#include <sstream>

#include "backend_support.hpp"

namespace tessera::test {
namespace {

using scalar_types = boost::mpl::list<float, double>;
// Every op runs in float; double (which costs compile time in CI for the same kernels and rules)
// covers the elementwise rules, matmul and second order.

/// The space of a std::vector<ad::var<T, S>>.
template <class Vars>
using space_of = typename Vars::value_type::space_type;

/// Value and input gradients of body(vars) in space S: the inputs become requires_grad leaves,
/// the output is swept with cotangent `seed` (drawn on the host for the output's shape when
/// undefined; returned through `seed` so the other space uses the same one). Everything comes
/// back as host tensors: [value, grad 0, grad 1, ...].
template <class S, class T, class Body>
std::vector<tensor<T>> value_and_grads(const std::vector<tensor<T>>& inputs, tensor<T>& seed,
                                       Body& body) {
  ad::scope sc;
  std::vector<ad::var<T, S>> vars;
  for (const auto& x : inputs) vars.emplace_back(to<S>(x), true);
  const ad::var<T, S> y = body(vars);
  if (!seed.defined()) seed = uniform<T>(y.shape(), 99, T(-1), T(1));
  ad::backward(y, to<S>(seed));
  std::vector<tensor<T>> out{to<host>(y.value()).clone()};
  for (const auto& v : vars) out.push_back(to<host>(v.grad()).clone());
  return out;
}

/// Checks that body's value and gradients on cuda match the host's within `tol` (NMSE).
template <class T, class Body>
void check_grad(const std::string& name, const std::vector<tensor<T>>& inputs, tolerance tol,
                Body body) {
  tensor<T> seed;
  const std::vector<tensor<T>> ref = value_and_grads<host>(inputs, seed, body);
  std::vector<tensor<T>> got;
  try {
    got = value_and_grads<cuda>(inputs, seed, body);
  } catch (const std::exception& e) {
    BOOST_ERROR("ad op " << name << " threw on cuda: " << e.what());
    return;
  }
  for (std::size_t k = 0; k < ref.size(); ++k) {
    const double e = nmse(ref[k], got[k]);
    std::ostringstream what;
    what << "ad op " << name << " (" << (std::is_same_v<T, float> ? "float" : "double") << "), "
         << (k == 0 ? std::string("value") : "gradient of input " + std::to_string(k - 1))
         << ", shape " << ref[k].shape().str();
    BOOST_TEST_CONTEXT(what.str()) {
      BOOST_TEST(ref[k].shape() == got[k].shape());
      BOOST_TEST(e <= tol.of<T>(), "NMSE " << e << " exceeds " << tol.of<T>());
    }
  }
}

// Tolerances on the NMSE. Gradients chain several ops, each a few ulps off on the device
// (transcendentals, FMA contraction under nvcc), and reductions sum in another order.
constexpr tolerance elementwise_tol{1e-10, 1e-24};
constexpr tolerance chained_tol{1e-9, 1e-22};
constexpr tolerance summed_tol{1e-8, 1e-20};

BOOST_AUTO_TEST_SUITE(cuda_ad)

BOOST_AUTO_TEST_CASE_TEMPLATE(elementwise_gradients_match_host, T, scalar_types) {
  const tensor<T> a = uniform<T>({37, 29}, 1), b = uniform<T>({37, 29}, 2);
  const tensor<T> row = uniform<T>({29}, 3);                     // broadcast operand
  const tensor<T> pa = uniform<T>({37, 29}, 4, T(0.5), T(2));    // positive
  const tensor<T> pb = uniform<T>({29}, 5, T(0.5), T(2));        // positive, broadcast
  const tensor<T> at = uniform<T>({29, 37}, 6).transpose(0, 1);  // strided view
#define TESSERA_AD_BINARY(name, x, y, tol) \
  check_grad<T>(#name, {x, y}, tol, [](const auto& v) { return ad::name(v[0], v[1]); });
  TESSERA_AD_BINARY(add, a, row, summed_tol)
  TESSERA_AD_BINARY(sub, at, b, elementwise_tol)
  TESSERA_AD_BINARY(mul, a, row, summed_tol)
  TESSERA_AD_BINARY(div, a, pb, summed_tol)
  TESSERA_AD_BINARY(pow, pa, pb, summed_tol)
  TESSERA_AD_BINARY(maximum, a, b, elementwise_tol)
  TESSERA_AD_BINARY(minimum, at, b, elementwise_tol)
#undef TESSERA_AD_BINARY
  check_grad<T>("where", {a, b}, elementwise_tol, [](const auto& v) {
    using S = space_of<std::decay_t<decltype(v)>>;
    const tensor<T> cond = gt(uniform<T>({37, 1}, 7), scalar<T>(T(0)));
    return ad::where(to<S>(cond), v[0], v[1]);
  });
  check_grad<T>("scalar forms", {a}, chained_tol, [](const auto& v) {
    return ad::rdiv(ad::pow(ad::rsub(ad::mul(ad::add(v[0], T(3)), T(0.5)), T(4)), T(1.5)), T(2));
  });
  check_grad<T>("operators", {a, b}, chained_tol, [](const auto& v) {
    return (v[0] * v[1] + T(2)) / (T(3) - v[0]) - v[1] * T(2) + (-v[0]) / T(4);
  });
  check_grad<T>("operators with a constant tensor", {a}, elementwise_tol, [&](const auto& v) {
    using S = space_of<std::decay_t<decltype(v)>>;
    return (v[0] * to<S>(b) + to<S>(row)) / to<S>(pa) - to<S>(b);
  });

#define TESSERA_AD_UNARY(name, x, tol) \
  check_grad<T>(#name, {x}, tol, [](const auto& v) { return ad::name(v[0]); });
  TESSERA_AD_UNARY(exp, a, elementwise_tol)
  TESSERA_AD_UNARY(log, pa, elementwise_tol)
  TESSERA_AD_UNARY(tanh, a, chained_tol)
  TESSERA_AD_UNARY(relu, at, elementwise_tol)
  TESSERA_AD_UNARY(gelu, a, chained_tol)
  TESSERA_AD_UNARY(gelu_tanh, at, chained_tol)
  if constexpr (std::is_same_v<T, float>) {
    TESSERA_AD_UNARY(neg, at, elementwise_tol)
    TESSERA_AD_UNARY(abs, a, elementwise_tol)
    TESSERA_AD_UNARY(expm1, a, elementwise_tol)
    TESSERA_AD_UNARY(log1p, pa, elementwise_tol)
    TESSERA_AD_UNARY(sqrt, pa, elementwise_tol)
    TESSERA_AD_UNARY(rsqrt, pa, chained_tol)
    TESSERA_AD_UNARY(square, at, elementwise_tol)
    TESSERA_AD_UNARY(reciprocal, pa, elementwise_tol)
    TESSERA_AD_UNARY(sin, a, elementwise_tol)
    TESSERA_AD_UNARY(cos, a, elementwise_tol)
    TESSERA_AD_UNARY(erf, a, chained_tol)
    TESSERA_AD_UNARY(sigmoid, a, chained_tol)
    TESSERA_AD_UNARY(silu, a, chained_tol)
    TESSERA_AD_UNARY(softplus, a, chained_tol)
  }
#undef TESSERA_AD_UNARY
  check_grad<T>("clamp", {a}, elementwise_tol,
                [](const auto& v) { return ad::clamp(v[0], T(-1), T(0.5)); });
  check_grad<T>("sign, heaviside and comparisons (constants)", {a, b}, elementwise_tol,
                [](const auto& v) {
                  return v[0] * ad::sign(v[1]) + v[1] * ad::heaviside(v[0]) +
                         ad::gt(v[0], v[1]) * v[1] + ad::lt(v[0], v[1]) - ad::eq(v[0], v[0]);
                });
}

BOOST_AUTO_TEST_CASE(reduction_gradients_match_host) {
  using T = float;
  const tensor<T> x = uniform<T>({6, 300, 5}, 11);  // row, column and middle reductions
  const std::vector<shape_t> axes_list = {{}, {2}, {0}, {1}, {0, 2}};
  for (const shape_t& axes : axes_list)
    for (bool keepdim : {false, true}) {
      const std::string suffix = " over " + axes.str() + (keepdim ? ", keepdim" : "");
      check_grad<T>("sum" + suffix, {x}, summed_tol,
                    [&](const auto& v) { return ad::sum(v[0], axes, keepdim); });
      check_grad<T>("mean" + suffix, {x}, summed_tol,
                    [&](const auto& v) { return ad::mean(v[0], axes, keepdim); });
      check_grad<T>("variance" + suffix, {x}, summed_tol,
                    [&](const auto& v) { return ad::variance(v[0], axes, 1, keepdim); });
      check_grad<T>("max" + suffix, {x}, summed_tol,
                    [&](const auto& v) { return ad::max(v[0], axes, keepdim); });
      check_grad<T>("min" + suffix, {x}, summed_tol,
                    [&](const auto& v) { return ad::min(v[0], axes, keepdim); });
      check_grad<T>("logsumexp" + suffix, {x}, summed_tol,
                    [&](const auto& v) { return ad::logsumexp(v[0], axes, keepdim); });
      for (T p : {T(1), T(2), T(INFINITY)})
        check_grad<T>("norm p=" + std::to_string(p) + suffix, {x}, summed_tol,
                      [&](const auto& v) { return ad::norm(v[0], p, axes, keepdim); });
    }
  // Ties: the adjoint of max is split evenly among equal maxima; a zero lane of norm has
  // gradient 0.
  const tensor<T> ties = from_vector<T>({1, 3, 3, 2, 0, 0, 0, 0}, {2, 4});
  check_grad<T>("max with ties", {ties}, summed_tol,
                [](const auto& v) { return ad::max(v[0], shape_t{1}); });
  check_grad<T>("norm of a zero lane", {ties}, summed_tol,
                [](const auto& v) { return ad::norm(v[0], T(2), shape_t{1}); });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(matmul_gradients_match_host, T, scalar_types) {
  const tensor<T> a = uniform<T>({33, 65}, 21), b = uniform<T>({65, 17}, 22);
  const tensor<T> c = uniform<T>({65, 17}, 23);
  const tensor<T> batched = uniform<T>({3, 33, 65}, 24);
  const tensor<T> vec = uniform<T>({65}, 25);
  check_grad<T>("matmul", {a, b}, summed_tol, [](const auto& v) { return ad::matmul(v[0], v[1]); });
  check_grad<T>("matmul of transposed views", {a, b}, summed_tol, [](const auto& v) {
    return ad::matmul(ad::transpose(v[1], 0, 1), ad::transpose(v[0], 0, 1));
  });
  // a's adjoint is defined when the second product's rule runs: the β = 1 GEMM
  // (matmul_acc_) accumulates into it.
  check_grad<T>("matmul accumulating into an adjoint", {a, b, c}, summed_tol,
                [](const auto& v) { return ad::matmul(v[0], v[1]) + ad::matmul(v[0], v[2]); });
  check_grad<T>("matmul, batched lhs, broadcast rhs", {batched, b}, summed_tol,
                [](const auto& v) { return ad::matmul(v[0], v[1]); });
  // A matrix applied to a long batch (a pointwise layer): its gradient from matmul_batch_sum's
  // chunked kernel, on either side of the product.
  const tensor<T> w = uniform<T>({24, 40}, 26), xs = uniform<T>({4, 40, 600}, 27);
  const tensor<T> xr = uniform<T>({4, 600, 40}, 28);
  check_grad<T>("matmul, matrix · long batch", {w, xs}, summed_tol,
                [](const auto& v) { return ad::matmul(v[0], v[1]); });
  check_grad<T>("matmul, long batch · matrix", {xr, w}, summed_tol,
                [](const auto& v) { return ad::matmul(v[0], ad::transpose(v[1], 0, 1)); });
  check_grad<T>("matmul, vector rhs", {a, vec}, summed_tol,
                [](const auto& v) { return ad::matmul(v[0], v[1]); });
  check_grad<T>("matmul, vector · vector", {vec, vec}, summed_tol,
                [](const auto& v) { return ad::matmul(v[0], v[1]); });
}

BOOST_AUTO_TEST_CASE(nn_gradients_match_host) {
  using T = float;
  const tensor<T> x = uniform<T>({24, 40}, 31);
  const tensor<T> wide = uniform<T>({4, 1500}, 32);  // the block-per-row kernels
  const tensor<T> w = uniform<T>({40}, 33), bias = uniform<T>({40}, 34);
  for (int axis : {-1, 0}) {
    check_grad<T>("softmax axis " + std::to_string(axis), {x}, summed_tol,
                  [&](const auto& v) { return ad::softmax(v[0], axis); });
    check_grad<T>("log_softmax axis " + std::to_string(axis), {x}, summed_tol,
                  [&](const auto& v) { return ad::log_softmax(v[0], axis); });
  }
  check_grad<T>("softmax, long rows", {wide}, summed_tol,
                [](const auto& v) { return ad::softmax(v[0]); });
  check_grad<T>("layer_norm", {x, w, bias}, summed_tol,
                [](const auto& v) { return ad::layer_norm(v[0], v[1], v[2]); });
  check_grad<T>("layer_norm without affine", {wide}, summed_tol, [](const auto& v) {
    using V = typename std::decay_t<decltype(v)>::value_type;
    return ad::layer_norm(v[0], V(), V());
  });
  check_grad<T>("rms_norm", {x, w}, summed_tol,
                [](const auto& v) { return ad::rms_norm(v[0], v[1]); });
  check_grad<T>("mse_loss", {x, w}, summed_tol,
                [](const auto& v) { return ad::mse_loss(v[0], v[1]); });
  // The fused rules: gelu(a + b) (one pass each way) and A·B + C (C as the GEMM's operand).
  check_grad<T>("add_gelu, broadcast bias", {x, w}, summed_tol,
                [](const auto& v) { return ad::add_gelu(v[0], v[1]); });
  const tensor<T> wm = uniform<T>({40, 17}, 35), addend = uniform<T>({24, 17}, 36);
  const tensor<T> bias17 = uniform<T>({17}, 37);
  check_grad<T>("matmul_add", {x, wm, addend}, summed_tol,
                [](const auto& v) { return ad::matmul_add(v[0], v[1], v[2]); });
  check_grad<T>("matmul_add, broadcast addend", {x, wm, bias17}, summed_tol,
                [](const auto& v) { return ad::matmul_add(v[0], v[1], v[2]); });

  // Indexing, with repeated indices (the backward passes accumulate with atomicAdd on cuda).
  const tensor<index_t> rows = from_vector<index_t>({3, 0, 3, 23, 7, 3}, {6});
  const tensor<index_t> ids = from_vector<index_t>({1, 9, 0, 3, 3, 7}, {2, 3});
  const tensor<index_t> cols = from_vector<index_t>({0, 39, 5, 5, 12, 1, 0, 2}, {2, 4});
  const tensor<index_t> target = from_vector<index_t>(
      {0, 39, 5, 5, 12, 1, 0, 2, 7, 7, 30, 31, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {24});
  check_grad<T>("index_select axis 0", {x}, summed_tol, [&](const auto& v) {
    return ad::index_select(v[0], 0, to<space_of<std::decay_t<decltype(v)>>>(rows));
  });
  check_grad<T>("index_select axis 1", {x}, summed_tol, [&](const auto& v) {
    return ad::index_select(v[0], 1, to<space_of<std::decay_t<decltype(v)>>>(rows));
  });
  check_grad<T>("gather axis 1", {x}, summed_tol, [&](const auto& v) {
    return ad::gather(ad::slice(v[0], 0, 0, 2), 1, to<space_of<std::decay_t<decltype(v)>>>(cols));
  });
  check_grad<T>("embedding", {x}, summed_tol, [&](const auto& v) {
    return ad::embedding(v[0], to<space_of<std::decay_t<decltype(v)>>>(ids));
  });
  check_grad<T>("cross_entropy", {x}, summed_tol, [&](const auto& v) {
    return ad::cross_entropy(v[0], to<space_of<std::decay_t<decltype(v)>>>(target));
  });
}

BOOST_AUTO_TEST_CASE(view_gradients_match_host) {
  using T = float;
  const tensor<T> x = uniform<T>({5, 6, 7}, 41), y = uniform<T>({5, 2, 7}, 42);
  check_grad<T>("reshape, flatten, (un)squeeze", {x}, elementwise_tol, [](const auto& v) {
    return ad::squeeze(ad::unsqueeze(ad::reshape(ad::flatten(v[0]), shape_t{30, 7}), 1), 1) *
           ad::reshape(v[0], shape_t{30, 7});
  });
  check_grad<T>("expand and sum_to", {y}, summed_tol, [](const auto& v) {
    const auto e = ad::expand(ad::slice(v[0], 1, 0, 1), shape_t{3, 5, 4, 7});
    return ad::sum_to(e * e, shape_t{5, 1, 7});
  });
  check_grad<T>("transpose and permute", {x}, elementwise_tol, [](const auto& v) {
    return ad::permute(v[0], shape_t{2, 0, 1}) * ad::transpose(ad::transpose(v[0], 0, 2), 1, 2);
  });
  check_grad<T>("slice with step, select", {x}, elementwise_tol, [](const auto& v) {
    return ad::slice(v[0], 1, 1, 6, 2) * ad::unsqueeze(ad::select(v[0], 1, -1), 1);
  });
  check_grad<T>("concat, stack, split", {x, y}, summed_tol, [](const auto& v) {
    using V = typename std::decay_t<decltype(v)>::value_type;
    const V c = ad::concat(std::vector<V>{v[0], v[1]}, 1);  // (5, 8, 7)
    const std::vector<V> parts = ad::split(c, {3, 5}, 1);
    return ad::stack(std::vector<V>{ad::slice(parts[1], 1, 0, 3), parts[0]}, 0) * T(2);
  });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(second_order_matches_host, T, scalar_types) {
  // Differentiable gradients: the rules run under graph_context with cuda variables.
  const tensor<T> x = uniform<T>({12, 16}, 51), w = uniform<T>({16, 8}, 52);
  const tensor<T> dir = uniform<T>({12, 16}, 53);
  auto f = [&](const auto& xv) {
    using V = std::decay_t<decltype(xv)>;
    using S = typename V::space_type;
    const V h = ad::gelu(ad::matmul(xv, V(to<S>(w))));
    return ad::sum(ad::softmax(h) * ad::tanh(h)) + ad::sum(ad::log_softmax(xv, 0) * xv);
  };
  const tensor<T> ref = ad::hvp(f, x, dir);
  const tensor<T> got = to<host>(ad::hvp(f, to<cuda>(x), to<cuda>(dir)));
  BOOST_TEST_CONTEXT("ad::hvp on cuda (" << (std::is_same_v<T, float> ? "float" : "double")
                                         << ")") {
    BOOST_TEST(nmse(ref, got) <= summed_tol.of<T>() * 10, "NMSE " << nmse(ref, got));
  }
  // Gradient penalty: d/dx ‖∂y/∂x‖² through grad_graph.
  check_grad<T>("grad_graph gradient penalty", {x}, summed_tol, [](const auto& v) {
    const auto y = ad::sum(ad::relu(v[0]) * ad::sin(v[0]) + ad::square(ad::sigmoid(v[0])));
    const auto g = ad::grad_graph(y, {v[0]})[0];
    return ad::sum(g * g);
  });
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
