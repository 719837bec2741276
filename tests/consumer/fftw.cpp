// SPDX-License-Identifier: Apache-2.0
// Consumer test of the `fftw` component: tessera::fftw defines TESSERA_USE_FFTW and links FFTW,
// so the host FFTs run on FFTW (its execution counter moves) and agree with the builtin engine.
// Every check is an assert, kept on in every build type (NDEBUG undefined below): a failed one
// prints its condition and message and aborts, which fails the CTest test consumer_find_package.
#undef NDEBUG
#include <cassert>
#include <cmath>

#include <tessera/spectral.hpp>

int main() {
  namespace sp = tessera::spectral;
  assert(sp::has_fftw && "spectral::has_fftw is true under tessera::fftw");
  assert(sp::host_fft_engine() == sp::fft_engine::fftw && "the FFTW engine is the default");
  tessera::generator gen(3);
  const tessera::tensor<double> x = tessera::randn<double>({4, 12}, gen);
  const auto before = sp::detail::fftw::stats().executions.load();
  const tessera::tensor<double> a = sp::rfft(x);
  assert(sp::detail::fftw::stats().executions.load() > before && "rfft ran through FFTW");
  tessera::tensor<double> b;
  {
    const sp::fft_engine_guard g(sp::fft_engine::builtin);
    b = sp::rfft(x);
  }
  assert(a.shape() == b.shape() && "both engines give rfft's shape (4, 7, 2)");
  double diff = 0;
  for (tessera::index_t i = 0; i < a.numel(); ++i)
    diff = std::fmax(diff, std::abs(a.flat(i) - b.flat(i)));
  assert(diff <= 1e-12 && "FFTW's rfft equals the builtin engine's within 1e-12");
  return 0;
}
