// SPDX-License-Identifier: Apache-2.0
// The spectral-convolution workload shared by benchmarks/spectral/spectral_conv.cpp and its
// LibTorch twin (benchmarks/compare/libtorch_spectral.cpp), written once so both sides run the same
// shapes on bit-identical data. C++17 on purpose: the LibTorch side uses Debian's C++17 headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../ad/cases.hpp"  // splitmix64, fill_uniform

namespace tessera_bench::spectral_conv {

// The FNO layer of the FNO-DEQ brief at benchmark size: (B, C, H, W) = (16, 32, 64, 64),
// 12 × 12 modes per corner block, 32 → 32 channels.
inline constexpr std::int64_t batch = 16;
inline constexpr std::int64_t in_channels = 32;
inline constexpr std::int64_t out_channels = 32;
inline constexpr std::int64_t height = 64;
inline constexpr std::int64_t width = 64;
inline constexpr std::int64_t modes = 12;

inline constexpr std::int64_t input_numel = batch * in_channels * height * width;
inline constexpr std::int64_t output_numel = batch * out_channels * height * width;
/// Reals in one weight block (Cin, Cout, m1, m2, 2).
inline constexpr std::int64_t weight_numel = in_channels * out_channels * modes * modes * 2;

inline constexpr std::uint64_t input_seed = 31, weight1_seed = 32, weight2_seed = 33,
                               cotangent_seed = 34;

/// Input x and the output cotangent: U[-1, 1).
inline void fill_input(float* p, std::uint64_t seed) {
  fill_uniform(p, static_cast<std::size_t>(input_numel), seed, -1.f, 1.f);
}
/// A weight block as the legacy layer draws it: re and im U[0, 1)·1/(Cin·Cout).
inline void fill_weight(float* p, std::uint64_t seed) {
  fill_uniform(p, static_cast<std::size_t>(weight_numel), seed, 0.f,
               1.f / static_cast<float>(in_channels * out_channels));
}

}  // namespace tessera_bench::spectral_conv
