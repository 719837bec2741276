// SPDX-License-Identifier: Apache-2.0
// Fourier Neural Operator building blocks (Li et al. 2020, as used by FNO-DEQ): pointwise
// linear maps, the spectral-convolution layer, Fourier layers σ(MLP(K z) + W z + x̃), the
// weight-tied block, lifting with grid channels and padding, and the projection head.
#pragma once

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/linalg.hpp"
#include "tessera/ad/shape.hpp"
#include "tessera/core/creation.hpp"
#include "tessera/spectral/spectral_conv.hpp"

namespace tessera::spectral {

// Every block owns its parameters (ad::parameter<T, S>) and lists them with parameters(), as
// pointers for optim::slots_of. The pointers point into the block: do not move a block after
// taking them. Activations are channels-first: (B, C, H, W). Every block takes the memory
// space as a second parameter (S = host by default): with S = cuda (in a .cu file including
// <tessera/cuda/spectral.cuh>) its parameters live on the GPU and it computes there. Initial
// values are drawn on the host and copied, so a seed gives the same weights in both spaces.

namespace detail {
/// Zeros of `shape` in memory space S.
template <class T, class S>
tensor<T, S> zeros_in(const shape_t& shape) {
  tensor<T, S> z(shape);
  z.fill_(T(0));
  return z;
}
}  // namespace detail

/// Appends the pointers of `from` to `to`.
template <class T, class S>
void append_parameters(std::vector<ad::parameter<T, S>*>& to,
                       const std::vector<ad::parameter<T, S>*>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

/// Total number of scalars in a parameter list (complex weights count two reals).
template <class T, class S>
index_t parameter_count(const std::vector<ad::parameter<T, S>*>& params) {
  index_t n = 0;
  for (const auto* p : params) n += p->numel();
  return n;
}

/// A 1×1 convolution: y[b, o, ...] = Σ_i W[o, i]·x[b, i, ...] + b[o] over axis 1 of a
/// (B, Cin, spatial...) tensor. PyTorch's default Conv2d/Linear initialisation: weight and
/// bias U(-1/√Cin, 1/√Cin).
template <class T, class S = host>
struct pointwise_linear {
  ad::parameter<T, S> weight;  ///< (Cout, Cin)
  ad::parameter<T, S> bias;    ///< (Cout)

  /// @throws tessera::invalid_argument when a channel count is not positive.
  pointwise_linear(index_t in_channels, index_t out_channels, generator& gen)
      : weight(init(shape_t{out_channels, in_channels}, in_channels, gen)),
        bias(init(shape_t{out_channels}, in_channels, gen)) {}

  [[nodiscard]] index_t in_channels() const { return weight.shape()[1]; }
  [[nodiscard]] index_t out_channels() const { return weight.shape()[0]; }

  /// (B, Cin, spatial...) → (B, Cout, spatial...).
  /// @throws tessera::invalid_argument when x has rank < 2 or the wrong channel count.
  ad::var<T, S> operator()(const ad::var<T, S>& x) const {
    return apply(x, [](const ad::var<T, S>& y, const ad::var<T, S>& b) { return y + b; });
  }

  /// gelu(W x + b) with the bias added inside the activation (ad::add_gelu: on cuda one pass
  /// instead of a bias pass and a GELU pass).
  /// @throws tessera::invalid_argument as operator().
  ad::var<T, S> gelu_of(const ad::var<T, S>& x) const {
    return apply(x,
                 [](const ad::var<T, S>& y, const ad::var<T, S>& b) { return ad::add_gelu(y, b); });
  }

  std::vector<ad::parameter<T, S>*> parameters() { return {&weight, &bias}; }

 private:
  /// finish(W x as (B, Cout, P), b as (Cout, 1)) reshaped to x's spatial shape.
  template <class Finish>
  ad::var<T, S> apply(const ad::var<T, S>& x, Finish finish) const {
    if (x.rank() < 2 || x.size(1) != in_channels())
      throw_invalid_argument("spectral::pointwise_linear", "expected (B, ", in_channels(),
                             ", ...), got ", x.shape().str());
    const index_t B = x.size(0);
    const index_t P = B > 0 ? x.numel() / (B * in_channels()) : 0;
    const ad::var<T, S> y = ad::matmul(weight(), ad::reshape(x, shape_t{B, in_channels(), P}));
    shape_t out = x.shape();
    out[1] = out_channels();
    return ad::reshape(finish(y, ad::reshape(bias(), shape_t{out_channels(), 1})), out);
  }

  static tensor<T, S> init(const shape_t& s, index_t fan_in, generator& gen) {
    if (s.numel() <= 0 || fan_in <= 0)
      throw_invalid_argument("spectral::pointwise_linear", "channel counts ", s.str(),
                             " must be positive");
    const T bound = T(1) / std::sqrt(static_cast<T>(fan_in));
    return to<S>(rand<T>(s, gen, -bound, bound));
  }
};

/// Two pointwise linear maps with GELU between: fc2(σ(fc1(x))), hidden width = `hidden`.
template <class T, class S = host>
struct pointwise_mlp {
  pointwise_linear<T, S> fc1, fc2;

  pointwise_mlp(index_t in_channels, index_t hidden, index_t out_channels, generator& gen)
      : fc1(in_channels, hidden, gen), fc2(hidden, out_channels, gen) {}

  ad::var<T, S> operator()(const ad::var<T, S>& x) const { return fc2(fc1.gelu_of(x)); }

  std::vector<ad::parameter<T, S>*> parameters() {
    std::vector<ad::parameter<T, S>*> p = fc1.parameters();
    append_parameters(p, fc2.parameters());
    return p;
  }
};

/// The legacy SpectralConv2d as a layer: two complex weight blocks (Cin, Cout, m1, m2, 2),
/// drawn U[0, 1)·1/(Cin·Cout) for real and imaginary parts.
template <class T, class S = host>
struct spectral_conv2d_layer {
  ad::parameter<T, S> weight1;  ///< rows [0, m1)
  ad::parameter<T, S> weight2;  ///< rows [H - m1, H)
  spectral_method method = spectral_method::truncated_dft;

  spectral_conv2d_layer(index_t in_channels, index_t out_channels, index_t modes1, index_t modes2,
                        generator& gen)
      : weight1(
            to<S>(spectral_weights<T>(shape_t{in_channels, out_channels, modes1, modes2, 2}, gen))),
        weight2(to<S>(
            spectral_weights<T>(shape_t{in_channels, out_channels, modes1, modes2, 2}, gen))) {}

  /// (B, Cin, H, W) → (B, Cout, H, W); see spectral_conv2d.
  ad::var<T, S> operator()(const ad::var<T, S>& x) const {
    return spectral_conv2d(x, weight1(), weight2(), method);
  }

  std::vector<ad::parameter<T, S>*> parameters() { return {&weight1, &weight2}; }
};

/// What fourier_layer_apply derives from a layer's weights on every call where nothing is
/// recorded, computed once by prepare_fourier_layer: for applying the same weights many times
/// (a fixed-point solve's iterations, an evaluation pass). Plain tensors, no tape.
template <class T, class S>
struct fourier_layer_prepared {
  /// spectral_conv2d_linear_gelu_weights(w₁, w₂, W₁): with the MLP, in a space with fused DFT
  /// kernels (cuda); else undefined.
  tensor<T, S> folded;
  /// The biases added inside the last GELU, b₂ + b_s with the MLP, else b_s: (C_out, 1).
  tensor<T, S> bias;
  /// Whether the weights were prepared as a layer with the MLP.
  bool mlp = false;
};

/// The prepared form of a layer's weights `w` (fourier_layer_apply's list) from their current
/// values. It stays valid while those values do not change: an optimiser step invalidates it.
/// (The folded weights are made whenever the space has fused DFT kernels, also for a layer
/// applied with the GEMM method or without fused_pointwise, which then does not use them.)
/// @throws tessera::invalid_argument when w has the wrong length or the weights' shapes do not
///   fit one another.
template <class T, class S>
fourier_layer_prepared<T, S> prepare_fourier_layer(std::span<const ad::var<T, S>> w, bool mlp) {
  if (w.size() != (mlp ? 8u : 4u))
    throw_invalid_argument("spectral::prepare_fourier_layer", "expected ", mlp ? 8 : 4,
                           " weights (spectral 2", mlp ? ", MLP 4" : "", ", pointwise 2), got ",
                           w.size());
  fourier_layer_prepared<T, S> p;
  p.mlp = mlp;
  const tensor<T, S>& bs = w[w.size() - 1].value();
  if (mlp && !(w[5].value().numel() == bs.numel()))
    throw_invalid_argument("spectral::prepare_fourier_layer", "b₂ ", w[5].value().shape().str(),
                           " and b_s ", bs.shape().str(), " differ in length");
  p.bias = (mlp ? w[5].value() + bs : bs.clone()).reshape(shape_t{bs.numel(), 1});
  if (mlp && detail::has_fused_dft<T, S>)
    p.folded = spectral_conv2d_linear_gelu_weights(w[0].value(), w[1].value(), w[2].value());
  return p;
}

/// One Fourier layer from its weights: y = MLP(K z) + W z (+ x̃), then GELU when activated,
/// with MLP(k) = W₂ σ(W₁ k + b₁) + b₂ and W z = W_s z + b_s (z: (B, C, H, W)). `w` lists the
/// layer's weights in fourier_layer::parameters() order: the two spectral blocks, with `mlp`
/// then W₁, b₁, W₂, b₂, and last W_s, b_s. Written to touch each activation-sized tensor few
/// times: the biases are summed once (b₂ + b_s, C values) and added inside the activation
/// (ad::add_gelu), and W_s z + x̃ and W₂ σ(·) + (W_s z + x̃) are single GEMMs with an addend
/// (ad::matmul_add; on cuda the addend is the GEMM's C operand). When nothing is recorded (a
/// fixed-point solve's iterations), each GEMM whose result goes through GELU is one kernel with
/// it on cuda (ad::matmul_add_gelu), and the spectral path through the MLP's first product is
/// spectral_conv2d_linear_gelu (on cuda: W₁ folded into the mode weights, the bias and GELU
/// applied by the inverse DFT kernel).
/// With `fused_pointwise` false the unrecorded path is the recorded one's composition
/// (matmul_add, then add_gelu; spectral_conv2d, then the MLP's first product): the same values
/// up to rounding, for checking the one-kernel paths against, or for running without them.
/// `prepared` (prepare_fourier_layer of the same weights' current values, or null) saves the
/// per-call work on the weights when nothing of the layer is recorded, with the same results;
/// when something is, it is not used.
/// The injection x̃ has the output's shape (B, C_out, spatial...) or broadcasts to it (batch 1,
/// or (C_out, 1, 1) per channel); only the full shape takes the GEMM-addend path.
/// @throws tessera::invalid_argument when w has the wrong length or a shape does not fit.
template <class T, class S>
ad::var<T, S> fourier_layer_apply(const ad::var<T, S>& z, std::span<const ad::var<T, S>> w,
                                  bool mlp, const ad::var<T, S>& injection = {},
                                  bool activate = true,
                                  spectral_method method = spectral_method::truncated_dft,
                                  bool fused_pointwise = true,
                                  const fourier_layer_prepared<T, S>* prepared = nullptr) {
  using V = ad::var<T, S>;
  if (w.size() != (mlp ? 8u : 4u))
    throw_invalid_argument("spectral::fourier_layer_apply", "expected ", mlp ? 8 : 4,
                           " weights (spectral 2", mlp ? ", MLP 4" : "", ", pointwise 2), got ",
                           w.size());
  if (z.rank() < 3)
    throw_invalid_argument("spectral::fourier_layer_apply", "expected z (B, C, ...), got ",
                           z.shape().str());
  const index_t B = z.size(0);
  const auto flat = [B](const V& v) {  // (B, C, spatial...) → (B, C, P)
    return ad::reshape(v, shape_t{B, v.size(1), B > 0 ? v.numel() / (B * v.size(1)) : 0});
  };
  const auto column = [](const V& b) { return ad::reshape(b, shape_t{b.numel(), 1}); };
  const V& ws = w[w.size() - 2];
  const V& bs = w[w.size() - 1];
  shape_t out = z.shape();
  out[1] = ws.size(0);
  const bool full_injection = injection.defined() && injection.shape() == out;
  if (injection.defined() && !full_injection &&
      !(broadcast_shapes("spectral::fourier_layer_apply", injection.shape(), out) == out))
    throw_invalid_argument("spectral::fourier_layer_apply", "injection of shape ",
                           injection.shape().str(), " does not broadcast to the layer's output ",
                           out.str());
  const bool recorded_layer =
      !ad::grad_disabled() &&
      (z.requires_grad() || (injection.defined() && injection.requires_grad()) ||
       std::any_of(w.begin(), w.end(), [](const V& v) { return v.requires_grad(); }));
  const fourier_layer_prepared<T, S>* prep = recorded_layer ? nullptr : prepared;
  if (prep && !(prep->bias.shape() == shape_t{ws.size(0), 1}))
    throw_invalid_argument("spectral::fourier_layer_apply", "prepared bias ",
                           prep->bias.shape().str(), " does not fit W_s ", ws.shape().str());
  if (prep && prep->mlp != mlp)
    throw_invalid_argument("spectral::fourier_layer_apply", "weights prepared ",
                           prep->mlp ? "with" : "without", " the MLP for a layer ",
                           mlp ? "with" : "without", " it");
  // b₂ + b_s (with the MLP) or b_s, as a column.
  const auto bias_column = [&]() -> V {
    if (prep) return ad::constant(prep->bias);
    return mlp ? column(w[5] + bs) : column(bs);
  };
  // gelu(a·b + c + bias): one kernel on cuda when nothing is recorded and fused_pointwise
  // (ad::matmul_add_gelu), else add_gelu after matmul_add (what ad::matmul_add_gelu records).
  const auto product_gelu = [&](const V& a, const V& b, const V& c, const V& bias) -> V {
    if (fused_pointwise) return ad::matmul_add_gelu(a, b, c, bias);
    return ad::add_gelu(c.defined() ? ad::matmul_add(a, b, c) : ad::matmul(a, b), bias);
  };
  // The spectral path through the MLP's first product, gelu(W₁ K z + b₁): when nothing is
  // recorded (and fused_pointwise), spectral_conv2d_linear_gelu (on cuda with the fused DFT
  // kernels, W₁ folded into the mode weights and the GELU applied as the inverse DFT writes);
  // otherwise K z, then the product with its GELU.
  const auto spectral_mlp_in = [&]() -> V {
    const bool recorded = !ad::grad_disabled() &&
                          (z.requires_grad() || w[0].requires_grad() || w[1].requires_grad() ||
                           w[2].requires_grad() || w[3].requires_grad());
    if (!recorded && fused_pointwise)
      return flat(ad::constant(spectral_conv2d_linear_gelu(z.value(), w[0].value(), w[1].value(),
                                                           w[2].value(), w[3].value(), method,
                                                           prep ? prep->folded : tensor<T, S>())));
    return product_gelu(w[2], flat(spectral_conv2d(z, w[0], w[1], method)), V(), column(w[3]));
  };
  const V zf = flat(z);
  if (fused_pointwise && mlp && activate && (full_injection || !injection.defined())) {
    // gelu(W₁k + b₁), then gelu(W₂h + (W_s z + x̃) + b₂ + b_s) with the skip path inside the
    // last product: single kernels on cuda when nothing is recorded (ad::matmul_add_gelu,
    // ad::matmul_pair_add_gelu), matmul_add and add_gelu otherwise.
    const V h = spectral_mlp_in();
    return ad::reshape(ad::matmul_pair_add_gelu(
                           w[4], h, ws, zf, full_injection ? flat(injection) : V(), bias_column()),
                       out);
  }
  // W_s z (+ x̃): the skip path, a full injection as the GEMM's addend; a broadcast one (e.g.
  // batch 1) is added in the output's shape.
  const V skip = full_injection        ? ad::matmul_add(ws, zf, flat(injection))
                 : injection.defined() ? flat(ad::reshape(ad::matmul(ws, zf), out) + injection)
                                       : ad::matmul(ws, zf);
  V y, bias;
  if (mlp) {
    const V h = spectral_mlp_in();
    bias = bias_column();
    if (activate) return ad::reshape(product_gelu(w[4], h, skip, bias), out);
    y = ad::matmul_add(w[4], h, skip);
  } else {
    y = flat(spectral_conv2d(z, w[0], w[1], method)) + skip;
    bias = bias_column();
  }
  return ad::reshape(activate ? ad::add_gelu(y, bias) : y + bias, out);
}

/// One Fourier layer of width w: y = MLP(K z) + W z (+ x̃), then GELU when activated.
/// K = spectral_conv2d_layer, W = pointwise_linear (with bias), MLP = pointwise_mlp with hidden
/// width w (optional; every released FNO-DEQ run uses it).
template <class T, class S = host>
struct fourier_layer {
  spectral_conv2d_layer<T, S> spectral;
  std::optional<pointwise_mlp<T, S>> mlp;
  pointwise_linear<T, S> skip;
  /// Passed to fourier_layer_apply: false runs the unrecorded path as the recorded one's
  /// composition (no one-kernel products).
  bool fused_pointwise = true;

  fourier_layer(index_t width, index_t modes1, index_t modes2, bool use_mlp, generator& gen)
      : spectral(width, width, modes1, modes2, gen),
        mlp(use_mlp ? std::optional<pointwise_mlp<T, S>>(std::in_place, width, width, width, gen)
                    : std::nullopt),
        skip(width, width, gen) {}

  /// @param z (B, w, H, W).
  /// @param injection x̃ (B, w, H, W) added before the activation; undefined for none.
  /// @param activate apply GELU (false for the last layer before the head).
  /// @param prepared this layer's prepare() since its last weight change, or null (see
  ///   fourier_layer_apply).
  ad::var<T, S> operator()(const ad::var<T, S>& z, const ad::var<T, S>& injection = {},
                           bool activate = true,
                           const fourier_layer_prepared<T, S>* prepared = nullptr) const {
    if (z.rank() < 2 || z.size(1) != skip.in_channels())
      throw_invalid_argument("spectral::fourier_layer", "expected (B, ", skip.in_channels(),
                             ", H, W), got ", z.shape().str());
    return fourier_layer_apply<T, S>(z, weights(), mlp.has_value(), injection, activate,
                                     spectral.method, fused_pointwise, prepared);
  }

  /// prepare_fourier_layer of the current weights: valid until they change (an optimiser step).
  fourier_layer_prepared<T, S> prepare() const {
    return prepare_fourier_layer<T, S>(weights(), mlp.has_value());
  }

  std::vector<ad::parameter<T, S>*> parameters() {
    std::vector<ad::parameter<T, S>*> p = spectral.parameters();
    if (mlp) append_parameters(p, mlp->parameters());
    append_parameters(p, skip.parameters());
    return p;
  }

 private:
  // The weights in fourier_layer_apply's order.
  std::vector<ad::var<T, S>> weights() const {
    std::vector<ad::var<T, S>> w{spectral.weight1(), spectral.weight2()};
    if (mlp)
      for (const ad::parameter<T, S>* p :
           {&mlp->fc1.weight, &mlp->fc1.bias, &mlp->fc2.weight, &mlp->fc2.bias})
        w.push_back((*p)());
    w.push_back(skip.weight());
    w.push_back(skip.bias());
    return w;
  }
};

/// The (weight-tied) block F_θ(z, x̃) of FNO-DEQ: `depth` Fourier layers, for j = 1..depth
/// z ← σ(MLP_j(K_j z) + W_j z + x̃), the same x̃ injected in every layer.
template <class T, class S = host>
struct fourier_block {
  std::vector<fourier_layer<T, S>> layers;

  fourier_block(index_t width, index_t modes1, index_t modes2, generator& gen, int depth = 3,
                bool use_mlp = true) {
    layers.reserve(static_cast<std::size_t>(depth));
    for (int j = 0; j < depth; ++j) layers.emplace_back(width, modes1, modes2, use_mlp, gen);
  }

  /// F_θ(z, x̃); pass an undefined injection for a plain FNO block (no x̃). `prepared`: this
  /// block's prepare() since its last weight change, or null (see fourier_layer_apply).
  ad::var<T, S> operator()(
      const ad::var<T, S>& z, const ad::var<T, S>& injection,
      const std::vector<fourier_layer_prepared<T, S>>* prepared = nullptr) const {
    if (prepared && prepared->size() != layers.size())
      throw_invalid_argument("spectral::fourier_block", "prepared holds ", prepared->size(),
                             " layers, the block ", layers.size());
    ad::var<T, S> h = z;
    for (std::size_t j = 0; j < layers.size(); ++j)
      h = layers[j](h, injection, true, prepared ? &(*prepared)[j] : nullptr);
    return h;
  }

  /// Each layer's prepare(): valid until the weights change (an optimiser step).
  std::vector<fourier_layer_prepared<T, S>> prepare() const {
    std::vector<fourier_layer_prepared<T, S>> p;
    p.reserve(layers.size());
    for (const auto& l : layers) p.push_back(l.prepare());
    return p;
  }

  std::vector<ad::parameter<T, S>*> parameters() {
    std::vector<ad::parameter<T, S>*> p;
    for (auto& l : layers) append_parameters(p, l.parameters());
    return p;
  }
};

/// The two grid channels (x, y) of an H × W grid, x = linspace(0, 1, H) along H and
/// y = linspace(0, 1, W) along W, repeated over the batch: (B, 2, H, W).
template <class T>
tensor<T> grid_channels(index_t batch, index_t height, index_t width) {
  tensor<T> g(shape_t{batch, 2, height, width});
  const tensor<T> gx = linspace<T>(T(0), T(1), height), gy = linspace<T>(T(0), T(1), width);
  for (index_t b = 0; b < batch; ++b)
    for (index_t i = 0; i < height; ++i)
      for (index_t j = 0; j < width; ++j) {
        g(b, 0, i, j) = gx(i);
        g(b, 1, i, j) = gy(j);
      }
  return g;
}

/// Lifting: concatenate the grid channels to the input, map pointwise to the width, and
/// zero-pad `pad` cells on the right (W) and at the bottom (H), since the domain is not
/// periodic. The result is the injection x̃ of the block.
template <class T, class S = host>
struct lifting {
  pointwise_linear<T, S> fc;
  index_t pad;

  lifting(index_t in_channels, index_t width, index_t pad_cells, generator& gen)
      : fc(in_channels + 2, width, gen), pad(pad_cells) {
    if (pad < 0) throw_invalid_argument("spectral::lifting", "pad ", pad, " is negative");
  }

  /// (B, Cin, H, W) → (B, w, H + pad, W + pad).
  /// @throws tessera::invalid_argument when x is not (B, Cin, H, W).
  ad::var<T, S> operator()(const ad::var<T, S>& x) const {
    if (x.rank() != 4 || x.size(1) + 2 != fc.in_channels())
      throw_invalid_argument("spectral::lifting", "expected (B, ", fc.in_channels() - 2,
                             ", H, W), got ", x.shape().str());
    const index_t B = x.size(0), H = x.size(2), W = x.size(3), C = fc.out_channels();
    const ad::var<T, S> grid = ad::constant(grid_for(B, H, W));
    ad::var<T, S> h = fc(ad::concat(std::vector<ad::var<T, S>>{x, grid}, 1));
    if (pad == 0) return h;
    h = ad::concat(
        std::vector<ad::var<T, S>>{h, ad::constant(detail::zeros_in<T, S>({B, C, pad, W}))}, 2);
    return ad::concat(
        std::vector<ad::var<T, S>>{h, ad::constant(detail::zeros_in<T, S>({B, C, H + pad, pad}))},
        3);
  }

  std::vector<ad::parameter<T, S>*> parameters() { return fc.parameters(); }

 private:
  // On the host the grid is made per call (cheap); elsewhere it is copied to the device once
  // per (B, H, W) and kept, so a training step does not upload it every time. The cache is
  // locked, so one lifting object may be called from several threads at once; on cuda they
  // must share one stream (the legacy default stream unless set), since the grid is uploaded,
  // and freed when replaced, in the stream order of the call that made it. A copy starts with
  // an empty cache.
  struct grid_cache {
    std::mutex m;
    tensor<T, S> grid;
    grid_cache() = default;
    grid_cache(const grid_cache&) {}
    grid_cache& operator=(const grid_cache&) { return *this; }  // the grid depends on shape only
  };
  mutable grid_cache cache_;
  tensor<T, S> grid_for(index_t B, index_t H, index_t W) const {
    if constexpr (std::is_same_v<S, host>) {
      return grid_channels<T>(B, H, W);
    } else {
      const std::lock_guard<std::mutex> lock(cache_.m);
      if (!cache_.grid.defined() || !(cache_.grid.shape() == shape_t{B, 2, H, W}))
        cache_.grid = to<S>(grid_channels<T>(B, H, W));
      return cache_.grid;  // a handle: another thread's new grid leaves this one alive
    }
  }
};

/// Projection head Q: crop the `pad` padded cells, then 1×1 (w → hidden) → GELU → 1×1
/// (hidden → out).
template <class T, class S = host>
struct projection_head {
  pointwise_linear<T, S> fc1, fc2;
  index_t pad;

  projection_head(index_t width, index_t out_channels, index_t pad_cells, generator& gen,
                  index_t hidden = 128)
      : fc1(width, hidden, gen), fc2(hidden, out_channels, gen), pad(pad_cells) {
    if (pad < 0) throw_invalid_argument("spectral::projection_head", "pad ", pad, " is negative");
  }

  /// (B, w, H + pad, W + pad) → (B, out, H, W).
  /// @throws tessera::invalid_argument when z is not (B, w, H + pad, W + pad) with H, W ≥ 1.
  ad::var<T, S> operator()(const ad::var<T, S>& z) const {
    if (z.rank() != 4 || z.size(1) != fc1.in_channels() || z.size(2) <= pad || z.size(3) <= pad)
      throw_invalid_argument("spectral::projection_head", "expected (B, ", fc1.in_channels(),
                             ", H + ", pad, ", W + ", pad, ") with H, W ≥ 1, got ",
                             z.shape().str());
    ad::var<T, S> h = z;
    if (pad > 0) h = ad::slice(ad::slice(h, 2, 0, z.size(2) - pad), 3, 0, z.size(3) - pad);
    return fc2(fc1.gelu_of(h));
  }

  std::vector<ad::parameter<T, S>*> parameters() {
    std::vector<ad::parameter<T, S>*> p = fc1.parameters();
    append_parameters(p, fc2.parameters());
    return p;
  }
};

}  // namespace tessera::spectral
