// SPDX-License-Identifier: Apache-2.0
// The fused Adam/AdamW update against the host's per-element kernel, and CUDA Graph capture:
// a captured sequence replays the eager result, follows new input values, and leaves the pool
// where it was.
#include <boost/test/unit_test.hpp>

#include "backend_support.hpp"

namespace tessera::test {
namespace {

BOOST_AUTO_TEST_SUITE(cuda_optim_graph)

BOOST_AUTO_TEST_CASE(adam_update_matches_host_kernel) {
  for (bool decoupled : {false, true})
    for (bool amsgrad : {false, true}) {
      const index_t n = 1000;
      tensor<double> p = uniform<double>({n}, 1), m = uniform<double>({n}, 2, 0.0, 0.1);
      tensor<double> v = uniform<double>({n}, 3, 0.0, 0.1), vmax = v.clone();
      const tensor<double> g = uniform<double>({n}, 4);
      auto dp = to<cuda>(p).clone(), dm = to<cuda>(m).clone(), dv = to<cuda>(v).clone();
      auto dvmax = to<cuda>(vmax).clone();
      const auto dg = to<cuda>(g);
      const bool l2 = !decoupled;
      for (index_t t = 1; t <= 3; ++t) {
        const auto c =
            optim::adam_coefficients_for<double>(1e-2, 0.9, 0.999, 1e-8, 0.1, decoupled, t);
        optim::detail::dispatch_flags(
            [&](auto l2f, auto amsf, auto decf) {
              optim::detail::adam_kernel(l2f, amsf, decf, p.data(), g.data(), m.data(), v.data(),
                                         vmax.data(), 0, n, c);
            },
            l2, amsgrad, decoupled);
        optim::adam_update_(dp, dg, dm, dv, dvmax, c, l2, amsgrad, decoupled);
      }
      BOOST_TEST_CONTEXT("decoupled " << decoupled << ", amsgrad " << amsgrad) {
        BOOST_TEST(nmse(p, to<host>(dp)) <= 1e-26);
        BOOST_TEST(nmse(m, to<host>(dm)) <= 1e-26);
        BOOST_TEST(nmse(v, to<host>(dv)) <= 1e-26);
      }
    }
}

BOOST_AUTO_TEST_CASE(captured_graph_replays_the_eager_result) {
  generator gen(3);
  const auto x = rand<float, tessera::cuda>({64, 128}, gen);
  const auto w = rand<float, tessera::cuda>({128, 32}, gen);
  auto out = zeros<float, tessera::cuda>({64});
  auto body = [&] {
    const auto h = relu(matmul(x, w));
    out.copy_from(sum(softmax(h) * h, {1}));
  };
  body();
  const tensor<float> eager = to<host>(out);
  out.fill_(0.f);
  cuda_rt::graph g(body);
  BOOST_TEST(g.node_count() > 5u);
  BOOST_TEST(to<host>(out).to_vector() == std::vector<float>(64, 0.f),
             boost::test_tools::per_element());  // capture executes nothing
  const auto before = cuda_rt::memory_pool_usage();
  g.replay();
  BOOST_TEST(to<host>(out).to_vector() == eager.to_vector(), boost::test_tools::per_element());
  // New input values, same addresses: the replay follows them.
  x.copy_from(mul(x, 2.f));
  g.replay();
  body();  // eager again, into the same output, for the reference
  const tensor<float> eager2 = to<host>(out);
  out.fill_(0.f);
  g.replay();
  BOOST_TEST(to<host>(out).to_vector() == eager2.to_vector(), boost::test_tools::per_element());
  // (Blocks the small-block cache keeps count as used: compare what is in use outside it.)
  const auto after = cuda_rt::memory_pool_usage();
  BOOST_TEST(after.used - after.cached == before.used - before.cached);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
