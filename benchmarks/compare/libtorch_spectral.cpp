// SPDX-License-Identifier: Apache-2.0
// The LibTorch (CPU) side of the spectral cases of benchmarks/compare/libtorch_cpu.sh: the
// legacy FNO SpectralConv2d forward written as in the FNO code (torch::fft::rfft2, einsum
// "bixy,ioxy->boxy" on the two corner blocks, zero spectrum, torch::fft::irfft2), on the data of
// benchmarks/spectral/cases.hpp (shared with tessera's bench_spectral_spectral_conv), timed like
// libtorch_cpu.cpp (warm-up, then repetitions of a fixed number of calls lasting at least
// --min-time seconds, mean per call). C++17. The script runs one process per case: the heap
// one case leaves behind changes the page faults of the next by up to 50 % of its time.
//
// Cases (names as in the RESULT lines of libtorch_cpu.sh):
//   spectral_conv_fwd_bwd   forward + y.backward(cotangent); x and both complex weights are
//                           leaves requiring grad, their gradients reset after each call
//   spectral_conv_forward   forward under torch::NoGradGuard
//   rfft2                   torch::fft::rfft2 of the (16, 32, 64, 64) input
//   irfft2                  torch::fft::irfft2 of that spectrum back to 64 × 64
//
// Output: SAMPLE case=<name> unit=ms real=<wall> cpu=<process CPU> iters=<n>, one per
// repetition, plus INFO lines, the format benchmarks/compare/libtorch_cpu.sh parses.
// Usage: compare_libtorch_spectral [--reps N] [--min-time S] [--warmup S] [--case NAME]...
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <torch/version.h>

#include "../spectral/cases.hpp"

namespace sc = tessera_bench::spectral_conv;

namespace {

struct options {
  int reps = 5;
  double min_time = 0.5;
  double warmup = 0.3;
  std::set<std::string> cases;
};

double wall_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void measure(const options& opt, const char* name, const std::function<void()>& f) {
  double t0 = wall_now();
  long calls = 0;
  while (calls < 2 || wall_now() - t0 < opt.warmup) {
    f();
    ++calls;
  }
  const double est = (wall_now() - t0) / static_cast<double>(calls);
  const long iters = std::max(1L, static_cast<long>(std::ceil(opt.min_time / est)));
  for (int r = 0; r < opt.reps; ++r) {
    const double w0 = wall_now(), c0 = cpu_now();
    for (long i = 0; i < iters; ++i) f();
    const double w = wall_now() - w0, c = cpu_now() - c0;
    const double k = 1e3 / static_cast<double>(iters);
    std::printf("SAMPLE case=%s unit=ms real=%.6g cpu=%.6g iters=%ld\n", name, w * k, c * k, iters);
    std::fflush(stdout);
  }
}

/// The legacy FNO SpectralConv2d.forward.
torch::Tensor spectral_conv2d(const torch::Tensor& x, const torch::Tensor& w1,
                              const torch::Tensor& w2) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  const std::int64_t m1 = w1.size(2), m2 = w1.size(3);
  const torch::Tensor x_ft = torch::fft::rfft2(x);
  torch::Tensor out_ft = torch::zeros({x.size(0), w1.size(1), x.size(-2), x.size(-1) / 2 + 1},
                                      torch::TensorOptions().dtype(torch::kComplexFloat));
  out_ft.index_put_(
      {Slice(), Slice(), Slice(None, m1), Slice(None, m2)},
      torch::einsum("bixy,ioxy->boxy",
                    {x_ft.index({Slice(), Slice(), Slice(None, m1), Slice(None, m2)}), w1}));
  out_ft.index_put_(
      {Slice(), Slice(), Slice(-m1, None), Slice(None, m2)},
      torch::einsum("bixy,ioxy->boxy",
                    {x_ft.index({Slice(), Slice(), Slice(-m1, None), Slice(None, m2)}), w2}));
  return torch::fft::irfft2(out_ft, std::vector<std::int64_t>{x.size(-2), x.size(-1)});
}

torch::Tensor filled(std::vector<std::int64_t> shape, void (*fill)(float*, std::uint64_t),
                     std::uint64_t seed) {
  torch::Tensor t = torch::empty(shape, torch::kFloat32);
  fill(t.data_ptr<float>(), seed);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "compare_libtorch_spectral: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--reps")
      opt.reps = std::stoi(next());
    else if (arg == "--min-time")
      opt.min_time = std::stod(next());
    else if (arg == "--warmup")
      opt.warmup = std::stod(next());
    else if (arg == "--case")
      opt.cases.insert(next());
    else {
      std::fprintf(stderr, "compare_libtorch_spectral: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  torch::set_num_threads(1);
  torch::set_num_interop_threads(1);
  std::printf("INFO libtorch_version=%s torch_threads=%d\n", TORCH_VERSION,
              torch::get_num_threads());
  auto wanted = [&](const char* c) { return opt.cases.empty() || opt.cases.count(c) > 0; };

  const torch::Tensor x0 =
      filled({sc::batch, sc::in_channels, sc::height, sc::width}, sc::fill_input, sc::input_seed);
  const torch::Tensor seed = filled({sc::batch, sc::out_channels, sc::height, sc::width},
                                    sc::fill_input, sc::cotangent_seed);
  const std::vector<std::int64_t> wshape{sc::in_channels, sc::out_channels, sc::modes, sc::modes,
                                         2};
  // Complex parameters as the FNO code has them (cfloat leaves), from the shared real data.
  torch::Tensor w1 = torch::view_as_complex(filled(wshape, sc::fill_weight, sc::weight1_seed))
                         .clone()
                         .requires_grad_(true);
  torch::Tensor w2 = torch::view_as_complex(filled(wshape, sc::fill_weight, sc::weight2_seed))
                         .clone()
                         .requires_grad_(true);

  if (wanted("spectral_conv_fwd_bwd")) {
    torch::Tensor x = x0.clone().requires_grad_(true);
    measure(opt, "spectral_conv_fwd_bwd", [&] {
      spectral_conv2d(x, w1, w2).backward(seed);
      x.mutable_grad().reset();
      w1.mutable_grad().reset();
      w2.mutable_grad().reset();
    });
  }
  if (wanted("spectral_conv_forward")) {
    measure(opt, "spectral_conv_forward", [&] {
      torch::NoGradGuard ng;
      torch::Tensor y = spectral_conv2d(x0, w1, w2);
      (void)y;
    });
  }
  if (wanted("rfft2")) {
    measure(opt, "rfft2", [&] {
      torch::Tensor y = torch::fft::rfft2(x0);
      (void)y;
    });
  }
  if (wanted("irfft2")) {
    const torch::Tensor spectrum = torch::fft::rfft2(x0);
    measure(opt, "irfft2", [&] {
      torch::Tensor y =
          torch::fft::irfft2(spectrum, std::vector<std::int64_t>{sc::height, sc::width});
      (void)y;
    });
  }
  return 0;
}
