// SPDX-License-Identifier: Apache-2.0
// The LibTorch (CPU) side of benchmarks/compare/libtorch_cpu.sh: the same cases as tessera's
// Google Benchmark programs, on the same data (benchmarks/ad/cases.hpp), timed the same way
// (warm-up, then repetitions that each run a fixed number of iterations for at least
// --min-time seconds and report the mean per iteration). C++17: Debian's LibTorch headers.
//
// Cases (names as in the RESULT lines):
//   small_ops_nograd   the 200-op chain on 16-element tensors under torch::NoGradGuard
//   small_ops_fwd_bwd  the chain from a requires_grad leaf, .sum().backward()
//   mlp_train_step     784-1024-1024-10 ReLU MLP, batch 256, cross_entropy, torch::optim::Adam
//   matmul_1024        torch::mm of two 1024×1024 float matrices
//
// Output, one line per repetition, for the script to aggregate:
//   SAMPLE case=<name> unit=<ns/op|ms> real=<wall time> cpu=<process CPU time>
// plus INFO lines (LibTorch version, thread count, the BLAS library mapped into the process).
//
// Usage: compare_libtorch_cpu [--reps N] [--min-time S] [--warmup S] [--case NAME]...
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <torch/version.h>

#include "../ad/cases.hpp"

namespace tb = tessera_bench;

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

/// Warm-up for opt.warmup seconds (and at least 2 calls), then opt.reps repetitions of
/// `iters` calls each, with iters chosen so that a repetition lasts about opt.min_time.
/// Prints one SAMPLE line per repetition with the time per call divided by `per_call`
/// and multiplied by `scale` (unit conversion).
void measure(const options& opt, const char* name, const char* unit, double scale, double per_call,
             const std::function<void()>& f) {
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
    const double k = scale / (static_cast<double>(iters) * per_call);
    std::printf("SAMPLE case=%s unit=%s real=%.6g cpu=%.6g iters=%ld\n", name, unit, w * k, c * k,
                iters);
    std::fflush(stdout);
  }
}

torch::Tensor from_array(const std::array<float, tb::chain_width>& v) {
  return torch::from_blob(const_cast<float*>(v.data()), {tb::chain_width}, torch::kFloat32).clone();
}

torch::Tensor uniform(std::vector<std::int64_t> shape, std::uint64_t seed, float lo, float hi) {
  torch::Tensor t = torch::empty(shape, torch::kFloat32);
  tb::fill_uniform(t.data_ptr<float>(), static_cast<std::size_t>(t.numel()), seed, lo, hi);
  return t;
}

void small_ops(const options& opt) {
  const tb::chain_values v = tb::make_chain_values();
  const torch::Tensor x0 = from_array(v.x0), a = from_array(v.a), b = from_array(v.b),
                      c = from_array(v.c);
  if (opt.cases.empty() || opt.cases.count("small_ops_nograd")) {
    measure(opt, "small_ops_nograd", "ns/op", 1e9, tb::chain_ops, [&] {
      torch::NoGradGuard ng;
      torch::Tensor y = tb::run_chain(x0, a, b, c);
      (void)y;
    });
  }
  if (opt.cases.empty() || opt.cases.count("small_ops_fwd_bwd")) {
    torch::Tensor x = x0.clone().requires_grad_(true);
    measure(opt, "small_ops_fwd_bwd", "ns/op", 1e9, tb::chain_ops, [&] {
      tb::run_chain(x, a, b, c).sum().backward();
      x.mutable_grad().reset();  // a fresh leaf gradient each time, as tessera's scope gives
    });
  }
}

void mlp_train_step(const options& opt) {
  std::vector<torch::Tensor> params;
  for (int l = 0; l < 3; ++l) {
    const tb::mlp_layer d = tb::mlp_layer_dims(l);
    params.push_back(
        uniform({d.fan_in, d.fan_out}, tb::mlp_weight_seed(l), -d.bound, d.bound).requires_grad_());
    params.push_back(
        uniform({d.fan_out}, tb::mlp_bias_seed(l), -d.bound, d.bound).requires_grad_());
  }
  const torch::Tensor x = uniform({tb::mlp_batch, tb::mlp_in}, tb::mlp_input_seed, 0.f, 1.f);
  torch::Tensor labels = torch::empty({tb::mlp_batch}, torch::kInt64);
  tb::fill_labels(labels.data_ptr<std::int64_t>(), static_cast<std::size_t>(tb::mlp_batch),
                  tb::mlp_label_seed);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(tb::mlp_lr));
  float last = 0;
  measure(opt, "mlp_train_step", "ms", 1e3, 1, [&] {
    adam.zero_grad();
    torch::Tensor h = x;
    for (int l = 0; l < 3; ++l) {
      h = torch::matmul(h, params[2 * l]) + params[2 * l + 1];
      if (l < 2) h = torch::relu(h);
    }
    torch::Tensor loss = torch::nn::functional::cross_entropy(h, labels);
    loss.backward();
    adam.step();
    last = loss.item<float>();
  });
  std::printf("INFO mlp_train_step final_loss=%g\n", static_cast<double>(last));
}

void matmul_1024(const options& opt) {
  const torch::Tensor a = uniform({1024, 1024}, 1, -1.f, 1.f);
  const torch::Tensor b = uniform({1024, 1024}, 2, -1.f, 1.f);
  measure(opt, "matmul_1024", "ms", 1e3, 1, [&] {
    torch::Tensor c = torch::mm(a, b);
    (void)c;
  });
}

/// The shared objects mapped into this process whose name says BLAS/LAPACK/MKL, and what
/// OpenBLAS says about itself when it is one of them.
void print_blas() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> libs;
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    std::string base = path.substr(path.rfind('/') + 1);
    std::transform(base.begin(), base.end(), base.begin(), ::tolower);
    if (base.find("blas") != std::string::npos || base.find("mkl") != std::string::npos ||
        base.find("lapack") != std::string::npos || base.find("dnnl") != std::string::npos)
      libs.insert(path);
  }
  for (const auto& l : libs) std::printf("INFO blas_mapped=%s\n", l.c_str());
  using cfg_fn = char* (*)();
  if (auto f = reinterpret_cast<cfg_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config")))
    std::printf("INFO openblas_config=\"%s\"\n", f());
  if (auto f = reinterpret_cast<cfg_fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename")))
    std::printf("INFO openblas_core=%s\n", f());
  using nt_fn = int (*)();
  if (auto f = reinterpret_cast<nt_fn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")))
    std::printf("INFO openblas_threads=%d\n", f());
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "compare_libtorch_cpu: %s needs a value\n", arg.c_str());
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
      std::fprintf(stderr, "compare_libtorch_cpu: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  // One thread for the intra-op pool; OpenBLAS's own pool follows OPENBLAS_NUM_THREADS only
  // (set by the script), since torch::set_num_threads does not reach it.
  torch::set_num_threads(1);
  torch::set_num_interop_threads(1);
  std::printf("INFO libtorch_version=%s torch_threads=%d\n", TORCH_VERSION,
              torch::get_num_threads());

  auto wanted = [&](const char* c) { return opt.cases.empty() || opt.cases.count(c) > 0; };
  if (wanted("small_ops_nograd") || wanted("small_ops_fwd_bwd")) small_ops(opt);
  if (wanted("mlp_train_step")) mlp_train_step(opt);
  if (wanted("matmul_1024")) matmul_1024(opt);
  print_blas();
  return 0;
}
