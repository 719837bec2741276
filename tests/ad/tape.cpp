// SPDX-License-Identifier: Apache-2.0
// Tape semantics of tessera::ad: scopes, no_grad, parameters, derivatives, seeds and their
// errors, vjp pullbacks, custom_vjp, make_op with generic rules, steady-state memory in a
// training loop, and per-thread tapes.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "gradcheck.hpp"
// Together with the umbrella (through gradcheck.hpp): the two must not define ops twice.
#include "tessera/ad/ops.hpp"

using namespace tessera;
using namespace tessera::test;
namespace tad = tessera::ad;

namespace tape_cases {

/// y = x³ elementwise through custom_vjp with the right pullback.
dvar cube(const dvar& x) {
  const dtensor xv = x.value();
  return tad::custom_vjp<double>(tessera::pow(xv, 3.0), {x}, [xv](const dtensor& gy) {
    return std::vector<dtensor>{gy * tessera::square(xv) * 3.0};
  });
}

/// y = x·sin x through make_op with a generic rule (so it has second derivatives).
dvar x_sin_x(const dvar& x) {
  return tad::make_op(x.value() * tessera::sin(x.value()), {x},
                      [](auto& c) { c.acc(0, c.gy() * (sin(c.x(0)) + c.x(0) * cos(c.x(0)))); });
}

/// y = a·exp(b) (broadcasting) through make_op with a generic rule of two inputs.
dvar a_exp_b(const dvar& a, const dvar& b) {
  return tad::make_op(a.value() * tessera::exp(b.value()), {a, b}, [](auto& c) {
    if (c.needs(0)) c.acc(0, c.gy() * exp(c.x(1)));
    if (c.needs(1)) c.acc(1, c.gy() * c.y());
  });
}

/// The message of the exception `f` throws (empty when it throws none of type E).
template <class E, class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return {};
}

}  // namespace tape_cases

BOOST_AUTO_TEST_SUITE(ad)
BOOST_AUTO_TEST_SUITE(tape)
using namespace tape_cases;  // in the suite: the module compiles as one TU

// ------------------------------------------------------------------ scopes and no_grad --------

BOOST_AUTO_TEST_CASE(nested_scopes_destroy_their_objects) {
  const tad::tape& tp = tad::current_tape();
  const std::size_t base_objects = tp.object_count(), base_nodes = tp.node_count();
  const dtensor value = ones<double>(shape_t{3});
  const double e = std::exp(1.0);
  {
    tad::scope outer;
    const tad::var<double> x(value, true);
    const tad::var<double> y = tad::exp(x);
    const std::size_t mid_objects = tp.object_count(), mid_nodes = tp.node_count();
    BOOST_TEST(mid_objects > base_objects);
    BOOST_TEST(mid_nodes == base_nodes + 1);
    {
      tad::scope inner;
      const tad::var<double> kept(value * 2.0);
      BOOST_TEST(value.use_count() == 2);  // x holds the same storage
      const tad::var<double> z = tad::sin(y) * x;
      BOOST_TEST(tp.object_count() > mid_objects);
      tad::backward(tad::sum(z));
    }
    BOOST_TEST(tp.object_count() == mid_objects);
    BOOST_TEST(tp.node_count() == mid_nodes);
    // The outer scope's variables still work, and x's gradient kept the inner contribution.
    tad::backward(tad::sum(y));
    const double inner = std::cos(e) * e + std::sin(e);  // d/dx [sin(eˣ)·x] at x = 1
    BOOST_TEST(close(x.grad(), full<double>(shape_t{3}, inner + e)));
  }
  BOOST_TEST(tp.object_count() == base_objects);
  BOOST_TEST(tp.node_count() == base_nodes);
  BOOST_TEST(value.use_count() == 1);  // the variables holding it are gone
}

BOOST_AUTO_TEST_CASE(a_scope_reuses_the_arena) {
  const tad::tape& tp = tad::current_tape();
  const auto run = [] {
    tad::scope s;
    tad::var<double> x(ones<double>(shape_t{2}), true);
    for (int i = 0; i < 3000; ++i) x = x * 1.0001;  // well past one 64 KiB arena block
    tad::backward(tad::sum(x));
  };
  run();
  const std::size_t reserved = tp.memory().reserved_bytes();
  BOOST_TEST(reserved >= tad::arena::block_bytes);
  for (int i = 0; i < 3; ++i) run();
  BOOST_TEST(tp.memory().reserved_bytes() == reserved);
}

BOOST_AUTO_TEST_CASE(no_grad_makes_constants_and_records_nothing) {
  const tad::tape& tp = tad::current_tape();
  tad::scope s;
  const tad::var<double> x(from_list<double>({1.0, 2.0}), true);
  const std::size_t nodes = tp.node_count();
  BOOST_TEST(!tad::grad_disabled());
  {
    tad::no_grad ng;
    BOOST_TEST(tad::grad_disabled());
    const tad::var<double> y = tad::sum(tad::exp(x) * x);
    BOOST_TEST(!y.requires_grad());
    BOOST_TEST(tp.node_count() == nodes);
    { tad::no_grad nested; }
    BOOST_TEST(tad::grad_disabled());  // still inside the outer no_grad
    // backward of a constant does nothing.
    tad::backward(y);
    BOOST_TEST(close(x.grad(), zeros<double>(shape_t{2}), 0.0));
    BOOST_TEST(std::abs(y.item() - (std::exp(1.0) + 2 * std::exp(2.0))) < 1e-12);
  }
  BOOST_TEST(!tad::grad_disabled());
  const tad::var<double> z = tad::exp(x);
  BOOST_TEST(z.requires_grad());
  BOOST_TEST(tp.node_count() == nodes + 1);
}

BOOST_AUTO_TEST_CASE(ops_on_constants_record_no_nodes) {
  const tad::tape& tp = tad::current_tape();
  tad::scope s;
  const std::size_t nodes = tp.node_count();
  const tad::var<double> c = tad::constant(from_list<double>({1.0, 2.0}));
  const tad::var<double> y = tad::sum(tad::exp(c) * c + 1.0);
  BOOST_TEST(!y.requires_grad());
  BOOST_TEST(tp.node_count() == nodes);
  const tad::var<double> x(from_list<double>({3.0, 4.0}), true);
  const tad::var<double> z = x * c;  // one of two inputs needs a gradient
  BOOST_TEST(z.requires_grad());
  tad::backward(tad::sum(z));
  BOOST_TEST(close(x.grad(), c.value(), 0.0));
  BOOST_TEST(close(c.grad(), zeros<double>(shape_t{2}), 0.0));
}

// ------------------------------------------------------------------ parameters and sweeps ----

BOOST_AUTO_TEST_CASE(parameter_gradients_accumulate_until_zero_grad) {
  tad::parameter<double> p(from_list<double>({1.0, -2.0, 3.0}));
  const tad::tape& tp = tad::current_tape();
  const std::size_t objects = tp.object_count();
  BOOST_TEST(!p.grad().defined());
  for (int i = 0; i < 2; ++i) {
    tad::scope s;
    tad::backward(tad::sum(p() * p()));
  }
  BOOST_TEST(tp.object_count() == objects);  // parameters live off the tape
  BOOST_TEST(close(p.grad(), from_list<double>({4.0, -8.0, 12.0})));
  const double* storage = p.grad().data();
  p.zero_grad();
  BOOST_TEST(close(p.grad(), zeros<double>(shape_t{3}), 0.0));
  BOOST_TEST(p.grad().data() == storage);  // zero_grad keeps the storage
  {
    tad::scope s;
    tad::backward(tad::sum(tad::exp(p())));
  }
  BOOST_TEST(close(p.grad(), tessera::exp(p.value())));
  // A moved parameter keeps its variable (graphs recorded before the move stay valid).
  tad::parameter<double> q = std::move(p);
  tad::scope s;
  tad::backward(tad::sum(q() * 2.0));
  BOOST_TEST(close(q.grad(), tessera::exp(q.value()) + 2.0));
}

BOOST_AUTO_TEST_CASE(backward_twice_on_one_graph_accumulates_in_leaves_only) {
  tad::scope s;
  const tad::var<double> x(from_list<double>({0.5, 1.5}), true);
  const tad::var<double> y = tad::sum(tad::square(tad::exp(x)));
  tad::backward(y);
  tad::backward(y);
  BOOST_TEST(close(x.grad(), tessera::exp(x.value() * 2.0) * 4.0));
  // A leaf as the output: its own gradient is the seed.
  const tad::var<double> leaf(scalar<double>(3.0), true);
  tad::backward(leaf);
  BOOST_TEST(leaf.grad().item() == 1.0);
}

BOOST_AUTO_TEST_CASE(derivatives_of_unused_inputs_are_zeros) {
  tad::scope s;
  const tad::var<double> a(from_list<double>({1.0, 2.0}), true);
  const tad::var<double> b(ones<double>(shape_t{2, 3}), true);
  const tad::var<double> y = tad::sum(tad::exp(a));
  const auto [ga, gb] = tad::derivatives(y, tad::wrt(a, b));
  BOOST_TEST(close(ga, tessera::exp(a.value())));
  BOOST_TEST(gb.shape() == (shape_t{2, 3}));
  BOOST_TEST(close(gb, zeros<double>(shape_t{2, 3}), 0.0));
  // A constant output: zeros for every input.
  const auto [gc] =
      tad::derivatives(tad::sum(tad::constant(ones<double>(shape_t{2}))), tad::wrt(a));
  BOOST_TEST(close(gc, zeros<double>(shape_t{2}), 0.0));
}

BOOST_AUTO_TEST_CASE(derivatives_do_not_leak_between_calls_and_stay_unchanged) {
  tad::scope s;
  const tad::var<double> x(from_list<double>({1.0, 2.0}), true);
  const tad::var<double> y = tad::sum(tad::square(x));
  const auto [g1] = tad::derivatives(y, tad::wrt(x));
  const auto [g2] = tad::derivatives(y, tad::wrt(x));
  BOOST_TEST(close(g1, from_list<double>({2.0, 4.0}), 0.0));
  BOOST_TEST(close(g2, g1, 0.0));  // the second call starts from zero
  // Later sweeps accumulate into x's adjoint; the gradients already handed out stay put.
  tad::backward(tad::sum(x * 10.0));
  BOOST_TEST(close(g1, from_list<double>({2.0, 4.0}), 0.0));
  BOOST_TEST(close(g2, from_list<double>({2.0, 4.0}), 0.0));
  const dtensor g = tad::grad(y, x);
  tad::backward(y);
  BOOST_TEST(close(g, from_list<double>({2.0, 4.0}), 0.0));
}

BOOST_AUTO_TEST_CASE(derivatives_with_respect_to_parameters) {
  tad::parameter<double> w(from_list<double>({2.0, 3.0}));
  tad::scope s;
  const tad::var<double> x(from_list<double>({5.0, 7.0}), true);
  const tad::var<double> y = tad::sum(w() * w() * x);
  const auto [gw, gx] = tad::derivatives(y, tad::wrt(w, x));
  BOOST_TEST(close(gw, from_list<double>({20.0, 42.0}), 0.0));
  BOOST_TEST(close(gx, from_list<double>({4.0, 9.0}), 0.0));
}

// grad, derivatives and hvp change the gradients of the variables they are asked about only:
// a parameter (or requires_grad leaf) that y depends on keeps what backward accumulated, as
// torch.autograd.grad leaves .grad alone. Before, each call added into it.
BOOST_AUTO_TEST_CASE(derivatives_leave_other_leaves_gradients_alone) {
  tad::parameter<double> p(from_list<double>({3.0}));
  tad::scope s;
  const tad::var<double> x(from_list<double>({2.0}), true);
  const tad::var<double> other(from_list<double>({5.0}), true);
  const tad::var<double> y = tad::sum(p() * x * other);
  BOOST_TEST(close(tad::grad(y, x), from_list<double>({15.0}), 0.0));
  BOOST_TEST(!p.grad().defined());
  BOOST_TEST(!other.impl()->adj.defined());
  tad::backward(y);  // now p and other hold their gradients
  BOOST_TEST(close(p.grad(), from_list<double>({10.0}), 0.0));
  const auto [gx] = tad::derivatives(y, tad::wrt(x));
  BOOST_TEST(close(gx, from_list<double>({15.0}), 0.0));
  BOOST_TEST(close(p.grad(), from_list<double>({10.0}), 0.0));  // unchanged
  BOOST_TEST(close(other.grad(), from_list<double>({6.0}), 0.0));
  // A Hessian-vector product of a function of a parameter leaves the parameter alone too.
  const dtensor hv = tad::hvp([&](const tad::var<double>& z) { return tad::sum(p() * z * z * z); },
                              from_list<double>({1.0}), from_list<double>({1.0}));
  BOOST_TEST(close(hv, from_list<double>({18.0}), 0.0));  // 6·p·z·v
  BOOST_TEST(close(p.grad(), from_list<double>({10.0}), 0.0));
  // A pullback (vjp) still reaches the variables its function captured, as documented.
  const auto pb =
      tad::vjp([&](const tad::var<double>& z) { return z * p(); }, from_list<double>({4.0}));
  (void)pb(from_list<double>({1.0}));
  BOOST_TEST(close(p.grad(), from_list<double>({14.0}), 0.0));
}

BOOST_AUTO_TEST_CASE(non_scalar_outputs_need_a_seed_of_their_shape) {
  tad::scope s;
  const tad::var<double> x(ones<double>(shape_t{2, 3}), true);
  const tad::var<double> y = tad::exp(x);
  const std::string m1 = message_of<tessera::invalid_argument>([&] { tad::backward(y); });
  BOOST_TEST(m1.find("ad::backward") != std::string::npos, m1);
  BOOST_TEST(m1.find("(2,3)") != std::string::npos, m1);
  const std::string m2 = message_of<tessera::invalid_argument>([&] {
    tad::backward(y, ones<double>(shape_t{3, 2}));
  });
  BOOST_TEST(m2.find("seed shape (3,2)") != std::string::npos, m2);
  BOOST_CHECK_THROW(tad::backward(y, ones<double>(shape_t{6})), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::derivatives(y, tad::wrt(x)), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::grad(y, x), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::grad_graph(y, {x}), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::grad_graph(y, {x}, ones<double>(shape_t{2})), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::backward(tad::var<double>()), tessera::invalid_argument);
  // An undefined (default-constructed) variable in an op, or as what to differentiate with
  // respect to, is refused by name; both dereferenced a null pointer before.
  const tad::var<double> none;
  for (const std::string& m : {message_of<tessera::invalid_argument>([&] { (void)tad::exp(none); }),
                               message_of<tessera::invalid_argument>([&] { (void)(x + none); }),
                               message_of<tessera::invalid_argument>([&] { (void)none.grad(); })})
    BOOST_TEST(m.find("tessera::ad::var: the variable is undefined") != std::string::npos, m);
  const std::string mw =
      message_of<tessera::invalid_argument>([&] { (void)tad::grad(tad::sum(x), none); });
  BOOST_TEST(mw.find("tessera::ad::derivatives: a variable to differentiate with respect to is "
                     "undefined") != std::string::npos,
             mw);
  BOOST_TEST(message_of<tessera::invalid_argument>([&] {
               (void)tad::grad_graph(tad::sum(x), {none});
             }).find("tessera::ad::grad_graph: a variable to differentiate") != std::string::npos);
  // With a seed of the right shape it is a vector-Jacobian product.
  const dtensor seed = from_vector<double>({1, 2, 3, 4, 5, 6}, shape_t{2, 3});
  tad::backward(y, seed);
  BOOST_TEST(close(x.grad(), seed * std::exp(1.0)));
  // A one-element non-scalar output needs no seed.
  const tad::var<double> one = tad::sum(x, shape_t{0, 1}, true);
  BOOST_CHECK_NO_THROW(tad::backward(one));
}

// ------------------------------------------------------------------ vjp ---------------------

BOOST_AUTO_TEST_CASE(vjp_pullback_is_linear_and_equals_the_jacobian_transpose) {
  generator gen(2000);
  const dtensor x = normal(shape_t{3, 4}, gen), w = normal(shape_t{4, 2}, gen);
  const auto plain = [](const dtensor& p, const dtensor& q) {
    return tessera::tanh(tessera::matmul(p, q)) * p.slice(1, 0, 2);
  };
  const tad::tape& tp = tad::current_tape();
  const std::size_t objects = tp.object_count();
  tad::pullback<double> pb;
  {
    tad::scope s;  // the pullback outlives the scope it was made in: it has its own tape
    pb = tad::vjp(
        [](const dvar& p, const dvar& q) {
          return tad::tanh(tad::matmul(p, q)) * tad::slice(p, 1, 0, 2);
        },
        x, w);
  }
  BOOST_TEST(tp.object_count() == objects);
  BOOST_TEST(close(pb.value(), plain(x, w)));

  // Jacobian transpose by central differences, applied to cotangent a.
  const dtensor a = normal(shape_t{3, 2}, gen), b = normal(shape_t{3, 2}, gen);
  std::vector<dtensor> jt_a;
  for (int i = 0; i < 2; ++i) {
    dtensor xs[2] = {x.clone(), w.clone()};
    dtensor out(xs[i].shape());
    for (index_t k = 0; k < xs[i].numel(); ++k) {
      const double v0 = xs[i].data()[k];
      xs[i].data()[k] = v0 + 1e-6;
      const double fp = project(plain(xs[0], xs[1]), a);
      xs[i].data()[k] = v0 - 1e-6;
      const double fm = project(plain(xs[0], xs[1]), a);
      xs[i].data()[k] = v0;
      out.data()[k] = (fp - fm) / 2e-6;
    }
    jt_a.push_back(out);
  }
  const std::vector<dtensor> pa = pb(a);
  BOOST_TEST_REQUIRE(pa.size() == 2u);
  BOOST_TEST(close(pa[0], jt_a[0], 1e-7));
  BOOST_TEST(close(pa[1], jt_a[1], 1e-7));

  // Many applications with different cotangents: linear, and each one independent.
  const std::vector<dtensor> pbb = pb(b);
  for (int rep = 0; rep < 50; ++rep) {
    const double alpha = 0.5 + rep, beta = 1.0 - 0.1 * rep;
    const std::vector<dtensor> lin = pb(a * alpha + b * beta);
    for (int i = 0; i < 2; ++i)
      BOOST_TEST(
          close(lin[static_cast<std::size_t>(i)],
                pa[static_cast<std::size_t>(i)] * alpha + pbb[static_cast<std::size_t>(i)] * beta,
                1e-12));
  }
  BOOST_TEST(close(pb(a)[0], pa[0], 0.0));  // deterministic and no accumulation between calls
  BOOST_CHECK_THROW(pb(ones<double>(shape_t{2, 3})), tessera::invalid_argument);
}

BOOST_AUTO_TEST_CASE(vjp_of_a_function_ignoring_an_input) {
  const dtensor x = from_list<double>({1.0, 2.0}), y = from_list<double>({3.0});
  auto pb = tad::vjp([](const dvar& p, const dvar&) { return tad::sum(p * p); }, x, y);
  const std::vector<dtensor> g = pb(scalar<double>(2.0));
  BOOST_TEST(close(g[0], from_list<double>({4.0, 8.0}), 0.0));
  BOOST_TEST(close(g[1], zeros<double>(shape_t{1}), 0.0));
}

BOOST_AUTO_TEST_CASE(vjp_of_the_identity_and_grad_graph_of_unused_inputs) {
  auto pb = tad::vjp([](const dvar& p) { return p; }, from_list<double>({1.0, 2.0}));
  BOOST_TEST(close(pb(from_list<double>({3.0, -4.0}))[0], from_list<double>({3.0, -4.0}), 0.0));
  BOOST_TEST(close(pb(from_list<double>({0.5, 0.0}))[0], from_list<double>({0.5, 0.0}), 0.0));
  tad::scope s;
  const tad::var<double> a(from_list<double>({1.0, 2.0}), true);
  const tad::var<double> unused(ones<double>(shape_t{3, 1}), true);
  const std::vector<tad::var<double>> g = tad::grad_graph(tad::sum(a * a), {a, unused, a});
  BOOST_TEST(close(g[0].value(), from_list<double>({2.0, 4.0}), 0.0));
  BOOST_TEST(close(g[1].value(), zeros<double>(shape_t{3, 1}), 0.0));
  BOOST_TEST(!g[1].requires_grad());
  BOOST_TEST(close(g[2].value(), g[0].value(), 0.0));
  // The output itself among the inputs: its gradient is the seed.
  const tad::var<double> y = tad::sum(a * a);
  BOOST_TEST(tad::grad_graph(y, {y})[0].item() == 1.0);
}

// ------------------------------------------------------------------ user-defined ops ---------

BOOST_AUTO_TEST_CASE(custom_vjp_gives_the_users_gradient) {
  generator gen(2100);
  const dtensor x = normal(shape_t{2, 3}, gen);
  BOOST_TEST(gradcheck(
                 "custom cube", [](const dvar& v) { return cube(v); }, x)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "custom cube in a chain",
                 [](const dvar& v) { return tad::sum(tad::exp(cube(tad::sin(v))), shape_t{1}); }, x)
                 .failures == 0);
  // An undefined tensor from the pullback means "no gradient" for that input.
  tad::scope s;
  const tad::var<double> a(x, true), b(x, true);
  const tad::var<double> y = tad::custom_vjp<double>(x * 2.0, {a, b}, [](const dtensor& gy) {
    return std::vector<dtensor>{gy * 2.0, dtensor()};
  });
  tad::backward(tad::sum(y));
  BOOST_TEST(close(a.grad(), full<double>(shape_t{2, 3}, 2.0), 0.0));
  BOOST_TEST(close(b.grad(), zeros<double>(shape_t{2, 3}), 0.0));
  const tad::var<double> bad = tad::custom_vjp<double>(
      x.clone(), {a, b}, [](const dtensor& gy) { return std::vector<dtensor>{gy}; });
  BOOST_CHECK_THROW(tad::backward(tad::sum(bad)), tessera::invalid_argument);
}

BOOST_AUTO_TEST_CASE(grad_graph_through_custom_vjp_throws_and_leaves_no_stale_state) {
  tad::parameter<double> p(from_list<double>({1.0, 2.0}));
  tad::scope s;
  const tad::var<double> x(from_list<double>({0.5, -1.0}), true);
  // The custom op is recorded first (separate statements: the order in which the operands of
  // + are evaluated is unspecified), so the reverse sweep touches p and x before reaching it.
  const tad::var<double> c = tad::sum(cube(p() * x));
  const tad::var<double> q = tad::sum(tad::square(p())) + tad::sum(tad::square(x));
  const tad::var<double> y = c + q;
  const std::string m = message_of<tessera::domain_error>([&] {
    (void)tad::grad_graph(y, {p(), x});
  });
  BOOST_TEST(m.find("ad::custom_vjp") != std::string::npos, m);
  BOOST_CHECK_THROW(tad::hvp([](const dvar& v) { return tad::sum(cube(v)); }, x.value(), x.value()),
                    tessera::domain_error);
  // After the failed sweep, graph adjoints start from nothing again.
  const std::vector<tad::var<double>> g =
      tad::grad_graph(tad::sum(tad::square(p())) + tad::sum(tad::square(x)), {p(), x});
  BOOST_TEST(close(g[0].value(), from_list<double>({2.0, 4.0}), 0.0));
  BOOST_TEST(close(g[1].value(), from_list<double>({1.0, -2.0}), 0.0));
  // First-order sweeps through the custom op still work.
  tad::backward(y);
  // ∂y/∂x = 3(px)²·p + 2x
  BOOST_TEST(close(x.grad(), from_list<double>({0.75 + 1.0, 24.0 - 2.0})));
}

BOOST_AUTO_TEST_CASE(make_op_with_a_generic_rule_has_correct_second_derivatives) {
  generator gen(2200);
  const dtensor x = normal(shape_t{2, 3}, gen), b = normal(shape_t{3}, gen);
  BOOST_TEST(gradcheck(
                 "x sin x", [](const dvar& v) { return x_sin_x(v); }, x)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "x sin x", [](const dvar& v) { return x_sin_x(v); }, x)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "a exp b", [](const dvar& p, const dvar& q) { return a_exp_b(p, q); }, x, b)
                 .failures == 0);
  BOOST_TEST(hvpcheck(
                 "a exp b", [](const dvar& p, const dvar& q) { return a_exp_b(p, q); }, x, b)
                 .failures == 0);
  // Known values: (x sin x)'' = 2 cos x - x sin x.
  const dtensor v = ones<double>(shape_t{2, 3});
  const dtensor h = tad::hvp([](const dvar& p) { return tad::sum(x_sin_x(p)); }, x, v);
  BOOST_TEST(close(h, tessera::cos(x) * 2.0 - x * tessera::sin(x), 1e-12));
  // make_op with a runtime list of inputs.
  tad::scope s;
  const std::vector<tad::var<double>> in = {tad::var<double>(x, true), tad::var<double>(x, true)};
  const tad::var<double> y = tad::make_op(x * 3.0, in, [](auto& c) {
    c.acc(0, c.gy());
    c.acc(1, c.gy() * 2.0);
  });
  tad::backward(tad::sum(y));
  BOOST_TEST(close(in[0].grad(), ones<double>(shape_t{2, 3}), 0.0));
  BOOST_TEST(close(in[1].grad(), full<double>(shape_t{2, 3}, 2.0), 0.0));
}

// ------------------------------------------------------------------ memory and threads -------

BOOST_AUTO_TEST_CASE(training_loop_reaches_a_steady_state) {
  generator gen(2300);
  const dtensor x = normal(shape_t{16, 4}, gen);
  const dtensor target = tessera::sin(tessera::matmul(x, normal(shape_t{4, 1}, gen)));
  tad::parameter<double> w1(normal(shape_t{4, 8}, gen, 0.5)), b1(zeros<double>(shape_t{8})),
      w2(normal(shape_t{8, 1}, gen, 0.5));
  const tad::tape& tp = tad::current_tape();
  const std::size_t base_objects = tp.object_count();
  struct snapshot {
    std::size_t reserved, objects_in_step, nodes_in_step, objects_after;
  };
  snapshot at10{}, at200{};
  double first_loss = 0, last_loss = 0;
  for (int step = 1; step <= 200; ++step) {
    snapshot now{};
    {
      tad::scope s;
      const tad::var<double> h = tad::tanh(tad::matmul(tad::constant(x), w1()) + b1());
      const tad::var<double> loss = tad::mse_loss(tad::matmul(h, w2()), tad::constant(target));
      tad::backward(loss);
      for (tad::parameter<double>* p : {&w1, &b1, &w2}) {
        tessera::axpy_(p->value(), -0.1, p->grad());
        p->zero_grad();
      }
      now.objects_in_step = tp.object_count();
      now.nodes_in_step = tp.node_count();
      if (step == 1) first_loss = loss.item();
      last_loss = loss.item();
    }
    now.reserved = tp.memory().reserved_bytes();
    now.objects_after = tp.object_count();
    if (step == 10) at10 = now;
    if (step == 200) at200 = now;
  }
  BOOST_TEST(at10.reserved == at200.reserved);
  BOOST_TEST(at10.objects_in_step == at200.objects_in_step);
  BOOST_TEST(at10.nodes_in_step == at200.nodes_in_step);
  BOOST_TEST(at200.objects_after == base_objects);
  BOOST_TEST(at10.objects_in_step > base_objects);
  BOOST_TEST(last_loss < 0.5 * first_loss, "loss " << first_loss << " -> " << last_loss);
}

BOOST_AUTO_TEST_CASE(threads_have_their_own_tapes) {
  const tad::tape* main_tape = &tad::current_tape();
  const std::size_t main_objects = main_tape->object_count();
  struct result {
    double max_error = -1;
    const tad::tape* tape = nullptr;
    int iterations = 0;
  };
  result ra, rb;
  const dtensor xa = from_list<double>({0.1, -0.4, 0.9, 1.3});
  const dtensor xb = from_vector<double>({0.5, -1.0, 2.0, 0.25}, shape_t{2, 2});
  // Thread a: d/dx Σ x·eˣ = eˣ(1 + x).  Thread b: ∂/∂X Σ(X·X) = 1·Xᵀ + Xᵀ·1 (1 all ones) as a
  // differentiable gradient, then differentiated again: ∂/∂X Σ(1·Xᵀ + Xᵀ·1) = 4 everywhere.
  std::thread ta([&] {
    ra.tape = &tad::current_tape();
    double err = 0;
    for (int i = 0; i < 300; ++i) {
      tad::scope s;
      const tad::var<double> x(xa, true);
      const dtensor g = tad::grad(tad::sum(x * tad::exp(x)), x);
      const dtensor expected = tessera::exp(xa) * (xa + 1.0);
      for (index_t k = 0; k < g.numel(); ++k)
        err = std::max(err, std::abs(g.flat(k) - expected.flat(k)));
      ++ra.iterations;
    }
    ra.max_error = err;
  });
  std::thread tb([&] {
    rb.tape = &tad::current_tape();
    double err = 0, err2 = 0;
    const dtensor one = ones<double>(shape_t{2, 2});
    const dtensor expected =
        tessera::matmul(one, xb.transpose(0, 1)) + tessera::matmul(xb.transpose(0, 1), one);
    for (int i = 0; i < 300; ++i) {
      tad::scope s;
      const tad::var<double> x(xb, true);
      const tad::var<double> y = tad::sum(tad::matmul(x, x));
      const tad::var<double> g = tad::grad_graph(y, {x})[0];
      const dtensor h = tad::grad(tad::sum(g), x);
      for (index_t k = 0; k < g.numel(); ++k) {
        err = std::max(err, std::abs(g.value().flat(k) - expected.flat(k)));
        err2 = std::max(err2, std::abs(h.flat(k) - 4.0));
      }
      ++rb.iterations;
    }
    rb.max_error = std::max(err, err2);
  });
  ta.join();
  tb.join();
  BOOST_TEST(ra.iterations == 300);
  BOOST_TEST(rb.iterations == 300);
  BOOST_TEST(ra.max_error >= 0.0);
  BOOST_TEST(ra.max_error < 1e-12);
  BOOST_TEST(rb.max_error >= 0.0);
  BOOST_TEST(rb.max_error < 1e-12);
  BOOST_TEST(ra.tape != rb.tape);
  BOOST_TEST(ra.tape != main_tape);
  BOOST_TEST(&tad::current_tape() == main_tape);
  BOOST_TEST(main_tape->object_count() == main_objects);
}

// One pullback called from several threads at once (its operator() is const) gives every
// thread the serial result: the calls take turns on the pullback's tape. Before the lock, two
// threads wrote the same adjoints, and the program gave wrong cotangents or crashed.
BOOST_AUTO_TEST_CASE(one_pullback_is_shared_safely_between_threads) {
  tessera::generator gen(3);
  const dtensor A = tessera::randn<double>(shape_t{32, 32}, gen);
  const dtensor z = tessera::randn<double>(shape_t{32}, gen);
  const auto pb = tad::vjp(
      [&](const tad::var<double>& zz) { return tad::tanh(tad::matmul(tad::constant(A), zz)); }, z);
  const dtensor seed = ones<double>(shape_t{32});
  const dtensor ref = pb(seed)[0];
  constexpr int threads = 3, calls = 5000;
  std::vector<double> worst(threads, -1.0);
  std::vector<int> done(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      double w = 0;
      for (int k = 0; k < calls; ++k) {
        const dtensor g = pb(seed)[0];
        for (index_t i = 0; i < g.numel(); ++i) w = std::max(w, std::abs(g.flat(i) - ref.flat(i)));
        ++done[static_cast<std::size_t>(t)];
      }
      worst[static_cast<std::size_t>(t)] = w;
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) {
    BOOST_TEST(done[static_cast<std::size_t>(t)] == calls);
    BOOST_TEST(worst[static_cast<std::size_t>(t)] == 0.0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
