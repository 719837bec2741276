// SPDX-License-Identifier: Apache-2.0
// Bad input to tessera::implicit throws tessera::invalid_argument naming the function, the
// argument and the value: mismatched shapes from f, negative tolerances, m = 0, and so on.
#include <boost/test/unit_test.hpp>

#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"

using namespace implicit_test;
namespace im = tessera::implicit;

BOOST_AUTO_TEST_SUITE(implicit)
BOOST_AUTO_TEST_SUITE(errors)

namespace {

/// Runs `fn`, expecting tessera::invalid_argument whose message holds every part of `parts`.
template <class Fn>
void expect_invalid(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    BOOST_ERROR("no exception; expected one mentioning " << parts.front());
  } catch (const tessera::invalid_argument& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) BOOST_TEST(msg.find(p) != std::string::npos, msg << " lacks " << p);
  }
}

dvar tanh_map(const dvar& z, const std::vector<dvar>& th) { return ad::tanh(z * th[0]); }

}  // namespace

BOOST_AUTO_TEST_CASE(f_returning_another_shape) {
  ad::scope s;
  const dvar w(full<double>({3}, 0.5), true);
  const auto bad = [](const dvar& z, const std::vector<dvar>& th) {
    return ad::sum(z * th[0]);  // a scalar, not z's shape
  };
  expect_invalid([&] { (void)im::fixed_point(bad, zeros<double>({3}), {w}); },
                 {"tessera::implicit::fixed_point", "f returned shape", "(3)"});
  im::options o;
  o.backward.mode = im::backward_mode::unroll;
  expect_invalid([&] { (void)im::fixed_point(bad, zeros<double>({3}), {w}, o); },
                 {"implicit::fixed_point", "f returned shape"});
  expect_invalid([&] { (void)im::root(bad, zeros<double>({3}), {w}); },
                 {"implicit::root", "g returned shape"});
  expect_invalid(
      [&] {
        (void)im::solve([](const dtensor& z) { return z.reshape({1, 3}); }, zeros<double>({3}));
      },
      {"implicit::solve", "f returned shape (1,3)", "shape (3)"});
}

BOOST_AUTO_TEST_CASE(invalid_solver_settings) {
  ad::scope s;
  const dvar w(full<double>({3}, 0.5), true);
  const auto run = [&](im::solver_options so) {
    (void)im::fixed_point(tanh_map, zeros<double>({3}), {w}, {.solver = so});
  };
  expect_invalid([&] { run({.abs_tol = -1e-8}); },
                 {"implicit::fixed_point", "solver.abs_tol", "-1e-08"});
  expect_invalid([&] { run({.rel_tol = -1}); }, {"solver.rel_tol", "-1"});
  expect_invalid([&] { run({.rel_tol = std::numeric_limits<double>::quiet_NaN()}); },
                 {"solver.rel_tol"});
  expect_invalid([&] { run({.history = 0}); }, {"history", "0", "at least 1"});
  expect_invalid([&] { run({.max_iter = 0}); }, {"solver.max_iter", "0"});
  expect_invalid([&] { run({.damping = 0}); }, {"solver.damping", "(0, 1]"});
  expect_invalid([&] { run({.lambda = -1}); }, {"lambda", "-1"});
  expect_invalid([&] { run({.mixing = 1.5}); }, {"mixing", "1.5"});
  expect_invalid([&] { run({.broyden_memory = 0}); }, {"broyden_memory"});
  expect_invalid([&] { run({.broyden_restart = 1}); }, {"broyden_restart"});
  // Sizes with no use but memory: a history of 100000 asked for 80 GB before any iteration.
  expect_invalid([&] { run({.history = 100000}); },
                 {"solver.history (Anderson m) = 100000", "at most 1024"});
  expect_invalid([&] { run({.broyden_memory = 2147483647}); },
                 {"solver.broyden_memory = 2147483647", "at most 1024"});
  expect_invalid(
      [] {
        (void)im::solve([](const dtensor& z) { return z; }, zeros<double>({2}), {.history = 0});
      },
      {"implicit::solve", "history"});
}

BOOST_AUTO_TEST_CASE(invalid_backward_settings) {
  ad::scope s;
  const dvar w(full<double>({3}, 0.5), true);
  const auto run = [&](im::backward_options bo) {
    (void)im::fixed_point(tanh_map, zeros<double>({3}), {w}, {.backward = bo});
  };
  expect_invalid([&] { run({.abs_tol = -1}); }, {"backward.abs_tol"});
  expect_invalid([&] { run({.restart = 0}); }, {"backward.restart"});
  // (m + 1)·m overflowed int above 46340.
  expect_invalid([&] { run({.restart = 200000}); }, {"backward.restart = 200000", "at most 4096"});
  expect_invalid(
      [] {
        (void)im::gmres([](const dtensor& x) { return x; }, ones<double>({2}), {.restart = 50000});
      },
      {"implicit::gmres", "restart = 50000", "at most 4096"});
  expect_invalid([&] { run({.phantom_steps = 0}); }, {"backward.phantom_steps"});
  expect_invalid([&] { run({.phantom_tau = 0}); }, {"backward.phantom_tau"});
  expect_invalid([&] { run({.unroll_steps = 0}); }, {"backward.unroll_steps"});
  expect_invalid([&] { run({.max_iter = -3}); }, {"backward.max_iter", "-3"});
  // GMRES needs a VJP for its Krylov step and one for the true residual: with one it returned
  // w = 0 (a zero gradient) without a word. The other adjoint methods take a budget of one.
  expect_invalid([&] { run({.max_iter = 1}); },
                 {"implicit::fixed_point", "backward.max_iter (GMRES adjoint) = 1", "at least 2"});
  BOOST_CHECK_NO_THROW(run({.method = im::adjoint_method::picard, .max_iter = 1}));
  BOOST_CHECK_NO_THROW(run({.mode = im::backward_mode::phantom, .max_iter = 1}));
}

BOOST_AUTO_TEST_CASE(invalid_inputs) {
  ad::scope s;
  const dvar w(full<double>({3}, 0.5), true);
  expect_invalid([&] { (void)im::fixed_point(tanh_map, dtensor(), {w}); },
                 {"implicit::fixed_point", "z0", "undefined"});
  expect_invalid([&] { (void)im::fixed_point(tanh_map, zeros<double>({0}), {w}); },
                 {"z0 of shape (0)", "no elements"});
  dtensor nan0 = zeros<double>({3});
  nan0(1) = std::numeric_limits<double>::quiet_NaN();
  expect_invalid([&] { (void)im::fixed_point(tanh_map, nan0, {w}); },
                 {"z0", "non-finite", "index 1"});
  expect_invalid(
      [&] {
        (void)im::fixed_point(tanh_map, zeros<double>({3}), {w, dvar()});
      },
      {"params[1]", "undefined"});
  expect_invalid(
      [&] { (void)im::fixed_point(tanh_map, scalar(0.0), {w}, {.solver = {.batched = true}}); },
      {"batched", "scalar"});
  expect_invalid([&] { (void)im::root(tanh_map, zeros<double>({3}), {w}, {.alpha = 0}); },
                 {"implicit::root", "alpha = 0"});
  generator gen(0);
  expect_invalid([&] { (void)im::jacobian_penalty(tanh_map, zeros<double>({3}), {w}, gen, 0); },
                 {"implicit::jacobian_penalty", "samples = 0"});
  expect_invalid(
      [&] {
        ad::no_grad ng;
        (void)im::jacobian_penalty(tanh_map, zeros<double>({3}), {w}, gen);
      },
      {"implicit::jacobian_penalty", "no_grad"});
  expect_invalid(
      [] {
        (void)im::gmres([](const dtensor& x) { return x; }, ones<double>({2}), {.restart = 0});
      },
      {"implicit::gmres", "restart = 0"});
  expect_invalid(
      [] { (void)im::gmres([](const dtensor&) { return ones<double>({3}); }, ones<double>({2})); },
      {"implicit::gmres", "A returned (3)", "shape (2)"});
  expect_invalid(
      [] {
        (void)im::gmres([](const dtensor& x) { return x; }, ones<double>({2}), {.max_iter = 1});
      },
      {"implicit::gmres", "max_iter = 1", "at least 2"});
  // The messages name gmres's and jacobian_penalty's own arguments, not fixed_point's z0.
  expect_invalid([] { (void)im::gmres([](const dtensor& x) { return x; }, dtensor()); },
                 {"implicit::gmres", "b is an undefined tensor"});
  expect_invalid(
      [] {
        (void)im::gmres([](const dtensor& x) { return x; }, zeros<double>({0, 2}));
      },
      {"implicit::gmres", "b of shape (0,2) has no elements"});
  generator gen2(1);
  expect_invalid([&] { (void)im::jacobian_penalty(tanh_map, dtensor(), {w}, gen2); },
                 {"implicit::jacobian_penalty", "z is an undefined tensor"});
}

BOOST_AUTO_TEST_CASE(non_convergence_is_data) {
  ad::scope s;
  const dvar w(full<double>({3}, 0.5), true);
  auto r = im::fixed_point(
      tanh_map, ones<double>({3}), {w},
      {.solver = {
           .method = im::solver_method::picard, .max_iter = 2, .abs_tol = 1e-14, .rel_tol = 0}});
  BOOST_TEST(!r.info.converged);
  BOOST_TEST(r.info.iterations == 2);
  ad::backward(ad::sum(r.z));  // the backward still runs, at the returned iterate
  BOOST_TEST(std::isfinite(w.grad()(0)));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
