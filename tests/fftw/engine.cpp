// SPDX-License-Identifier: Apache-2.0
// The FFTW engine (spectral/fftw.hpp) against tessera's own Stockham engine on the same inputs:
// every primitive (c2c in and out of place, r2c, c2r with Hermitian and adjoint weights), odd
// and even lengths, every axis, strided views, transforms large enough to be split over
// threads; layouts FFTW cannot describe falling back; the plan cache shared by threads.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../spectral/engine_checks.hpp"
#include "tessera/spectral/fft.hpp"

using namespace tessera;
using namespace spectral_test;
namespace sp = tessera::spectral;
namespace fw = tessera::spectral::detail::fftw;

namespace {

std::uint64_t executions() { return fw::stats().executions.load(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(fftw_engine)

BOOST_AUTO_TEST_CASE(is_the_default_and_runs) {
  BOOST_TEST(sp::has_fftw);
  BOOST_TEST((sp::host_fft_engine() == sp::fft_engine::fftw));
  {
    const sp::fft_engine_guard g(sp::fft_engine::builtin);
    BOOST_TEST((sp::host_fft_engine() == sp::fft_engine::builtin));
  }
  BOOST_TEST((sp::host_fft_engine() == sp::fft_engine::fftw));
  generator gen(1);
  const std::uint64_t before = executions();
  (void)sp::rfft2(randn<float>(shape_t{2, 3, 10, 9}, gen));
  BOOST_TEST(executions() >= before + 2);  // r2c along W, then c2c along H
}

BOOST_AUTO_TEST_CASE_TEMPLATE(every_primitive_matches_the_builtin_engine, T, float_types) {
  primitives_match_builtin<T>(2);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(n_d_and_threaded_sizes_match, T, float_types) {
  // Large enough (> 2 · default_grain points) to be split over the outermost loop when there
  // are threads; the n-d forms use c2c in place.
  n_d_forms_match_builtin<T>(3);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(measured_plans_match_and_leave_the_data_alone, T, float_types) {
  // FFTW_MEASURE and FFTW_PATIENT overwrite the arrays they plan on: planned on scratch arrays,
  // the caller's input survives and the results equal the builtin engine's. In place (the
  // n-d c2c), out of place, r2c and c2r, on layouts not planned before at this effort.
  generator gen(5);
  for (const sp::fftw_planning effort : {sp::fftw_planning::measure, sp::fftw_planning::patient}) {
    sp::set_fftw_planning(effort);
    const std::uint64_t plans = fw::stats().plans.load();
    const tensor<T> x = randn<T>(shape_t{3, 2, 10, 14}, gen);
    const tensor<T> keep = x.clone();
    const auto r2 = [&] { return sp::rfft2(x); };
    const tensor<T> X = r2();
    BOOST_TEST(max_abs_diff(x, keep) == 0.0);
    BOOST_TEST(rel_diff(X, builtin(r2)) <= tol<T>() * 4);
    const auto i2 = [&] { return sp::irfft2(X, shape_t{10, 14}); };
    BOOST_TEST(rel_diff(i2(), builtin(i2)) <= tol<T>() * 4);
    const tensor<T> z = randn<T>(shape_t{2, 9, 6, 2}, gen);
    const auto f3 = [&] { return sp::fftn(z); };
    BOOST_TEST(rel_diff(f3(), builtin(f3)) <= tol<T>() * 4);
    BOOST_TEST(fw::stats().plans.load() > plans);  // new plans at this effort
  }
  sp::set_fftw_planning(sp::fftw_planning::estimate);
  BOOST_TEST((sp::get_fftw_planning() == sp::fftw_planning::estimate));
}

BOOST_AUTO_TEST_CASE(layouts_fftw_cannot_take_fall_back) {
  generator gen(4);
  // Odd strides between complex elements (a slice of the pair axis of a wider array), and a
  // pair axis that is not contiguous (transposed storage): the Stockham engine runs instead.
  const tensor<float> odd = randn<float>(shape_t{3, 7, 3}, gen).slice(2, 0, 2);
  const tensor<float> pair_strided = randn<float>(shape_t{2, 9, 3}, gen).permute({2, 1, 0});
  for (const tensor<float>& x : {odd, pair_strided}) {
    const std::uint64_t before = executions();
    const tensor<float> y = sp::fft(x);
    BOOST_TEST(executions() == before, "shape " << x.shape().str());
    BOOST_TEST(rel_diff(y, builtin([&] { return sp::fft(x); })) == 0.0);
  }
}

// A transform whose plans are cached runs while another thread holds the planner (a long
// FFTW_MEASURE planning, say): a hit takes only the cache's lock. Before, every lookup took the
// planner mutex, and this transform waited for the planning to end. The two-minute wait only
// turns a deadlock into a failure; the transform takes microseconds.
BOOST_AUTO_TEST_CASE(a_cached_plan_does_not_wait_for_another_threads_planning) {
  generator gen(5);
  const tensor<float> x = randn<float>(shape_t{4, 16, 18}, gen);
  const tensor<float> expected = sp::rfft2(x);  // plans (and caches) both axes' transforms
  const std::uint64_t plans = fw::stats().plans.load();
  std::unique_lock<std::mutex> planning(fw::planner_mutex());
  std::packaged_task<tensor<float>()> task([&] { return sp::rfft2(x); });
  std::future<tensor<float>> again = task.get_future();
  std::thread worker(std::move(task));
  const bool finished = again.wait_for(std::chrono::minutes(2)) == std::future_status::ready;
  planning.unlock();
  worker.join();
  BOOST_TEST(finished);
  BOOST_TEST(fw::stats().plans.load() == plans);  // served from the cache
  BOOST_TEST(max_abs_diff(again.get(), expected) == 0.0);
}

BOOST_AUTO_TEST_CASE(threads_share_the_plan_cache) {
  // Four threads transform different sizes concurrently, planning and evicting in one cache.
  threads_match_builtin(sp::fft_engine::fftw);
}

BOOST_AUTO_TEST_SUITE_END()
