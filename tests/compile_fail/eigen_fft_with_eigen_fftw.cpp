// SPDX-License-Identifier: Apache-2.0
// tessera's Eigen FFT engine with Eigen's FFTW backend, which plans without a lock, is refused by
// an #error that names the way to FFTW that is thread-safe. Compiled twice:
// - with TESSERA_USE_EIGEN_FFT and EIGEN_FFTW_DEFAULT (object library eigen_fft_with_eigen_fftw,
//   ctest eigen_fft_refuses_eigens_fftw_backend): must fail with the #error's text;
// - with TESSERA_USE_EIGEN_FFT alone, in test_eigen_fft: the control. The same file compiles and
//   transforms with Eigen's kissfft, so the failure above is the #error's and nothing else's.
#include <boost/test/unit_test.hpp>

#include "tessera/core/creation.hpp"
#include "tessera/spectral/fft.hpp"

#ifdef EIGEN_FFTW_DEFAULT
// Reached only if the header let this configuration through: the build fails either way, and
// the ctest, which looks for the #error's text, fails then.
static_assert(false, "tessera/spectral/eigen_fft.hpp accepted EIGEN_FFTW_DEFAULT");
#endif

BOOST_AUTO_TEST_SUITE(eigen_fft_without_fftw)

BOOST_AUTO_TEST_CASE(the_control_configuration_compiles_and_transforms) {
  namespace sp = tessera::spectral;
  using boost::test_tools::tolerance;
  BOOST_TEST((sp::host_fft_engine() == sp::fft_engine::eigen));
  // rfft([1, 2, 3, 4]) = [10, −2 + 2i, −2].
  const tessera::tensor<double> x = tessera::from_vector<double>({1, 2, 3, 4}, {4});
  const tessera::tensor<double> X = sp::rfft(x);  // (3, 2): (re, im) pairs
  BOOST_TEST_REQUIRE((X.shape() == tessera::shape_t{3, 2}));
  const double want[3][2] = {{10, 0}, {-2, 2}, {-2, 0}};
  for (tessera::index_t i = 0; i < 3; ++i)
    for (tessera::index_t c = 0; c < 2; ++c) BOOST_TEST(X(i, c) == want[i][c], tolerance(1e-12));
}

BOOST_AUTO_TEST_SUITE_END()
