// SPDX-License-Identifier: Apache-2.0
// Consumer test of the `fftw` component: tessera::fftw defines TESSERA_USE_FFTW and links FFTW,
// so the host FFTs run on FFTW (its execution counter moves) and agree with the builtin engine.
// Each check that fails prints what it expected and makes the program exit 1, which fails the
// CTest test consumer_find_package.
#include <tessera/spectral.hpp>

#include <cmath>
#include <cstdio>

namespace {
int failures = 0;
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer_fftw: FAILED: %s\n", what);
    ++failures;
  }
}
}  // namespace

int main() {
  namespace sp = tessera::spectral;
  check(sp::has_fftw, "spectral::has_fftw is true under tessera::fftw");
  check(sp::host_fft_engine() == sp::fft_engine::fftw, "the FFTW engine is the default");
  tessera::generator gen(3);
  const tessera::tensor<double> x = tessera::randn<double>({4, 12}, gen);
  const auto before = sp::detail::fftw::stats().executions.load();
  const tessera::tensor<double> a = sp::rfft(x);
  check(sp::detail::fftw::stats().executions.load() > before, "rfft ran through FFTW");
  tessera::tensor<double> b;
  {
    const sp::fft_engine_guard g(sp::fft_engine::builtin);
    b = sp::rfft(x);
  }
  check(a.shape() == b.shape(), "both engines give rfft's shape (4, 7, 2)");
  double diff = 0;
  for (tessera::index_t i = 0; i < a.numel() && a.shape() == b.shape(); ++i)
    diff = std::fmax(diff, std::abs(a.flat(i) - b.flat(i)));
  check(diff <= 1e-12, "FFTW's rfft equals the builtin engine's within 1e-12");
  return failures == 0 ? 0 : 1;
}
