// SPDX-License-Identifier: Apache-2.0
// Gradients of the differentiable transforms of tessera::spectral against central finite
// differences in double (the "factor 2" of the real-FFT adjoints included), and second order:
// Hessian-vector products through compositions, which run every rule on variables.
#include <boost/test/unit_test.hpp>

#include <string>

#include "../ad/gradcheck.hpp"
#include "tessera/spectral/ad_fft.hpp"

using namespace tessera;
using namespace tessera::test;
namespace sp = tessera::spectral;
namespace tad = tessera::ad;

namespace {
void expect_pass(const check_result& r) {
  BOOST_TEST(r.checked > 0);
  BOOST_TEST(r.failures == 0, r.first);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(spectral)
BOOST_AUTO_TEST_SUITE(fft_grad)

BOOST_AUTO_TEST_CASE(complex_transforms) {
  generator gen(21);
  const dtensor x = normal(shape_t{3, 5, 2}, gen);
  for (int axis : {0, 1, -1}) {
    const std::string a = " axis " + std::to_string(axis);
    expect_pass(gradcheck(
        "fft" + a, [axis](const dvar& v) { return sp::fft(v, axis); }, x));
    expect_pass(gradcheck(
        "ifft" + a, [axis](const dvar& v) { return sp::ifft(v, axis); }, x));
  }
  expect_pass(gradcheck(
      "fft strided", [](const dvar& v) { return sp::fft(v, 0); }, dtensor(x.transpose(0, 1))));
}

BOOST_AUTO_TEST_CASE(real_transforms_odd_and_even) {
  generator gen(22);
  for (index_t n : {1, 2, 5, 6, 7, 8}) {
    const std::string at = " n " + std::to_string(n);
    const dtensor x = normal(shape_t{3, n}, gen);
    expect_pass(gradcheck(
        "rfft" + at, [](const dvar& v) { return sp::rfft(v); }, x));
    expect_pass(gradcheck(
        "rfft axis 0" + at, [](const dvar& v) { return sp::rfft(v, 0); },
        dtensor(x.transpose(0, 1).clone())));
    // irfft from exactly n/2+1 bins; the imaginary DC/Nyquist parts get zero gradient.
    const dtensor X = normal(shape_t{2, n / 2 + 1, 2}, gen);
    expect_pass(gradcheck(
        "irfft" + at, [n](const dvar& v) { return sp::irfft(v, -1, n); }, X));
    expect_pass(gradcheck(
        "irfft axis 0" + at, [n](const dvar& v) { return sp::irfft(v, 0, n); },
        dtensor(X.transpose(0, 1).clone())));
  }
  // irfft cropping extra bins (no gradient there) and zero-padding missing ones.
  const dtensor X = normal(shape_t{2, 5, 2}, gen);
  expect_pass(gradcheck(
      "irfft crop", [](const dvar& v) { return sp::irfft(v, -1, 6); }, X));
  expect_pass(gradcheck(
      "irfft pad", [](const dvar& v) { return sp::irfft(v, -1, 11); }, X));
  expect_pass(gradcheck(
      "irfft default n", [](const dvar& v) { return sp::irfft(v); }, X));
}

BOOST_AUTO_TEST_CASE(real_adjoint_has_the_factor_two) {
  // For y = irfft(X) with n = 6 the interior bins enter twice (c_k = 2), DC and Nyquist once,
  // and the imaginary parts of DC and Nyquist not at all: X̄ = rfft(ȳ)·c_k/n.
  tad::scope s;
  const dvar X(zeros<double>(shape_t{4, 2}), true);
  const dtensor ybar = from_vector<double>({1, 0, 0, 0, 0, 0}, shape_t{6});  // picks y_0
  tad::backward(sp::irfft(X, -1, 6), ybar);
  const dtensor g = X.grad();
  const double expect[4][2] = {{1.0 / 6, 0}, {2.0 / 6, 0}, {2.0 / 6, 0}, {1.0 / 6, 0}};
  for (index_t k = 0; k < 4; ++k)
    for (index_t p = 0; p < 2; ++p) BOOST_TEST(std::abs(g(k, p) - expect[k][p]) < 1e-15);
}

BOOST_AUTO_TEST_CASE(n_dimensional_compositions) {
  generator gen(23);
  const dtensor x = normal(shape_t{2, 4, 5}, gen);
  expect_pass(gradcheck(
      "rfft2", [](const dvar& v) { return sp::rfft2(v); }, x));
  expect_pass(gradcheck(
      "rfftn", [](const dvar& v) { return sp::rfftn(v); }, x));
  expect_pass(gradcheck(
      "rfftn axes (2, 0)",
      [](const dvar& v) {
        return sp::rfftn(v, shape_t{2, 0});
      },
      x));
  const dtensor X = normal(shape_t{2, 4, 3, 2}, gen);
  expect_pass(gradcheck(
      "irfft2 odd",
      [](const dvar& v) {
        return sp::irfft2(v, shape_t{4, 5});
      },
      X));
  expect_pass(gradcheck(
      "irfft2 even", [](const dvar& v) { return sp::irfft2(v); }, X));
  expect_pass(gradcheck(
      "irfftn",
      [](const dvar& v) {
        return sp::irfftn(v, shape_t{0, 1, 2});
      },
      X));
  expect_pass(gradcheck(
      "fftn", [](const dvar& v) { return sp::fftn(v); }, X));
  expect_pass(gradcheck(
      "ifftn",
      [](const dvar& v) {
        return sp::ifftn(v, shape_t{1, 0});
      },
      X));
  expect_pass(gradcheck(
      "fft2", [](const dvar& v) { return sp::fft2(v); }, X));
  expect_pass(gradcheck(
      "ifft2", [](const dvar& v) { return sp::ifft2(v); }, X));
}

BOOST_AUTO_TEST_CASE(second_order_through_compositions) {
  generator gen(24);
  // Non-linear in the spectrum, so every transform rule runs again on variables.
  const dtensor x = normal(shape_t{2, 4, 5}, gen, 0.5);
  expect_pass(hvpcheck(
      "irfft2(tanh(rfft2 x))",
      [](const dvar& v) {
        return sp::irfft2(tad::tanh(sp::rfft2(v)), shape_t{4, 5});
      },
      x));
  const dtensor xc = normal(shape_t{3, 6, 2}, gen, 0.5);
  expect_pass(hvpcheck(
      "ifft(square(fft x))", [](const dvar& v) { return sp::ifft(tad::square(sp::fft(v, 1)), 1); },
      xc));
  expect_pass(hvpcheck(
      "rfft(x)·irfft(square(rfft x)) odd",
      [](const dvar& v) { return sp::irfft(tad::square(sp::rfft(v)), -1, 7) * v; },
      normal(shape_t{2, 7}, gen, 0.5)));
  // A gradient penalty: d/dx ‖∇ₓ Σ irfft(rfft(x)²)‖².
  expect_pass(gradcheck(
      "gradient penalty",
      [](const dvar& v) {
        const dvar inner = tad::sum(tad::sin(sp::irfft(tad::square(sp::rfft(v)), -1, 6)));
        return tad::sum(tad::square(tad::grad_graph(inner, {v})[0]));
      },
      normal(shape_t{6}, gen, 0.5)));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
