// SPDX-License-Identifier: Apache-2.0
// CUDA DirectLiNGAM ordering against the CPU path: identical orders and scores equal to
// rounding in FP64 mode; in the default mode (FP32 transcendentals) scores within the FP32
// tolerance and the same order up to near-ties that FP32 rounding may break either way (sparse
// DAGs have several exogenous variables whose scores differ by 1e-10 or less); prior knowledge
// honoured; bad input rejected.
#include <algorithm>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>

#include "lingam_support.hpp"
#include "tessera/causal/direct_lingam.hpp"
#include "tessera/core/creation.hpp"
#include "tessera/cuda.hpp"

namespace tc = tessera::causal;
using tessera::index_t;

namespace {

bool fp32_close(double got, double ref) {
  return std::abs(got - ref) <= 1e-6 + 1e-3 * std::abs(ref);
}

/// GPU FP32 against the CPU's FP64 (both with recorded scores): step by step the candidates
/// agree and the scores are FP32-close; where the choices differ, the CPU's scores of the two
/// choices must be FP32-close (a near-tie), and the comparison stops there (the remaining
/// problems differ). Returns the number of steps compared.
std::size_t check_fp32_against_cpu(const tc::ordering_result& cpu, const tc::ordering_result& gpu) {
  BOOST_REQUIRE_EQUAL(cpu.order.size(), gpu.order.size());
  BOOST_REQUIRE_EQUAL(cpu.scores.size(), cpu.order.size());
  BOOST_REQUIRE_EQUAL(gpu.scores.size(), gpu.order.size());
  for (std::size_t s = 0; s < cpu.order.size(); ++s) {
    BOOST_TEST(cpu.candidates[s] == gpu.candidates[s], boost::test_tools::per_element());
    BOOST_REQUIRE_EQUAL(cpu.scores[s].size(), gpu.scores[s].size());
    for (std::size_t i = 0; i < cpu.scores[s].size(); ++i)
      BOOST_TEST(fp32_close(gpu.scores[s][i], cpu.scores[s][i]),
                 "step " << s << " candidate " << i << ": " << gpu.scores[s][i] << " vs "
                         << cpu.scores[s][i]);
    if (cpu.order[s] == gpu.order[s]) continue;
    const auto& c = cpu.candidates[s];
    const auto pos = [&](tessera::index_t v) {
      return static_cast<std::size_t>(std::find(c.begin(), c.end(), v) - c.begin());
    };
    const std::size_t ic = pos(cpu.order[s]), ig = pos(gpu.order[s]);
    BOOST_REQUIRE(ic < c.size() && ig < c.size());
    BOOST_TEST(fp32_close(cpu.scores[s][ig], cpu.scores[s][ic]),
               "step " << s << ": GPU chose " << gpu.order[s] << " (CPU score " << cpu.scores[s][ig]
                       << ") over " << cpu.order[s] << " (" << cpu.scores[s][ic]
                       << "): not a near-tie");
    return s;
  }
  return cpu.order.size();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(causal_cuda)

BOOST_AUTO_TEST_CASE(orders_and_scores_match_cpu) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const auto X = tessera::test::lingam_data(2000, 12, seed);
    tc::ordering_options o;
    o.record_scores = true;
    const auto cpu = tessera::test::cpu_causal_order(X, o);
    const auto fp64 = tc::causal_order_gpu(X, o, {.full_fp64 = true});
    const auto fp32 = tc::causal_order_gpu(X, o);
    BOOST_TEST(cpu.order == fp64.order, boost::test_tools::per_element());
    BOOST_REQUIRE_EQUAL(cpu.scores.size(), fp64.scores.size());
    for (std::size_t s = 0; s < cpu.scores.size(); ++s) {
      BOOST_REQUIRE_EQUAL(cpu.scores[s].size(), fp64.scores[s].size());
      for (std::size_t i = 0; i < cpu.scores[s].size(); ++i) {
        const double ref = cpu.scores[s][i];
        BOOST_TEST(std::abs(fp64.scores[s][i] - ref) <= 1e-10 + 1e-9 * std::abs(ref));
      }
    }
    check_fp32_against_cpu(cpu, fp32);
  }
}

BOOST_AUTO_TEST_CASE(true_order_recovered) {
  const auto X = tessera::test::lingam_data(5000, 30, 7);
  tc::ordering_options o;
  o.record_scores = true;
  // Against the CPU order (the generator's DAG is not visible here): FP64 identical, FP32 up to
  // near-ties (this data set has a step whose two best scores differ by 7e-14).
  const auto cpu = tessera::test::cpu_causal_order(X, o);
  BOOST_TEST(tc::causal_order_gpu(X, o, {.full_fp64 = true}).order == cpu.order,
             boost::test_tools::per_element());
  check_fp32_against_cpu(cpu, tc::causal_order_gpu(X, o));
}

BOOST_AUTO_TEST_CASE(prior_knowledge_strong_mode) {
  const auto X = tessera::test::lingam_data(1000, 6, 11);
  tessera::tensor<double> pk = tessera::full<double>({6, 6}, -1.0);
  pk(0, 5) = 1.0;  // x5 causes x0: x5 must precede x0
  tc::ordering_options o;
  o.prior_knowledge = pk;
  o.record_scores = true;
  const auto cpu = tessera::test::cpu_causal_order(X, o);
  const auto gpu = tc::causal_order_gpu(X, o, {.full_fp64 = true});
  BOOST_TEST(cpu.order == gpu.order, boost::test_tools::per_element());
  check_fp32_against_cpu(cpu, tc::causal_order_gpu(X, o));
  // x5 precedes x0
  const auto& ord = gpu.order;
  const bool five_first =
      std::find(ord.begin(), ord.end(), 5) < std::find(ord.begin(), ord.end(), 0);
  BOOST_TEST(five_first);
}

BOOST_AUTO_TEST_CASE(strongly_correlated_pairs_match_cpu_mixed_precision) {
  // A chain x_j = 3 x_{j-1} + e_j: neighbouring correlations near 0.95, so the FP32 path forms
  // those residuals from the FP64 copy (|ρ| > 0.8) and the others from the FP32 copy.
  const index_t n = 3000, d = 6;
  tessera::generator g(5);
  const double r3 = std::sqrt(3.0);
  const auto E = tessera::rand<double>({n, d}, g, -r3, r3);
  tessera::tensor<double> X(tessera::shape_t{n, d});
  for (index_t t = 0; t < n; ++t)
    for (index_t j = 0; j < d; ++j) X(t, j) = E(t, j) + (j > 0 ? 3.0 * X(t, j - 1) : 0.0);
  tc::ordering_options o;
  o.record_scores = true;
  const auto cpu = tessera::test::cpu_causal_order(X, o);
  tc::ordering_options om = o;
  om.mixed_precision = true;
  const auto cpu_mixed = tessera::test::cpu_causal_order(X, om);
  const auto fp32 = tc::causal_order_gpu(X, o);
  const auto fp64 = tc::causal_order_gpu(X, o, {.full_fp64 = true});
  // The chain's order, with a smallest margin between the two best scores of 1.4e-3 (far above
  // FP32 rounding), so the FP32 orders must agree exactly.
  for (index_t j = 0; j < d; ++j) BOOST_TEST(cpu.order[static_cast<std::size_t>(j)] == j);
  BOOST_TEST(cpu.order == fp32.order, boost::test_tools::per_element());
  BOOST_TEST(cpu.order == fp64.order, boost::test_tools::per_element());
  BOOST_TEST(cpu_mixed.order == fp32.order, boost::test_tools::per_element());
  for (std::size_t s = 0; s < cpu.scores.size(); ++s)
    for (std::size_t i = 0; i < cpu.scores[s].size(); ++i) {
      const double ref = cpu.scores[s][i];
      BOOST_TEST(std::abs(fp64.scores[s][i] - ref) <= 1e-10 + 1e-9 * std::abs(ref));
      BOOST_TEST(std::abs(fp32.scores[s][i] - ref) <= 1e-6 + 1e-3 * std::abs(ref));
    }
}

BOOST_AUTO_TEST_CASE(prior_knowledge_soft_mode_and_fp32) {
  const auto X = tessera::test::lingam_data(2000, 8, 13);
  tessera::tensor<double> pk = tessera::full<double>({8, 8}, -1.0);
  pk(0, 7) = 1.0;  // x7 -> x0 against the data's order
  pk(3, 2) = 0.0;  // no path x2 -> x3
  pk(5, 1) = 0.0;
  for (bool soft : {false, true}) {
    tc::ordering_options o;
    o.prior_knowledge = pk;
    o.apply_prior_knowledge_softly = soft;
    o.record_scores = true;
    const auto cpu = tessera::test::cpu_causal_order(X, o);
    const auto fp64 = tc::causal_order_gpu(X, o, {.full_fp64 = true});
    const auto fp32 = tc::causal_order_gpu(X, o);
    BOOST_TEST(cpu.order == fp64.order, boost::test_tools::per_element());
    check_fp32_against_cpu(cpu, fp32);  // this data set has near-ties of 3e-10
    BOOST_REQUIRE_EQUAL(cpu.scores.size(), fp64.scores.size());
    for (std::size_t s = 0; s < cpu.scores.size(); ++s) {
      BOOST_TEST(cpu.candidates[s] == fp64.candidates[s], boost::test_tools::per_element());
      BOOST_REQUIRE_EQUAL(cpu.scores[s].size(), fp64.scores[s].size());
      for (std::size_t i = 0; i < cpu.scores[s].size(); ++i)
        BOOST_TEST(std::abs(fp64.scores[s][i] - cpu.scores[s][i]) <=
                   1e-10 + 1e-9 * std::abs(cpu.scores[s][i]));
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_input_is_rejected) {
  tessera::tensor<double> X = tessera::zeros<double>({3, 5});  // n < d
  BOOST_CHECK_THROW(tc::causal_order_gpu(X), tessera::invalid_argument);
  tessera::tensor<double> Y = tessera::test::lingam_data(200, 4, 3);
  for (index_t t = 0; t < 200; ++t) Y(t, 2) = 0.25;  // constant column
  BOOST_CHECK_THROW(tc::causal_order_gpu(Y), tessera::invalid_argument);
  Y = tessera::test::lingam_data(200, 4, 3);
  Y(17, 1) = std::nan("");
  BOOST_CHECK_THROW(tc::causal_order_gpu(Y), tessera::invalid_argument);
  tessera::tensor<double> pk = tessera::full<double>({4, 4}, -1.0);
  pk(0, 1) = 1.0;
  pk(1, 0) = 1.0;  // contradictory prior
  tc::ordering_options o;
  o.prior_knowledge = pk;
  BOOST_CHECK_THROW(tc::causal_order_gpu(tessera::test::lingam_data(200, 4, 3), o),
                    tessera::invalid_argument);
  // Collinear variables: the GPU names the pair the host names (the first one, in pair order).
  tessera::tensor<double> Z = tessera::test::lingam_data(200, 4, 3);
  for (index_t t = 0; t < 200; ++t) Z(t, 3) = 2.0 * Z(t, 1) - 1.0;
  std::string host_msg, gpu_msg;
  try {
    (void)tc::causal_order(Z);
  } catch (const tessera::invalid_argument& e) {
    host_msg = e.what();
  }
  try {
    (void)tc::causal_order_gpu(Z);
  } catch (const tessera::invalid_argument& e) {
    gpu_msg = e.what();
  }
  BOOST_TEST(host_msg.find("variables 1 and 3 are collinear") != std::string::npos, host_msg);
  BOOST_TEST(gpu_msg.find("causal::causal_order_gpu") != std::string::npos, gpu_msg);
  BOOST_TEST(gpu_msg.find("variables 1 and 3 are collinear") != std::string::npos, gpu_msg);
}

BOOST_AUTO_TEST_SUITE_END()
