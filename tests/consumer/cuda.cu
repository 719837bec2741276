// SPDX-License-Identifier: Apache-2.0
// Consumer test of tessera::cuda: a .cu file built by a downstream project against an installed
// tessera (find_package COMPONENTS cuda). With a GPU, a cuBLAS product and a cuFFT transform
// agree with the host; without one, an upload throws tessera::cuda_error. A Boost.Test module
// like fftw.cpp; a failed check fails the CTest test consumer_find_package
// (cmake/tesseraConsumerTest.cmake runs this program).
#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_MODULE tessera_consumer_cuda
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>

#include <tessera/cuda/spectral.cuh>

BOOST_AUTO_TEST_CASE(the_cuda_component_runs_or_reports_the_missing_device) {
  using tessera::cuda;
  using tessera::host;
  if (!tessera::cuda_rt::device_available()) {
    // Without a device the package's error path must still hold: an upload throws
    // tessera::cuda_error naming the failed call; it does not crash or return garbage.
    BOOST_CHECK_THROW((void)tessera::to<cuda>(tessera::zeros<float>({4})), tessera::cuda_error);
    return;
  }
  tessera::generator gen(7);
  const tessera::tensor<double> a = tessera::randn<double>({16, 24}, gen);
  const tessera::tensor<double> b = tessera::randn<double>({24, 8}, gen);
  const auto ga = tessera::to<cuda>(a), gb = tessera::to<cuda>(b);
  const auto prod = tessera::to<host>(tessera::matmul(ga, gb) * 2.0);
  const auto want = tessera::matmul(a, b) * 2.0;
  BOOST_TEST_REQUIRE((prod.shape() == want.shape()));
  double err = 0;
  for (tessera::index_t i = 0; i < want.numel(); ++i)
    err = std::max(err, std::abs(prod.data()[i] - want.data()[i]));
  BOOST_TEST(err < 1e-10, "cuBLAS product against the host: largest difference " << err);
  const auto spec = tessera::to<host>(tessera::spectral::rfft(ga));
  const auto spec_h = tessera::spectral::rfft(a);
  BOOST_TEST_REQUIRE((spec.shape() == spec_h.shape()));
  err = 0;
  for (tessera::index_t i = 0; i < spec_h.numel(); ++i)
    err = std::max(err, std::abs(spec.data()[i] - spec_h.data()[i]));
  BOOST_TEST(err < 1e-10, "cuFFT rfft against the host: largest difference " << err);
}
