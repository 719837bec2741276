// SPDX-License-Identifier: Apache-2.0
// Finite-difference checks of tessera::ad's network ops: softmax, log_softmax, layer_norm,
// rms_norm, index_select, gather, embedding, cross_entropy, mse_loss.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "gradcheck.hpp"

using namespace tessera;
using namespace tessera::test;
namespace tad = tessera::ad;
namespace bdata = boost::unit_test::data;

namespace nn_cases {

dtensor with_layout(const dtensor& x, int layout) {
  if (x.numel() == 0 || x.rank() == 0 || layout == 0) return x;
  return layout == 1 ? transposed(x) : strided(x);
}

tensor<index_t> ids(std::initializer_list<index_t> v, const shape_t& s) {
  return from_vector<index_t>(std::vector<index_t>(v), s);
}

}  // namespace nn_cases

BOOST_AUTO_TEST_SUITE(ad)
BOOST_AUTO_TEST_SUITE(nn)
using namespace nn_cases;  // in the suite: the module compiles as one TU

BOOST_DATA_TEST_CASE(softmax_and_log_softmax_match_finite_differences, bdata::xrange(3), layout) {
  generator gen(static_cast<std::uint64_t>(700 + layout));
  for (const shape_t& s : {shape_t{5}, shape_t{3, 4}, shape_t{2, 3, 4}, shape_t{3, 1}}) {
    const dtensor x = with_layout(normal(s, gen, 2.0), layout);
    for (int axis = -s.rank(); axis < s.rank(); ++axis) {
      const std::string where = s.str() + " axis " + std::to_string(axis);
      BOOST_TEST(gradcheck(
                     "softmax " + where, [axis](const dvar& v) { return tad::softmax(v, axis); }, x)
                     .failures == 0);
      BOOST_TEST(gradcheck(
                     "log_softmax " + where,
                     [axis](const dvar& v) { return tad::log_softmax(v, axis); }, x)
                     .failures == 0);
    }
  }
  // Empty extents: along the axis, or across it.
  const dtensor e = normal(shape_t{0, 3}, gen);
  BOOST_TEST(gradcheck(
                 "softmax empty", [](const dvar& v) { return tad::softmax(v, 1); }, e)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "log_softmax empty axis", [](const dvar& v) { return tad::log_softmax(v, 0); }, e)
                 .failures == 0);
}

BOOST_AUTO_TEST_CASE(softmax_values_and_large_logits) {
  tad::scope s;
  const tad::var<double> x(from_list<double>({1000.0, 1000.0, -1000.0}), true);
  const tad::var<double> y = tad::softmax(x);
  BOOST_TEST(close(y.value(), from_list<double>({0.5, 0.5, 0.0})));
  tad::backward(tad::sum(y * from_list<double>({1.0, 0.0, 0.0})));
  // ∂y₀/∂x = y₀(e₀ - y) = (0.25, -0.25, 0)
  BOOST_TEST(close(x.grad(), from_list<double>({0.25, -0.25, 0.0})));
  BOOST_TEST(all_finite(x.grad()));
}

BOOST_DATA_TEST_CASE(layer_norm_and_rms_norm_match_finite_differences, bdata::xrange(3), layout) {
  generator gen(static_cast<std::uint64_t>(800 + layout));
  const dtensor x = with_layout(normal(shape_t{3, 5}, gen), layout);
  const dtensor x3 = with_layout(normal(shape_t{2, 2, 4}, gen), layout);
  const dtensor x1 = normal(shape_t{6}, gen);
  const dtensor w = normal(shape_t{5}, gen), b = normal(shape_t{5}, gen);
  const dtensor w4 = normal(shape_t{4}, gen), b4 = normal(shape_t{4}, gen);
  const dvar none;
  BOOST_TEST(gradcheck(
                 "layer_norm(x, w, b)",
                 [](const dvar& v, const dvar& p, const dvar& q) {
                   return tad::layer_norm(v, p, q, 1e-5);
                 },
                 x, w, b)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "layer_norm(x, w, -)",
                 [&](const dvar& v, const dvar& p) { return tad::layer_norm(v, p, none, 1e-5); }, x,
                 w)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "layer_norm(x, -, b) rank 3",
                 [&](const dvar& v, const dvar& q) { return tad::layer_norm(v, none, q, 1e-3); },
                 x3, b4)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "layer_norm(x, -, -) rank 1",
                 [&](const dvar& v) { return tad::layer_norm(v, none, none, 1e-5); }, x1)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "rms_norm(x, w)", [](const dvar& v, const dvar& p) { return tad::rms_norm(v, p); },
                 x3, w4)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "rms_norm(x, -)", [&](const dvar& v) { return tad::rms_norm(v, none, 1e-6); }, x)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "layer_norm empty rows",
                 [](const dvar& v, const dvar& p, const dvar& q) {
                   return tad::layer_norm(v, p, q, 1e-5);
                 },
                 normal(shape_t{0, 4}, gen), w4, b4)
                 .failures == 0);
}

BOOST_AUTO_TEST_CASE(layer_norm_and_rms_norm_values_match_the_plain_ops) {
  generator gen(81);
  const dtensor x = normal(shape_t{4, 6}, gen), w = normal(shape_t{6}, gen),
                b = normal(shape_t{6}, gen);
  tad::scope s;
  const tad::var<double> xv(x, true), wv(w, true), bv(b, true);
  BOOST_TEST(
      close(tad::layer_norm(xv, wv, bv, 1e-5).value(), tessera::layer_norm(x, w, b, 1e-5), 1e-12));
  BOOST_TEST(close(tad::rms_norm(xv, wv, 1e-6).value(), tessera::rms_norm(x, w, 1e-6), 1e-12));
  BOOST_CHECK_THROW(tad::layer_norm(xv, tad::var<double>(ones<double>(shape_t{5})), bv),
                    tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::rms_norm(xv, tad::var<double>(ones<double>(shape_t{2, 6}))),
                    tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::layer_norm(xv, wv, bv, -1.0), tessera::invalid_argument);
  // The messages name the ad op and x's own shape (they came from the plain op run on a
  // one-row slice: "for x of shape (1,6)", and a scalar x got tensor::size's message).
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const tessera::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  const std::string m1 =
      message([&] { (void)tad::layer_norm(xv, tad::var<double>(ones<double>(shape_t{5})), bv); });
  BOOST_TEST(m1.find("tessera::ad::layer_norm: weight/bias shape (5) must be (6) for x of shape "
                     "(4,6)") != std::string::npos,
             m1);
  const tad::var<double> scalar(tessera::scalar<double>(2.0), true);
  const std::string m2 = message([&] { (void)tad::rms_norm(scalar, tad::var<double>()); });
  BOOST_TEST(m2.find("tessera::ad::rms_norm: x must have rank at least 1") != std::string::npos,
             m2);
  const std::string m3 = message([&] {
    (void)tad::embedding(xv, ids({1, 4}, shape_t{2}));
  });  // 4 rows: 0 … 3
  BOOST_TEST(m3.find("tessera::ad::embedding: id 4 is out of range for weight of shape (4,6)") !=
                 std::string::npos,
             m3);
}

BOOST_DATA_TEST_CASE(indexing_ops_match_finite_differences, bdata::xrange(2), layout) {
  generator gen(static_cast<std::uint64_t>(900 + layout));
  const dtensor x = with_layout(normal(shape_t{4, 3}, gen), layout);
  const tensor<index_t> rows = ids({2, 0, 2, 3, 2}, shape_t{5});  // repeats accumulate
  const tensor<index_t> none = ids({}, shape_t{0});
  for (int axis : {0, -2}) {
    BOOST_TEST(gradcheck(
                   "index_select axis " + std::to_string(axis),
                   [&](const dvar& v) { return tad::sin(tad::index_select(v, axis, rows)); }, x)
                   .failures == 0);
  }
  BOOST_TEST(gradcheck(
                 "index_select axis 1",
                 [&](const dvar& v) {
                   return tad::index_select(v, 1, ids({1, 1, 0}, shape_t{3})) * 3.0;
                 },
                 x)
                 .failures == 0);
  BOOST_TEST(
      gradcheck(
          "index_select nothing", [&](const dvar& v) { return tad::index_select(v, 0, none); }, x)
          .failures == 0);
  const tensor<index_t> g0 = ids({3, 0, 1, 3, 3, 2}, shape_t{2, 3});  // gather along 0
  const tensor<index_t> g1 = ids({2, 2, 0, 1, 0, 0, 1, 1}, shape_t{4, 2});
  BOOST_TEST(gradcheck(
                 "gather axis 0", [&](const dvar& v) { return tad::exp(tad::gather(v, 0, g0)); }, x)
                 .failures == 0);
  BOOST_TEST(
      gradcheck(
          "gather axis -1", [&](const dvar& v) { return tad::exp(tad::gather(v, -1, g1)); }, x)
          .failures == 0);
  const tensor<index_t> tok = ids({1, 3, 3, 0, 1, 1}, shape_t{2, 3});
  BOOST_TEST(gradcheck(
                 "embedding", [&](const dvar& v) { return tad::tanh(tad::embedding(v, tok)); }, x)
                 .failures == 0);
  BOOST_TEST(gradcheck(
                 "embedding of a transposed id tensor",
                 [&](const dvar& v) { return tad::tanh(tad::embedding(v, tok.transpose(0, 1))); },
                 x)
                 .failures == 0);
}

BOOST_AUTO_TEST_CASE(index_gradients_accumulate_repeats) {
  tad::scope s;
  const tad::var<double> w(zeros<double>(shape_t{4, 2}), true);
  const tad::var<double> e = tad::embedding(w, ids({1, 3, 1, 1}, shape_t{2, 2}));
  BOOST_TEST(e.shape() == (shape_t{2, 2, 2}));
  tad::backward(tad::sum(e));
  BOOST_TEST(close(w.grad(), from_vector<double>({0, 0, 3, 3, 0, 0, 1, 1}, shape_t{4, 2}), 0.0));
  BOOST_CHECK_THROW(tad::embedding(w, ids({4}, shape_t{1})), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::index_select(w, 0, ids({-1}, shape_t{1})), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::gather(w, 1, ids({2}, shape_t{1, 1})), tessera::invalid_argument);
}

BOOST_DATA_TEST_CASE(losses_match_finite_differences, bdata::xrange(2), layout) {
  generator gen(static_cast<std::uint64_t>(1000 + layout));
  const dtensor logits = with_layout(normal(shape_t{5, 4}, gen, 2.0), layout);
  const tensor<index_t> target = ids({0, 3, 3, 1, 2}, shape_t{5});
  BOOST_TEST(
      gradcheck(
          "cross_entropy", [&](const dvar& v) { return tad::cross_entropy(v, target); }, logits)
          .failures == 0);
  const dtensor pred = with_layout(normal(shape_t{3, 4}, gen), layout);
  const dtensor tgt = normal(shape_t{3, 4}, gen);
  const dtensor row = normal(shape_t{4}, gen);
  BOOST_TEST(
      gradcheck(
          "mse_loss", [](const dvar& p, const dvar& t) { return tad::mse_loss(p, t); }, pred, tgt)
          .failures == 0);
  BOOST_TEST(gradcheck(
                 "mse_loss broadcast target",
                 [](const dvar& p, const dvar& t) { return tad::mse_loss(p, t); }, pred, row)
                 .failures == 0);
}

BOOST_AUTO_TEST_CASE(losses_match_the_plain_ops_and_known_gradients) {
  generator gen(101);
  const dtensor logits = normal(shape_t{3, 4}, gen);
  const tensor<index_t> target = ids({1, 0, 3}, shape_t{3});
  tad::scope s;
  const tad::var<double> l(logits, true);
  const tad::var<double> ce = tad::cross_entropy(l, target);
  BOOST_TEST(close(ce.value(), tessera::cross_entropy(logits, target)));
  tad::backward(ce);
  // ∂CE/∂logits = (softmax - onehot) / N
  dtensor expected = tessera::softmax(logits, 1);
  for (index_t i = 0; i < 3; ++i) expected(i, target(i)) -= 1.0;
  BOOST_TEST(close(l.grad(), expected / 3.0));
  BOOST_CHECK_THROW(tad::cross_entropy(l, ids({1, 0, 4}, shape_t{3})), tessera::invalid_argument);
  BOOST_CHECK_THROW(tad::cross_entropy(l, ids({1, 0}, shape_t{2})), tessera::invalid_argument);
  const tad::var<double> p(from_list<double>({1.0, 2.0}), true);
  const tad::var<double> t(from_list<double>({0.0, 4.0}), true);
  const tad::var<double> m = tad::mse_loss(p, t);
  BOOST_TEST(m.item() == 2.5);
  tad::backward(m);
  BOOST_TEST(close(p.grad(), from_list<double>({1.0, -2.0}), 0.0));
  BOOST_TEST(close(t.grad(), from_list<double>({-1.0, 2.0}), 0.0));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
