// SPDX-License-Identifier: Apache-2.0
// Test driver for the FFTW engine of the host FFTs (built when tessera::fftw exists): the cases
// of engine.cpp and, compiled again against that engine, tests/spectral/fft.cpp and fft_grad.cpp.
#define BOOST_TEST_MODULE tessera_fftw
#include <boost/test/unit_test.hpp>
