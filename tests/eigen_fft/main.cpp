// SPDX-License-Identifier: Apache-2.0
// Test driver for Eigen's FFT as the engine of the host FFTs (TESSERA_USE_EIGEN_FFT): the cases
// of engine.cpp and, compiled again against that engine, tests/spectral/fft.cpp and fft_grad.cpp.
#define BOOST_TEST_MODULE tessera_eigen_fft
#include <boost/test/unit_test.hpp>
