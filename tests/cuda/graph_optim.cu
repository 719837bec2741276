// SPDX-License-Identifier: Apache-2.0
// The fused Adam/AdamW update against the host's per-element kernel, and CUDA Graph capture:
// a captured sequence replays the eager result, follows new input values, and leaves the pool
// where it was. Capturable optimizers: replayed steps advance t and follow set_lr.
#include <boost/test/unit_test.hpp>

#include <memory>
#include <vector>

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

/// A capturable optimizer's step captured once and replayed: every replay advances t and reads
/// the learning rate set since, so replays equal eager steps of the same capturable optimizer
/// bit for bit, and the host optimizer's steps up to float rounding.
template <class Make>
void check_capturable_replays(const char* what, Make make) {
  const index_t n = 1000;
  const tensor<float> p0 = uniform<float>({n}, 11);
  tensor<float> hp = p0.clone(), hg(shape_t{n});
  tensor<float, tessera::cuda> ep = to<tessera::cuda>(p0).clone(), rp = ep.clone();
  tensor<float, tessera::cuda> eg(shape_t{n}), rg(shape_t{n});
  auto host_opt = make(hp, hg);
  auto eager = make(ep, eg);
  auto replayed = make(rp, rg);
  const auto set_step = [&](int k) {
    const tensor<float> gk = uniform<float>({n}, static_cast<std::uint64_t>(100 + k));
    hg.copy_from(gk);
    eg.copy_from(to<tessera::cuda>(gk));
    rg.copy_from(to<tessera::cuda>(gk));
    const float lr = 1e-2f * (1.f - 0.15f * static_cast<float>(k));
    host_opt->set_lr(lr);
    eager->set_lr(lr);
    replayed->set_lr(lr);
  };
  set_step(0);  // the first step eagerly: it creates the state
  host_opt->step();
  eager->step();
  replayed->step();
  cuda_rt::graph g([&] { replayed->step(); });
  for (int k = 1; k <= 5; ++k) {
    set_step(k);
    host_opt->step();
    eager->step();
    g.replay();
  }
  BOOST_TEST_CONTEXT(what) {
    const tensor<float> e = to<host>(ep), r = to<host>(rp);
    BOOST_TEST(r.to_vector() == e.to_vector(), boost::test_tools::per_element());
    BOOST_TEST(nmse(hp, e) <= 1e-10);
    BOOST_TEST(nmse(p0, e) > 1e-6);  // the steps moved the parameter
  }
}

BOOST_AUTO_TEST_CASE(capturable_optimizer_replays_follow_step_count_and_lr) {
  const auto adam_with = [](optim::adam_options<float> o) {
    return [o](auto& p, auto& g) {
      using S = typename std::remove_reference_t<decltype(p)>::space_type;
      return std::make_unique<optim::adam<float, S>>(
          std::vector<optim::param_slot<float, S>>{{&p, &g}}, o);
    };
  };
  check_capturable_replays("adam", adam_with({.capturable = true}));
  check_capturable_replays("adam, amsgrad, L2",
                           adam_with({.weight_decay = 0.05f, .amsgrad = true, .capturable = true}));
  check_capturable_replays("adamw", [](auto& p, auto& g) {
    using S = typename std::remove_reference_t<decltype(p)>::space_type;
    return std::make_unique<optim::adamw<float, S>>(
        std::vector<optim::param_slot<float, S>>{{&p, &g}},
        optim::adamw_options<float>{.capturable = true});
  });
  check_capturable_replays("sgd, momentum, nesterov", [](auto& p, auto& g) {
    using S = typename std::remove_reference_t<decltype(p)>::space_type;
    return std::make_unique<optim::sgd<float, S>>(
        std::vector<optim::param_slot<float, S>>{{&p, &g}},
        optim::sgd_options<float>{
            .momentum = 0.9f, .weight_decay = 0.01f, .nesterov = true, .capturable = true});
  });
}

BOOST_AUTO_TEST_CASE(capturable_adam_state_counts_replays_and_resumes) {
  using tessera::cuda;
  const index_t n = 257;
  auto p = to<cuda>(uniform<float>({n}, 5)).clone();
  auto g = to<cuda>(uniform<float>({n}, 6));
  optim::adam<float, cuda> opt({{&p, &g}}, {.lr = 1e-2f, .capturable = true});
  BOOST_TEST(opt.capturable());
  // State created inside a capture would be zeroed again by every replay: refused, and the
  // optimizer is left as it was.
  BOOST_CHECK_THROW(cuda_rt::graph([&] { opt.step(); }), invalid_argument);
  BOOST_TEST(!opt.state(0).exp_avg.defined());
  opt.step();
  BOOST_TEST(opt.state(0).step == 1);
  {
    cuda_rt::graph graph([&] { opt.step(); });
    BOOST_TEST(opt.state(0).step == 1);  // capture executes nothing
    for (int k = 0; k < 4; ++k) graph.replay();
  }
  BOOST_TEST(opt.state(0).step == 5);
  // set_lr or set_state inside a capture would be replayed by every launch: refused, and the
  // learning rate and t stay as they were.
  BOOST_CHECK_THROW(cuda_rt::graph([&] { opt.set_lr(0.5f); }), invalid_argument);
  BOOST_TEST(opt.lr() == 1e-2f);
  BOOST_CHECK_THROW(cuda_rt::graph([&] { opt.set_state(0, {}); }), invalid_argument);
  BOOST_TEST(opt.state(0).step == 5);
  // A checkpoint of the state resumes on another optimizer: the next step is the same.
  auto q = p.clone();
  const auto st = opt.state(0);
  optim::adam<float, cuda> resumed({{&q, &g}}, {.lr = 1e-2f, .capturable = true});
  resumed.set_state(0, {.exp_avg = st.exp_avg.clone(),
                        .exp_avg_sq = st.exp_avg_sq.clone(),
                        .max_exp_avg_sq = {},
                        .step = st.step});
  opt.step();
  resumed.step();
  BOOST_TEST(resumed.state(0).step == 6);
  BOOST_TEST(to<host>(q).to_vector() == to<host>(p).to_vector(), boost::test_tools::per_element());
  // Not capturable: state created inside a capture is refused all the same.
  optim::adam<float, cuda> plain({{&q, &g}}, {.lr = 1e-2f});
  BOOST_TEST(!plain.capturable());
  BOOST_CHECK_THROW(cuda_rt::graph([&] { plain.step(); }), invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
