// SPDX-License-Identifier: Apache-2.0
// tessera::spectral transforms against naive O(n²) DFTs in long double: every size 1..33 in 1-d
// (odd and even), along every axis, on strided inputs, in 2-d and 3-d; inverse ∘ forward =
// identity; numpy's conventions for irfft (ignored imaginary DC/Nyquist parts, crop/pad).
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "helpers.hpp"
#include "tessera/spectral/fft.hpp"

using namespace tessera;
using namespace spectral_test;
namespace sp = tessera::spectral;

namespace {

/// The complex data of a real tensor (imaginary parts zero).
template <class T>
std::vector<cld> real_to_complex(const tensor<T>& x) {
  std::vector<cld> v(static_cast<std::size_t>(x.numel()));
  for (index_t i = 0; i < x.numel(); ++i) v[static_cast<std::size_t>(i)] = cld(x.flat(i), 0);
  return v;
}

/// Naive irfft along the last axis of complex X (rows, m): the Hermitian spectrum of length n
/// (imaginary DC/Nyquist dropped, bins beyond n/2 ignored, missing bins zero), inverted.
template <class T>
std::vector<long double> naive_irfft_rows(const tensor<T>& X, index_t n) {
  const index_t rows = X.size(0), m = X.size(1);
  std::vector<cld> roots(static_cast<std::size_t>(n));
  for (index_t t = 0; t < n; ++t) roots[static_cast<std::size_t>(t)] = root(t, n);
  std::vector<long double> out;
  for (index_t r = 0; r < rows; ++r) {
    std::vector<cld> z(static_cast<std::size_t>(n), cld(0, 0));
    for (index_t k = 0; k <= n / 2 && k < m; ++k) {
      cld v(X(r, k, 0), X(r, k, 1));
      if (k == 0 || 2 * k == n) v = cld(v.real(), 0);
      z[static_cast<std::size_t>(k)] = v;
      if (k > 0 && 2 * k != n) z[static_cast<std::size_t>(n - k)] = std::conj(v);
    }
    for (index_t j = 0; j < n; ++j) {
      cld acc = 0;
      for (index_t k = 0; k < n; ++k)
        acc += z[static_cast<std::size_t>(k)] * roots[static_cast<std::size_t>((j * k) % n)];
      out.push_back(acc.real() / static_cast<long double>(n));
    }
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(spectral)
BOOST_AUTO_TEST_SUITE(fft)

BOOST_AUTO_TEST_CASE_TEMPLATE(one_d_against_naive_dft_every_size, T, float_types) {
  generator gen(11);
  for (index_t n = 1; n <= 33; ++n) {
    const std::string at = " n=" + std::to_string(n);
    const tensor<T> xc = randn<T>(shape_t{3, n, 2}, gen);
    const shape_t cs{3, n};
    check_complex(sp::fft(xc), naive_dft(to_complex(xc), cs, 1, -1), "fft" + at);
    check_complex(sp::ifft(xc), naive_dft(to_complex(xc), cs, 1, +1, 1.0L / n), "ifft" + at);
    BOOST_TEST(max_abs_diff(sp::ifft(sp::fft(xc)), xc) <= tol<T>() * 4, "ifft∘fft" << at);

    const tensor<T> xr = randn<T>(shape_t{3, n}, gen);
    const tensor<T> X = sp::rfft(xr);
    BOOST_TEST((X.shape() == shape_t{3, n / 2 + 1, 2}));
    check_complex(X, crop(naive_dft(real_to_complex(xr), cs, 1, -1), cs, 1, n / 2 + 1),
                  "rfft" + at);
    BOOST_TEST(max_abs_diff(sp::irfft(X, -1, n), xr) <= tol<T>() * 4, "irfft∘rfft" << at);

    // irfft of arbitrary half spectra, including imaginary DC/Nyquist parts to be ignored.
    const tensor<T> H = randn<T>(shape_t{3, n / 2 + 1, 2}, gen);
    check_real(sp::irfft(H, -1, n), naive_irfft_rows(H, n), "irfft" + at);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(irfft_default_length_crop_and_pad, T, float_types) {
  generator gen(12);
  const tensor<T> X = randn<T>(shape_t{2, 5, 2}, gen);
  BOOST_TEST((sp::irfft(X).shape() == shape_t{2, 8}));  // n = 2(m - 1)
  check_real(sp::irfft(X), naive_irfft_rows(X, 8), "default n");
  check_real(sp::irfft(X, -1, 6), naive_irfft_rows(X, 6), "crop to n/2+1 = 4 bins");
  check_real(sp::irfft(X, -1, 13), naive_irfft_rows(X, 13), "pad to n/2+1 = 7 bins");
  check_real(sp::irfft(X, -1, 1), naive_irfft_rows(X, 1), "n = 1");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(every_axis_and_strided_inputs, T, float_types) {
  generator gen(13);
  const shape_t cs{3, 5, 4};
  const tensor<T> x = randn<T>(shape_t{3, 5, 4, 2}, gen);
  for (int axis = 0; axis < 3; ++axis) {
    const std::string at = " axis=" + std::to_string(axis);
    check_complex(sp::fft(x, axis), naive_dft(to_complex(x), cs, axis, -1), "fft" + at);
    check_complex(sp::fft(x, axis - 3), naive_dft(to_complex(x), cs, axis, -1), "negative" + at);
    check_complex(sp::ifft(x, axis), naive_dft(to_complex(x), cs, axis, +1, 1.0L / cs[axis]),
                  "ifft" + at);
  }
  // A non-contiguous view (axes 0 and 2 swapped) transforms like its contiguous copy.
  const tensor<T> v = x.transpose(0, 2);
  BOOST_TEST(!v.is_contiguous());
  BOOST_TEST(max_abs_diff(sp::fft(v, 1), sp::fft(v.clone(), 1)) == 0.0);
  const tensor<T> r = randn<T>(shape_t{6, 7}, gen).transpose(0, 1);  // (7, 6), strided
  BOOST_TEST(max_abs_diff(sp::rfft(r, 0), sp::rfft(r.clone(), 0)) == 0.0);
  BOOST_TEST(max_abs_diff(sp::rfft(r, 1), sp::rfft(r.clone(), 1)) == 0.0);
  const tensor<T> H = sp::rfft(r.clone(), 0);  // (4, 6, 2)
  const tensor<T> Hs = H.transpose(0, 1);      // (6, 4, 2), strided
  BOOST_TEST(max_abs_diff(sp::irfft(Hs, 1, 7), sp::irfft(Hs.clone(), 1, 7)) == 0.0);
  BOOST_TEST(max_abs_diff(sp::irfft(H, 0, 7), r.clone()) <= tol<T>() * 4);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(two_and_three_d_against_naive, T, float_types) {
  generator gen(14);
  for (const auto& [h, w] :
       std::vector<std::pair<index_t, index_t>>{{5, 6}, {6, 7}, {8, 8}, {1, 3}}) {
    const std::string at = " " + std::to_string(h) + "x" + std::to_string(w);
    const tensor<T> x = randn<T>(shape_t{2, h, w}, gen);
    const shape_t cs{2, h, w};
    const auto full = naive_dft(naive_dft(real_to_complex(x), cs, 2, -1), cs, 1, -1);
    const tensor<T> X = sp::rfft2(x);
    BOOST_TEST((X.shape() == shape_t{2, h, w / 2 + 1, 2}));
    check_complex(X, crop(full, cs, 2, w / 2 + 1), "rfft2" + at);
    BOOST_TEST(max_abs_diff(sp::irfft2(X, shape_t{h, w}), x) <= tol<T>() * 8, "irfft2" << at);
    const tensor<T> xc = randn<T>(shape_t{2, h, w, 2}, gen);
    const auto f2 = naive_dft(naive_dft(to_complex(xc), cs, 2, -1), cs, 1, -1);
    check_complex(sp::fft2(xc), f2, "fft2" + at);
    BOOST_TEST(max_abs_diff(sp::ifft2(sp::fft2(xc)), xc) <= tol<T>() * 8, "ifft2" << at);
  }
  // 3-d over every axis: fftn, ifftn, rfftn, irfftn (odd last length through s).
  const shape_t cs{3, 4, 5};
  const tensor<T> xc = randn<T>(shape_t{3, 4, 5, 2}, gen);
  auto all3 = [&](const std::vector<cld>& v, int sign, long double scale) {
    return naive_dft(naive_dft(naive_dft(v, cs, 2, sign), cs, 1, sign), cs, 0, sign, scale);
  };
  check_complex(sp::fftn(xc), all3(to_complex(xc), -1, 1.0L), "fftn 3-d");
  check_complex(sp::ifftn(xc), all3(to_complex(xc), +1, 1.0L / 60), "ifftn 3-d");
  const tensor<T> xr = randn<T>(cs, gen);
  const tensor<T> X = sp::rfftn(xr);
  check_complex(X, crop(all3(real_to_complex(xr), -1, 1.0L), cs, 2, 3), "rfftn 3-d");
  BOOST_TEST(max_abs_diff(sp::irfftn(X, shape_t{}, shape_t{3, 4, 5}), xr) <= tol<T>() * 8);
  // A subset of axes, in the order given (the real axis is the last listed).
  const tensor<T> Y = sp::rfftn(xr, shape_t{2, 0});
  const auto y_ref =
      crop(naive_dft(naive_dft(real_to_complex(xr), cs, 0, -1), cs, 2, -1), cs, 0, 2);
  check_complex(Y, y_ref, "rfftn axes (2, 0)");
  BOOST_TEST(max_abs_diff(sp::irfftn(Y, shape_t{2, 0}, shape_t{5, 3}), xr) <= tol<T>() * 8);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(many_lines_and_long_transforms, T, float_types) {
  generator gen(15);
  // More lines than one block holds, runs that do not divide into blocks, prime lengths.
  for (const auto& [a, b] : std::vector<std::pair<index_t, index_t>>{{70, 13}, {13, 70}, {5, 67}}) {
    const std::string at = " " + std::to_string(a) + "x" + std::to_string(b);
    const tensor<T> xc = randn<T>(shape_t{a, b, 2}, gen);
    for (int axis = 0; axis < 2; ++axis)
      check_complex(sp::fft(xc, axis), naive_dft(to_complex(xc), shape_t{a, b}, axis, -1),
                    "fft axis " + std::to_string(axis) + at);
    const tensor<T> xr = randn<T>(shape_t{a, b}, gen);
    for (int axis = 0; axis < 2; ++axis) {
      const index_t n = axis == 0 ? a : b;
      const tensor<T> X = sp::rfft(xr, axis);
      check_complex(X,
                    crop(naive_dft(real_to_complex(xr), shape_t{a, b}, axis, -1), shape_t{a, b},
                         axis, n / 2 + 1),
                    "rfft axis " + std::to_string(axis) + at);
      BOOST_TEST(max_abs_diff(sp::irfft(X, axis, n), xr) <= tol<T>() * 8, "irfft" << at);
    }
  }
  // Long transforms: powers of 4 and 2, 5³·8, primes times 2 (194 = 2·97; 94 = 2·47, the
  // paper's padded grid), 2·3·5·7, 11·13 (two generic radices in a row).
  for (index_t n : {1024, 512, 1000, 194, 94, 210, 143}) {
    const std::string at = " n=" + std::to_string(n);
    const tensor<T> xc = randn<T>(shape_t{2, n, 2}, gen);
    check_complex(sp::fft(xc), naive_dft(to_complex(xc), shape_t{2, n}, 1, -1), "fft" + at);
    check_complex(sp::ifft(xc), naive_dft(to_complex(xc), shape_t{2, n}, 1, +1, 1.0L / n),
                  "ifft" + at);
    const tensor<T> xr = randn<T>(shape_t{3, n}, gen);
    check_complex(
        sp::rfft(xr),
        crop(naive_dft(real_to_complex(xr), shape_t{3, n}, 1, -1), shape_t{3, n}, 1, n / 2 + 1),
        "rfft" + at);
    const tensor<T> H = randn<T>(shape_t{3, n / 2 + 1, 2}, gen);
    check_real(sp::irfft(H, -1, n), naive_irfft_rows(H, n), "irfft" + at);
  }
}

// The built-in engine's per-thread scratch is kept between transforms up to
// fft_scratch_keep_bytes, and freed after a transform that needed more: one long FFT does not
// leave its threads holding the block (32 MiB here) for the rest of their lives.
BOOST_AUTO_TEST_CASE(long_transforms_do_not_keep_their_scratch) {
  namespace sd = tessera::spectral::detail;
  const sp::fft_engine_guard g(sp::fft_engine::builtin);
  generator gen(16);
  const tensor<double> small = randn<double>(shape_t{8, 64, 2}, gen);
  (void)sp::fft(small);
  const std::size_t kept = sd::fft_scratch_buffer<double>().capacity() * sizeof(double);
  BOOST_TEST(kept > 0u);  // a small transform's scratch stays for the next one
  BOOST_TEST(kept <= sd::fft_scratch_keep_bytes);
  const index_t n = index_t(1) << 18;  // 4 arrays × n × 4 lanes × 8 bytes = 32 MiB of scratch
  const tensor<double> x = randn<double>(shape_t{1, n, 2}, gen);
  const tensor<double> back = sp::ifft(sp::fft(x));
  BOOST_TEST(max_abs_diff(back, x) <= 1e-12);
  BOOST_TEST(sd::fft_scratch_buffer<double>().capacity() * sizeof(double) <=
             sd::fft_scratch_keep_bytes);
}

BOOST_AUTO_TEST_CASE(errors_name_the_function_and_shape) {
  // The FFTW engine can be selected only when compiled in (test_fftw compiles this file with it).
  if constexpr (sp::has_fftw)
    BOOST_CHECK_NO_THROW(sp::fft_engine_guard(sp::fft_engine::fftw));
  else
    BOOST_CHECK_THROW(sp::fft_engine_guard(sp::fft_engine::fftw), invalid_argument);
  // So can Eigen's FFT (test_eigen_fft compiles this file with TESSERA_USE_EIGEN_FFT); the
  // message names the macro.
  if constexpr (sp::has_eigen_fft) {
    BOOST_CHECK_NO_THROW(sp::fft_engine_guard(sp::fft_engine::eigen));
  } else {
    try {
      const sp::fft_engine_guard g(sp::fft_engine::eigen);
      BOOST_ERROR("no exception");
    } catch (const invalid_argument& e) {
      const std::string msg = e.what();
      BOOST_TEST(msg.find("TESSERA_USE_EIGEN_FFT") != std::string::npos, msg);
    }
    BOOST_TEST((sp::host_fft_engine() != sp::fft_engine::eigen));  // nothing changed
  }
  const tensor<double> real3 = zeros<double>(shape_t{2, 3});
  BOOST_CHECK_THROW(sp::fft(real3), invalid_argument);  // last extent 3: not complex
  BOOST_CHECK_THROW(sp::fft(zeros<double>(shape_t{2})), invalid_argument);
  BOOST_CHECK_THROW(sp::fft(zeros<double>(shape_t{4, 2}), 1), invalid_argument);
  BOOST_CHECK_THROW(sp::rfft(zeros<double>(shape_t{0})), invalid_argument);
  BOOST_CHECK_THROW(sp::irfft(zeros<double>(shape_t{1, 2})), invalid_argument);  // n = 0
  BOOST_CHECK_THROW(sp::rfftn(zeros<double>(shape_t{4, 4}), shape_t{1, -1}), invalid_argument);
  BOOST_CHECK_THROW(sp::irfftn(zeros<double>(shape_t{4, 3, 2}), shape_t{}, shape_t{5, 4}),
                    invalid_argument);
  try {
    (void)sp::fft(real3);
    BOOST_ERROR("no exception");
  } catch (const invalid_argument& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("tessera::spectral::fft") != std::string::npos, msg);
    BOOST_TEST(msg.find("(2,3)") != std::string::npos, msg);
  }
  // Empty batches are fine and give empty results.
  BOOST_TEST(sp::fft(zeros<double>(shape_t{0, 4, 2})).numel() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
