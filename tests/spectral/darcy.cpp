// SPDX-License-Identifier: Apache-2.0
// tessera::pde Darcy data: the Poisson value max u ≈ 0.0737, second-order convergence on a
// manufactured solution with variable coefficients, the thresholded Gaussian random field,
// agreement of a fine and a coarse solve, and determinism per seed.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <numbers>

#include "tessera/core.hpp"
#include "tessera/ops.hpp"
#include "tessera/pde/darcy.hpp"

using namespace tessera;

namespace {

constexpr double pi = std::numbers::pi;

/// max |u_h - u| at the nodes for u = sin(πx)sin(πy), a = 1 + x² + y/2, f = -∇·(a∇u).
double manufactured_error(index_t K) {
  const double h = 1.0 / static_cast<double>(K - 1);
  tensor<double> a(shape_t{K, K}), f(shape_t{K, K}), exact(shape_t{K, K});
  for (index_t i = 0; i < K; ++i)
    for (index_t j = 0; j < K; ++j) {
      const double x = static_cast<double>(i) * h, y = static_cast<double>(j) * h;
      const double u = std::sin(pi * x) * std::sin(pi * y);
      const double ux = pi * std::cos(pi * x) * std::sin(pi * y);
      const double uy = pi * std::sin(pi * x) * std::cos(pi * y);
      const double av = 1 + x * x + 0.5 * y;
      a(i, j) = av;
      f(i, j) = -(2 * x * ux + 0.5 * uy) + 2 * pi * pi * av * u;
      exact(i, j) = u;
    }
  const tensor<double> uh = tessera::pde::solve_darcy(a, f);
  return max(abs(uh - exact)).item();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pde)
BOOST_AUTO_TEST_SUITE(darcy)

BOOST_AUTO_TEST_CASE(poisson_maximum) {
  // -Δu = 1 on the unit square: max u = 0.0736713... (series solution).
  const tensor<double> u = tessera::pde::solve_darcy(ones<double>(shape_t{129, 129}));
  BOOST_TEST(std::abs(max(u).item() - 0.07367135) < 2e-5);
  BOOST_TEST(u(64, 64) == max(u).item());  // the centre
  BOOST_TEST(u(0, 17) == 0.0);
  BOOST_TEST(u(128, 128) == 0.0);
}

BOOST_AUTO_TEST_CASE(second_order_convergence) {
  const double e1 = manufactured_error(17), e2 = manufactured_error(33),
               e3 = manufactured_error(65);
  BOOST_TEST_MESSAGE("manufactured errors " << e1 << " " << e2 << " " << e3);
  BOOST_TEST(e1 / e2 > 3.6);
  BOOST_TEST(e1 / e2 < 4.4);
  BOOST_TEST(e2 / e3 > 3.6);
  BOOST_TEST(e2 / e3 < 4.4);
  BOOST_TEST(e3 < 1e-3);
}

BOOST_AUTO_TEST_CASE(thresholded_field_is_about_half_high) {
  generator gen(61);
  const tensor<double> U = tessera::pde::gaussian_random_field<double>(32, 33, gen);
  BOOST_TEST((U.shape() == shape_t{32, 33, 33}));
  // Zero mean (L_00 = 0): the thresholded field is 12 on about half of the pixels.
  const tensor<double> a = tessera::pde::threshold_field(U);
  double high = 0;
  for (index_t i = 0; i < a.numel(); ++i) {
    BOOST_REQUIRE(a.data()[i] == 12.0 || a.data()[i] == 3.0);
    high += a.data()[i] == 12.0;
  }
  high /= static_cast<double>(a.numel());
  BOOST_TEST(high > 0.4);
  BOOST_TEST(high < 0.6);
  // Per sample the mean of U is zero (up to rounding): the DC coefficient is dropped.
  for (index_t s = 0; s < 32; ++s)
    BOOST_TEST(std::abs(mean(U.select(0, s)).item()) < 1e-12 * max(abs(U.select(0, s))).item());
}

BOOST_AUTO_TEST_CASE(fine_and_coarse_solves_agree) {
  generator gen(62);
  const tessera::pde::darcy_data<double> fine = tessera::pde::generate_darcy(1, 211, gen);
  const tensor<double> a211 = fine.a.select(0, 0), u211 = fine.u.select(0, 0);
  const tensor<double> a106 = a211.slice(0, 0, 211, 2).slice(1, 0, 211, 2).clone();
  const tensor<double> u106 = tessera::pde::solve_darcy(a106);
  const tensor<double> shared = u211.slice(0, 0, 211, 2).slice(1, 0, 211, 2).clone();
  const double rel = norm(u106 - shared).item() / norm(shared).item();
  BOOST_TEST_MESSAGE("211 vs 106 relative L2 difference " << rel);
  BOOST_TEST(rel < 1e-2);
  BOOST_TEST(max(u211).item() > 0.005);
  BOOST_TEST(max(u211).item() < 0.03);
}

BOOST_AUTO_TEST_CASE(generate_is_deterministic_per_seed) {
  generator g1(63), g2(63), g3(64);
  const auto d1 = tessera::pde::generate_darcy<float>(3, 20, g1);
  const auto d2 = tessera::pde::generate_darcy<float>(3, 20, g2);
  const auto d3 = tessera::pde::generate_darcy<float>(3, 20, g3);
  BOOST_TEST((d1.a.shape() == shape_t{3, 20, 20}));
  BOOST_TEST(max(abs(d1.u - d2.u)).item() == 0.0f);
  BOOST_TEST(max(abs(d1.a - d2.a)).item() == 0.0f);
  BOOST_TEST(max(abs(d1.u - d3.u)).item() > 0.0f);
  // The same samples come out whatever the sample count: sample s uses stream s.
  generator g4(63);
  const auto d4 = tessera::pde::generate_darcy<float>(1, 20, g4);
  BOOST_TEST(max(abs(d4.u.select(0, 0) - d1.u.select(0, 0))).item() == 0.0f);
  // Typical pressures of the FNO Darcy data (a ∈ {3, 12}).
  for (index_t s = 0; s < 3; ++s) {
    BOOST_TEST(max(d1.u.select(0, s)).item() > 0.004f);
    BOOST_TEST(max(d1.u.select(0, s)).item() < 0.03f);
  }
}

BOOST_AUTO_TEST_CASE(errors) {
  BOOST_CHECK_THROW(tessera::pde::solve_darcy(ones<double>(shape_t{2, 2})), invalid_argument);
  BOOST_CHECK_THROW(tessera::pde::solve_darcy(ones<double>(shape_t{4, 5})), invalid_argument);
  tensor<double> a = ones<double>(shape_t{5, 5});
  a(2, 2) = -1.0;
  BOOST_CHECK_THROW(tessera::pde::solve_darcy(a), invalid_argument);
  BOOST_CHECK_THROW(tessera::pde::solve_darcy(ones<double>(shape_t{40, 40}),
                                              {.tolerance = 1e-14, .max_iterations = 2}),
                    domain_error);
  generator gen(0);
  BOOST_CHECK_THROW(tessera::pde::gaussian_random_field<double>(-1, 8, gen), invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
