// SPDX-License-Identifier: Apache-2.0
// Training through the tape on cuda: an MLP (ReLU, cross-entropy) trained a few steps with
// the optimizer classes on ad::parameter<T, cuda> gives the host's losses and parameters;
// optim::adam/adamw/sgd<T, cuda> step with the fused kernels.
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "backend_support.hpp"

namespace tessera::test {
namespace {

/// Initial parameters of a (in, hidden, hidden, classes) ReLU MLP: w1 b1 w2 b2 w3 b3.
template <class T>
std::vector<tensor<T>> mlp_init(index_t in, index_t hidden, index_t classes) {
  generator g(7);
  return {randn<T>({in, hidden}, g, T(0), T(0.15)),      rand<T>({hidden}, g, T(-0.1), T(0.1)),
          randn<T>({hidden, hidden}, g, T(0), T(0.15)),  rand<T>({hidden}, g, T(-0.1), T(0.1)),
          randn<T>({hidden, classes}, g, T(0), T(0.15)), rand<T>({classes}, g, T(-0.1), T(0.1))};
}

/// The space of an optim::param_slot<T, S>.
template <class Slot>
struct slot_space;
template <class T, class S>
struct slot_space<optim::param_slot<T, S>> {
  using type = S;
};
template <class Slot>
using space_t = typename slot_space<Slot>::type;

template <class T>
struct trained {
  std::vector<T> losses;
  std::vector<tensor<T>> params;  // on the host
};

/// `steps` training steps in space S, written as a user would: parameters, an optimizer made
/// by make_opt from their slots, and per step a tape scope, zero_grad, forward, backward, step.
template <class S, class T, class MakeOpt>
trained<T> train(const std::vector<tensor<T>>& init, const tensor<T>& x, const tensor<index_t>& y,
                 int steps, MakeOpt make_opt) {
  std::vector<ad::parameter<T, S>> ps;
  ps.reserve(init.size());
  for (const auto& t : init) ps.emplace_back(to<S>(t));
  auto opt = make_opt(optim::slots_of(ps));
  const tensor<T, S> xs = to<S>(x);
  const tensor<index_t, S> ys = to<S>(y);
  trained<T> out;
  for (int s = 0; s < steps; ++s) {
    ad::scope sc;
    opt.zero_grad();
    ad::var<T, S> h = ad::relu(ad::matmul(ad::constant(xs), ps[0]()) + ps[1]());
    h = ad::relu(ad::matmul(h, ps[2]()) + ps[3]());
    const ad::var<T, S> loss = ad::cross_entropy(ad::matmul(h, ps[4]()) + ps[5](), ys);
    ad::backward(loss);
    opt.step();
    out.losses.push_back(to<host>(loss.value()).item());
  }
  for (const auto& p : ps) out.params.push_back(to<host>(p.value()).clone());
  return out;
}

/// Trains on host and on cuda with the same data and compares losses and parameters.
template <class T, class MakeOpt>
void check_training(const std::string& name, MakeOpt make_opt, double loss_rtol,
                    double param_nmse) {
  const index_t n = 48, in = 20, hidden = 64, classes = 10;
  const std::vector<tensor<T>> init = mlp_init<T>(in, hidden, classes);
  const tensor<T> x = uniform<T>({n, in}, 61);
  std::vector<index_t> labels(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 7 + 3) % classes;
  const tensor<index_t> y = from_vector<index_t>(labels, {n});
  const int steps = 6;
  const trained<T> ref = train<host>(init, x, y, steps, make_opt);
  trained<T> got;
  try {
    got = train<cuda>(init, x, y, steps, make_opt);
  } catch (const std::exception& e) {
    BOOST_ERROR("training with " << name << " threw on cuda: " << e.what());
    return;
  }
  BOOST_TEST_CONTEXT("training with " << name << " ("
                                      << (std::is_same_v<T, float> ? "float" : "double") << ")") {
    // The losses must fall on the host, or the comparison says little.
    BOOST_TEST(ref.losses.back() < ref.losses.front());
    BOOST_TEST_REQUIRE(got.losses.size() == ref.losses.size());
    for (std::size_t s = 0; s < ref.losses.size(); ++s)
      BOOST_TEST(std::abs(got.losses[s] - ref.losses[s]) <= loss_rtol * std::abs(ref.losses[s]),
                 "step " << s << ": loss " << got.losses[s] << " on cuda, " << ref.losses[s]
                         << " on host");
    for (std::size_t k = 0; k < ref.params.size(); ++k) {
      const double e = nmse(ref.params[k], got.params[k]);
      BOOST_TEST(e <= param_nmse, "parameter " << k << ": NMSE " << e << " exceeds " << param_nmse);
    }
  }
}

BOOST_AUTO_TEST_SUITE(cuda_ad_training)

BOOST_AUTO_TEST_CASE(mlp_adam_float_matches_host) {
  check_training<float>(
      "adam",
      [](auto slots) {
        using S = space_t<typename decltype(slots)::value_type>;
        return optim::adam<float, S>(std::move(slots), {.lr = 1e-2f});
      },
      1e-5, 1e-9);
}

BOOST_AUTO_TEST_CASE(mlp_optimizers_double_match_host) {
  check_training<double>(
      "adam, weight decay",
      [](auto slots) {
        using S = space_t<typename decltype(slots)::value_type>;
        return optim::adam<double, S>(std::move(slots), {.lr = 1e-2, .weight_decay = 1e-2});
      },
      1e-12, 1e-22);
  check_training<double>(
      "adamw, amsgrad",
      [](auto slots) {
        using S = space_t<typename decltype(slots)::value_type>;
        return optim::adamw<double, S>(std::move(slots), {.lr = 1e-2, .amsgrad = true});
      },
      1e-12, 1e-22);
  check_training<double>(
      "sgd, nesterov momentum, weight decay",
      [](auto slots) {
        using S = space_t<typename decltype(slots)::value_type>;
        return optim::sgd<double, S>(
            std::move(slots), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
      },
      1e-12, 1e-22);
  check_training<double>(
      "sgd, dampened momentum",
      [](auto slots) {
        using S = space_t<typename decltype(slots)::value_type>;
        return optim::sgd<double, S>(std::move(slots),
                                     {.lr = 0.1, .momentum = 0.5, .dampening = 0.25});
      },
      1e-12, 1e-22);
  check_training<double>(
      "plain sgd",
      [](auto slots) {
        using S = space_t<typename decltype(slots)::value_type>;
        return optim::sgd<double, S>(std::move(slots), {.lr = 0.1});
      },
      1e-12, 1e-22);
}

BOOST_AUTO_TEST_CASE(captured_tape_step_replays_eager_steps) {
  // After one eager step the parameters' gradients and the optimizer's buffers exist; a step
  // that zeroes the gradients in place (zero_grad keeps their storage) accumulates into the
  // same buffers on every sweep, so the whole step (tape forward, backward, fused SGD update)
  // can be captured into a CUDA graph and replayed. SGD: no step count is baked in.
  using T = double;
  const index_t n = 32, in = 12, hidden = 32, classes = 10;
  const std::vector<tensor<T>> init = mlp_init<T>(in, hidden, classes);
  const tensor<T, cuda> x = to<cuda>(uniform<T>({n, in}, 71));
  std::vector<index_t> labels(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 3 + 1) % classes;
  const tensor<index_t, cuda> y = to<cuda>(from_vector<index_t>(labels, {n}));

  struct net {
    std::vector<ad::parameter<T, cuda>> ps;
    optim::sgd<T, cuda> opt;
    tensor<T, cuda> loss = zeros<T, cuda>({});
    explicit net(const std::vector<tensor<T>>& init)
        : ps(make(init)), opt(optim::slots_of(ps), {.lr = 0.05, .momentum = 0.9}) {}
    static std::vector<ad::parameter<T, cuda>> make(const std::vector<tensor<T>>& init) {
      std::vector<ad::parameter<T, cuda>> v;
      for (const auto& t : init) v.emplace_back(to<cuda>(t));
      return v;
    }
    void step(const tensor<T, cuda>& x, const tensor<index_t, cuda>& y) {
      ad::scope sc;
      opt.zero_grad();
      const auto h = ad::relu(ad::matmul(ad::constant(x), ps[0]()) + ps[1]());
      const auto h2 = ad::relu(ad::matmul(h, ps[2]()) + ps[3]());
      const auto l = ad::cross_entropy(ad::matmul(h2, ps[4]()) + ps[5](), y);
      ad::backward(l);
      opt.step();
      loss.copy_from(l.value());
    }
  };
  net eager(init), captured(init);
  eager.step(x, y);
  captured.step(x, y);
  std::vector<const T*> grad_addresses;
  for (const auto& p : captured.ps) grad_addresses.push_back(p.grad().data());
  try {
    cuda_rt::graph g([&] { captured.step(x, y); });
    for (int s = 0; s < 4; ++s) {
      eager.step(x, y);
      g.replay();
      const T le = to<host>(eager.loss).item(), lc = to<host>(captured.loss).item();
      BOOST_TEST(std::abs(le - lc) <= 1e-12 * std::abs(le),
                 "replay " << s << ": loss " << lc << ", eager " << le);
    }
  } catch (const std::exception& e) {
    BOOST_ERROR("capturing a tape training step threw: " << e.what());
    return;
  }
  for (std::size_t k = 0; k < eager.ps.size(); ++k) {
    BOOST_TEST(captured.ps[k].grad().data() == grad_addresses[k]);  // the same buffers
    const double e = nmse(to<host>(eager.ps[k].value()), to<host>(captured.ps[k].value()));
    BOOST_TEST(e <= 1e-20, "parameter " << k << " after the replays: NMSE " << e);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
