// SPDX-License-Identifier: Apache-2.0
// The FNO spectral convolution (legacy SpectralConv2d: rfft2, two 12×12 corner blocks mixed
// by complex weights, irfft2) on (B, C, H, W) = (16, 32, 64, 64), 32 → 32 channels, float, and
// the 2-d real FFTs it is built from. The layer is the costliest op of an FNO training step,
// so this measures what the FNO-DEQ example pays per Fourier layer. The input and both weight
// blocks require gradients, as in training; the same case runs in LibTorch through
// benchmarks/compare/libtorch_spectral.cpp (benchmarks/compare/libtorch_cpu.sh runs both).
//   BM_SpectralConvForwardFloat        truncated-DFT (GEMM) path, no tape: the forward twin
//   BM_SpectralConvFwdBwdFloat         GEMM path, forward recorded + backward (the compare case)
//   BM_SpectralConvFwdBwdDouble        the same in double
//   BM_SpectralConvFftForwardFloat     the full-FFT reference path, no tape
//   BM_SpectralConvFftFwdBwdFloat      the full-FFT reference path, forward + backward
//   BM_Rfft2Float / BM_Irfft2Float     spectral::rfft2 / irfft2 of the whole (16, 32, 64, 64)
// Run with OMP_NUM_THREADS=1 for single-core figures.
#include <benchmark/benchmark.h>

#include <tessera/ad.hpp>
#include <tessera/core.hpp>
#include <tessera/spectral.hpp>

#include "cases.hpp"

namespace {

namespace sc = tessera_bench::spectral_conv;
namespace ad = tessera::ad;
namespace spectral = tessera::spectral;
using tessera::shape_t;
using tessera::tensor;

template <class T>
struct conv_case {
  tensor<T> x, w1, w2, seed;
  conv_case()
      : x(shape_t{sc::batch, sc::in_channels, sc::height, sc::width}),
        w1(shape_t{sc::in_channels, sc::out_channels, sc::modes, sc::modes, 2}),
        w2(w1.shape()),
        seed(shape_t{sc::batch, sc::out_channels, sc::height, sc::width}) {
    fill(x, sc::input_seed, [](float* p, std::uint64_t s) { sc::fill_input(p, s); });
    fill(seed, sc::cotangent_seed, [](float* p, std::uint64_t s) { sc::fill_input(p, s); });
    fill(w1, sc::weight1_seed, [](float* p, std::uint64_t s) { sc::fill_weight(p, s); });
    fill(w2, sc::weight2_seed, [](float* p, std::uint64_t s) { sc::fill_weight(p, s); });
  }
  template <class F>
  static void fill(tensor<T>& t, std::uint64_t seed, F f) {
    tensor<float> tmp(t.shape());
    f(tmp.data(), seed);
    for (tessera::index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(tmp.data()[i]);
  }
};

void set_items(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * sc::batch);
  state.SetBytesProcessed(state.iterations() * (sc::input_numel + sc::output_numel) *
                          static_cast<std::int64_t>(sizeof(float)));
}

template <class T>
void forward(benchmark::State& state, spectral::spectral_method method) {
  const conv_case<T> c;
  for (auto _ : state) {
    ad::scope s;
    ad::no_grad ng;
    const ad::var<T> y = spectral::spectral_conv2d(ad::constant(c.x), ad::constant(c.w1),
                                                   ad::constant(c.w2), method);
    benchmark::DoNotOptimize(y.value().data());
  }
  set_items(state);
}

template <class T>
void fwd_bwd(benchmark::State& state, spectral::spectral_method method) {
  const conv_case<T> c;
  for (auto _ : state) {
    ad::scope s;
    const ad::var<T> x(c.x, true), w1(c.w1, true), w2(c.w2, true);
    const ad::var<T> y = spectral::spectral_conv2d(x, w1, w2, method);
    ad::backward(y, c.seed);
    benchmark::DoNotOptimize(w1.grad().data());
  }
  set_items(state);
}

void BM_SpectralConvForwardFloat(benchmark::State& state) {
  forward<float>(state, spectral::spectral_method::truncated_dft);
}
void BM_SpectralConvFwdBwdFloat(benchmark::State& state) {
  fwd_bwd<float>(state, spectral::spectral_method::truncated_dft);
}
void BM_SpectralConvFwdBwdDouble(benchmark::State& state) {
  fwd_bwd<double>(state, spectral::spectral_method::truncated_dft);
}
void BM_SpectralConvFftForwardFloat(benchmark::State& state) {
  forward<float>(state, spectral::spectral_method::fft);
}
void BM_SpectralConvFftFwdBwdFloat(benchmark::State& state) {
  fwd_bwd<float>(state, spectral::spectral_method::fft);
}

void BM_Rfft2Float(benchmark::State& state) {
  const conv_case<float> c;
  for (auto _ : state) {
    const tensor<float> y = spectral::rfft2(c.x);
    benchmark::DoNotOptimize(y.data());
  }
  set_items(state);
}
void BM_Irfft2Float(benchmark::State& state) {
  const conv_case<float> c;
  const tensor<float> spectrum = spectral::rfft2(c.x);
  for (auto _ : state) {
    const tensor<float> y = spectral::irfft2(spectrum, shape_t{sc::height, sc::width});
    benchmark::DoNotOptimize(y.data());
  }
  set_items(state);
}

BENCHMARK(BM_SpectralConvForwardFloat)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpectralConvFwdBwdFloat)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpectralConvFwdBwdDouble)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpectralConvFftForwardFloat)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpectralConvFftFwdBwdFloat)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Rfft2Float)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Irfft2Float)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
