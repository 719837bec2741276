// SPDX-License-Identifier: Apache-2.0
// Eigen's FFT module as the engine of the host transforms (spectral/eigen_fft.hpp), compiled as
// the default (TESSERA_USE_EIGEN_FFT), against tessera's own Stockham engine on the same inputs:
// every primitive, odd, even and prime lengths, every axis, strided views, the n-d forms on
// sizes split over threads, and threads transforming at once.
#include <boost/test/unit_test.hpp>

#include "../spectral/engine_checks.hpp"
#include "tessera/spectral/fft.hpp"

using namespace tessera;
using namespace spectral_test;
namespace sp = tessera::spectral;

BOOST_AUTO_TEST_SUITE(eigen_fft_engine)

BOOST_AUTO_TEST_CASE(is_the_default_and_runs) {
  BOOST_TEST((sp::host_fft_engine() == sp::fft_engine::eigen));
  {
    const sp::fft_engine_guard g(sp::fft_engine::builtin);
    BOOST_TEST((sp::host_fft_engine() == sp::fft_engine::builtin));
  }
  BOOST_TEST((sp::host_fft_engine() == sp::fft_engine::eigen));
  // Another algorithm ran: the same transform to rounding, not to the bit (kissfft's radix-2
  // and generic-47 passes against the Stockham engine's radix-2 and symmetric-pair ones).
  generator gen(1);
  const tensor<double> x = randn<double>(shape_t{3, 94}, gen);
  const auto f = [&] { return sp::rfft(x); };
  const double d = rel_diff(f(), builtin(f));
  BOOST_TEST(d > 0.0);
  BOOST_TEST(d <= tol<double>());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(every_primitive_matches_the_builtin_engine, T, float_types) {
  primitives_match_builtin<T>(2);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(n_d_and_threaded_sizes_match, T, float_types) {
  n_d_forms_match_builtin<T>(3);
}

BOOST_AUTO_TEST_CASE(threads_transform_at_once) {
  // Each parallel chunk and each thread has its own Eigen::FFT (its plans).
  threads_match_builtin(sp::fft_engine::eigen);
}

BOOST_AUTO_TEST_CASE(nested_guards_select_it_again) {
  // A guard for Eigen's engine inside one for the builtin engine.
  const sp::fft_engine_guard g(sp::fft_engine::builtin);
  generator gen(4);
  const tensor<float> x = randn<float>(shape_t{2, 5, 12, 10}, gen);
  const tensor<float> X = sp::rfft2(x);
  const sp::fft_engine_guard e(sp::fft_engine::eigen);
  BOOST_TEST((sp::host_fft_engine() == sp::fft_engine::eigen));
  BOOST_TEST(rel_diff(sp::rfft2(x), X) <= tol<float>());
}

BOOST_AUTO_TEST_SUITE_END()
