// SPDX-License-Identifier: Apache-2.0
// The workloads shared by tessera's AD benchmarks and the LibTorch comparison, written once so
// that both sides run exactly the same chain of ops and the same MLP. C++17 on purpose: the
// LibTorch side (benchmarks/compare/libtorch_cpu.cpp) is built with Debian's C++17 headers.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace tessera_bench {

// --- small_ops: 200 chained elementwise ops on 16-element tensors ---------------------------

/// Elements per tensor: small enough that per-op overhead (allocation, dispatch, recording)
/// dominates the arithmetic, which is what this case measures.
inline constexpr int chain_width = 16;
/// Ops per chain: 40 rounds of the 5 ops below.
inline constexpr int chain_rounds = 40;
inline constexpr int chain_ops = 5 * chain_rounds;

/// Deterministic inputs: x0 and the three constant operands a, b, c (values keep the chain
/// bounded: tanh maps into (-1, 1), exp of [-2, 0.6] stays in [0.13, 1.9], no denormals).
struct chain_values {
  std::array<float, chain_width> x0, a, b, c;
};
inline chain_values make_chain_values() {
  chain_values v{};
  for (int i = 0; i < chain_width; ++i) {
    v.x0[i] = -0.4f + 0.05f * static_cast<float>(i);
    v.a[i] = 0.1f + 0.01f * static_cast<float>(i);
    v.b[i] = 0.9f - 0.01f * static_cast<float>(i);
    v.c[i] = 0.5f + 0.02f * static_cast<float>(i);
  }
  return v;
}

/// The chain: 40 × (add, mul, tanh, sub, exp), all tensor-tensor ops of equal shape.
/// Generic over the tensor type: tessera::tensor, tessera::ad::var and torch::Tensor all find
/// tanh/exp by argument-dependent lookup and provide + - *.
template <class X, class C>
X run_chain(X x, const C& a, const C& b, const C& c) {
  for (int r = 0; r < chain_rounds; ++r) {
    x = x + a;
    x = x * b;
    x = tanh(x);
    x = x - c;
    x = exp(x);
  }
  return x;
}

// --- mlp_train_step: 784-1024-1024-10 ReLU MLP, batch 256, cross-entropy, Adam -------------

inline constexpr std::int64_t mlp_batch = 256;
inline constexpr std::int64_t mlp_in = 784;
inline constexpr std::int64_t mlp_hidden = 1024;
inline constexpr std::int64_t mlp_classes = 10;
inline constexpr float mlp_lr = 1e-3f;

/// Multiply-adds of one train step: forward (x·W for 3 layers) and backward (two GEMMs per
/// layer, except that the first layer needs no input gradient).
inline constexpr double mlp_step_flops =
    2.0 * mlp_batch *
    (3.0 * (mlp_in * mlp_hidden + mlp_hidden * mlp_hidden + mlp_hidden * mlp_classes) -
     mlp_in * mlp_hidden);

/// Deterministic data both sides fill their tensors from (splitmix64), so that the two runs
/// start from bit-identical weights, inputs and labels.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/// n uniform floats in [lo, hi).
inline void fill_uniform(float* p, std::size_t n, std::uint64_t seed, float lo, float hi) {
  for (std::size_t i = 0; i < n; ++i)
    p[i] = lo + (hi - lo) * static_cast<float>(splitmix64(seed) >> 40) * (1.0f / 16777216.0f);
}
/// n class labels in [0, mlp_classes).
inline void fill_labels(std::int64_t* p, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = 0; i < n; ++i)
    p[i] = static_cast<std::int64_t>(splitmix64(seed) % static_cast<std::uint64_t>(mlp_classes));
}
/// Layer l (0, 1, 2) of the MLP: fan-in, fan-out, and the bound of PyTorch's default Linear
/// initialisation U(-1/√fan_in, 1/√fan_in) used for weights and biases.
struct mlp_layer {
  std::int64_t fan_in, fan_out;
  float bound;
};
inline mlp_layer mlp_layer_dims(int l) {
  const std::int64_t dims[4] = {mlp_in, mlp_hidden, mlp_hidden, mlp_classes};
  return {dims[l], dims[l + 1], 1.0f / std::sqrt(static_cast<float>(dims[l]))};
}
/// Seeds: weight of layer l, bias of layer l, inputs, labels.
inline constexpr std::uint64_t mlp_weight_seed(int l) { return 100 + 2 * static_cast<unsigned>(l); }
inline constexpr std::uint64_t mlp_bias_seed(int l) { return 101 + 2 * static_cast<unsigned>(l); }
inline constexpr std::uint64_t mlp_input_seed = 7, mlp_label_seed = 8;

}  // namespace tessera_bench
