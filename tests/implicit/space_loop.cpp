// SPDX-License-Identifier: Apache-2.0
// The generic solver loop of other memory spaces (detail::solve_values_space: what cuda runs,
// with its pass batches and Broyden's two-synchronisation iteration) checked on the CPU against
// the host loop (detail::solve_values), through a reference solver_kernels<host> written here
// with plain loops: every method, batched and not, a memory smaller than the iteration count,
// the restart safeguard, a NaN evaluation on one sample.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "helpers.hpp"

namespace tessera::implicit::detail {

/// The passes of solve_values_space on host tensors, by definition (sums in double, in order):
/// only this test runs the generic loop on the host.
template <>
struct solver_kernels<host> {
  template <class T>
  static std::vector<residual_pass_result<T, host>> passes(
      const std::vector<pass_request<T, host>>& q, index_t rows) {
    std::vector<residual_pass_result<T, host>> out(q.size());
    for (std::size_t i = 0; i < q.size(); ++i) {
      const pass_request<T, host>& rq = q[i];
      residual_pass_result<T, host>& o = out[i];
      const index_t n = rq.f.numel() / rows;
      const std::size_t R = static_cast<std::size_t>(rows), no = rq.others.size();
      if (rq.x.defined()) {
        o.r = rq.r.defined() ? rq.r : tensor<T>(rq.f.shape());
        if (rq.with_u) o.u = tensor<T>(rq.f.shape());
        for (index_t k = 0; k < rq.f.numel(); ++k) {
          o.r.data()[k] = rq.f.data()[k] - rq.x.data()[k];
          if (rq.with_u) o.u.data()[k] = rq.x.data()[k] + static_cast<T>(rq.beta) * o.r.data()[k];
        }
      } else {
        o.r = rq.f;
      }
      o.dots.assign((2 + no) * R, 0.0);
      for (std::size_t b = 0; b < R; ++b)
        for (index_t e = 0; e < n; ++e) {
          const index_t k = static_cast<index_t>(b) * n + e;
          const double r = o.r.data()[k], f = rq.f.data()[k];
          o.dots[b] += r * r;
          if (rq.f_norm) o.dots[R + b] += f * f;
          for (std::size_t j = 0; j < no; ++j)
            o.dots[(2 + j) * R + b] += r * rq.others[j].data()[k];
        }
    }
    return out;
  }

  template <class T>
  static residual_pass_result<T, host> residual_pass(const tensor<T>& f, const tensor<T>& x,
                                                     double beta,
                                                     const std::vector<tensor<T>>& others,
                                                     index_t rows, bool f_norm) {
    std::vector<pass_request<T, host>> q(1);
    q[0].f = f;
    q[0].x = x;
    q[0].beta = beta;
    q[0].with_u = true;
    q[0].f_norm = f_norm;
    q[0].others = others;
    return passes<T>(q, rows)[0];
  }

  template <class T>
  static tensor<T> combine(const std::vector<tensor<T>>& terms, const std::vector<double>& coef,
                           index_t rows) {
    tensor<T> out(terms.front().shape());
    const index_t n = out.numel() / rows;
    const std::size_t nt = terms.size();
    for (index_t b = 0; b < rows; ++b)
      for (index_t e = 0; e < n; ++e) {
        double acc = 0;
        for (std::size_t j = 0; j < nt; ++j)
          acc += coef[static_cast<std::size_t>(b) * nt + j] * double(terms[j].data()[b * n + e]);
        out.data()[b * n + e] = static_cast<T>(acc);
      }
    return out;
  }
};

}  // namespace tessera::implicit::detail

using namespace implicit_test;
namespace im = tessera::implicit;

BOOST_AUTO_TEST_SUITE(implicit)
BOOST_AUTO_TEST_SUITE(space_loop)

namespace {

/// Both loops on the same map and settings; the generic loop's result and report must match
/// the host's up to rounding (the dot products are summed in another order).
template <class Map>
void expect_same_loops(const Map& f, const dtensor& z0, const im::solver_options& o,
                       bool expect_safeguards) {
  const im::detail::convention cv;
  const auto h = im::detail::solve_values<double>("test", f, z0, o, cv);
  const auto g = im::detail::solve_values_space<double, host>("test", f, z0, o, cv);
  BOOST_TEST(max_abs_diff(h.z, g.z) <= 1e-12 * (1 + norm(h.z)));
  BOOST_TEST(std::abs(h.info.iterations - g.info.iterations) <= 1,
             "iterations: host " << h.info.iterations << ", space loop " << g.info.iterations);
  BOOST_TEST(h.info.converged == g.info.converged);
  BOOST_TEST((h.info.sample_converged == g.info.sample_converged));
  const std::size_t common =
      std::min(h.info.residual_history.size(), g.info.residual_history.size());
  for (std::size_t i = 0; i < common; ++i) {
    const double a = h.info.residual_history[i], b = g.info.residual_history[i];
    BOOST_TEST((a == b || (std::isnan(a) && std::isnan(b)) ||
                std::abs(a - b) <= 1e-8 * a + 1e-11 * h.info.residual_history[0]),
               "residual " << i << ": host " << a << ", space loop " << b);
  }
  // A batched solve steps on samples that have converged: their secant pairs are rounding, and
  // whether such an update is skipped (a safeguard step) follows the summation order.
  const int slack = o.batched ? 2 : 0;
  BOOST_TEST(std::abs(h.info.safeguard_steps - g.info.safeguard_steps) <= slack,
             "safeguard steps: host " << h.info.safeguard_steps << ", space loop "
                                      << g.info.safeguard_steps);
  BOOST_TEST((h.info.safeguard_steps > 0) == expect_safeguards,
             "safeguard steps " << h.info.safeguard_steps);
}

im::solver_options with(im::solver_method m, bool batched, int memory, double abs_tol,
                        double rel_tol) {
  im::solver_options o;
  o.method = m;
  o.max_iter = 100;
  o.abs_tol = abs_tol;
  o.rel_tol = rel_tol;
  o.batched = batched;
  o.broyden_memory = memory;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(contractions_match_the_host_loop) {
  // z ↦ z A + b (3 rows of 12, A = 0.9 · a random symmetric matrix over its spectral bound)
  // and z ↦ 0.9 tanh(z W) + c: every method, per sample and whole-batch, a memory of 3.
  generator gen(7);
  const dtensor M = randn<double>({12, 12}, gen);
  dtensor A = add(M, M.transpose(0, 1).clone());
  double bound = 0;
  for (index_t i = 0; i < 12; ++i) {
    double row = 0;
    for (index_t j = 0; j < 12; ++j) row += std::abs(A(i, j));
    bound = std::max(bound, row);
  }
  A = mul(A, scalar(0.9 / bound));
  const dtensor b = randn<double>({3, 12}, gen);
  const dtensor W = mul(randn<double>({12, 12}, gen), scalar(0.1));
  const auto linear = [&](const dtensor& z) { return add(matmul(z, A), b); };
  const auto nonlinear = [&](const dtensor& z) {
    return add(mul(tanh(matmul(z, W)), scalar(0.9)), b);
  };
  using sm = im::solver_method;
  for (const bool batched : {false, true})
    for (const int memory : {30, 3})
      for (const sm m : {sm::broyden, sm::anderson, sm::picard}) {
        if (m != sm::broyden && memory != 30) continue;
        BOOST_TEST_CONTEXT("method " << int(m) << ", batched " << batched << ", memory "
                                     << memory) {
          const im::solver_options o = with(m, batched, memory, 0, 1e-12);
          expect_same_loops(linear, zeros<double>({3, 12}), o, false);
          expect_same_loops(nonlinear, zeros<double>({3, 12}), o, false);
        }
      }
}

BOOST_AUTO_TEST_CASE(broyden_safeguards_match_the_host_loop) {
  // The restart safeguard (z ↦ z − (z³ − 27): a whole solve, and one sample of two), and a NaN
  // third evaluation on sample 1 of 2.
  const auto cubic = [](const dtensor& z) { return sub(z, sub(mul(mul(z, z), z), scalar(27.0))); };
  im::solver_options o = with(im::solver_method::broyden, false, 30, 1e-10, 0);
  o.broyden_restart = 10;
  expect_same_loops(cubic, ones<double>({1}), o, true);
  o.batched = true;
  expect_same_loops(cubic, from_vector<double>({1.0, 3.1}, {2, 1}), o, true);
  int calls = 0;
  dtensor mask = ones<double>({2, 5});
  for (index_t i = 0; i < 5; ++i) mask(1, i) = std::numeric_limits<double>::quiet_NaN();
  const auto nan_row = [&](const dtensor& z) {
    const dtensor fz = add(mul(z, scalar(0.5)), scalar(1.0));
    return ++calls == 3 ? mul(fz, mask) : fz;
  };
  const im::solver_options on = with(im::solver_method::broyden, true, 30, 1e-12, 0);
  const im::detail::convention cv;
  calls = 0;
  const auto h = im::detail::solve_values<double>("test", nan_row, zeros<double>({2, 5}), on, cv);
  calls = 0;
  const auto g =
      im::detail::solve_values_space<double, host>("test", nan_row, zeros<double>({2, 5}), on, cv);
  BOOST_TEST(!std::isfinite(h.info.residual_history[2]));
  BOOST_TEST(!std::isfinite(g.info.residual_history[2]));
  BOOST_TEST(h.info.iterations == g.info.iterations);
  BOOST_TEST(h.info.safeguard_steps >= 1);
  BOOST_TEST(std::abs(h.info.safeguard_steps - g.info.safeguard_steps) <= 2);
  BOOST_TEST(g.info.converged);
  BOOST_TEST(max_abs_diff(g.z, full<double>({2, 5}, 2.0)) <= 1e-11);
  BOOST_TEST(max_abs_diff(h.z, g.z) <= 1e-12);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
