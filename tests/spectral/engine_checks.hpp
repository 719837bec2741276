// SPDX-License-Identifier: Apache-2.0
// Checks shared by the tests of the optional host FFT engines (tests/fftw, tests/eigen_fft): the
// engine of the calling thread against tessera's own Stockham engine on the same inputs.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "helpers.hpp"
#include "tessera/spectral/fft.hpp"

namespace spectral_test {

/// f() with the builtin engine on this thread.
template <class F>
auto builtin(F&& f) {
  const tessera::spectral::fft_engine_guard g(tessera::spectral::fft_engine::builtin);
  return f();
}

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

/// Every primitive on the current engine against the builtin one: c2c (fft, ifft), r2c, c2r
/// with Hermitian and unit weights from cropped and padded spectra, every axis, odd, even and
/// prime lengths, a transposed real input and a complex input sliced with a step.
template <class T>
void primitives_match_builtin(std::uint64_t seed) {
  namespace sp = tessera::spectral;
  tessera::generator gen(seed);
  for (index_t n : {1, 2, 3, 7, 8, 12, 47, 94}) {
    const std::string at = " n=" + std::to_string(n);
    const tensor<T> xc = tessera::randn<T>(shape_t{3, n, 4, 2}, gen);
    const tensor<T> xr = tessera::randn<T>(shape_t{3, 4, n}, gen);
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
        const tensor<T> X = tessera::randn<T>(shape_t{2, n / 2 + 1, 3, 2}, gen);
        const int ax = axis == 2 ? 1 : axis;
        const auto h = [&] { return sp::irfft(X, ax, len); };
        const auto u = [&] { return sp::detail::c2r(X, ax, len, T(0.5), false); };
        BOOST_TEST(rel_diff(h(), builtin(h)) <= tol<T>(), "irfft len " << len << at);
        BOOST_TEST(rel_diff(u(), builtin(u)) <= tol<T>(), "c2r unit weights len " << len << at);
      }
    }
    // Strided views: a transposed real input, a complex input sliced with a step.
    const tensor<T> xt = tessera::randn<T>(shape_t{n, 5}, gen).transpose(0, 1);
    const auto rt = [&] { return sp::rfft(xt); };
    BOOST_TEST(rel_diff(rt(), builtin(rt)) <= tol<T>(), "rfft of a transposed view" << at);
    const tensor<T> xs = tessera::randn<T>(shape_t{4, 2 * n, 2}, gen).slice(1, 0, 2 * n, 2);
    const auto fs = [&] { return sp::fft(xs); };
    BOOST_TEST(rel_diff(fs(), builtin(fs)) <= tol<T>(), "fft of a stepped slice" << at);
  }
}

/// The 2-d and 3-d forms (c2c in place after the first axis) on sizes large enough to be split
/// over threads, against the builtin engine, and the round trip.
template <class T>
void n_d_forms_match_builtin(std::uint64_t seed) {
  namespace sp = tessera::spectral;
  tessera::generator gen(seed);
  const tensor<T> x = tessera::randn<T>(shape_t{8, 16, 47, 64}, gen);
  const auto r2 = [&] { return sp::rfft2(x); };
  const tensor<T> X = r2();
  BOOST_TEST(rel_diff(X, builtin(r2)) <= tol<T>() * 4);
  const auto i2 = [&] { return sp::irfft2(X, shape_t{47, 64}); };
  BOOST_TEST(rel_diff(i2(), builtin(i2)) <= tol<T>() * 4);
  BOOST_TEST(rel_diff(i2(), x) <= tol<T>() * 8);
  const tensor<T> z = tessera::randn<T>(shape_t{4, 6, 10, 12, 2}, gen);
  const auto f3 = [&] { return sp::fftn(z, shape_t{0, 2, 3}); };
  BOOST_TEST(rel_diff(f3(), builtin(f3)) <= tol<T>() * 4);
}

/// Four threads transform different sizes at once on the engine `e` (each thread selects it):
/// every result equals the builtin engine's, and the round trip returns the input.
inline void threads_match_builtin(tessera::spectral::fft_engine e) {
  namespace sp = tessera::spectral;
  std::vector<std::thread> pool;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([t, e, &bad] {
      const sp::fft_engine_guard g(e);
      tessera::generator gen(100 + static_cast<std::uint64_t>(t));
      for (int i = 0; i < 40; ++i) {
        const index_t n = 5 + (t * 40 + i) % 37;
        const tensor<double> x = tessera::randn<double>(shape_t{3, n, 6}, gen);
        const auto f = [&] { return sp::irfft(sp::rfft(x, 1), 1, n); };
        if (rel_diff(f(), builtin(f)) > 1e-12 || rel_diff(f(), x) > 1e-12) ++bad[t];
      }
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < 4; ++t) BOOST_TEST(bad[t] == 0, "thread " << t);
}

}  // namespace spectral_test
