// SPDX-License-Identifier: Apache-2.0
// The per-pair moment kernels (moments.hpp) against sums of libm's log1p/exp: FP64 to rounding,
// the FP32 polynomial and (with AVX-512) table kernels to FP32 accuracy, on residuals with
// heavy tails (|u| beyond the tables' range of 9), lengths that leave partial blocks, and both
// directions of the pair.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "tessera/causal/moments.hpp"

using tessera::index_t;
namespace td = tessera::causal::detail;

namespace {

struct pair_data {
  std::vector<double> a, b;
  std::vector<float> af, bf;
  double rho, s;
};

/// Standardised a (Student-t, 3 degrees of freedom: heavy tails) and b = 0.6 a + uniform noise,
/// with an outlier in a for n >= 255.
pair_data make(index_t n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::student_t_distribution<double> t3(3.0);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  pair_data p;
  p.a.resize(static_cast<std::size_t>(n));
  p.b.resize(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < p.a.size(); ++i) {
    p.a[i] = t3(g);
    p.b[i] = 0.6 * p.a[i] + u(g);
  }
  if (n >= 255) p.a[0] = 200.0;  // an outlier: residuals of a far beyond 9
  for (auto* v : {&p.a, &p.b}) {
    double m = 0, q = 0;
    for (double x : *v) m += x;
    m /= static_cast<double>(n);
    for (double x : *v) q += (x - m) * (x - m);
    const double sd = std::sqrt(q / static_cast<double>(n));
    for (double& x : *v) x = (x - m) / sd;
  }
  double r = 0;
  for (std::size_t i = 0; i < p.a.size(); ++i) r += p.a[i] * p.b[i];
  p.rho = r / static_cast<double>(n);
  p.s = 1.0 / std::sqrt(1.0 - p.rho * p.rho);
  p.af.assign(p.a.begin(), p.a.end());
  p.bf.assign(p.b.begin(), p.b.end());
  return p;
}

/// The sums by libm, in long double.
td::moment_sums reference(const pair_data& p) {
  long double s[4] = {0, 0, 0, 0};
  for (std::size_t i = 0; i < p.a.size(); ++i)
    for (int dir = 0; dir < 2; ++dir) {
      const double x = dir == 0 ? p.a[i] : p.b[i], y = dir == 0 ? p.b[i] : p.a[i];
      const double u = (x - p.rho * y) * p.s, au = std::abs(u);
      s[2 * dir] += au + std::log1p(std::exp(-2.0 * au));
      s[2 * dir + 1] += u * std::exp(-0.5 * u * u);
    }
  td::moment_sums m;
  m.lc_ab = static_cast<double>(s[0]);
  m.ue_ab = static_cast<double>(s[1]);
  m.lc_ba = static_cast<double>(s[2]);
  m.ue_ba = static_cast<double>(s[3]);
  return m;
}

/// Largest difference of the four sums, per sample.
double mean_error(const td::moment_sums& got, const td::moment_sums& want, index_t n) {
  const double e = std::max({std::abs(got.lc_ab - want.lc_ab), std::abs(got.ue_ab - want.ue_ab),
                             std::abs(got.lc_ba - want.lc_ba), std::abs(got.ue_ba - want.ue_ba)});
  return e / static_cast<double>(n);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(causal)
BOOST_AUTO_TEST_SUITE(moments)

BOOST_AUTO_TEST_CASE(log1p_split_matches_libm) {
  for (int i = 0; i <= 1000; ++i) {
    const double y = i / 1000.0;
    BOOST_TEST(std::abs(td::log1p_unit_split(y) - std::log1p(y)) <= 4e-16);
    BOOST_TEST(std::abs(td::log1p_unit_split(static_cast<float>(y)) -
                        std::log1p(static_cast<double>(static_cast<float>(y)))) <= 2e-7);
  }
}

BOOST_AUTO_TEST_CASE(kernels_match_libm_sums) {
  for (index_t n : {15, 17, 255, 257, 3001}) {
    const pair_data p = make(n, 40 + static_cast<std::uint64_t>(n));
    double umax = 0;
    for (std::size_t i = 0; i < p.a.size(); ++i)
      umax = std::max(umax, std::abs((p.a[i] - p.rho * p.b[i]) * p.s));
    const td::moment_sums want = reference(p);
    const auto fp64 = td::pair_moments<double>(p.a.data(), p.b.data(), n, p.rho, p.s);
    BOOST_TEST(mean_error(fp64, want, n) < 1e-14, "n = " << n);
    const auto fp32 = td::pair_moments<float>(p.a.data(), p.b.data(), n, p.rho, p.s);
    BOOST_TEST(mean_error(fp32, want, n) < 3e-7, "n = " << n);
#if TESSERA_CAUSAL_TABLE_KERNEL
    const auto tab_d = td::pair_moments_table(p.a.data(), p.b.data(), n, p.rho, p.s);
    BOOST_TEST(mean_error(tab_d, want, n) < 3e-7, "n = " << n);
    const auto tab_f = td::pair_moments_table(p.af.data(), p.bf.data(), n, p.rho, p.s);
    BOOST_TEST(mean_error(tab_f, want, n) < 5e-7, "n = " << n);
    // Deterministic: the same call gives the same bits.
    const auto again = td::pair_moments_table(p.a.data(), p.b.data(), n, p.rho, p.s);
    BOOST_TEST(again.lc_ab == tab_d.lc_ab);
    BOOST_TEST(again.ue_ba == tab_d.ue_ba);
#endif
    if (n >= 255) BOOST_TEST(umax > 9.0);  // the outlier lies past the tables' range
  }
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
