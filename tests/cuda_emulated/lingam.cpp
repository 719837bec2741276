// SPDX-License-Identifier: Apache-2.0
// DirectLiNGAM's GPU kernels (cuda/detail/lingam_kernels.cuh) run on CPU threads, step by step as
// causal_order_gpu launches them (the correlation GEMM computed here in its place), against the
// host's causal_order: the same orders and, with FP64 transcendentals, the same scores to
// rounding; with FP32 ones (the host's expf/logf standing in for the device's intrinsics) scores
// to FP32 accuracy. Also the two flags the host reads: a variable with no variance left, and
// the first collinear pair (the one the host path names).
#include "emulation.hpp"
// The kernels, after the emulation's names.
#include "tessera/cuda/detail/lingam_kernels.cuh"
//
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "../cuda/lingam_support.hpp"
#include "tessera/causal/direct_lingam.hpp"
#include "tessera/tessera.hpp"

namespace {

using namespace tessera;
namespace K = tessera::cuda_kernels::lingam;
namespace tc = tessera::causal;
using tessera::cuda_emulation::emulate_launch;

/// What an emulated ordering ends with: the order and each step's scores (as causal_order's
/// record_scores), or the step at which a flag stopped it and what the flag held.
struct emulated_result {
  tc::ordering_result r;
  int no_variance = 0;                   ///< 1 + position of a variable with no variance
  unsigned long long collinear = ~0ull;  ///< linear index of the first collinear pair
  std::vector<int> remaining;            ///< the variables left when a flag stopped it
};

/// causal_order_gpu's loop without prior knowledge, its kernels emulated. T: the data's type;
/// C: the transcendentals' (double: full_fp64).
template <class T, class C>
emulated_result emulated_order(const tensor<double>& X) {
  const long n = X.size(0);
  const int d = static_cast<int>(X.size(1));
  std::vector<T> W(static_cast<std::size_t>(d) * static_cast<std::size_t>(n));
  for (long t = 0; t < n; ++t)
    for (int j = 0; j < d; ++j) W[static_cast<std::size_t>(j * n + t)] = static_cast<T>(X(t, j));
  constexpr bool fp32 = std::is_same_v<C, float>;
  std::vector<double> Zd(W.size()), rho(static_cast<std::size_t>(d * d)),
      Hr(static_cast<std::size_t>(d * d)), H(static_cast<std::size_t>(d)),
      M(static_cast<std::size_t>(d));
  std::vector<float> Zf(fp32 ? W.size() : 0);
  std::vector<int> rem(static_cast<std::size_t>(d)), out(2, 0), flag(1, 0);
  for (int j = 0; j < d; ++j) rem[static_cast<std::size_t>(j)] = j;
  std::vector<unsigned long long> pair_flag(1, ~0ull);
  float* zf = fp32 ? Zf.data() : nullptr;
  const dim3 threads(K::block_threads);
  emulated_result e;
  for (int k = d; k > 0; --k) {
    std::vector<index_t> U(rem.begin(), rem.begin() + k);
    if (k == 1) {
      out[0] = 0;
      e.r.scores.emplace_back();
      e.r.candidates.push_back(U);
    } else {
      emulate_launch(dim3(static_cast<unsigned>(k)), threads, [&] {
        K::standardize<T>(W.data(), n, rem.data(), Zd.data(), zf, flag.data());
      });
      // cublasDgemm's ρ = Z Zᵀ / n.
      for (int a = 0; a < k; ++a)
        for (int b = 0; b < k; ++b) {
          double s = 0;
          for (long t = 0; t < n; ++t)
            s += Zd[static_cast<std::size_t>(a * n + t)] * Zd[static_cast<std::size_t>(b * n + t)];
          rho[static_cast<std::size_t>(a + b * k)] = s / static_cast<double>(n);
        }
      emulate_launch(dim3(static_cast<unsigned>(k)), threads,
                     [&] { K::self_entropy<C>(Zd.data(), zf, n, H.data()); });
      const long P = tc::pair_count(k);
      emulate_launch(dim3(static_cast<unsigned>(P)), threads, [&] {
        K::pair_entropy<C>(Zd.data(), zf, n, k, rho.data(), nullptr, Hr.data(),
                           tc::collinear_tolerance<T>(), pair_flag.data());
      });
      emulate_launch(dim3(static_cast<unsigned>(k)), threads,
                     [&] { K::scores(H.data(), Hr.data(), k, nullptr, nullptr, M.data()); });
      emulate_launch(dim3(1), threads, [&] { K::argmax(M.data(), k, out.data()); });
      if (flag[0] != 0 || pair_flag[0] != ~0ull) {
        e.no_variance = flag[0];
        e.collinear = pair_flag[0];
        e.remaining.assign(rem.begin(), rem.begin() + k);
        return e;
      }
      e.r.scores.emplace_back(M.begin(), M.begin() + k);
      e.r.candidates.push_back(U);
    }
    emulate_launch(dim3(1), dim3(1), [&] { K::remove_chosen(rem.data(), k, out.data()); });
    if (k > 1)
      emulate_launch(dim3(static_cast<unsigned>(k - 1)), threads,
                     [&] { K::regress_out<T>(W.data(), n, rem.data(), out.data()); });
    e.r.order.push_back(out[1]);
  }
  return e;
}

/// Step by step the same candidates and order, and scores within |Δ| ≤ abs + rel·|ref|.
void expect_same_ordering(const tc::ordering_result& got, const tc::ordering_result& ref,
                          double abs, double rel) {
  BOOST_TEST(got.order == ref.order, boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(got.scores.size(), ref.scores.size());
  for (std::size_t s = 0; s < ref.scores.size(); ++s) {
    BOOST_TEST(got.candidates[s] == ref.candidates[s], boost::test_tools::per_element());
    // The host scores a lone candidate not at all.
    if (ref.scores[s].empty()) continue;
    BOOST_REQUIRE_EQUAL(got.scores[s].size(), ref.scores[s].size());
    for (std::size_t i = 0; i < ref.scores[s].size(); ++i)
      BOOST_TEST(
          std::abs(got.scores[s][i] - ref.scores[s][i]) <= abs + rel * std::abs(ref.scores[s][i]),
          "step " << s << " candidate " << i << ": " << got.scores[s][i] << " vs "
                  << ref.scores[s][i]);
  }
}

/// A chain x_j = 3 x_{j−1} + e_j (uniform e): neighbouring correlations near 0.95, so the FP32
/// path forms those residuals from the FP64 copy and the others from the FP32 one; the two best
/// scores of every step are 1e-3 apart, far above FP32 rounding.
tensor<double> chain(index_t n, index_t d) {
  generator g(5);
  const double r3 = std::sqrt(3.0);
  const auto E = rand<double>({n, d}, g, -r3, r3);
  tensor<double> X(shape_t{n, d});
  for (index_t t = 0; t < n; ++t)
    for (index_t j = 0; j < d; ++j) X(t, j) = E(t, j) + (j > 0 ? 3.0 * X(t, j - 1) : 0.0);
  return X;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_emulated)
BOOST_AUTO_TEST_SUITE(lingam)

BOOST_AUTO_TEST_CASE(fp64_orders_and_scores_match_host) {
  tc::ordering_options o;
  o.record_scores = true;
  for (std::uint64_t seed : {1u, 2u}) {
    const tensor<double> X = tessera::test::lingam_data(600, 7, seed);
    const emulated_result e = emulated_order<double, double>(X);
    BOOST_REQUIRE(e.collinear == ~0ull && e.no_variance == 0);
    expect_same_ordering(e.r, tc::causal_order(X, o), 1e-10, 1e-9);
  }
}

BOOST_AUTO_TEST_CASE(fp32_transcendentals_match_host_to_fp32) {
  const tensor<double> X = chain(800, 5);
  tc::ordering_options o;
  o.record_scores = true;
  const tc::ordering_result host = tc::causal_order(X, o);
  for (index_t j = 0; j < 5; ++j) BOOST_TEST(host.order[static_cast<std::size_t>(j)] == j);
  expect_same_ordering(emulated_order<double, float>(X).r, host, 1e-6, 1e-3);
  // float data (collinear tolerance and residual update in float) against the host on the same
  // float data.
  tensor<float> Xf(X.shape());
  for (index_t i = 0; i < X.numel(); ++i) Xf.data()[i] = static_cast<float>(X.data()[i]);
  expect_same_ordering(emulated_order<float, float>(X).r, tc::causal_order(Xf, o), 1e-6, 1e-3);
}

BOOST_AUTO_TEST_CASE(collinear_pair_is_flagged_as_the_host_names_it) {
  tensor<double> Z = tessera::test::lingam_data(300, 5, 3);
  for (index_t t = 0; t < 300; ++t) Z(t, 3) = 2.0 * Z(t, 1) - 1.0;
  for (index_t t = 0; t < 300; ++t) Z(t, 4) = -0.5 * Z(t, 1) + 2.0;
  std::string host_msg;
  try {
    (void)tc::causal_order(Z);
  } catch (const tessera::invalid_argument& err) {
    host_msg = err.what();
  }
  BOOST_TEST(host_msg.find("variables 1 and 3 are collinear") != std::string::npos, host_msg);
  for (int pass = 0; pass < 2; ++pass) {
    const emulated_result e =
        pass == 0 ? emulated_order<double, double>(Z) : emulated_order<double, float>(Z);
    BOOST_REQUIRE(e.collinear != ~0ull);
    std::int64_t a = 0, b = 0;
    tc::pair_from_linear(static_cast<std::int64_t>(e.collinear), 5, a, b);
    // The lowest of the three collinear pairs (1,3), (1,4), (3,4), at the first step.
    BOOST_TEST(e.remaining.size() == 5u);
    BOOST_TEST(a == 1);
    BOOST_TEST(b == 3);
  }
}

BOOST_AUTO_TEST_CASE(variable_without_variance_is_flagged) {
  tensor<double> X = tessera::test::lingam_data(200, 4, 3);
  for (index_t t = 0; t < 200; ++t) X(t, 2) = 0.25;
  const emulated_result e = emulated_order<double, double>(X);
  BOOST_TEST(e.no_variance == 3);  // 1 + its position
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
