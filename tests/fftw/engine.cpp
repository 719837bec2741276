// SPDX-License-Identifier: Apache-2.0
// The FFTW engine (spectral/fftw.hpp) against tessera's own Stockham engine on the same inputs:
// every primitive (c2c in and out of place, r2c, c2r with Hermitian and adjoint weights), odd
// and even lengths, every axis, strided views, transforms large enough to be split over
// threads; layouts FFTW cannot describe falling back; the plan cache shared by threads.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "../spectral/helpers.hpp"
#include "tessera/spectral/fft.hpp"

using namespace tessera;
using namespace spectral_test;
namespace sp = tessera::spectral;
namespace fw = tessera::spectral::detail::fftw;

namespace {

/// f() with the builtin engine on this thread.
template <class F>
auto builtin(F&& f) {
  const sp::fft_engine_guard g(sp::fft_engine::builtin);
  return f();
}

std::uint64_t executions() { return fw::stats().executions.load(); }

/// max |a − b| relative to max |b|; infinite for different shapes. No Boost.Test call, so
/// threads may use it.
template <class T>
double rel_diff(const tensor<T>& a, const tensor<T>& b) {
  if (!(a.shape() == b.shape())) return std::numeric_limits<double>::infinity();
  double m = 1e-30, d = 0;
  for (index_t i = 0; i < b.numel(); ++i) {
    m = std::max(m, std::abs(static_cast<double>(b.flat(i))));
    d = std::max(d, std::abs(static_cast<double>(a.flat(i)) - static_cast<double>(b.flat(i))));
  }
  return d / m;
}

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
  generator gen(2);
  for (index_t n : {1, 2, 3, 7, 8, 12, 47, 94}) {
    const std::string at = " n=" + std::to_string(n);
    const tensor<T> xc = randn<T>(shape_t{3, n, 4, 2}, gen);
    const tensor<T> xr = randn<T>(shape_t{3, 4, n}, gen);
    for (int axis : {0, 1, 2}) {
      const auto f = [&] { return sp::fft(xc, axis); };
      const auto fi = [&] { return sp::ifft(xc, axis); };
      BOOST_TEST(rel_diff(f(), builtin(f)) <= tol<T>(), "fft axis " << axis << at);
      BOOST_TEST(rel_diff(fi(), builtin(fi)) <= tol<T>(), "ifft axis " << axis << at);
      const auto r = [&] { return sp::rfft(xr, axis); };
      BOOST_TEST(rel_diff(r(), builtin(r)) <= tol<T>(), "rfft axis " << axis << at);
      // c2r with Hermitian weights (irfft) and with unit weights (rfft's adjoint), from a
      // spectrum that is cropped (n/2 + 1 > m) or padded (bins past n/2 ignored).
      for (index_t len : {n, n + 3, std::max<index_t>(1, n / 2)}) {
        const tensor<T> X = randn<T>(shape_t{2, n / 2 + 1, 3, 2}, gen);
        const int ax = axis == 2 ? 1 : axis;
        const auto h = [&] { return sp::irfft(X, ax, len); };
        const auto u = [&] { return sp::detail::c2r(X, ax, len, T(0.5), false); };
        BOOST_TEST(rel_diff(h(), builtin(h)) <= tol<T>(), "irfft len " << len << at);
        BOOST_TEST(rel_diff(u(), builtin(u)) <= tol<T>(), "c2r unit weights len " << len << at);
      }
    }
    // Strided views: a transposed real input, a complex input sliced with a step.
    const tensor<T> xt = randn<T>(shape_t{n, 5}, gen).transpose(0, 1);
    const auto rt = [&] { return sp::rfft(xt); };
    BOOST_TEST(rel_diff(rt(), builtin(rt)) <= tol<T>(), "rfft of a transposed view" << at);
    const tensor<T> xs = randn<T>(shape_t{4, 2 * n, 2}, gen).slice(1, 0, 2 * n, 2);
    const auto fs = [&] { return sp::fft(xs); };
    BOOST_TEST(rel_diff(fs(), builtin(fs)) <= tol<T>(), "fft of a stepped slice" << at);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(n_d_and_threaded_sizes_match, T, float_types) {
  // Large enough (> 2 · default_grain points) to be split over the outermost loop when there
  // are threads; the n-d forms use c2c in place.
  generator gen(3);
  const tensor<T> x = randn<T>(shape_t{8, 16, 47, 64}, gen);
  const auto r2 = [&] { return sp::rfft2(x); };
  const tensor<T> X = r2();
  BOOST_TEST(rel_diff(X, builtin(r2)) <= tol<T>() * 4);
  const auto i2 = [&] { return sp::irfft2(X, shape_t{47, 64}); };
  BOOST_TEST(rel_diff(i2(), builtin(i2)) <= tol<T>() * 4);
  BOOST_TEST(rel_diff(i2(), x) <= tol<T>() * 8);
  const tensor<T> z = randn<T>(shape_t{4, 6, 10, 12, 2}, gen);
  const auto f3 = [&] { return sp::fftn(z, shape_t{0, 2, 3}); };
  BOOST_TEST(rel_diff(f3(), builtin(f3)) <= tol<T>() * 4);
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

BOOST_AUTO_TEST_CASE(threads_share_the_plan_cache) {
  // Four threads transform different sizes concurrently, planning and evicting in one cache:
  // every result equals the builtin engine's.
  std::vector<std::thread> pool;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([t, &bad] {
      generator gen(100 + t);
      for (int i = 0; i < 40; ++i) {
        const index_t n = 5 + (t * 40 + i) % 37;
        const tensor<double> x = randn<double>(shape_t{3, n, 6}, gen);
        const auto f = [&] { return sp::irfft(sp::rfft(x, 1), 1, n); };
        if (rel_diff(f(), builtin(f)) > 1e-12 || rel_diff(f(), x) > 1e-12) ++bad[t];
      }
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < 4; ++t) BOOST_TEST(bad[t] == 0, "thread " << t);
}

BOOST_AUTO_TEST_SUITE_END()
