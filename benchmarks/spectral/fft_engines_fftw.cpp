// SPDX-License-Identifier: Apache-2.0
// The two engines of the host FFTs side by side (built only when tessera::fftw exists, and
// linked with it): the builtin Stockham engine and the FFTW engine, selected per benchmark with
// spectral::fft_engine_guard, on the same data, float:
//   BM_Rfft2/<engine>/<n>     spectral::rfft2 of (16, 32, n, n)
//   BM_Irfft2/<engine>/<n>    spectral::irfft2 of its spectrum
//   BM_SpectralConvFftFwdBwd/<engine>/<n>   spectral_conv2d's FFT method (12 modes), forward
//                                           recorded + backward, input and weights with grad
// engine 0 = builtin, 1 = FFTW; n = 33 and 41 (the example's CPU grids, 24 and 32 plus 9 of
// padding: 3·11 and a prime), 64 (the benchmark layer) and 94 (the paper's 85 + 9 padding:
// 2·47, a large prime factor). Run with OMP_NUM_THREADS=1 for single-core figures.
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

spectral::fft_engine engine_of(const benchmark::State& state) {
  return state.range(0) == 0 ? spectral::fft_engine::builtin : spectral::fft_engine::fftw;
}

tensor<float> uniform_input(const shape_t& s, std::uint64_t seed) {
  tensor<float> t(s);
  tessera_bench::fill_uniform(t.data(), static_cast<std::size_t>(t.numel()), seed, -1.f, 1.f);
  return t;
}

void BM_Rfft2(benchmark::State& state) {
  const spectral::fft_engine_guard g(engine_of(state));
  const tessera::index_t n = state.range(1);
  const tensor<float> x = uniform_input(shape_t{sc::batch, sc::in_channels, n, n}, sc::input_seed);
  for (auto _ : state) {
    const tensor<float> y = spectral::rfft2(x);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * sc::batch);
}

void BM_Irfft2(benchmark::State& state) {
  const spectral::fft_engine_guard g(engine_of(state));
  const tessera::index_t n = state.range(1);
  const tensor<float> X =
      spectral::rfft2(uniform_input(shape_t{sc::batch, sc::in_channels, n, n}, sc::input_seed));
  for (auto _ : state) {
    const tensor<float> y = spectral::irfft2(X, shape_t{n, n});
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * sc::batch);
}

void BM_SpectralConvFftFwdBwd(benchmark::State& state) {
  const spectral::fft_engine_guard g(engine_of(state));
  const tessera::index_t n = state.range(1);
  const tensor<float> x = uniform_input(shape_t{sc::batch, sc::in_channels, n, n}, sc::input_seed);
  const tensor<float> gy =
      uniform_input(shape_t{sc::batch, sc::out_channels, n, n}, sc::cotangent_seed);
  const shape_t ws{sc::in_channels, sc::out_channels, sc::modes, sc::modes, 2};
  tensor<float> w1(ws), w2(ws);
  sc::fill_weight(w1.data(), sc::weight1_seed);
  sc::fill_weight(w2.data(), sc::weight2_seed);
  for (auto _ : state) {
    ad::scope s;
    const ad::var<float> xv(x, true), w1v(w1, true), w2v(w2, true);
    const ad::var<float> y =
        spectral::spectral_conv2d(xv, w1v, w2v, spectral::spectral_method::fft);
    ad::backward(y, gy);
    benchmark::DoNotOptimize(w1v.grad().data());
  }
  state.SetItemsProcessed(state.iterations() * sc::batch);
}

void engines_and_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"engine", "n"});
  for (int e : {0, 1})
    for (int n : {33, 41, 64, 94}) b->Args({e, n});
  b->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(BM_Rfft2)->Apply(engines_and_sizes);
BENCHMARK(BM_Irfft2)->Apply(engines_and_sizes);
BENCHMARK(BM_SpectralConvFftFwdBwd)->Apply(engines_and_sizes);

BENCHMARK_MAIN();
