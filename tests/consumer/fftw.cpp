// SPDX-License-Identifier: Apache-2.0
// Consumer test of the `fftw` component: tessera::fftw defines TESSERA_USE_FFTW and links FFTW,
// so the host FFTs run on FFTW (its execution counter moves) and agree with the builtin engine.
// A Boost.Test module like tessera's own tests; a failed check fails the CTest test
// consumer_find_package (cmake/tesseraConsumerTest.cmake runs this program).
#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_MODULE tessera_consumer_fftw
#include <boost/test/unit_test.hpp>

#include <cmath>

#include <tessera/spectral.hpp>

namespace sp = tessera::spectral;

BOOST_AUTO_TEST_CASE(the_fftw_component_runs_the_host_ffts_on_fftw) {
  BOOST_TEST(sp::has_fftw, "spectral::has_fftw is true under tessera::fftw");
  BOOST_TEST((sp::host_fft_engine() == sp::fft_engine::fftw), "the FFTW engine is the default");
  tessera::generator gen(3);
  const tessera::tensor<double> x = tessera::randn<double>({4, 12}, gen);
  const auto before = sp::detail::fftw::stats().executions.load();
  const tessera::tensor<double> a = sp::rfft(x);
  BOOST_TEST(sp::detail::fftw::stats().executions.load() > before, "rfft ran through FFTW");
  tessera::tensor<double> b;
  {
    const sp::fft_engine_guard g(sp::fft_engine::builtin);
    b = sp::rfft(x);
  }
  BOOST_TEST_REQUIRE((a.shape() == b.shape()), "both engines give rfft's shape (4, 7, 2)");
  double diff = 0;
  for (tessera::index_t i = 0; i < a.numel(); ++i)
    diff = std::fmax(diff, std::abs(a.flat(i) - b.flat(i)));
  BOOST_TEST(diff <= 1e-12, "FFTW's rfft differs from the builtin engine's by " << diff);
}
