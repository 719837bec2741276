// SPDX-License-Identifier: Apache-2.0
// Must not compile (ctest eigen_fft_refuses_eigens_fftw_backend): tessera's Eigen FFT engine with
// Eigen's FFTW backend, which plans without a lock, is refused by an #error that names the way
// to FFTW that is thread-safe.
#include "tessera/spectral/fft.hpp"

// Reached only if the header let this configuration through: the build fails either way, and
// the ctest, which looks for the #error's text, fails then.
static_assert(false, "tessera/spectral/eigen_fft.hpp accepted EIGEN_FFTW_DEFAULT");

int main() { return 0; }
