// SPDX-License-Identifier: Apache-2.0
// The FNO building blocks: parameter counts of the FNO-DEQ brief, each block against its
// definition written out, the grid channels and padding of the lifting, and input gradients of
// a tiny FNO by finite differences.
#include <boost/test/unit_test.hpp>
#include <optional>

#include "../ad/gradcheck.hpp"
#include "helpers.hpp"
#include "tessera/spectral/fno.hpp"

using namespace tessera;
using namespace spectral_test;
namespace sp = tessera::spectral;
namespace tad = tessera::ad;
using tessera::test::dvar;

BOOST_AUTO_TEST_SUITE(spectral)
BOOST_AUTO_TEST_SUITE(fno)

BOOST_AUTO_TEST_CASE(parameter_counts_of_the_brief) {
  generator gen(51);
  // One weight-tied block at w = 32, m = 12, three Fourier layers with their MLPs.
  sp::fourier_block<float> block(32, 12, 12, gen, 3, true);
  BOOST_TEST(sp::parameter_count(block.parameters()) == 1778976);
  // Lift + last Fourier layer (MLP, no activation) + head: Darcy (1 input channel) and NS (2).
  sp::lifting<float> lift(1, 32, 9, gen);
  sp::fourier_layer<float> last(32, 12, 12, true, gen);
  sp::projection_head<float> head(32, 1, 9, gen);
  const index_t rest = sp::parameter_count(lift.parameters()) +
                       sp::parameter_count(last.parameters()) +
                       sp::parameter_count(head.parameters());
  BOOST_TEST(rest == 597473);
  BOOST_TEST(rest + sp::parameter_count(block.parameters()) == 2376449);  // "2.37M", d = 1
  sp::lifting<float> lift_ns(2, 32, 9, gen);
  BOOST_TEST(sp::parameter_count(lift_ns.parameters()) + rest -
                 sp::parameter_count(lift.parameters()) ==
             597505);
  // One spectral layer: 2·32·32·12·12 complex weights = 589,824 reals.
  sp::spectral_conv2d_layer<float> k(32, 32, 12, 12, gen);
  BOOST_TEST(sp::parameter_count(k.parameters()) == 589824);
  // A block without MLPs: 3·(589,824 + 1,056).
  sp::fourier_block<float> plain(32, 12, 12, gen, 3, false);
  BOOST_TEST(sp::parameter_count(plain.parameters()) == 3 * (589824 + 1056));
}

BOOST_AUTO_TEST_CASE(pointwise_linear_and_mlp_by_definition) {
  generator gen(52);
  sp::pointwise_linear<double> fc(3, 2, gen);
  const double bound = 1 / std::sqrt(3.0);
  BOOST_TEST(max(abs(fc.weight.value())).item() <= bound);
  BOOST_TEST(max(abs(fc.bias.value())).item() <= bound);
  const tensor<double> x = randn<double>(shape_t{2, 3, 4, 5}, gen);
  tad::scope s;
  const tensor<double> y = fc(tad::constant(x)).value();
  BOOST_TEST((y.shape() == shape_t{2, 2, 4, 5}));
  double d = 0;
  for (index_t b = 0; b < 2; ++b)
    for (index_t o = 0; o < 2; ++o)
      for (index_t h = 0; h < 4; ++h)
        for (index_t w = 0; w < 5; ++w) {
          double acc = fc.bias.value()(o);
          for (index_t i = 0; i < 3; ++i) acc += fc.weight.value()(o, i) * x(b, i, h, w);
          d = std::max(d, std::abs(acc - y(b, o, h, w)));
        }
  BOOST_TEST(d < 1e-14);
  sp::pointwise_mlp<double> mlp(3, 4, 2, gen);
  const tensor<double> m = mlp(tad::constant(x)).value();
  const tensor<double> ref = mlp.fc2(tad::gelu(mlp.fc1(tad::constant(x)))).value();
  BOOST_TEST(max_abs_diff(m, ref) == 0.0);
  BOOST_CHECK_THROW(fc(tad::constant(zeros<double>(shape_t{2, 4, 3}))), invalid_argument);
}

BOOST_AUTO_TEST_CASE(fourier_layer_and_block_by_definition) {
  generator gen(53);
  sp::fourier_layer<double> layer(4, 2, 3, true, gen);
  const tensor<double> z = randn<double>(shape_t{2, 4, 8, 7}, gen);
  const tensor<double> inj = randn<double>(shape_t{2, 4, 8, 7}, gen);
  tad::scope s;
  const dvar zv = tad::constant(z), iv = tad::constant(inj);
  const dvar k = sp::spectral_conv2d(zv, layer.spectral.weight1(), layer.spectral.weight2());
  const dvar pre = (*layer.mlp)(k) + layer.skip(zv);
  BOOST_TEST(max_abs_diff(layer(zv, iv).value(), tad::gelu(pre + iv).value()) < 1e-14);
  BOOST_TEST(max_abs_diff(layer(zv, dvar(), false).value(), pre.value()) < 1e-14);
  {
    // With nothing recorded (a solve's iterations) the spectral path through the MLP's first
    // product is spectral_conv2d_linear_gelu: the same values, and no gradient recorded.
    tad::no_grad ng;
    const dvar y = layer(zv, iv);
    BOOST_TEST(!y.requires_grad());
    BOOST_TEST(max_abs_diff(y.value(), tad::gelu(pre + iv).value()) < 1e-14);
    BOOST_TEST(max_abs_diff(layer(zv, dvar()).value(), tad::gelu(pre).value()) < 1e-14);
  }
  {
    // fused_pointwise false: the recorded composition in every case; the same values recorded
    // or not, with or without the injection, and the same gradients.
    const dvar zr(z, true);
    const auto [ga] = tad::derivatives(tad::sum(tad::square(layer(zr, iv))), tad::wrt(zr));
    layer.fused_pointwise = false;
    for (const bool record : {false, true}) {
      std::optional<tad::no_grad> ng;
      if (!record) ng.emplace();
      BOOST_TEST(max_abs_diff(layer(zv, iv).value(), tad::gelu(pre + iv).value()) < 1e-14);
      BOOST_TEST(max_abs_diff(layer(zv, dvar()).value(), tad::gelu(pre).value()) < 1e-14);
      BOOST_TEST(max_abs_diff(layer(zv, dvar(), false).value(), pre.value()) < 1e-14);
    }
    const auto [gb] = tad::derivatives(tad::sum(tad::square(layer(zr, iv))), tad::wrt(zr));
    BOOST_TEST(max_abs_diff(ga, gb) < 1e-12);
    layer.fused_pointwise = true;
  }
  {
    // Prepared weights: the same values unrecorded (bit for bit: the same ops on the same
    // sums), not used where something is recorded (the gradient flows as without them); a
    // prepared block of another length or a bias of another width is refused.
    const sp::fourier_layer_prepared<double, host> prep = layer.prepare();
    BOOST_TEST((prep.bias.shape() == shape_t{4, 1}));
    BOOST_TEST(!prep.folded.defined());  // the host has no fused DFT kernels
    {
      tad::no_grad ng;
      BOOST_TEST(max_abs_diff(layer(zv, iv, true, &prep).value(), layer(zv, iv).value()) == 0.0);
      BOOST_TEST(max_abs_diff(layer(zv, dvar(), false, &prep).value(),
                              layer(zv, dvar(), false).value()) == 0.0);
    }
    const dvar zr(z, true);
    const auto [ga] = tad::derivatives(tad::sum(tad::square(layer(zr, iv))), tad::wrt(zr));
    sp::fourier_layer_prepared<double, host> stale = prep;
    stale.bias = stale.bias * 3.0;  // stale values: ignored when recorded
    const auto [gb] =
        tad::derivatives(tad::sum(tad::square(layer(zr, iv, true, &stale))), tad::wrt(zr));
    BOOST_TEST(max_abs_diff(ga, gb) == 0.0);
    // Constant weights, z alone recorded: the stale values are still ignored.
    std::vector<dvar> wc;
    for (auto* p : layer.parameters()) wc.push_back(tad::constant(p->value()));
    const auto [gc] = tad::derivatives(
        tad::sum(tad::square(sp::fourier_layer_apply<double, host>(zr, wc, true, iv))),
        tad::wrt(zr));
    const auto [gd] = tad::derivatives(
        tad::sum(tad::square(sp::fourier_layer_apply<double, host>(
            zr, wc, true, iv, true, sp::spectral_method::truncated_dft, true, &stale))),
        tad::wrt(zr));
    BOOST_TEST(max_abs_diff(gc, gd) == 0.0);
    sp::fourier_layer_prepared<double, host> narrow = prep;
    narrow.bias = prep.bias.slice(0, 0, 3);
    sp::fourier_layer_prepared<double, host> no_mlp = prep;
    no_mlp.mlp = false;
    tad::no_grad ng;
    BOOST_CHECK_EXCEPTION(layer(zv, iv, true, &narrow), invalid_argument,
                          [](const invalid_argument& e) {
                            return std::string(e.what()).find("prepared bias") != std::string::npos;
                          });
    BOOST_CHECK_EXCEPTION(
        layer(zv, iv, true, &no_mlp), invalid_argument, [](const invalid_argument& e) {
          return std::string(e.what()).find("without the MLP") != std::string::npos;
        });
  }
  // A broadcast injection (batch 1, or one value per channel) gives the broadcast sum, and its
  // gradient sums over the broadcast axes.
  for (const shape_t& is : {shape_t{1, 4, 8, 7}, shape_t{4, 1, 1}}) {
    const dvar i1(randn<double>(is, gen), true);
    const auto [g1] = tad::derivatives(tad::sum(tad::square(layer(zv, i1))), tad::wrt(i1));
    const auto [g2] = tad::derivatives(tad::sum(tad::square(tad::gelu(pre + i1))), tad::wrt(i1));
    BOOST_TEST(max_abs_diff(layer(zv, i1).value(), tad::gelu(pre + i1).value()) < 1e-14);
    BOOST_TEST(max_abs_diff(g1, g2) < 1e-12, is.str());
  }
  BOOST_CHECK_THROW(layer(zv, tad::constant(randn<double>(shape_t{3, 4, 8, 7}, gen))),
                    invalid_argument);
  BOOST_CHECK_THROW(layer(zv, tad::constant(randn<double>(shape_t{2, 4, 8, 14}, gen))),
                    invalid_argument);
  sp::fourier_block<double> block(4, 2, 3, gen, 2, true);
  const dvar h = block.layers[1](block.layers[0](zv, iv), iv);
  BOOST_TEST(max_abs_diff(block(zv, iv).value(), h.value()) == 0.0);
  {
    tad::no_grad ng;
    const auto prep = block.prepare();
    BOOST_TEST(max_abs_diff(block(zv, iv, &prep).value(), h.value()) == 0.0);
    const std::vector<sp::fourier_layer_prepared<double, host>> one{prep[0]};
    BOOST_CHECK_THROW(block(zv, iv, &one), invalid_argument);
  }
  BOOST_TEST(block.parameters().size() == 2u * 8u);
}

BOOST_AUTO_TEST_CASE(lifting_grid_padding_and_head) {
  generator gen(54);
  const tensor<double> g = sp::grid_channels<double>(2, 5, 3);
  BOOST_TEST((g.shape() == shape_t{2, 2, 5, 3}));
  BOOST_TEST(g(1, 0, 4, 2) == 1.0);
  BOOST_TEST(g(1, 0, 1, 2) == 0.25);  // x varies along H
  BOOST_TEST(g(0, 1, 3, 1) == 0.5);   // y varies along W
  sp::lifting<double> lift(1, 3, 2, gen);
  const tensor<double> x = randn<double>(shape_t{2, 1, 5, 4}, gen);
  tad::scope s;
  const tensor<double> y = lift(tad::constant(x)).value();
  BOOST_TEST((y.shape() == shape_t{2, 3, 7, 6}));
  // Padded cells are zero; the rest is the pointwise map of (x, grid_x, grid_y).
  double pad_max = 0, d = 0;
  const tensor<double> gr = sp::grid_channels<double>(2, 5, 4);
  for (index_t b = 0; b < 2; ++b)
    for (index_t c = 0; c < 3; ++c)
      for (index_t i = 0; i < 7; ++i)
        for (index_t j = 0; j < 6; ++j) {
          if (i >= 5 || j >= 4) {
            pad_max = std::max(pad_max, std::abs(y(b, c, i, j)));
            continue;
          }
          const tensor<double>& W = lift.fc.weight.value();
          const double want = lift.fc.bias.value()(c) + W(c, 0) * x(b, 0, i, j) +
                              W(c, 1) * gr(b, 0, i, j) + W(c, 2) * gr(b, 1, i, j);
          d = std::max(d, std::abs(want - y(b, c, i, j)));
        }
  BOOST_TEST(pad_max == 0.0);
  BOOST_TEST(d < 1e-14);
  sp::projection_head<double> head(3, 1, 2, gen, 16);
  const tensor<double> out = head(tad::constant(y)).value();
  BOOST_TEST((out.shape() == shape_t{2, 1, 5, 4}));
  const dvar cropped = tad::constant(y.slice(2, 0, 5).slice(3, 0, 4).clone());
  BOOST_TEST(max_abs_diff(out, head.fc2(tad::gelu(head.fc1(cropped))).value()) == 0.0);
  // A negative pad, and inputs the crop cannot take, are refused by name.
  const auto names = [](const char* what) {
    return [what](const invalid_argument& e) {
      const std::string m = e.what();
      return m.find("spectral::projection_head") != std::string::npos &&
             m.find(what) != std::string::npos;
    };
  };
  BOOST_CHECK_EXCEPTION(sp::projection_head<double>(3, 1, -1, gen), invalid_argument,
                        names("pad -1 is negative"));
  BOOST_CHECK_EXCEPTION(head(tad::constant(zeros<double>(shape_t{2, 3, 2, 6}))), invalid_argument,
                        names("got (2,3,2,6)"));
  BOOST_CHECK_EXCEPTION(head(tad::constant(zeros<double>(shape_t{2, 4, 7, 6}))), invalid_argument,
                        names("expected (B, 3, H + 2, W + 2)"));
}

BOOST_AUTO_TEST_CASE(tiny_fno_input_gradient) {
  generator gen(55);
  sp::lifting<double> lift(1, 3, 2, gen);
  sp::fourier_block<double> block(3, 2, 2, gen, 2, true);
  sp::fourier_layer<double> last(3, 2, 2, true, gen);
  sp::projection_head<double> head(3, 1, 2, gen, 8);
  auto net = [&](const dvar& x) {
    const dvar xt = lift(x);
    dvar z = tad::constant(zeros<double>(xt.shape()));
    for (int k = 0; k < 2; ++k) z = block(z, xt);  // weight-tied, unrolled twice
    return head(last(z, dvar(), false));
  };
  const auto r = tessera::test::gradcheck("tiny FNO", net, randn<double>(shape_t{1, 1, 6, 6}, gen));
  BOOST_TEST(r.checked == 36);
  BOOST_TEST(r.failures == 0);
  // And every parameter receives a gradient.
  tad::scope s;
  tad::backward(tad::sum(net(tad::constant(randn<double>(shape_t{1, 1, 6, 6}, gen)))));
  std::vector<tad::parameter<double>*> ps = lift.parameters();
  sp::append_parameters(ps, block.parameters());
  sp::append_parameters(ps, last.parameters());
  sp::append_parameters(ps, head.parameters());
  for (auto* p : ps) BOOST_TEST((p->grad().defined() && max(abs(p->grad())).item() > 0));
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
