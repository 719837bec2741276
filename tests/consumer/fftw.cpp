// SPDX-License-Identifier: Apache-2.0
// Consumer smoke test of the `fftw` component: tessera::fftw defines TESSERA_USE_FFTW and links
// FFTW, so the host FFTs run on FFTW (its execution counter moves) and agree with the builtin
// engine.
#include <tessera/spectral.hpp>

#include <cmath>

int main() {
  namespace sp = tessera::spectral;
  if (!sp::has_fftw || sp::host_fft_engine() != sp::fft_engine::fftw) return 1;
  tessera::generator gen(3);
  const tessera::tensor<double> x = tessera::randn<double>({4, 12}, gen);
  const auto before = sp::detail::fftw::stats().executions.load();
  const tessera::tensor<double> a = sp::rfft(x);
  if (sp::detail::fftw::stats().executions.load() == before) return 2;
  tessera::tensor<double> b;
  {
    const sp::fft_engine_guard g(sp::fft_engine::builtin);
    b = sp::rfft(x);
  }
  for (tessera::index_t i = 0; i < a.numel(); ++i)
    if (std::abs(a.flat(i) - b.flat(i)) > 1e-12) return 3;
  return 0;
}
