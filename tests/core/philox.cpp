// SPDX-License-Identifier: Apache-2.0
// Philox4x32-10 known answers (Random123's kat_vectors), uniform and normal sample statistics,
// and determinism across calls, streams and thread counts.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cmath>
#include <set>

#include "helpers.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace tessera;
using core_test::float_types;

namespace {

struct moments {
  double mean = 0, var = 0, skew = 0, kurt = 0;
};

template <class T>
moments moments_of(const tensor<T>& t) {
  const std::vector<T> v = t.to_vector();
  const double n = static_cast<double>(v.size());
  moments m;
  for (T x : v) m.mean += static_cast<double>(x);
  m.mean /= n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (T x : v) {
    const double d = static_cast<double>(x) - m.mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  m.var = m2;
  m.skew = m3 / std::pow(m2, 1.5);
  m.kurt = m4 / (m2 * m2);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(core)
BOOST_AUTO_TEST_SUITE(philox)

BOOST_AUTO_TEST_CASE(known_answer_vectors) {
  struct kat {
    std::array<std::uint32_t, 4> ctr;
    std::array<std::uint32_t, 2> key;
    std::array<std::uint32_t, 4> out;
  };
  const kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const kat& k : kats) {
    const philox4x32 r =
        philox4x32::apply(k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3], k.key[0], k.key[1]);
    for (int i = 0; i < 4; ++i)
      BOOST_TEST(r.c[i] == k.out[static_cast<std::size_t>(i)],
                 std::hex << "word " << i << " of KAT for counter " << k.ctr[0]);
  }
}

BOOST_AUTO_TEST_CASE(stream_layout_and_unit_mapping) {
  // Counter = (block lo, block hi, stream lo, stream hi), key = (seed lo, seed hi).
  const philox_stream s{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  const std::uint64_t b = 0x100000002ULL;
  const philox4x32 want = philox4x32::apply(2, 1, 0x76543210, 0xfedcba98, 0x89abcdef, 0x01234567);
  const philox4x32 got = s.block(b);
  for (int i = 0; i < 4; ++i) BOOST_TEST(got.c[i] == want.c[i]);
  // float uses one word per element, double two.
  for (std::uint64_t i = 0; i < 12; ++i) {
    BOOST_TEST(s.uniform<float>(i) == uint_to_unit_float(s.block(i / 4).c[i % 4]));
    const philox4x32 r = s.block(i / 2);
    BOOST_TEST(s.uniform<double>(i) == uint_to_unit_double(r.c[(i % 2) * 2], r.c[(i % 2) * 2 + 1]));
  }
  BOOST_TEST(uint_to_unit_float(0) == 0.0f);
  BOOST_TEST(uint_to_unit_float(0xffffffffu) == 1.0f - 1.0f / 16777216.0f);
  BOOST_TEST(uint_to_unit_double(0, 0) == 0.0);
  BOOST_TEST(uint_to_unit_double(0xffffffffu, 0xffffffffu) == 1.0 - 1.0 / 9007199254740992.0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rand_statistics, T, float_types) {
  generator gen(12345);
  const index_t n = 100000;
  const tensor<T> u = rand<T>(shape_t{n}, gen);
  const moments m = moments_of(u);
  // Standard errors: mean 0.00091, variance 0.00024.
  BOOST_TEST(std::abs(m.mean - 0.5) < 0.005, "mean " << m.mean);
  BOOST_TEST(std::abs(m.var - 1.0 / 12) < 0.0015, "variance " << m.var);
  // Chi-square over 20 equal bins (19 dof; P(chi2 > 50) < 1e-4).
  std::vector<double> bins(20, 0.0);
  T lo = T(1), hi = T(0);
  for (T x : u.to_vector()) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    bins[static_cast<std::size_t>(x * T(20))] += 1;
  }
  BOOST_TEST(lo >= T(0));
  BOOST_TEST(hi < T(1));
  double chi2 = 0;
  for (double c : bins) chi2 += (c - n / 20.0) * (c - n / 20.0) / (n / 20.0);
  BOOST_TEST(chi2 < 50.0, "chi2 " << chi2);
  // Lag-1 correlation near 0 (standard error 0.003).
  const std::vector<T> v = u.to_vector();
  double c = 0;
  for (std::size_t i = 0; i + 1 < v.size(); ++i) c += (v[i] - 0.5) * (v[i + 1] - 0.5);
  BOOST_TEST(std::abs(c / static_cast<double>(n - 1) / (1.0 / 12)) < 0.02);

  // low/high rescale.
  const tensor<T> r = rand<T>(shape_t{1000}, gen, T(-3), T(-1));
  for (T x : r.to_vector()) BOOST_TEST((x >= T(-3) && x < T(-1)));

  // double draws use 53 bits: some values are not multiples of 2^-24.
  if constexpr (std::is_same_v<T, double>) {
    int fine = 0;
    for (double x : v) fine += std::ldexp(x, 24) != std::floor(std::ldexp(x, 24));
    BOOST_TEST(fine > n / 2);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(randn_moments, T, float_types) {
  generator gen(777);
  const index_t n = 100000;
  const tensor<T> z = randn<T>(shape_t{n}, gen);
  for (T x : z.to_vector()) BOOST_TEST_REQUIRE(std::isfinite(x));
  const moments m = moments_of(z);
  BOOST_TEST(std::abs(m.mean) < 0.016, "mean " << m.mean);
  BOOST_TEST(std::abs(m.var - 1.0) < 0.022, "variance " << m.var);
  BOOST_TEST(std::abs(m.skew) < 0.04, "skewness " << m.skew);
  BOOST_TEST(std::abs(m.kurt - 3.0) < 0.08, "kurtosis " << m.kurt);
  index_t within1 = 0;
  for (T x : z.to_vector()) within1 += std::abs(x) < T(1);
  BOOST_TEST(std::abs(static_cast<double>(within1) / n - 0.682689) < 0.0075);

  const moments ms = moments_of(randn<T>(shape_t{n}, gen, T(5), T(0.5)));
  BOOST_TEST(std::abs(ms.mean - 5.0) < 0.008);
  BOOST_TEST(std::abs(ms.var - 0.25) < 0.0055);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(determinism_and_streams, T, float_types) {
  generator a(42), b(42), c(43);
  const std::vector<T> a1 = rand<T>(shape_t{64, 16}, a).to_vector();
  const std::vector<T> b1 = rand<T>(shape_t{64, 16}, b).to_vector();
  BOOST_TEST(a1 == b1);  // same seed, same numbers
  BOOST_TEST(a.position() == 1u);
  const std::vector<T> a2 = rand<T>(shape_t{64, 16}, a).to_vector();
  BOOST_TEST(a1 != a2);                                       // next stream differs
  BOOST_TEST(rand<T>(shape_t{64, 16}, c).to_vector() != a1);  // other seed differs
  // Element i depends only on (seed, stream, i): a shorter draw is a prefix of a longer one.
  generator p(42), q(42);
  const std::vector<T> longer = rand<T>(shape_t{1000}, p).to_vector();
  const std::vector<T> shorter = rand<T>(shape_t{7}, q).to_vector();
  BOOST_TEST(std::equal(shorter.begin(), shorter.end(), longer.begin()));
  // set_position replays a stream.
  generator r(42);
  r.set_position(1);
  BOOST_TEST(rand<T>(shape_t{64, 16}, r).to_vector() == a2);
  BOOST_TEST(r.seed() == 42u);
  // Uniform and normal draws with the same seed are unrelated streams of values but
  // reproducible.
  generator n1(9), n2(9);
  BOOST_TEST(randn<T>(shape_t{101}, n1).to_vector() == randn<T>(shape_t{101}, n2).to_vector());
  // No repeated values in a modest draw (a stuck counter would repeat).
  generator d(5);
  const std::vector<T> many = rand<T>(shape_t{4096}, d).to_vector();
  BOOST_TEST(std::set<T>(many.begin(), many.end()).size() > 4000u);
}

#if defined(_OPENMP)
BOOST_AUTO_TEST_CASE(same_numbers_for_any_thread_count) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  generator g1(2024);
  const std::vector<double> one = randn<double>(shape_t{300000}, g1).to_vector();
  omp_set_num_threads(3);
  generator g3(2024);
  const std::vector<double> three = randn<double>(shape_t{300000}, g3).to_vector();
  omp_set_num_threads(saved);
  BOOST_TEST(one == three);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
