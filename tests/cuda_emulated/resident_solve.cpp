// SPDX-License-Identifier: Apache-2.0
// The fixed-point solver's generic loop (implicit::detail::solve_values_space) with the cuda
// kernels of cuda/detail/fixed_point_kernels.cuh run on CPU threads: the synchronised solve (its
// passes and combinations launched as solver_kernels<cuda> launches them, the block partials
// added on the host) and the device-resident solve (the same passes, the step kernel on one
// block, the best-iterate save, the combination reading its coefficients from "device"
// memory). The two must give the same bits (both add the partials in block order), and the
// synchronised one the host loop's results to rounding. Here solver_kernels<host> is that
// emulated space; test_implicit's space_loop checks the same loop with plain-loop operations.
#include "emulation.hpp"
// The kernels, after the emulation's names.
#include "tessera/cuda/detail/fixed_point_kernels.cuh"
//
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../implicit/helpers.hpp"
#include "tessera/implicit.hpp"
#include "tessera/tessera.hpp"

namespace tessera::implicit::detail {

namespace ck = tessera::cuda_kernels;

/// The launches of cuda/implicit.cuh's solver_kernels<cuda>, with the emulated kernels on host
/// tensors: `blocks` blocks per row (cuda: geometry_for), rows over at most 3 grid rows (so the
/// kernels' row loops stride), 64 threads per block (two warps; cuda: 256).
template <>
struct solver_kernels<host> {
  static inline int blocks = 1;
  static constexpr unsigned threads = 64;

  static dim3 grid(index_t rows) {
    return dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(std::min<index_t>(rows, 3)));
  }
  static bool packed(index_t n, std::size_t bytes) {
    return n % static_cast<index_t>(16 / bytes) == 0;
  }

  /// Launches kernel(std::integral_constant<int, V>) over rows of n values of T, in 16-byte
  /// packs (V = 16 / sizeof(T)) when n allows, as implicit.cuh's launches choose.
  template <class T, class Kernel>
  static void launch(index_t n, index_t rows, Kernel kernel) {
    constexpr int P = static_cast<int>(16 / sizeof(T));
    if (packed(n, sizeof(T)))
      cuda_emulation::emulate_launch(grid(rows), dim3(threads),
                                     [&] { kernel(std::integral_constant<int, P>{}); });
    else
      cuda_emulation::emulate_launch(grid(rows), dim3(threads),
                                     [&] { kernel(std::integral_constant<int, 1>{}); });
  }
  template <class T>
  static void launch_residual(const ck::fixed_point_residual_args<T>& a) {
    launch<T>(a.n, a.rows, [&](auto v) { ck::fixed_point_residual<T, decltype(v)::value>(a); });
  }
  template <class T>
  static void launch_combine(const ck::fixed_point_combine_args<T>& a) {
    launch<T>(a.n, a.rows, [&](auto v) { ck::fixed_point_combine<T, decltype(v)::value>(a); });
  }

  /// One residual kernel per request (this test's solves ask for at most 7 others), the
  /// partials of each row added in block order.
  template <class T>
  static std::vector<residual_pass_result<T, host>> passes(
      const std::vector<pass_request<T, host>>& q, index_t rows) {
    constexpr int D = ck::fixed_point_dots;
    std::vector<residual_pass_result<T, host>> out(q.size());
    const std::size_t R = static_cast<std::size_t>(rows);
    for (std::size_t i = 0; i < q.size(); ++i) {
      const pass_request<T, host>& rq = q[i];
      residual_pass_result<T, host>& o = out[i];
      BOOST_REQUIRE(static_cast<int>(rq.others.size()) <= ck::fixed_point_max_others);
      if (rq.x.defined()) {
        o.r = rq.r.defined() ? rq.r : tensor<T>(rq.f.shape());
        if (rq.with_u) o.u = tensor<T>(rq.f.shape());
      } else {
        o.r = rq.f;
      }
      std::vector<double> partial(R * static_cast<std::size_t>(blocks * D));
      ck::fixed_point_residual_args<T> a{};
      a.f = rq.f.data();
      a.x = rq.x.defined() ? rq.x.data() : nullptr;
      a.r = rq.x.defined() ? o.r.data() : nullptr;
      a.u = rq.x.defined() && rq.with_u ? o.u.data() : nullptr;
      a.ng = static_cast<int>(rq.others.size());
      for (int j = 0; j < a.ng; ++j) a.g[j] = rq.others[static_cast<std::size_t>(j)].data();
      a.f_norm = rq.f_norm;
      a.beta = static_cast<T>(rq.beta);
      a.n = rq.f.numel() / rows;
      a.rows = rows;
      a.partial = partial.data();
      launch_residual(a);
      const std::size_t no = rq.others.size();
      o.dots.assign((2 + no) * R, 0.0);
      for (std::size_t b = 0; b < R; ++b) {
        double s[D] = {};
        for (int blk = 0; blk < blocks; ++blk)
          for (int d = 0; d < D; ++d)
            s[d] +=
                partial[(b * static_cast<std::size_t>(blocks) + static_cast<std::size_t>(blk)) * D +
                        static_cast<std::size_t>(d)];
        o.dots[b] = s[0];
        o.dots[R + b] = s[1];
        for (std::size_t j = 0; j < no; ++j) o.dots[(2 + j) * R + b] = s[2 + j];
      }
    }
    return out;
  }

  /// One combination kernel (this test's solves combine at most 8 terms).
  template <class T>
  static tensor<T> combine(const std::vector<tensor<T>>& terms, const std::vector<double>& coef,
                           index_t rows) {
    BOOST_REQUIRE(static_cast<int>(terms.size()) <= ck::fixed_point_max_terms);
    std::vector<const T*> t;
    for (const tensor<T>& x : terms) t.push_back(x.data());
    return launch_combination(t, coef.data(), terms.front().shape(), rows);
  }

  template <class T>
  static tensor<T> launch_combination(const std::vector<const T*>& terms, const double* coef,
                                      const shape_t& shape, index_t rows) {
    tensor<T> out(shape);
    ck::fixed_point_combine_args<T> a{};
    a.nt = static_cast<int>(terms.size());
    for (int j = 0; j < a.nt; ++j) a.t[j] = terms[static_cast<std::size_t>(j)];
    a.c = coef;
    a.out = out.data();
    a.n = out.numel() / rows;
    a.rows = rows;
    launch_combine(a);
    return out;
  }

  static constexpr bool has_resident_ops = true;

  /// solver_kernels<cuda>::resident_ops with the emulated kernels.
  template <class T>
  struct resident_ops {
    static constexpr int ndots = ck::fixed_point_dots;
    static int blocks(index_t, index_t) { return solver_kernels<host>::blocks; }
    static void pass(const tensor<T>& f, const tensor<T>& x, const tensor<T>& r, const tensor<T>& u,
                     const std::vector<const T*>& others, double beta, bool f_norm, index_t rows,
                     int nblocks, double* partial) {
      BOOST_REQUIRE(static_cast<int>(others.size()) <= ck::fixed_point_max_others);
      BOOST_REQUIRE(nblocks == solver_kernels<host>::blocks);  // the grid launch_residual uses
      ck::fixed_point_residual_args<T> a{};
      a.f = f.data();
      a.x = x.data();
      a.r = r.data();
      a.u = u.data();
      a.ng = static_cast<int>(others.size());
      for (int j = 0; j < a.ng; ++j) a.g[j] = others[static_cast<std::size_t>(j)];
      a.f_norm = f_norm;
      a.beta = static_cast<T>(beta);
      a.n = f.numel() / rows;
      a.rows = rows;
      a.partial = partial;
      launch_residual(a);
    }
    static void step(const resident_view& v, int k, bool last) {
      const unsigned t = static_cast<unsigned>(std::min<index_t>(256, (v.rows + 31) / 32 * 32));
      cuda_emulation::emulate_launch(dim3(1), dim3(t),
                                     [&] { ck::fixed_point_resident_step<T>(v, k, last ? 1 : 0); });
    }
    static void save(const tensor<T>& x, const tensor<T>& u, const tensor<T>& best_z,
                     const tensor<T>& best_u, const double* best_iter, int evicted, index_t rows) {
      ++saves;
      cuda_emulation::emulate_launch(grid(rows), dim3(threads), [&] {
        ck::fixed_point_save_best<T>(x.data(), u.data(), best_z.data(), best_u.data(), best_iter,
                                     static_cast<double>(evicted), x.numel() / rows, rows);
      });
    }
    static tensor<T> combine(const std::vector<const T*>& terms, const double* coef,
                             const shape_t& shape, index_t rows) {
      BOOST_REQUIRE(static_cast<int>(terms.size()) <= ck::fixed_point_max_terms);
      return launch_combination(terms, coef, shape, rows);
    }
    static inline int saves = 0;  ///< save launches (the eviction case counts them)
  };
};

}  // namespace tessera::implicit::detail

namespace {

using namespace tessera;
namespace im = tessera::implicit;
namespace ck = tessera::cuda_kernels;
using kernels = im::detail::solver_kernels<host>;

/// The first index where a and b differ in their bits (NaN payloads included), or -1.
long first_difference(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0) return static_cast<long>(i);
  return -1;
}

using implicit_test::max_abs_diff;

/// z ↦ s ⊙ tanh(z W) + c, row b contracting at its own rate s_b (0.2 … 0.9), so that samples
/// converge at different iterations; with `nan_row` ≥ 0 that row's value is NaN on evaluations
/// nan_from … nan_to (counted from 1); with `drift_row` ≥ 0 that row moves away by 0.05 more
/// at every evaluation after the 4th (its best iterate is an early one).
template <class T>
struct per_sample_map {
  per_sample_map(index_t rows, index_t n) {
    generator gen(11);
    W = randn<T>({n, n}, gen);
    double fro = 0;
    for (index_t i = 0; i < W.numel(); ++i) fro += double(W.flat(i)) * double(W.flat(i));
    W = mul(W, scalar<T>(static_cast<T>(1.0 / std::sqrt(fro))));
    c = randn<T>({rows, n}, gen);
    s = tensor<T>({rows, 1});
    for (index_t b = 0; b < rows; ++b)
      s.data()[b] = static_cast<T>(0.2 + 0.7 * double(b % 8) / 7.0);
  }
  tensor<T> operator()(const tensor<T>& z) const {
    tensor<T> y = add(mul(tanh(matmul(z, W)), s), c);
    ++*calls;
    if (nan_row >= 0 && *calls >= nan_from && *calls <= nan_to)
      y.select(0, nan_row).fill_(std::numeric_limits<T>::quiet_NaN());
    if (drift_row >= 0 && *calls > 4) {
      tensor<T> row = y.select(0, drift_row);
      row.copy_from(add(row, scalar<T>(static_cast<T>(0.05 * (*calls - 4)))));
    }
    return y;
  }
  tensor<T> W, c, s;
  std::shared_ptr<int> calls = std::make_shared<int>(0);
  index_t nan_row = -1, drift_row = -1;
  int nan_from = 0, nan_to = 0;
};

/// The resident solve against the synchronised one (full budget), both with the emulated
/// kernels: the same bits, or without `same_bits` (after a restart the two keep their histories
/// in other slots) the same report and iterates to 1e-10. With `host_tol` ≥ 0, the synchronised
/// one against the host loop too.
template <class T>
void check_resident(const std::string& what, per_sample_map<T> map, index_t rows, index_t n,
                    im::solver_options o, int nblocks, double host_tol, bool same_bits = true) {
  kernels::blocks = nblocks;
  const tensor<T> z0 = zeros<T>({rows, n});
  const im::detail::convention cv;
  BOOST_TEST_CONTEXT(what << ", " << nblocks << " blocks a row") {
    o.full_budget = true;
    o.device_resident = false;
    *map.calls = 0;
    const auto sync = im::detail::solve_values_space<T, host>("test", map, z0, o, cv);
    o.full_budget = false;
    o.device_resident = true;
    *map.calls = 0;
    const auto res = im::detail::solve_values_space<T, host>("test", map, z0, o, cv);
    BOOST_TEST(*map.calls == o.max_iter);
    BOOST_TEST(res.info.iterations == sync.info.iterations);
    BOOST_TEST(res.info.converged == sync.info.converged);
    BOOST_TEST(res.info.safeguard_steps == sync.info.safeguard_steps);
    BOOST_TEST(res.info.sample_converged == sync.info.sample_converged,
               boost::test_tools::per_element());
    if (same_bits) {
      BOOST_TEST(res.info.sample_residuals == sync.info.sample_residuals,
                 boost::test_tools::per_element());
      BOOST_TEST(res.info.residual_history == sync.info.residual_history,
                 boost::test_tools::per_element());
      BOOST_TEST(max_abs_diff(res.z, sync.z) == 0.0);
    } else {
      BOOST_TEST(max_abs_diff(res.z, sync.z) <= 1e-10);
      BOOST_REQUIRE(res.info.residual_history.size() == sync.info.residual_history.size());
      for (std::size_t i = 0; i < sync.info.residual_history.size(); ++i) {
        const double a = res.info.residual_history[i], b = sync.info.residual_history[i];
        BOOST_TEST(((std::isnan(a) && std::isnan(b)) || std::abs(a - b) <= 1e-10 * (1 + b)),
                   "residual " << i << ": resident " << a << ", synchronised " << b);
      }
    }
    if (host_tol >= 0) {
      *map.calls = 0;
      o.device_resident = false;
      o.full_budget = true;
      const auto ref = im::detail::solve_values<T>("test", map, z0, o, cv);
      BOOST_TEST(max_abs_diff(ref.z, sync.z) <= host_tol);
      BOOST_TEST(ref.info.iterations == sync.info.iterations);
      BOOST_TEST(ref.info.sample_converged == sync.info.sample_converged,
                 boost::test_tools::per_element());
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_emulated)

BOOST_AUTO_TEST_CASE(resident_solve_with_the_kernels_matches_the_synchronised_one) {
  // Picard and Anderson with short and the longest history, partials from 1 and 3 blocks per
  // row, single values (n = 30) and 16-byte packs (n = 64).
  using sm = im::solver_method;
  for (const auto& [n, nblocks] : {std::pair<index_t, int>{30, 1}, {64, 3}})
    for (const auto method : {sm::picard, sm::anderson})
      for (const int history : {2, 7}) {
        if (method == sm::picard && history != 2) continue;
        const im::solver_options o{.method = method,
                                   .max_iter = 12,
                                   .abs_tol = 1e-9,
                                   .rel_tol = 1e-7,
                                   .batched = true,
                                   .damping = 0.8,
                                   .history = history};
        check_resident<double>(std::string(method == sm::picard ? "picard" : "anderson") + " m " +
                                   std::to_string(history) + ", n " + std::to_string(n),
                               per_sample_map<double>(5, n), 5, n, o, nblocks, 1e-10);
      }
  // float, as the FNO-DEQ runs it (4-value packs)
  check_resident<float>("float anderson", per_sample_map<float>(4, 128), 4, 128,
                        {.method = sm::anderson, .max_iter = 10, .batched = true, .history = 5}, 2,
                        -1);
}

BOOST_AUTO_TEST_CASE(resident_solve_with_the_kernels_restarts_after_nan) {
  // Row 1's value is NaN on evaluations 4–5: the step kernel's __syncthreads_or tells every
  // sample, the history is cleared and row 1 restarts from its best iterate. The synchronised
  // loop and the host loop agree up to rounding (test_implicit's space_loop: the same).
  per_sample_map<double> map(3, 32);
  map.nan_row = 1;
  map.nan_from = 4;
  map.nan_to = 5;
  for (const auto method : {im::solver_method::picard, im::solver_method::anderson})
    check_resident<double>(method == im::solver_method::picard ? "picard" : "anderson", map, 3, 32,
                           {.method = method, .max_iter = 20, .batched = true, .history = 3}, 2,
                           1e-10, false);
  // Row 0 drifts away after its 4th evaluation and is NaN on evaluations 9–11: its best iterate
  // has left the ring, and its restarts (steps of 1/2, 1/4, 1/8) combine the saved copies of
  // the best's x and u.
  per_sample_map<double> late(2, 16);
  late.drift_row = 0;
  late.nan_row = 0;
  late.nan_from = 9;
  late.nan_to = 11;
  for (const auto method : {im::solver_method::picard, im::solver_method::anderson})
    check_resident<double>(
        method == im::solver_method::picard ? "picard, saved best" : "anderson, saved best", late,
        2, 16, {.method = method, .max_iter = 16, .abs_tol = 0, .batched = true, .history = 3}, 1,
        1e-10, false);
}

BOOST_AUTO_TEST_CASE(resident_solve_with_the_kernels_saves_a_dropped_best_iterate) {
  // Row 0 drifts away after the 4th evaluation: its best iterate leaves the ring (3 slots for
  // Anderson, 2 for Picard) and the save kernel keeps it.
  per_sample_map<double> map(2, 16);
  map.drift_row = 0;
  using resident = kernels::resident_ops<double>;
  for (const auto method : {im::solver_method::picard, im::solver_method::anderson}) {
    resident::saves = 0;
    check_resident<double>(
        method == im::solver_method::picard ? "picard" : "anderson", map, 2, 16,
        {.method = method, .max_iter = 14, .abs_tol = 0, .batched = true, .history = 3}, 1, 1e-10);
    BOOST_TEST(resident::saves >= 1);
  }
}

BOOST_AUTO_TEST_CASE(resident_step_kernel_on_many_samples) {
  // 300 samples on the step kernel's 256 threads (the first 44 take two samples), five
  // iterations of random block partials with a NaN on sample 290 at iteration 3: the kernel's
  // state after each launch is that of the two phases run sample by sample on the host (with
  // any_bad over all samples, what __syncthreads_or gives every thread). A whole solve on 300
  // samples would take minutes here: each warp shuffle is two barriers of 32 OS threads.
  const index_t rows = 300;
  const int ring = 4, ndots = ck::fixed_point_dots, blocks = 2, iters = 6;
  struct state {
    std::vector<double> partial, dots, gram, best_res, best_iter, ref0, hist, coef, valid, finite,
        conv, restarts, flags;
    im::detail::resident_view view(index_t rows, int ring, int ndots, int blocks) {
      im::detail::resident_view v;
      v.ring = ring;
      v.anderson = true;
      v.rows = rows;
      v.blocks = blocks;
      v.ndots = ndots;
      v.lambda = 1e-8;
      v.rel_tol = 1e-6;
      v.partial = partial.data();
      v.dots = dots.data();
      v.gram = gram.data();
      v.best_res = best_res.data();
      v.best_iter = best_iter.data();
      v.ref0 = ref0.data();
      v.hist = hist.data();
      v.coef = coef.data();
      v.valid = valid.data();
      v.finite = finite.data();
      v.conv = conv.data();
      v.restarts = restarts.data();
      v.flags = flags.data();
      return v;
    }
  };
  const auto R = static_cast<std::size_t>(rows);
  state a;
  a.partial.assign(R * blocks * ndots, 0.0);
  a.dots.assign(R * ndots, 0.0);
  a.gram.assign(R * ring * ring, 0.0);
  a.best_res.assign(R, 0.0);
  a.best_iter.assign(R, 0.0);
  a.ref0.assign(R, 0.0);
  a.hist.assign(R * iters, 0.0);
  a.coef.assign(R * 2 * (ring + 1), 0.0);
  a.valid.assign(R, 0.0);
  a.finite.assign(R, 1.0);
  a.conv.assign(R, 0.0);
  a.restarts.assign(R, 0.0);
  a.flags.assign(iters, 0.0);
  state b = a;
  generator gen(5);
  state after4;  // the state after iteration 4's step (the last iteration resets the count)
  for (int k = 0; k < iters; ++k) {
    const tensor<double> p =
        rand<double>(shape_t{rows, index_t{blocks}, index_t{ndots}}, gen, 0.0, 1.0);
    std::copy(p.data(), p.data() + p.numel(), a.partial.begin());
    if (k == 3 || k == 4) a.partial[(290 * blocks + 1) * ndots] = std::nan("");
    b.partial = a.partial;
    const bool last = k + 1 == iters;
    const im::detail::resident_view va = a.view(rows, ring, ndots, blocks);
    cuda_emulation::emulate_launch(
        dim3(1), dim3(256), [&] { ck::fixed_point_resident_step<double>(va, k, last ? 1 : 0); });
    const im::detail::resident_view vb = b.view(rows, ring, ndots, blocks);
    bool bad = false;
    for (index_t s = 0; s < rows; ++s) bad = im::detail::resident_residual(vb, s, k) || bad;
    if (!last) {
      double work[im::detail::resident_work];
      for (index_t s = 0; s < rows; ++s) im::detail::resident_step(vb, s, k, bad, work);
    }
    BOOST_TEST_CONTEXT("iteration " << k) {
      BOOST_TEST(bad == (k == 3 || k == 4));
      for (const auto& [name, x, y] :
           {std::tuple{"dots", &a.dots, &b.dots}, std::tuple{"gram", &a.gram, &b.gram},
            std::tuple{"best_res", &a.best_res, &b.best_res},
            std::tuple{"best_iter", &a.best_iter, &b.best_iter},
            std::tuple{"hist", &a.hist, &b.hist}, std::tuple{"coef", &a.coef, &b.coef},
            std::tuple{"valid", &a.valid, &b.valid}, std::tuple{"finite", &a.finite, &b.finite},
            std::tuple{"conv", &a.conv, &b.conv}, std::tuple{"restarts", &a.restarts, &b.restarts},
            std::tuple{"flags", &a.flags, &b.flags}})
        BOOST_TEST(first_difference(*x, *y) == -1, name << " differs");
    }
    if (k == 4) after4 = a;
  }
  // the NaN reached every sample's step: iterations 3 and 4 are Picard's everywhere, and
  // sample 290 restarts from its best iterate twice, the second time with a quarter step:
  // 1/4 on the best's u (its ring slot, or the saved copy after the ring) and 3/4 on its x
  BOOST_TEST(a.flags[3] == 1.0);
  BOOST_TEST(a.flags[4] == 1.0);
  BOOST_TEST(after4.restarts[290] == 2.0);
  const int R1 = ring + 1, k = 4, bi = static_cast<int>(after4.best_iter[290]);
  const int slot = bi > k - ring ? bi % ring : ring;
  const double* c290 = after4.coef.data() + 290 * 2 * R1;
  for (int i = 0; i < 2 * R1; ++i)
    BOOST_TEST(c290[i] == (i == slot ? 0.25 : i == R1 + slot ? 0.75 : 0.0), "coefficient " << i);
}

BOOST_AUTO_TEST_SUITE_END()
