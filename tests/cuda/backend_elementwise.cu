// SPDX-License-Identifier: Apache-2.0
// Backend comparison of elementwise ops: every unary, binary, comparison, where, clamp,
// tensor-scalar and in-place op on host and cuda, on contiguous data with an odd tail,
// transposed views, broadcasts, rank 0 and empty tensors, in float and double.
// Boost.Test first: under nvcc, <boost/mpl/list.hpp> included before it turns off the
// variadic BOOST_TEST forms.
#include <boost/test/unit_test.hpp>
#include <string>

#include <boost/mpl/list.hpp>

#include "backend_support.hpp"

namespace tessera::test {
namespace {

using scalar_types = boost::mpl::list<float, double>;

// Shapes every unary op runs on: a contiguous vector whose length is not a multiple of the
// vector width, a transposed (strided) view, a rank-0 tensor and an empty one.
template <class T>
std::vector<tensor<T>> unary_inputs(T lo, T hi) {
  return {uniform<T>({1023}, 1, lo, hi), uniform<T>({33, 17}, 2, lo, hi).transpose(0, 1),
          uniform<T>({}, 3, lo, hi), uniform<T>({0, 5}, 4, lo, hi)};
}

#define TESSERA_CHECK_UNARY(name, lo, hi, tol)        \
  for (const auto& x : unary_inputs<T>(T(lo), T(hi))) \
    check_op<T>(#name, {x}, tol, [](const auto& in) { return name(in[0]); });

BOOST_AUTO_TEST_SUITE(cuda_backend_elementwise)

BOOST_AUTO_TEST_CASE_TEMPLATE(unary_ops_match_host, T, scalar_types) {
  const tolerance exact{0, 0};
  const tolerance libm{};  // device transcendentals are within a few ulps of glibc's
  // Every op in float; in double a subset that covers the double vector width, exact
  // arithmetic and the double transcendentals (each op instantiated in double costs compile
  // time in CI, and the kernels are the same templates).
  TESSERA_CHECK_UNARY(neg, -3, 3, exact)
  TESSERA_CHECK_UNARY(sqrt, 0.01, 9, exact)  // correctly rounded on both sides
  TESSERA_CHECK_UNARY(exp, -20, 20, libm)
  TESSERA_CHECK_UNARY(log1p, -0.9, 9, libm)
  TESSERA_CHECK_UNARY(tanh, -5, 5, libm)
  TESSERA_CHECK_UNARY(gelu, -5, 5, libm)
  if constexpr (std::is_same_v<T, float>) {
    TESSERA_CHECK_UNARY(abs, -3, 3, exact)
    TESSERA_CHECK_UNARY(sign, -3, 3, exact)
    TESSERA_CHECK_UNARY(square, -3, 3, exact)
    TESSERA_CHECK_UNARY(relu, -3, 3, exact)
    TESSERA_CHECK_UNARY(heaviside, -3, 3, exact)
    TESSERA_CHECK_UNARY(reciprocal, 0.1, 9, exact)
    TESSERA_CHECK_UNARY(expm1, -3, 3, libm)
    TESSERA_CHECK_UNARY(log, 0.001, 100, libm)
    TESSERA_CHECK_UNARY(rsqrt, 0.01, 9, libm)
    TESSERA_CHECK_UNARY(sin, -6, 6, libm)
    TESSERA_CHECK_UNARY(cos, -6, 6, libm)
    TESSERA_CHECK_UNARY(erf, -3, 3, libm)
    TESSERA_CHECK_UNARY(sigmoid, -30, 30, libm)
    TESSERA_CHECK_UNARY(gelu_tanh, -5, 5, libm)
    TESSERA_CHECK_UNARY(silu, -30, 30, libm)
    TESSERA_CHECK_UNARY(softplus, -30, 30, libm)
  }
  for (const auto& x : unary_inputs<T>(T(0.1), T(3))) {
    check_op<T>("x * s", {x}, exact, [](const auto& in) { return in[0] * T(-3); });
    if constexpr (std::is_same_v<T, float>) {
      check_op<T>("pow scalar", {x}, libm, [](const auto& in) { return pow(in[0], T(2.5)); });
      check_op<T>("pow 2", {x}, exact, [](const auto& in) { return pow(in[0], T(2)); });
      check_op<T>("clamp", {x}, exact, [](const auto& in) { return clamp(in[0], T(0.5), T(2)); });
      check_op<T>("inside_mask", {x}, exact,
                  [](const auto& in) { return inside_mask(in[0], T(0.5), T(2)); });
      check_op<T>("x + s", {x}, exact, [](const auto& in) { return in[0] + T(1.5); });
      check_op<T>("s - x", {x}, exact, [](const auto& in) { return T(1.5) - in[0]; });
      check_op<T>("s / x", {x}, exact, [](const auto& in) { return T(2) / in[0]; });
      check_op<T>("x / s", {x}, exact, [](const auto& in) { return in[0] / T(4); });
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(binary_ops_broadcast_like_host, T, scalar_types) {
  const tolerance exact{0, 0};
  // (lhs, rhs) pairs: same shape with an odd tail, row and column broadcasts, an outer
  // product, a transposed operand, a rank-0 operand, and an empty broadcast.
  const std::vector<std::pair<tensor<T>, tensor<T>>> pairs = {
      {uniform<T>({257, 3}, 10), uniform<T>({257, 3}, 11)},
      {uniform<T>({64, 48}, 12), uniform<T>({48}, 13)},
      {uniform<T>({64, 48}, 14), uniform<T>({64, 1}, 15)},
      {uniform<T>({31, 1}, 16), uniform<T>({1, 29}, 17)},
      {uniform<T>({20, 30}, 18).transpose(0, 1), uniform<T>({30, 20}, 19)},
      {uniform<T>({2, 3, 5, 7}, 20), uniform<T>({}, 21)},
      {uniform<T>({0, 4}, 22), uniform<T>({4}, 23)},
      // Run biases on a contiguous tensor (the vectorised run kernel): per channel (C, 1) and
      // (1, C, 1), a scalar of rank 1, and runs that are not a multiple of the pack width
      // (the n-d kernel).
      {uniform<T>({4, 6, 8}, 24), uniform<T>({6, 1}, 25)},
      {uniform<T>({3, 6, 40}, 26), uniform<T>({1, 6, 1}, 27)},
      {uniform<T>({5, 12}, 28), uniform<T>({1}, 29)},
      {uniform<T>({3, 5, 6}, 30), uniform<T>({5, 1}, 31)},
  };
  for (const auto& [a, b] : pairs) {
    const std::vector<tensor<T>> in{a, b};
    check_op<T>("add", in, exact, [](const auto& v) { return v[0] + v[1]; });
    check_op<T>("div", in, exact, [](const auto& v) { return v[0] / v[1]; });
    check_op<T>("where", {gt(a, b), a, b}, exact,
                [](const auto& v) { return where(v[0], v[1], v[2]); });
    if constexpr (std::is_same_v<T, float>) {  // double: the subset above
      check_op<T>("sub", in, exact, [](const auto& v) { return v[0] - v[1]; });
      check_op<T>("mul", in, exact, [](const auto& v) { return v[0] * v[1]; });
      check_op<T>("maximum", in, exact, [](const auto& v) { return maximum(v[0], v[1]); });
      check_op<T>("minimum", in, exact, [](const auto& v) { return minimum(v[0], v[1]); });
      check_op<T>("lt", in, exact, [](const auto& v) { return lt(v[0], v[1]); });
      check_op<T>("le", in, exact, [](const auto& v) { return le(v[0], v[1]); });
      check_op<T>("gt", in, exact, [](const auto& v) { return gt(v[0], v[1]); });
      check_op<T>("ge", in, exact, [](const auto& v) { return ge(v[0], v[1]); });
      check_op<T>("eq", {a, a}, exact, [](const auto& v) { return eq(v[0], v[1]); });
      check_op<T>("ne", in, exact, [](const auto& v) { return ne(v[0], v[1]); });
      check_op<T>("pow", {abs(a), b}, tolerance{}, [](const auto& v) { return pow(v[0], v[1]); });
      check_op<T>("add_gelu", in, tolerance{}, [](const auto& v) { return add_gelu(v[0], v[1]); });
      check_op<T>("add_gelu_backward", {b, a, b}, tolerance{},
                  [](const auto& v) { return add_gelu_backward(v[0], v[1], v[2]); });
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(in_place_updates_match_host, T, scalar_types) {
  const tolerance exact{0, 0};
  // Inputs are cloned inside the body so the host and cuda runs both start from them.
  const std::vector<tensor<T>> in{uniform<T>({65, 33}, 30), uniform<T>({33}, 31)};
  check_op<T>("add_", in, exact, [](const auto& v) {
    auto d = v[0].clone();
    add_(d, v[1]);
    return d;
  });
  check_op<T>("axpy_", in, tolerance{}, [](const auto& v) {  // the device may fuse the FMA
    auto d = v[0].clone();
    axpy_(d, T(-0.5), v[1]);
    return d;
  });
  check_op<T>("scale_ on a strided view", in, exact, [](const auto& v) {
    auto d = v[0].clone();
    scale_(d.transpose(0, 1).slice(0, 1, 30, 3), T(3));
    return d;
  });
  check_op<T>("copy_from broadcast into a slice", in, exact, [](const auto& v) {
    auto d = v[0].clone();
    d.slice(0, 10, 20).copy_from(v[1]);
    return d;
  });
  check_op<T>("fill_ a column", in, exact, [](const auto& v) {
    auto d = v[0].clone();
    d.select(1, 7).fill_(T(9));
    return d;
  });
}

BOOST_AUTO_TEST_CASE(bad_shapes_throw_like_host) {
  const auto a = to<cuda>(uniform<float>({3, 4}, 1));
  const auto b = to<cuda>(uniform<float>({5}, 2));
  BOOST_CHECK_THROW(add(a, b), invalid_argument);
  BOOST_CHECK_THROW(add_(b, a), invalid_argument);
  BOOST_CHECK_THROW(clamp(a, 1.f, 0.f), invalid_argument);
  // An undefined tensor is refused by name, as on the host (a launch read null before).
  const tensor<float, cuda> none;
  BOOST_CHECK_THROW(exp(none), invalid_argument);
  BOOST_CHECK_THROW(add(a, none), invalid_argument);
  BOOST_CHECK_THROW(add_(none, a), invalid_argument);
}

BOOST_AUTO_TEST_CASE(undefined_tensors_are_refused_by_name_before_any_launch) {
  // An undefined tensor's rank-0 shape says one element: before these checks, reductions,
  // casts, transfers and optimizer updates launched on its null pointer.
  const auto refused = [](const char* fn, auto&& call) {
    try {
      call();
      BOOST_ERROR(fn << " accepted an undefined tensor");
    } catch (const invalid_argument& e) {
      const std::string m = e.what();
      BOOST_TEST(m.find(fn) != std::string::npos, m);
      BOOST_TEST(m.find("undefined tensor") != std::string::npos, m);
    }
  };
  const tensor<float, cuda> none;
  const tensor<float> host_none;
  refused("sum", [&] { (void)sum(none); });
  refused("mean", [&] { (void)mean(none); });
  refused("max", [&] { (void)max(none); });
  refused("norm", [&] { (void)norm(none, 2.f); });
  refused("all_finite", [&] { (void)all_finite(none); });
  refused("logsumexp", [&] { (void)logsumexp(none); });
  refused("cast", [&] { (void)cast<double>(none); });
  refused("cast", [&] { (void)cast<__nv_bfloat16>(none); });
  refused("to", [&] { (void)to<host>(none); });
  refused("to", [&] { (void)to<cuda>(host_none); });
  const auto p = zeros<float, cuda>({4});
  const auto c = optim::adam_coefficients_for<float>(1e-2f, 0.9f, 0.999f, 1e-8f, 0.f, false, 1);
  refused("optim::adam_update_", [&] {
    optim::adam_update_(p, none, p.clone(), p.clone(), none, c, false, false, false);
  });
  refused("optim::adam_update_",
          [&] { optim::adam_update_(none, none, none, none, none, c, false, false, false); });
  const optim::detail::sgd_coefficients<float> sc{0.1f, 0.f, 0.f, 1.f};
  refused("optim::sgd_update_",
          [&] { optim::sgd_update_(none, none, none, sc, false, false, false, false, nullptr); });
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
