// SPDX-License-Identifier: Apache-2.0
// The generic solver loop of other memory spaces (detail::solve_values_space: what cuda runs,
// with its pass batches and Broyden's two-synchronisation iteration) checked on the CPU against
// the host loop (detail::solve_values), through a reference solver_kernels<host> written here
// with plain loops: every method, batched and not, a memory smaller than the iteration count,
// the restart safeguard, a NaN evaluation on one sample; Anderson's history, mixing and
// regularisation, Picard's damping and full-budget runs, the root and adjoint conventions, and
// fixed_point_impl_space's forward solve and backward modes against fixed_point_impl, and
// GMRES with the space operations (CGS2) against the host's (MGS).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
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
        for (std::size_t j = 0; j < nt; ++j) {
          const double c = coef[static_cast<std::size_t>(b) * nt + j];
          if (c != 0) acc += c * double(terms[j].data()[b * n + e]);  // as cuda: 0 skips
        }
        out.data()[b * n + e] = static_cast<T>(acc);
      }
    return out;
  }

  static constexpr bool has_resident_ops = true;
  static constexpr bool has_replayed_map = true;

  /// The map as a space with graphs evaluates it (cuda: f replayed from a CUDA graph capture);
  /// here f itself, counting the evaluations made with solver_options::graph, so that a test
  /// sees whether solve_values_space found it.
  static inline int replayed_calls = 0;
  template <class T, class Map>
  class replayed_map {
   public:
    replayed_map(const char*, Map& f, const shape_t&, bool graph) : f_(f), graph_(graph) {}
    tensor<T> operator()(const tensor<T>& x) {
      if (graph_) ++replayed_calls;
      return f_(x);
    }

   private:
    Map& f_;
    bool graph_;
  };

  /// Block partials per sample of the emulated resident passes (1: the sums in the order of
  /// passes above, so the resident solve gives the same bits as the synchronised loop).
  static inline int resident_blocks = 1;

  /// The device-resident solve's operations (solve_values_resident), by definition: what
  /// solver_kernels<cuda>::resident_ops launches, as loops. Element e of a row adds into block
  /// partial e % blocks.
  template <class T>
  struct resident_ops {
    static constexpr int ndots = 10;
    static int blocks(index_t, index_t n) {
      return static_cast<int>(std::min<index_t>(resident_blocks, n));
    }
    static void pass(const tensor<T>& f, const tensor<T>& x, const tensor<T>& r, const tensor<T>& u,
                     const std::vector<const T*>& others, double beta, bool f_norm, index_t rows,
                     int nb, double* partial) {
      BOOST_REQUIRE(nb == blocks(rows, f.numel() / rows));
      const index_t n = f.numel() / rows;
      BOOST_REQUIRE(static_cast<int>(others.size()) <= ndots - 2);
      std::fill(partial, partial + rows * nb * ndots, 0.0);
      if (nb == 1) {
        // passes above, as cuda's resident pass is the synchronised loop's kernel: the same
        // arithmetic (whatever FMA contraction the compiler chose there)
        std::vector<pass_request<T, host>> q(1);
        q[0].f = f;
        q[0].x = x;
        q[0].r = r;
        q[0].beta = beta;
        q[0].with_u = true;
        q[0].f_norm = f_norm;
        for (const T* g : others) {
          tensor<T> t(f.shape());
          std::copy(g, g + f.numel(), t.data());
          q[0].others.push_back(t);
        }
        const residual_pass_result<T, host> o = passes<T>(q, rows)[0];
        std::copy(o.u.data(), o.u.data() + f.numel(), u.data());
        const std::size_t R = static_cast<std::size_t>(rows);
        for (std::size_t b = 0; b < R; ++b)
          for (std::size_t d = 0; d < 2 + others.size(); ++d)
            partial[b * ndots + d] = o.dots[d * R + b];
        return;
      }
      for (index_t b = 0; b < rows; ++b)
        for (index_t e = 0; e < n; ++e) {
          const index_t k = b * n + e;
          const T rv = f.data()[k] - x.data()[k];
          r.data()[k] = rv;
          u.data()[k] = x.data()[k] + static_cast<T>(beta) * rv;
          double* p = partial + (b * nb + e % nb) * ndots;
          const double rd = rv, fd = f.data()[k];
          p[0] += rd * rd;
          if (f_norm) p[1] += fd * fd;
          for (std::size_t j = 0; j < others.size(); ++j) p[2 + j] += rd * others[j][k];
        }
    }
    static void step(const resident_view& v, int k, bool last) {
      bool bad = false;
      for (index_t b = 0; b < v.rows; ++b) bad = resident_residual(v, b, k) || bad;
      if (last) return;
      double work[resident_work];
      for (index_t b = 0; b < v.rows; ++b) resident_step(v, b, k, bad, work);
    }
    static void save(const tensor<T>& x, const tensor<T>& u, const tensor<T>& best_z,
                     const tensor<T>& best_u, const double* best_iter, int evicted, index_t rows) {
      const index_t n = x.numel() / rows;
      for (index_t b = 0; b < rows; ++b)
        if (best_iter[b] == evicted) {
          ++saves;
          for (index_t e = 0; e < n; ++e) {
            best_z.data()[b * n + e] = x.data()[b * n + e];
            best_u.data()[b * n + e] = u.data()[b * n + e];
          }
        }
    }
    static tensor<T> combine(const std::vector<const T*>& terms, const double* coef,
                             const shape_t& shape, index_t rows) {
      // combine above (a null term, whose coefficient is 0 on every sample, as zeros)
      const std::size_t nt = terms.size(), R = static_cast<std::size_t>(rows);
      std::vector<tensor<T>> t;
      const index_t numel = shape.numel();
      for (std::size_t j = 0; j < nt; ++j) {
        tensor<T> tj = zeros<T>(shape);
        if (terms[j] != nullptr)
          std::copy(terms[j], terms[j] + numel, tj.data());
        else
          for (std::size_t b = 0; b < R; ++b) BOOST_REQUIRE(coef[b * nt + j] == 0);
        t.push_back(tj);
      }
      return solver_kernels<host>::combine<T>(t, std::vector<double>(coef, coef + R * nt), rows);
    }

    static inline int saves = 0;  ///< rows saved from the ring (the eviction test counts them)
  };
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

/// z ↦ 0.5 z + c with c = (1, 3) per sample, NaN where sample 1's first step from 0 lands
/// (z = c = 3): a restart that took that full step again would meet the NaN again.
dtensor nan_near_first_step(const dtensor& z) {
  dtensor y = add(mul(z, scalar(0.5)), from_vector<double>({1.0, 3.0}, {2, 1}));
  if (std::abs(z(1, 0) - 3.0) < 1e-3) y(1, 0) = std::nan("");
  return y;
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

/// Both loops on one map: the same iterate (to rounding), iteration count, residual history,
/// convergence flags and safeguard count. The two loops sum their dot products in different
/// orders, and Anderson amplifies those last-bit differences, so residuals agree to 1e-6
/// relative above a floor of 1e-13 times the first residual; at that floor (full budget) the
/// small system is decided by rounding, so the safeguard counts are compared only without it.
template <class Map>
void check_loops_agree(const std::string& what, Map map, const dtensor& z0,
                       const im::solver_options& o,
                       const im::detail::convention& cv = im::detail::convention{}) {
  const im::solution<double> ref = im::detail::solve_values<double>("test", map, z0, o, cv);
  const im::solution<double> got =
      im::detail::solve_values_space<double, host>("test", map, z0, o, cv);
  BOOST_TEST_CONTEXT(what) {
    BOOST_TEST(got.info.iterations == ref.info.iterations);
    BOOST_TEST(got.info.converged == ref.info.converged);
    if (!o.full_budget) BOOST_TEST(got.info.safeguard_steps == ref.info.safeguard_steps);
    BOOST_TEST(got.info.sample_converged == ref.info.sample_converged,
               boost::test_tools::per_element());
    BOOST_REQUIRE(got.info.residual_history.size() == ref.info.residual_history.size());
    const double floor = 1e-13 * ref.info.residual_history.front();
    const auto close = [&](double a, double b) { return std::abs(a - b) <= 1e-6 * a + floor; };
    for (std::size_t k = 0; k < ref.info.residual_history.size(); ++k) {
      const double a = ref.info.residual_history[k], b = got.info.residual_history[k];
      BOOST_TEST(close(a, b), "iteration " << k << ": " << a << " vs " << b);
    }
    BOOST_TEST(max_abs_diff(ref.z, got.z) <= 1e-10);
    BOOST_TEST(close(ref.info.residual, got.info.residual),
               ref.info.residual << " vs " << got.info.residual);
  }
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

namespace {

/// z ↦ ρ_b A z + c per sample b of 4 (7 values each), with contraction factors that differ
/// between samples (0.2 … 0.95), so samples converge at different iterations and the best
/// iterate is assembled row by row.
struct per_sample_contraction {
  static constexpr index_t B = 4, n = 7;
  dtensor A, rho, c;
  per_sample_contraction() {
    generator gen(3);
    A = randn<double>({n, n}, gen);
    A = mul(A, scalar<double>(1.0 / norm(A)));
    rho = from_vector<double>({0.2, 0.5, 0.8, 0.95}, {B, 1});
    c = randn<double>({B, n}, gen);
  }
  dtensor operator()(const dtensor& z) const { return add(mul(matmul(z, A), rho), c); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(linear_contractions_per_sample) {
  const per_sample_contraction map;
  const dtensor z0 = zeros<double>({per_sample_contraction::B, per_sample_contraction::n});
  for (bool batched : {true, false})
    for (auto method : {im::solver_method::picard, im::solver_method::anderson})
      for (int history : {1, 3, 6})
        for (bool full : {false, true}) {
          if (method == im::solver_method::picard && history != 3) continue;
          const im::solver_options o{.method = method,
                                     .max_iter = 40,
                                     .abs_tol = 1e-9,
                                     .rel_tol = 1e-7,
                                     .full_budget = full,
                                     .batched = batched,
                                     .history = history};
          check_loops_agree(
              std::string(method == im::solver_method::picard ? "picard" : "anderson") + " m " +
                  std::to_string(history) + (batched ? " batched" : "") +
                  (full ? " full budget" : ""),
              map, z0, o);
        }
}

BOOST_AUTO_TEST_CASE(nonlinear_layer_and_damping) {
  const layer L;
  const auto th = L.theta();
  const auto map = [&](const dtensor& z) {
    return tanh(add(add(matmul(z, th[0]), matmul(th[3], th[1])), th[2]));
  };
  for (double damping : {1.0, 0.6})
    check_loops_agree("picard, damping " + std::to_string(damping), map,
                      zeros<double>({layer::B, layer::n}),
                      {.method = im::solver_method::picard,
                       .max_iter = 60,
                       .abs_tol = 1e-12,
                       .batched = true,
                       .damping = damping});
  for (double mixing : {1.0, 0.5})
    for (double lambda : {1e-4, 1e-10})
      check_loops_agree(
          "anderson, mixing " + std::to_string(mixing) + ", lambda " + std::to_string(lambda), map,
          zeros<double>({layer::B, layer::n}),
          {.method = im::solver_method::anderson,
           .max_iter = 30,
           .abs_tol = 1e-13,
           .history = 4,
           .lambda = lambda,
           .mixing = mixing});
}

BOOST_AUTO_TEST_CASE(non_finite_residuals_take_the_safeguard_path) {
  // Sample 1's map value is NaN on the 4th and 5th evaluations: Anderson clears its history,
  // that sample restarts from its best iterate, the others go on. Both loops evaluate f the
  // same number of times, so the same calls fail.
  const index_t B = 3, n = 5;
  generator gen(9);
  dtensor A = randn<double>({n, n}, gen);
  A = mul(A, scalar<double>(0.7 / norm(A)));
  const dtensor c = randn<double>({B, n}, gen);
  for (bool batched : {true, false})
    for (auto method : {im::solver_method::picard, im::solver_method::anderson}) {
      int calls = 0;
      const auto map = [&](const dtensor& z) {
        dtensor y = add(matmul(z, A), c);
        ++calls;
        if (calls == 4 || calls == 5) y.select(0, 1).fill_(std::nan(""));
        return y;
      };
      const im::solver_options o{
          .method = method, .max_iter = 25, .abs_tol = 1e-10, .batched = batched, .history = 3};
      const im::solution<double> ref = im::detail::solve_values<double>(
          "test", map, zeros<double>({B, n}), o, im::detail::convention{});
      const int host_calls = calls;
      calls = 0;
      const im::solution<double> got = im::detail::solve_values_space<double, host>(
          "test", map, zeros<double>({B, n}), o, im::detail::convention{});
      BOOST_TEST_CONTEXT((method == im::solver_method::picard ? "picard" : "anderson")
                         << (batched ? ", batched" : "")) {
        BOOST_TEST(calls == host_calls);
        BOOST_TEST(got.info.iterations == ref.info.iterations);
        BOOST_TEST(got.info.safeguard_steps == ref.info.safeguard_steps);
        BOOST_TEST(ref.info.safeguard_steps > 0);
        BOOST_TEST(got.info.converged == ref.info.converged);
        BOOST_TEST(max_abs_diff(ref.z, got.z) <= 1e-10);
      }
    }
}

BOOST_AUTO_TEST_CASE(restarts_halve_their_step_as_the_host_loop_does) {
  // nan_near_first_step: sample 1's restarts from z = 0 take 2⁻ʲ of the step, in both loops
  // alike.
  const auto f = nan_near_first_step;
  for (auto method : {im::solver_method::picard, im::solver_method::anderson}) {
    BOOST_TEST_CONTEXT((method == im::solver_method::picard ? "picard" : "anderson")) {
      im::solver_options o = with(method, true, 0, 1e-12, 0);
      o.max_iter = 60;
      expect_same_loops(f, zeros<double>({2, 1}), o, true);
      const auto g = im::detail::solve_values_space<double, host>("test", f, zeros<double>({2, 1}),
                                                                  o, im::detail::convention{});
      BOOST_TEST(g.info.converged);
      BOOST_TEST(std::abs(g.z(1, 0) - 6.0) <= 1e-11);
    }
  }
}

BOOST_AUTO_TEST_CASE(broyden_restart_steps_as_the_host_loop_does) {
  // The map of solvers.cpp's broyden_does_not_cycle_through_an_accepted_restart: a second
  // restart from one best iterate, after an accepted one, takes a quarter step in both loops.
  const auto f = [](const dtensor& z) {
    const double x = z(0);
    const bool bad = std::abs(x - 1.0) < 1e-3 || std::abs(x - 0.2) < 1e-3;
    return full<double>({1}, bad ? std::nan("") : x + 1 - 10 * x * x);
  };
  im::solver_options o = with(im::solver_method::broyden, false, 30, 1e-12, 0);
  o.max_iter = 60;
  expect_same_loops(f, zeros<double>({1}), o, true);
  const auto g = im::detail::solve_values_space<double, host>("test", f, zeros<double>({1}), o,
                                                              im::detail::convention{});
  BOOST_TEST(g.info.converged);
  BOOST_TEST(std::abs(g.z(0) - 1 / std::sqrt(10.0)) <= 1e-11);
}

BOOST_AUTO_TEST_CASE(root_and_adjoint_conventions) {
  // The conventions of root (residuals ‖g‖ scaled by 1/α, relative to the initial residual)
  // and of the adjoint solves (relative to given per-sample norms).
  const index_t B = 2, n = 6;
  generator gen(5);
  dtensor A = randn<double>({n, n}, gen);
  A = mul(A, scalar<double>(0.6 / norm(A)));
  const dtensor c = randn<double>({B, n}, gen);
  const auto map = [&](const dtensor& z) { return add(matmul(z, A), c); };
  im::detail::convention root_cv;
  root_cv.scale = 2.0;
  root_cv.ref = im::detail::reference::initial_residual;
  im::detail::convention given_cv;
  given_cv.ref = im::detail::reference::given;
  given_cv.given = {0.5, 3.0};
  for (const auto* cv : {&root_cv, &given_cv})
    check_loops_agree(cv->ref == im::detail::reference::given ? "given references" : "root scaling",
                      map, zeros<double>({B, n}),
                      {.method = im::solver_method::anderson,
                       .max_iter = 30,
                       .abs_tol = 0,
                       .rel_tol = 1e-8,
                       .batched = true,
                       .history = 3},
                      *cv);
}

BOOST_AUTO_TEST_CASE(fixed_point_space_path_matches_host_path) {
  // fixed_point_impl_space (cuda's forward solve, unrolled steps with their residual report,
  // phantom steps) against fixed_point_impl on the same layer: z*, the report and dL/dθ.
  const layer L;
  for (auto mode :
       {im::backward_mode::phantom, im::backward_mode::unroll, im::backward_mode::implicit}) {
    const im::solver_options so{.method = im::solver_method::anderson,
                                .max_iter = 30,
                                .abs_tol = 1e-12,
                                .batched = true,
                                .history = 4};
    const im::backward_options bo{.mode = mode, .unroll_steps = 12};
    std::vector<dtensor> g[2];
    dtensor z[2];
    im::solve_result info[2];
    for (int space = 0; space < 2; ++space) {
      ad::scope s;
      std::vector<dvar> th;
      for (const auto& t : L.theta()) th.emplace_back(t, true);
      const dtensor z0 = zeros<double>({layer::B, layer::n});
      const auto f = [](const dvar& zz, const std::vector<dvar>& p) { return layer::f(zz, p); };
      im::fixed_point_result<double> r =
          space == 0 ? im::detail::fixed_point_impl<double>("test", f, z0, th, so, bo,
                                                            im::detail::convention{})
                     : im::detail::fixed_point_impl_space<double, host>("test", f, z0, th, so, bo,
                                                                        im::detail::convention{});
      ad::backward(ad::sum(r.z * L.c));
      for (const auto& v : th) g[space].push_back(v.grad().clone());
      z[space] = r.z.value().clone();
      info[space] = r.info;
    }
    BOOST_TEST_CONTEXT("backward mode " << static_cast<int>(mode)) {
      BOOST_TEST(info[1].iterations == info[0].iterations);
      BOOST_TEST(info[1].converged == info[0].converged);
      BOOST_TEST(std::abs(info[1].residual - info[0].residual) <= 1e-9 * info[0].residual + 1e-15);
      BOOST_TEST(max_abs_diff(z[0], z[1]) <= 1e-12);
      for (std::size_t k = 0; k < g[0].size(); ++k)
        BOOST_TEST(max_abs_diff(g[0][k], g[1][k]) <= 1e-10, "gradient of θ[" << k << "]");
    }
  }
}

BOOST_AUTO_TEST_CASE(gmres_with_the_space_operations_matches_the_host) {
  // GMRES through krylov_ops_space (what cuda runs: classical Gram–Schmidt twice, inner products
  // in one pass) against the host's modified Gram–Schmidt, on a nonsymmetric system, restarted
  // and not, per sample and whole-batch.
  const index_t B = 3, n = 24;
  generator gen(11);
  const dtensor A = add(mul(randn<double>({n, n}, gen), scalar(0.12)), eye<double>(n));
  const dtensor rhs = randn<double>({B, n}, gen);
  const auto op = [&](const dtensor& v) { return matmul(v, A); };
  for (const bool batched : {false, true})
    for (const int restart : {5, 40}) {
      const im::gmres_options o{
          .restart = restart, .max_iter = 200, .abs_tol = 0, .rel_tol = 1e-11, .batched = batched};
      const auto h = im::gmres(op, rhs, o);
      auto opr = op;
      const auto g =
          im::detail::gmres_with<im::detail::krylov_ops_space<double, host>>(opr, rhs, o);
      BOOST_TEST_CONTEXT("restart " << restart << (batched ? ", batched" : "")) {
        BOOST_TEST(h.info.converged);
        BOOST_TEST(g.info.converged == h.info.converged);
        BOOST_TEST(std::abs(g.info.iterations - h.info.iterations) <= 1,
                   "iterations: host " << h.info.iterations << ", space " << g.info.iterations);
        BOOST_TEST(max_abs_diff(h.z, g.z) <= 1e-9 * (1 + norm(h.z)));
        BOOST_TEST(max_abs_diff(op(g.z), rhs) <= 1e-9 * (1 + norm(rhs)));
        const std::size_t common =
            std::min(h.info.residual_history.size(), g.info.residual_history.size());
        for (std::size_t i = 0; i < common; ++i) {
          const double a = h.info.residual_history[i], b = g.info.residual_history[i];
          BOOST_TEST(std::abs(a - b) <= 1e-6 * a + 1e-12 * h.info.residual_history[0],
                     "residual " << i << ": host " << a << ", space " << b);
        }
      }
    }
}

namespace {

using resident = im::detail::solver_kernels<host>::resident_ops<double>;

/// The device-resident solve (solver_options::device_resident) against the synchronised loop
/// with the full budget, on one map: with one block partial per sample the two sum every dot
/// product in the same order, so iterate and report must be the same bits.
template <class Map>
void check_resident_same_bits(const std::string& what, Map map, const dtensor& z0,
                              im::solver_options o,
                              const im::detail::convention& cv = im::detail::convention{}) {
  o.full_budget = true;
  o.device_resident = false;
  const im::solution<double> ref =
      im::detail::solve_values_space<double, host>("test", map, z0, o, cv);
  o.device_resident = true;
  o.full_budget = false;  // the resident solve runs the whole budget regardless
  const im::solution<double> got =
      im::detail::solve_values_space<double, host>("test", map, z0, o, cv);
  BOOST_TEST_CONTEXT(what) {
    BOOST_TEST(got.info.iterations == ref.info.iterations);
    BOOST_TEST(got.info.converged == ref.info.converged);
    BOOST_TEST(got.info.safeguard_steps == ref.info.safeguard_steps);
    BOOST_TEST(got.info.sample_converged == ref.info.sample_converged,
               boost::test_tools::per_element());
    BOOST_TEST(got.info.sample_residuals == ref.info.sample_residuals,
               boost::test_tools::per_element());
    BOOST_TEST(got.info.residual_history == ref.info.residual_history,
               boost::test_tools::per_element());
    BOOST_TEST(got.info.residual == ref.info.residual);
    BOOST_TEST(max_abs_diff(ref.z, got.z) == 0.0);
    BOOST_TEST(!shares_storage(got.z, z0));
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(device_resident_gives_the_same_bits) {
  // Per-sample contractions whose samples converge at different iterations (rows of the best
  // iterate assembled from different ring slots), a nonlinear layer, Picard with damping and
  // Anderson with every history the resident solve takes, mixing, both λ forms, and the root
  // and adjoint conventions.
  const per_sample_contraction linear;
  const dtensor z0 = zeros<double>({per_sample_contraction::B, per_sample_contraction::n});
  using sm = im::solver_method;
  for (bool batched : {true, false})
    for (auto method : {sm::picard, sm::anderson})
      for (int history : {1, 2, 3, 5, 7}) {
        if (method == sm::picard && history != 3) continue;
        for (int iters : {1, 2, 9, 40})
          check_resident_same_bits(std::string(method == sm::picard ? "picard" : "anderson") +
                                       " m " + std::to_string(history) +
                                       (batched ? " batched" : "") + ", " + std::to_string(iters) +
                                       " iterations",
                                   linear, z0,
                                   {.method = method,
                                    .max_iter = iters,
                                    .abs_tol = 1e-9,
                                    .rel_tol = 1e-7,
                                    .batched = batched,
                                    .damping = 0.7,
                                    .history = history});
      }
  const layer L;
  const auto th = L.theta();
  const auto nonlinear = [&](const dtensor& z) {
    return tanh(add(add(matmul(z, th[0]), matmul(th[3], th[1])), th[2]));
  };
  for (double mixing : {1.0, 0.5})
    for (double lambda : {1e-4, 1e-10})
      for (bool relative : {true, false})
        check_resident_same_bits("layer, mixing " + std::to_string(mixing) + ", lambda " +
                                     std::to_string(lambda) + (relative ? " relative" : ""),
                                 nonlinear, zeros<double>({layer::B, layer::n}),
                                 {.method = sm::anderson,
                                  .max_iter = 30,
                                  .abs_tol = 1e-13,
                                  .batched = true,
                                  .history = 5,
                                  .lambda = lambda,
                                  .relative_lambda = relative,
                                  .mixing = mixing});
  im::detail::convention root_cv;
  root_cv.scale = 2.0;
  root_cv.ref = im::detail::reference::initial_residual;
  im::detail::convention given_cv;
  given_cv.ref = im::detail::reference::given;
  given_cv.given = {0.5, 3.0, 1.0, 2.0};
  for (const auto* cv : {&root_cv, &given_cv})
    check_resident_same_bits(cv == &root_cv ? "root convention" : "given references", linear, z0,
                             {.method = sm::anderson,
                              .max_iter = 25,
                              .abs_tol = 0,
                              .rel_tol = 1e-8,
                              .batched = true,
                              .history = 3},
                             *cv);
}

BOOST_AUTO_TEST_CASE(device_resident_keeps_a_best_iterate_the_ring_drops) {
  // The map turns worse after its 4th evaluation on sample 0 only (a growing shift), so that
  // sample's best iterate is iteration 3 or so and leaves the ring of 3 slots; sample 1 keeps
  // improving (its best is in the ring at the end). Picard's ring has 2 slots.
  const index_t B = 2, n = 5;
  generator gen(21);
  dtensor A = randn<double>({n, n}, gen);
  A = mul(A, scalar<double>(0.5 / norm(A)));
  const dtensor c = randn<double>({B, n}, gen);
  int calls = 0;
  const auto map = [&](const dtensor& z) {
    dtensor y = add(matmul(z, A), c);
    if (++calls > 4) {
      dtensor row = y.select(0, 0);
      row.copy_from(add(row, scalar(0.05 * (calls - 4))));
    }
    return y;
  };
  for (auto method : {im::solver_method::picard, im::solver_method::anderson}) {
    const im::solver_options o{
        .method = method, .max_iter = 14, .abs_tol = 0, .batched = true, .history = 3};
    calls = 0;
    resident::saves = 0;
    im::solver_options on = o;
    on.device_resident = true;
    const auto got =
        im::detail::solve_values_space<double, host>("test", map, zeros<double>({B, n}), on, {});
    calls = 0;
    im::solver_options off = o;
    off.full_budget = true;
    const auto ref =
        im::detail::solve_values_space<double, host>("test", map, zeros<double>({B, n}), off, {});
    BOOST_TEST_CONTEXT((method == im::solver_method::picard ? "picard" : "anderson")) {
      BOOST_TEST(resident::saves >= 1);
      BOOST_TEST(max_abs_diff(ref.z, got.z) == 0.0);
      BOOST_TEST(got.info.sample_residuals == ref.info.sample_residuals,
                 boost::test_tools::per_element());
      BOOST_TEST(got.info.residual_history == ref.info.residual_history,
                 boost::test_tools::per_element());
      // sample 0's best came before the shift grew; sample 1's is the last iterate or close
      BOOST_TEST(got.info.sample_residuals[0] < got.info.residual_history.back());
    }
  }
}

BOOST_AUTO_TEST_CASE(device_resident_non_finite_residuals_and_block_sums) {
  // Sample 1's map value is NaN on the 4th and 5th evaluations (the history cleared, that
  // sample restarted from its best iterate's u); then the partials summed over three blocks.
  // Up to rounding (the history restarts in other slots, the sums in another order) the
  // synchronised loop's results.
  const index_t B = 3, n = 5;
  generator gen(9);
  dtensor A = randn<double>({n, n}, gen);
  A = mul(A, scalar<double>(0.7 / norm(A)));
  const dtensor c = randn<double>({B, n}, gen);
  int calls = 0;
  int nan_from = 4, nan_to = 5;
  const auto map = [&](const dtensor& z) {
    dtensor y = add(matmul(z, A), c);
    ++calls;
    if (calls >= nan_from && calls <= nan_to) y.select(0, 1).fill_(std::nan(""));
    return y;
  };
  for (int blocks : {1, 3})
    for (int window : {0, 4})  // NaN on calls 4–5, or on calls 4–9 (beyond Picard's ring)
      for (auto method : {im::solver_method::picard, im::solver_method::anderson}) {
        nan_to = 5 + window;
        im::detail::solver_kernels<host>::resident_blocks = blocks;
        const im::solver_options o{
            .method = method, .max_iter = 25, .abs_tol = 1e-10, .batched = true, .history = 3};
        im::solver_options off = o;
        off.full_budget = true;
        calls = 0;
        const auto ref = im::detail::solve_values_space<double, host>(
            "test", map, zeros<double>({B, n}), off, {});
        im::solver_options on = o;
        on.device_resident = true;
        calls = 0;
        const auto got = im::detail::solve_values_space<double, host>(
            "test", map, zeros<double>({B, n}), on, {});
        BOOST_TEST_CONTEXT((method == im::solver_method::picard ? "picard" : "anderson")
                           << ", " << blocks << " blocks, NaN window " << window) {
          BOOST_TEST(calls == 25);
          BOOST_TEST(got.info.iterations == ref.info.iterations);
          BOOST_TEST(got.info.safeguard_steps == ref.info.safeguard_steps);
          BOOST_TEST(got.info.safeguard_steps >= 2);
          BOOST_TEST(got.info.converged == ref.info.converged);
          BOOST_TEST(got.info.converged);
          BOOST_TEST(!std::isfinite(got.info.residual_history[3]));
          BOOST_TEST(max_abs_diff(ref.z, got.z) <= 1e-10);
        }
      }
  im::detail::solver_kernels<host>::resident_blocks = 1;
}

BOOST_AUTO_TEST_CASE(device_resident_restarts_take_the_same_shortened_steps) {
  // nan_near_first_step: the resident solve's restarts ((1 − w) x* + w u* from the ring's or
  // the saved copies) take the synchronised loop's steps, and the solve converges. Picard: the
  // same bits (NaN where the loop has NaN); Anderson to rounding, since after the restart the
  // two keep their histories in other slots.
  const auto f = nan_near_first_step;
  for (auto method : {im::solver_method::picard, im::solver_method::anderson}) {
    BOOST_TEST_CONTEXT((method == im::solver_method::picard ? "picard" : "anderson")) {
      const bool picard = method == im::solver_method::picard;
      im::solver_options o{.method = method,
                           .max_iter = 60,
                           .abs_tol = 1e-12,
                           .rel_tol = 0,
                           .full_budget = true,
                           .batched = true,
                           .history = 3};
      const auto ref = im::detail::solve_values_space<double, host>(
          "test", f, zeros<double>({2, 1}), o, im::detail::convention{});
      o.device_resident = true;
      const auto got = im::detail::solve_values_space<double, host>(
          "test", f, zeros<double>({2, 1}), o, im::detail::convention{});
      BOOST_TEST(got.info.converged);
      BOOST_TEST(got.info.safeguard_steps == ref.info.safeguard_steps);
      BOOST_TEST(std::abs(got.z(1, 0) - 6.0) <= 1e-11);
      BOOST_REQUIRE(got.info.residual_history.size() == ref.info.residual_history.size());
      for (std::size_t i = 0; i < ref.info.residual_history.size(); ++i) {
        const double a = got.info.residual_history[i], b = ref.info.residual_history[i];
        const double tol = picard ? 0.0 : 1e-12 + 1e-6 * b;
        BOOST_TEST(((std::isnan(a) && std::isnan(b)) || std::abs(a - b) <= tol),
                   "residual " << i << ": resident " << a << ", synchronised " << b);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(device_resident_limits_and_broyden) {
  // A history over 7 is refused by name; Broyden ignores the flag (same bits as without it).
  const auto map = [](const dtensor& z) { return add(mul(z, scalar(0.5)), scalar(1.0)); };
  im::solver_options o{.method = im::solver_method::anderson, .max_iter = 5, .history = 8};
  o.device_resident = true;
  try {
    (void)im::detail::solve_values_space<double, host>("test", map, zeros<double>({4}), o, {});
    BOOST_ERROR("a history of 8 was accepted");
  } catch (const tessera::invalid_argument& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("solver.history") != std::string::npos, msg);
    BOOST_TEST(msg.find("= 8") != std::string::npos, msg);
    BOOST_TEST(msg.find("device_resident") != std::string::npos, msg);
  }
  o.history = 7;
  const auto solve7 = [&] {
    return im::detail::solve_values_space<double, host>("test", map, zeros<double>({4}), o, {});
  };
  BOOST_CHECK_NO_THROW(solve7());
  im::solver_options b{.method = im::solver_method::broyden, .max_iter = 20};
  const auto ref =
      im::detail::solve_values_space<double, host>("test", map, zeros<double>({4}), b, {});
  b.device_resident = true;
  const auto got =
      im::detail::solve_values_space<double, host>("test", map, zeros<double>({4}), b, {});
  BOOST_TEST(max_abs_diff(ref.z, got.z) == 0.0);
  BOOST_TEST(got.info.iterations == ref.info.iterations);
  // The host solver ignores it.
  im::solver_options h{.method = im::solver_method::anderson, .max_iter = 20, .history = 9};
  const auto hr = im::solve(map, zeros<double>({4}), h);
  h.device_resident = true;
  const auto hg = im::solve(map, zeros<double>({4}), h);
  BOOST_TEST(max_abs_diff(hr.z, hg.z) == 0.0);
  BOOST_TEST(hg.info.iterations == hr.info.iterations);
}

BOOST_AUTO_TEST_CASE(a_space_graph_replay_is_found) {
  // solve_values_space evaluates f through the space's replayed_map when solver_options::graph
  // is set (cuda: the CUDA graph replay), synchronised and device-resident, and never without
  // it. Until 2026-11-27 the solver looked for it with a requires-expression that GCC 12 finds
  // unsatisfied, so cuda's replay never ran.
  const auto map = [](const dtensor& z) { return add(mul(tanh(z), scalar(0.5)), scalar(1.0)); };
  auto& calls = im::detail::solver_kernels<host>::replayed_calls;
  for (const bool resident : {false, true})
    for (const bool graph : {false, true}) {
      im::solver_options o{.method = im::solver_method::anderson, .max_iter = 9, .history = 3};
      o.full_budget = true;
      o.graph = graph;
      o.device_resident = resident;
      calls = 0;
      const auto r =
          im::detail::solve_values_space<double, host>("test", map, zeros<double>({2, 3}), o, {});
      BOOST_TEST(r.info.iterations == 9);
      BOOST_TEST(calls == (graph ? 9 : 0), "resident " << resident << ", graph " << graph);
    }
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
