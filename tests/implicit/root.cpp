// SPDX-License-Identifier: Apache-2.0
// implicit::root: g(z, θ) = z³ − θ has z* = θ^{1/3} and dz*/dθ = 1 / (3 z*²), through every
// forward solver and adjoint solver.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace implicit_test;
namespace im = tessera::implicit;

BOOST_AUTO_TEST_SUITE(implicit)
BOOST_AUTO_TEST_SUITE(root)

namespace {

dvar cube_minus(const dvar& z, const std::vector<dvar>& th) { return z * z * z - th[0]; }

const std::vector<double> thetas = {1, 8, 27, 0.5, 2};

void check_cube_root(const im::root_options& o, const shape_t& shape) {
  ad::scope s;
  const dvar theta(from_vector<double>(thetas, shape), true);
  auto r = im::root(cube_minus, ones<double>(shape), {theta}, o);
  BOOST_TEST(r.info.converged);
  ad::backward(ad::sum(r.z));
  for (index_t i = 0; i < theta.numel(); ++i) {
    const double t = thetas[std::size_t(i)], z = std::cbrt(t);
    BOOST_TEST(r.z.value().flat(i) == z, boost::test_tools::tolerance(1e-11));
    BOOST_TEST(theta.grad().flat(i) == 1 / (3 * z * z), boost::test_tools::tolerance(1e-9));
  }
  if (o.backward.mode == im::backward_mode::implicit) BOOST_TEST(r.adjoint->converged);
}

}  // namespace

BOOST_AUTO_TEST_CASE(broyden_on_each_sample_is_a_secant_method) {
  im::root_options o;
  o.solver = {.method = im::solver_method::broyden,
              .max_iter = 100,
              .abs_tol = 1e-13,
              .rel_tol = 0,
              .batched = true};
  o.backward.abs_tol = 1e-14;
  o.alpha = 0.02;
  check_cube_root(o, {5, 1});
}

BOOST_AUTO_TEST_CASE(every_solver_and_adjoint) {
  // f(z) = z − α (z³ − θ) is a contraction near every root for α = 0.02.
  for (auto sm :
       {im::solver_method::picard, im::solver_method::anderson, im::solver_method::broyden})
    for (auto am :
         {im::adjoint_method::picard, im::adjoint_method::anderson, im::adjoint_method::gmres}) {
      BOOST_TEST_CONTEXT("solver " << int(sm) << ", adjoint " << int(am)) {
        im::root_options o;
        o.solver = {.method = sm, .max_iter = 3000, .abs_tol = 1e-13, .rel_tol = 0};
        o.backward = {.method = am, .max_iter = 3000, .abs_tol = 1e-14, .rel_tol = 0};
        o.alpha = 0.02;
        check_cube_root(o, {5});
      }
    }
}

BOOST_AUTO_TEST_CASE(residuals_are_reported_in_units_of_g) {
  im::root_options o;
  o.solver = {.method = im::solver_method::picard, .max_iter = 1, .abs_tol = 0, .rel_tol = 0};
  o.alpha = 0.25;
  ad::scope s;
  const dvar theta(from_vector<double>({27}, {1}), true);
  auto r = im::root(cube_minus, ones<double>({1}), {theta}, o);
  BOOST_TEST(r.info.residual == 26.0, boost::test_tools::tolerance(1e-14));  // |1 − 27|
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
