// SPDX-License-Identifier: Apache-2.0
// GPU cases of issue #3, timed with CUDA events (manual time; each iteration ends with a stream
// synchronisation): an MLP training step (784-1024-1024-10 ReLU, batch 256, Adam) with the
// backward written out by hand with plain cuda ops, the same step replayed as one CUDA graph,
// and the same step written with the tape and optim::adam<float, cuda> as a user would
// (mlp_train_step_tape: what the tape and its rules cost over the hand-written step; and
// mlp_train_step_tape_graph, that step captured into a CUDA graph); 200
// chained elementwise ops on 16-element tensors (launch latency), forward only and forward +
// backward through the tape; a 4096³ TF32 and bf16-operand matmul (TFLOP/s; the TF32 and bf16
// storage cases also through cublasGemmEx (_gemmex) and, TF32, with the autotune on
// (_autotune); counters say which path ran), softmax over
// rows (GB/s) and rfft2 + irfft2 of (32, 32, 94, 94) floats through cuFFT. Names match
// benchmarks/compare/torch_gpu.py, which times the same work in PyTorch.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <exception>

#include <tessera/cuda.hpp>
#include <tessera/cuda/spectral.cuh>

#include "main.hpp"

#include "../ad/cases.hpp"

namespace tessera::bench {
namespace {

/// Times `body` per iteration with CUDA events on the current stream.
template <class F>
void time_iterations(benchmark::State& state, F&& body) {
  cudaEvent_t start, stop;
  TESSERA_CUDA_CHECK(cudaEventCreate(&start));
  TESSERA_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) body();  // warm-up: pool, cuBLAS heuristics, caches
  cuda_rt::synchronize();
  for (auto _ : state) {
    TESSERA_CUDA_CHECK(cudaEventRecord(start, cuda_rt::current_stream()));
    body();
    TESSERA_CUDA_CHECK(cudaEventRecord(stop, cuda_rt::current_stream()));
    TESSERA_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    TESSERA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms * 1e-3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

/// Runs a case's body; an exception (a CUDA error, a capture that failed) marks the case as
/// errored instead of ending the program, so that the other cases still run.
template <class F>
void guarded(benchmark::State& state, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

/// The MLP of the issue with its Adam state; step() is one forward, hand-written backward and
/// fused Adam update of all six parameters.
struct mlp {
  static constexpr index_t batch = 256, in = 784, hidden = 1024, classes = 10;
  generator gen{7};
  tensor<float, cuda> x = randn<float, cuda>({batch, in}, gen);
  tensor<float, cuda> onehot = zeros<float, cuda>({batch, classes});
  tensor<index_t, cuda> y;
  std::vector<tensor<float, cuda>> p, m, v;
  index_t t = 0;

  mlp() {
    std::vector<index_t> labels(batch);
    for (index_t i = 0; i < batch; ++i) labels[static_cast<std::size_t>(i)] = (i * 7) % classes;
    y = to<cuda>(from_vector<index_t>(labels, {batch}));
    onehot = scatter_add(shape_t{batch, classes}, 1, y.unsqueeze(1), ones<float, cuda>({batch, 1}));
    const index_t dims[] = {in, hidden, hidden, classes};
    for (int l = 0; l < 3; ++l) {
      const float s = 1.0f / std::sqrt(static_cast<float>(dims[l]));
      p.push_back(rand<float, cuda>({dims[l], dims[l + 1]}, gen, -s, s));
      p.push_back(rand<float, cuda>({dims[l + 1]}, gen, -s, s));
    }
    for (const auto& q : p) {
      m.push_back(zeros_like(q));
      v.push_back(zeros_like(q));
    }
  }

  void step() {
    const auto z1 = matmul(x, p[0]) + p[1];
    const auto h1 = relu(z1);
    const auto h2 = relu(matmul(h1, p[2]) + p[3]);
    const auto logits = matmul(h2, p[4]) + p[5];
    const auto loss = cross_entropy(logits, y);
    const auto dl = (softmax(logits) - onehot) * (1.0f / static_cast<float>(batch));
    const auto dh2 = matmul(dl, p[4].transpose(0, 1)) * heaviside(h2);
    const auto dh1 = matmul(dh2, p[2].transpose(0, 1)) * heaviside(h1);
    const tensor<float, cuda> g[6] = {matmul(x.transpose(0, 1), dh1),  sum(dh1, {0}),
                                      matmul(h1.transpose(0, 1), dh2), sum(dh2, {0}),
                                      matmul(h2.transpose(0, 1), dl),  sum(dl, {0})};
    const auto c = optim::adam_coefficients_for<float>(1e-3f, 0.9f, 0.999f, 1e-8f, 0.f, false, ++t);
    for (int i = 0; i < 6; ++i)
      optim::adam_update_(p[i], g[i], m[i], v[i], tensor<float, cuda>(), c, false, false, false);
  }
};

void mlp_train_step(benchmark::State& state) {
  cuda_rt::set_check_indices(false);  // no host round trip inside the step
  mlp net;
  time_iterations(state, [&] { net.step(); });
}
BENCHMARK(mlp_train_step)->UseManualTime()->Unit(benchmark::kMillisecond);

void mlp_train_step_graph(benchmark::State& state) {
  // The graph freezes Adam's bias corrections at the captured step count: a timing case, not
  // a faithful optimizer.
  mlp net;
  net.step();  // eager once: cuBLAS picks its kernels, the pool holds the step's memory
  cuda_rt::graph g([&] { net.step(); });
  time_iterations(state, [&] { g.replay(); });
}
BENCHMARK(mlp_train_step_graph)->UseManualTime()->Unit(benchmark::kMillisecond);

/// The same network, data and initial values as mlp, trained through the tape as a user writes
/// it: parameters, a scope per step, forward, backward, the optimizer class (one fused Adam
/// kernel per parameter). Weight gradients accumulate into the parameters' gradient buffers
/// with cuBLAS β = 1; cross-entropy is the tape's composition (log_softmax, gather, mean), not
/// the fused forward kernel.
struct tape_mlp {
  mlp net;
  std::vector<ad::parameter<float, cuda>> ps;
  optim::adam<float, cuda> opt;

  /// capturable: Adam's t and lr in device memory, so that replays of a captured step are
  /// faithful Adam steps (one more one-thread kernel per parameter and step).
  explicit tape_mlp(bool capturable = false)
      : ps(make(net.p)), opt(optim::slots_of(ps), {.lr = 1e-3f, .capturable = capturable}) {}
  static std::vector<ad::parameter<float, cuda>> make(const std::vector<tensor<float, cuda>>& p) {
    std::vector<ad::parameter<float, cuda>> v;
    v.reserve(p.size());
    for (const auto& q : p) v.emplace_back(q);
    return v;
  }

  void step() {
    ad::scope sc;
    opt.zero_grad();
    const auto h1 = ad::relu(ad::matmul(ad::constant(net.x), ps[0]()) + ps[1]());
    const auto h2 = ad::relu(ad::matmul(h1, ps[2]()) + ps[3]());
    ad::backward(ad::cross_entropy(ad::matmul(h2, ps[4]()) + ps[5](), net.y));
    opt.step();
  }
};

void mlp_train_step_tape(benchmark::State& state) {
  cuda_rt::set_check_indices(false);
  guarded(state, [&] {
    tape_mlp t;
    time_iterations(state, [&] { t.step(); });
  });
}
BENCHMARK(mlp_train_step_tape)->UseManualTime()->Unit(benchmark::kMillisecond);

void mlp_train_step_tape_graph(benchmark::State& state) {
  // The tape step captured into one CUDA graph: after an eager step the gradients and the Adam
  // state exist and zero_grad() keeps their storage, so every sweep writes the same buffers.
  // A capturable Adam: each replay advances t, as an eager step does.
  cuda_rt::set_check_indices(false);
  guarded(state, [&] {
    tape_mlp t(true);
    t.step();
    cuda_rt::graph g([&] { t.step(); });
    time_iterations(state, [&] { g.replay(); });
  });
}
BENCHMARK(mlp_train_step_tape_graph)->UseManualTime()->Unit(benchmark::kMillisecond);

void small_ops_fwd(benchmark::State& state) {
  // The CPU comparison's chain and values (benchmarks/ad/cases.hpp): 40 × (add, mul, tanh,
  // sub, exp) on 16 elements.
  const auto v = tessera_bench::make_chain_values();
  auto dev = [](const auto& arr) {
    return to<cuda>(from_vector<float>(std::vector<float>(arr.begin(), arr.end()),
                                       {tessera_bench::chain_width}));
  };
  const auto x0 = dev(v.x0), a = dev(v.a), b = dev(v.b), c = dev(v.c);
  time_iterations(state, [&] { (void)tessera_bench::run_chain(x0, a, b, c); });
  state.counters["us_per_op"] = benchmark::Counter(
      200e-6, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(small_ops_fwd)->UseManualTime()->Unit(benchmark::kMicrosecond);

void small_ops_fwd_bwd(benchmark::State& state) {
  // The same chain recorded on the tape on cuda and swept back (x requires grad, a, b, c are
  // constants): 200 forward kernels plus their adjoints, per-op host overhead included.
  const auto v = tessera_bench::make_chain_values();
  auto dev = [](const auto& arr) {
    return to<cuda>(from_vector<float>(std::vector<float>(arr.begin(), arr.end()),
                                       {tessera_bench::chain_width}));
  };
  const auto x0 = dev(v.x0), a = dev(v.a), b = dev(v.b), c = dev(v.c);
  guarded(state, [&] {
    time_iterations(state, [&] {
      ad::scope sc;
      const ad::var<float, cuda> x(x0, true), av(a), bv(b), cv(c);
      ad::backward(ad::sum(tessera_bench::run_chain(x, av, bv, cv)));
    });
  });
  state.counters["us_per_op"] = benchmark::Counter(
      200e-6, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(small_ops_fwd_bwd)->UseManualTime()->Unit(benchmark::kMicrosecond);

/// Counters saying which GEMM path ran (from this thread's cuBLASLt statistics since `from`).
void gemm_path_counters(benchmark::State& state, const cuda_rt::gemm_lt_stats& from) {
  const cuda_rt::gemm_lt_stats s = cuda_rt::gemm_stats();
  state.counters["lt_calls"] = static_cast<double>(s.lt_calls - from.lt_calls);
  state.counters["gemmex_fallbacks"] =
      static_cast<double>(s.gemmex_fallbacks - from.gemmex_fallbacks);
  state.counters["autotuned"] = static_cast<double>(s.autotuned - from.autotuned);
  state.counters["candidates"] = s.last_candidates;
  state.counters["algo_id"] = s.last_algo_id;  // -1: no cublasLtMatmul ran
  state.counters["tile_id"] = s.last_tile_id;
  state.counters["stages_id"] = s.last_stages_id;
  state.counters["splitk"] = s.last_splitk;
}

/// 4096³ float GEMM with TF32 through the given path: cuBLASLt (the default, with the
/// default autotune setting unless `autotune` forces it on) or cublasGemmEx (`lt` false).
void matmul_4096_tf32_on(benchmark::State& state, bool lt, bool autotune) {
  generator gen(2);
  const index_t n = 4096;
  const auto a = randn<float, cuda>({n, n}, gen), b = randn<float, cuda>({n, n}, gen);
  const bool lt0 = cuda_rt::gemm_lt(), tune0 = cuda_rt::gemm_autotune();
  cuda_rt::set_gemm_lt(lt);
  if (autotune) cuda_rt::set_gemm_autotune(true);
  cuda_rt::clear_gemm_cache();  // choose (and tune) afresh, in the warm-up
  const cuda_rt::gemm_lt_stats from = cuda_rt::gemm_stats();
  cuda_rt::set_allow_tf32(true);
  time_iterations(state, [&] { (void)matmul(a, b); });
  cuda_rt::set_allow_tf32(false);
  gemm_path_counters(state, from);
  cuda_rt::set_gemm_lt(lt0);
  cuda_rt::set_gemm_autotune(tune0);
  state.counters["TFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

void matmul_4096_tf32(benchmark::State& state) { matmul_4096_tf32_on(state, true, false); }
BENCHMARK(matmul_4096_tf32)->UseManualTime()->Unit(benchmark::kMillisecond);

void matmul_4096_tf32_gemmex(benchmark::State& state) {  // the path before cuBLASLt
  matmul_4096_tf32_on(state, false, false);
}
BENCHMARK(matmul_4096_tf32_gemmex)->UseManualTime()->Unit(benchmark::kMillisecond);

void matmul_4096_tf32_autotune(benchmark::State& state) { matmul_4096_tf32_on(state, true, true); }
BENCHMARK(matmul_4096_tf32_autotune)->UseManualTime()->Unit(benchmark::kMillisecond);

void matmul_4096_bf16(benchmark::State& state) {
  // float tensors, operands rounded to bf16 per call (the conversion kernels are timed too),
  // FP32 accumulation and output: what PyTorch's bf16 autocast does with float inputs.
  generator gen(2);
  const index_t n = 4096;
  const auto a = randn<float, cuda>({n, n}, gen), b = randn<float, cuda>({n, n}, gen);
  cuda_rt::set_matmul_bf16(true);
  time_iterations(state, [&] { (void)matmul(a, b); });
  cuda_rt::set_matmul_bf16(false);
  state.counters["TFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(matmul_4096_bf16)->UseManualTime()->Unit(benchmark::kMillisecond);

void matmul_4096_bf16_storage_on(benchmark::State& state, bool lt) {
  // bf16 tensors in and out (cast once, outside the timing): the storage path of matmul-heavy
  // code, FP32 accumulation on tensor cores. PyTorch side: bf16 tensors, a @ b.
  generator gen(2);
  const index_t n = 4096;
  const auto a = cast<__nv_bfloat16>(randn<float, cuda>({n, n}, gen));
  const auto b = cast<__nv_bfloat16>(randn<float, cuda>({n, n}, gen));
  const bool lt0 = cuda_rt::gemm_lt();
  cuda_rt::set_gemm_lt(lt);
  cuda_rt::clear_gemm_cache();
  const cuda_rt::gemm_lt_stats from = cuda_rt::gemm_stats();
  time_iterations(state, [&] { (void)matmul(a, b); });
  gemm_path_counters(state, from);
  cuda_rt::set_gemm_lt(lt0);
  state.counters["TFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

void matmul_4096_bf16_storage(benchmark::State& state) { matmul_4096_bf16_storage_on(state, true); }
BENCHMARK(matmul_4096_bf16_storage)->UseManualTime()->Unit(benchmark::kMillisecond);

void matmul_4096_bf16_storage_gemmex(benchmark::State& state) {
  matmul_4096_bf16_storage_on(state, false);
}
BENCHMARK(matmul_4096_bf16_storage_gemmex)->UseManualTime()->Unit(benchmark::kMillisecond);

void softmax_rows(benchmark::State& state) {
  generator gen(3);
  const index_t rows = 16384, cols = 1024;
  const auto x = randn<float, cuda>({rows, cols}, gen);
  time_iterations(state, [&] { (void)softmax(x); });
  state.counters["GB/s"] = benchmark::Counter(2.0 * rows * cols * sizeof(float) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(softmax_rows)->UseManualTime()->Unit(benchmark::kMillisecond);

// The card's measured memory peak, the reference for softmax_rows' GB/s: a device-to-device
// cudaMemcpyAsync of 256 MiB (the copy engine's rate; bytes read plus written) and the same copy
// through tessera's vectorised elementwise kernel (copy_from of a contiguous tensor).
void device_copy_256mib(benchmark::State& state) {
  const index_t n = index_t(64) << 20;  // 64 Mi floats
  generator gen(5);
  const auto src = rand<float, cuda>({n}, gen);
  tensor<float, cuda> dst({n});
  time_iterations(state, [&] {
    TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), static_cast<std::size_t>(n) * 4,
                                       cudaMemcpyDeviceToDevice, cuda_rt::current_stream()));
  });
  state.counters["GB/s"] = benchmark::Counter(2.0 * n * sizeof(float) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(device_copy_256mib)->UseManualTime()->Unit(benchmark::kMillisecond);

void elementwise_copy_256mib(benchmark::State& state) {
  const index_t n = index_t(64) << 20;
  generator gen(6);
  const auto src = rand<float, cuda>({n}, gen);
  tensor<float, cuda> dst({n});
  time_iterations(state, [&] { dst.copy_from(src); });
  state.counters["GB/s"] = benchmark::Counter(2.0 * n * sizeof(float) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(elementwise_copy_256mib)->UseManualTime()->Unit(benchmark::kMillisecond);

// The FNO-DEQ step's two hottest kernels at its shapes (batch 32, width 32, 94×94 = 8836
// points; docs/benchmarks.md, run 11), with the bytes each must move as GB/s: gelu(W·x + c + b)
// (matmul_add_gelu's kernel: x, c read and the result written; args: addend, kernel: 0 the
// tiled one that matmul_add_gelu runs, 1 the column one of run 11)
// and the weight gradient Σ_b Ȳ_b·X_bᵀ (matmul_batch_sum: both operands read once).
void fno_pointwise_gelu(benchmark::State& state) {
  const bool addend = state.range(0) != 0;
  const index_t B = 32, C = 32, P = 8836;
  generator gen(7);
  const auto w = rand<float, cuda>({C, C}, gen, -0.2f, 0.2f);
  const auto x = randn<float, cuda>({B, C, P}, gen);
  const auto c = addend ? randn<float, cuda>({B, C, P}, gen) : tensor<float, cuda>();
  const auto b = randn<float, cuda>({C, 1}, gen);
  const auto kernel =
      state.range(1) == 0 ? cuda_detail::gelu_kernel::tiled : cuda_detail::gelu_kernel::column;
  time_iterations(state, [&] { (void)cuda_detail::matmul_add_gelu_kernel(w, x, c, b, kernel); });
  state.counters["GB/s"] = benchmark::Counter((addend ? 3.0 : 2.0) * B * C * P * 4 * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(fno_pointwise_gelu)
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// The FNO layer's last pointwise product with its skip path, gelu(W₂h + (W_s z + x̃) + b), at
// the same shapes: arg 0 the fused kernel (matmul_pair_add_gelu), 1 matmul_add (cuBLAS) then
// matmul_add_gelu, as run 11 computed it; GB/s of the fused kernel's bytes (h, z, x̃ read, the
// result written) for both.
void fno_pointwise_pair(benchmark::State& state) {
  const index_t B = 32, C = 32, P = 8836;
  generator gen(9);
  const auto w = rand<float, cuda>({C, C}, gen, -0.2f, 0.2f);
  const auto ws = rand<float, cuda>({C, C}, gen, -0.2f, 0.2f);
  const auto h = randn<float, cuda>({B, C, P}, gen);
  const auto z = randn<float, cuda>({B, C, P}, gen);
  const auto inj = randn<float, cuda>({B, C, P}, gen);
  const auto b = randn<float, cuda>({C, 1}, gen);
  if (state.range(0) == 0)
    time_iterations(state, [&] { (void)matmul_pair_add_gelu(w, h, ws, z, inj, b); });
  else
    time_iterations(state, [&] { (void)matmul_add_gelu(w, h, matmul_add(ws, z, inj), b); });
  state.counters["GB/s"] =
      benchmark::Counter(4.0 * B * C * P * 4 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(fno_pointwise_pair)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMicrosecond);

void fno_weight_gradient(benchmark::State& state) {
  const index_t B = 32, C = 32, P = 8836;
  generator gen(8);
  const auto gy = randn<float, cuda>({B, C, P}, gen);
  const auto x = randn<float, cuda>({B, C, P}, gen);
  time_iterations(state, [&] { (void)matmul_batch_sum(gy, x.transpose(1, 2)); });
  state.counters["GB/s"] =
      benchmark::Counter(2.0 * B * C * P * 4 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(fno_weight_gradient)->UseManualTime()->Unit(benchmark::kMicrosecond);

void rfft2_irfft2_94(benchmark::State& state) {
  // The FNO-DEQ paper's padded grid (85 + 9 = 94 = 2·47) at batch 32 and width 32: one R2C and
  // one C2R plan (cached after the warm-up), the half-spectrum packing copy in between.
  generator gen(4);
  const auto x = randn<float, cuda>({32, 32, 94, 94}, gen);
  time_iterations(state, [&] { (void)spectral::irfft2(spectral::rfft2(x), shape_t{94, 94}); });
}
BENCHMARK(rfft2_irfft2_94)->UseManualTime()->Unit(benchmark::kMillisecond);

// The FNO-DEQ layer's spectral convolution with nothing recorded (the solve's), 32×32×94×94,
// 12×12 modes: arg 0 the fused DFT kernels around the per-mode products (the default), 1 the
// truncated DFTs as cuBLAS GEMMs with the permutes between them (run 11's path); arg 2 the
// fused forward kernel alone, 3 the fused inverse alone, with GB/s of the slices' bytes; the
// layer's spectral path through its MLP's first product, gelu(W₁·conv + b₁): arg 4
// spectral_conv2d_linear_gelu (W₁ folded into the mode weights, GELU in the inverse kernel),
// 5 the fused convolution then matmul_add_gelu.
void fno_spectral_conv(benchmark::State& state) {
  const index_t B = 32, C = 32, H = 94, W = 94, m = 12;
  generator gen(10);
  const auto x = randn<float, cuda>({B, C, H, W}, gen);
  const auto w1 = to<cuda>(spectral::spectral_weights<float>({C, C, m, m, 2}, gen));
  const auto w2 = to<cuda>(spectral::spectral_weights<float>({C, C, m, m, 2}, gen));
  using backend = spectral::detail::space_backend<cuda>;
  const auto modes = backend::tdft2_forward<float>(x, m, m);
  const auto l1 = rand<float, cuda>({C, C}, gen, -0.2f, 0.2f);
  const auto b1 = randn<float, cuda>({C}, gen);
  switch (state.range(0)) {
    case 0:
      time_iterations(state, [&] { (void)spectral::spectral_conv2d(x, w1, w2); });
      break;
    case 1:
      time_iterations(state, [&] {
        (void)spectral::spectral_conv2d(x, w1, w2, spectral::spectral_method::truncated_dft_gemm);
      });
      break;
    case 2:
      time_iterations(state, [&] { (void)backend::tdft2_forward<float>(x, m, m); });
      break;
    case 4:
      time_iterations(state,
                      [&] { (void)spectral::spectral_conv2d_linear_gelu(x, w1, w2, l1, b1); });
      break;
    case 5:
      time_iterations(state, [&] {
        (void)matmul_add_gelu(l1, spectral::spectral_conv2d(x, w1, w2).reshape({B, C, H * W}),
                              tensor<float, cuda>(), b1.reshape({C, 1}));
      });
      break;
    default:
      time_iterations(state, [&] { (void)backend::tdft2_inverse<float>(modes, H, W); });
      break;
  }
  if (state.range(0) == 2 || state.range(0) == 3)
    state.counters["GB/s"] = benchmark::Counter(double(B * C * H * W + modes.numel()) * 4 * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(fno_spectral_conv)->DenseRange(0, 5)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) { return tessera::bench::run_cuda_benchmarks(argc, argv); }
