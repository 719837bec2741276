// SPDX-License-Identifier: Apache-2.0
// DirectLiNGAM bootstrap: replicates are fits on the resampled rows, reproducible for a seed
// and the same with 1 and 2 OpenMP threads; probabilities and path-sum total effects.
#include <boost/test/unit_test.hpp>

#include <Eigen/LU>

#include "sem.hpp"
#include "tessera/causal/adjacency.hpp"

#if TESSERA_HAS_OPENMP
#include <omp.h>
#endif

using namespace tessera;
namespace tc = tessera::causal;

namespace {

bool same(const tensor<double>& a, const tensor<double>& b) {
  if (a.shape() != b.shape()) return false;
  for (index_t i = 0; i < a.numel(); ++i)
    if (a.data()[i] != b.data()[i]) return false;
  return true;
}

const lingam_sem::sem& data() {
  static const lingam_sem::sem m = lingam_sem::make(400, 5, lingam_sem::noise::laplace, 7);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(causal)
BOOST_AUTO_TEST_SUITE(bootstrap)

BOOST_AUTO_TEST_CASE(replicates_are_fits_on_the_resampled_rows) {
  const auto& m = data();
  const tc::bootstrap_result r = tc::bootstrap(m.X, 4, {}, 42);
  BOOST_TEST(r.adjacency_matrices.shape() == (shape_t{4, 5, 5}));
  BOOST_TEST(r.resampled_indices.shape() == (shape_t{4, 400}));
  for (index_t s = 0; s < 4; ++s) {
    tensor<double> Xs(shape_t{400, 5});
    std::vector<int> hits(400, 0);
    for (index_t i = 0; i < 400; ++i) {
      const index_t src = r.resampled_indices(s, i);
      BOOST_TEST_REQUIRE((src >= 0 && src < 400));
      ++hits[static_cast<std::size_t>(src)];
      for (index_t j = 0; j < 5; ++j) Xs(i, j) = m.X(src, j);
    }
    // With replacement: about 1 - 1/e of the rows appear (0.632 ± a few %).
    const double share =
        static_cast<double>(std::count_if(hits.begin(), hits.end(), [](int h) { return h > 0; })) /
        400.0;
    BOOST_TEST((share > 0.57 && share < 0.70), "share of distinct rows " << share);
    const tc::lingam_result f = tc::fit(Xs);
    const tc::lingam_result f_in_result{
        f.order, r.adjacency_matrices.slice(0, s, s + 1).reshape(shape_t{5, 5}).clone()};
    BOOST_TEST(same(f_in_result.adjacency, f.adjacency), "replicate " << s);
    BOOST_TEST(same(r.total_effects.slice(0, s, s + 1).reshape(shape_t{5, 5}).clone(),
                    tc::path_total_effects(f)));
  }
}

BOOST_AUTO_TEST_CASE(reproducible_and_independent_of_threads) {
  const auto& m = data();
#if TESSERA_HAS_OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  const tc::bootstrap_result a = tc::bootstrap(m.X, 6, {}, 2024);
#if TESSERA_HAS_OPENMP
  omp_set_num_threads(2);
#endif
  const tc::bootstrap_result b = tc::bootstrap(m.X, 6, {}, 2024);
#if TESSERA_HAS_OPENMP
  omp_set_num_threads(saved);
#endif
  BOOST_TEST(same(a.adjacency_matrices, b.adjacency_matrices));
  BOOST_TEST(same(a.total_effects, b.total_effects));
  for (index_t i = 0; i < a.resampled_indices.numel(); ++i)
    BOOST_TEST_REQUIRE(a.resampled_indices.data()[i] == b.resampled_indices.data()[i]);
  // Another seed draws other rows.
  const tc::bootstrap_result c = tc::bootstrap(m.X, 6, {}, 2025);
  BOOST_TEST(!same(a.adjacency_matrices, c.adjacency_matrices));
}

// The ordering's progress callback is not called by bootstrap, whose replicates run on several
// threads at once (it was, concurrently, racing on the caller's state).
BOOST_AUTO_TEST_CASE(progress_is_not_called_from_the_replicates) {
  int calls = 0;
  tc::ordering_options o;
  o.progress = [&](index_t, index_t) { ++calls; };
  (void)tc::bootstrap(data().X, 4, o, 3);
  BOOST_TEST(calls == 0);
  (void)tc::causal_order(data().X, o);  // a single ordering still reports, step by step
  BOOST_TEST(calls == 5);
}

BOOST_AUTO_TEST_CASE(probabilities_and_total_effects) {
  const auto& m = data();
  const tc::bootstrap_result r = tc::bootstrap(m.X, 10, {}, 3);
  const tensor<double> p = r.edge_probabilities();
  const tensor<double> p5 = r.edge_probabilities(0.5);
  for (index_t e = 0; e < 5; ++e)
    for (index_t c = 0; c < 5; ++c) {
      BOOST_TEST((p(e, c) >= 0.0 && p(e, c) <= 1.0));
      BOOST_TEST(p5(e, c) <= p(e, c));
      // Every true edge (|b| >= 0.5) is found in (nearly) every replicate.
      if (m.b(e, c) != 0.0) BOOST_TEST(p(e, c) >= 0.9, "edge " << c << " -> " << e);
      if (e == c) BOOST_TEST(p(e, c) == 0.0);
    }
  // Total effects: the path sums (I - B)^-1 - I of each replicate.
  for (index_t s = 0; s < 10; ++s) {
    Eigen::MatrixXd B(5, 5);
    for (index_t i = 0; i < 5; ++i)
      for (index_t j = 0; j < 5; ++j) B(i, j) = r.adjacency_matrices(s, i, j);
    const Eigen::MatrixXd T =
        (Eigen::MatrixXd::Identity(5, 5) - B).inverse() - Eigen::MatrixXd::Identity(5, 5);
    for (index_t i = 0; i < 5; ++i)
      for (index_t j = 0; j < 5; ++j)
        BOOST_TEST(std::abs(r.total_effects(s, i, j) - T(i, j)) < 1e-12);
  }
  BOOST_CHECK_THROW(r.edge_probabilities(-1.0), tessera::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
