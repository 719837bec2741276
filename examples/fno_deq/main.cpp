// SPDX-License-Identifier: Apache-2.0
// FNO-DEQ (Marwah et al., NeurIPS 2023) on Darcy flow, end to end with tessera: generates the
// data (pde::generate_darcy), trains FNO (d = 1), FNO++ (d = 1), FNO-WT (a weight-tied block
// unrolled a fixed number of times, full backprop) and FNO-DEQ (the same block solved to its
// fixed point by Anderson, phantom gradient τ = 0.5, k = 1; plus an exact implicit-gradient
// run as a check), prints a table beside the paper's (approximate) numbers and writes PNGs.
//   fno_deq [--scale cpu|gpu] [--noise SIGMA2_MAX] [--epochs N] [--res K] [--ntrain N]
//           [--ntest N] [--width W] [--modes M] [--batch B] [--seed S] [--models LIST]
//           [--solver-iters N] [--wt-unroll N] [--warmup STEPS] [--threads N] [--out DIR]
//           [--lr LR] [--write-data DIR] [--data DIR] [--time-steps N] [--device cpu|cuda]
//           [--train-seconds S] [--checkpoint DIR] [--checkpoint-every N] [--eval-every N]
//           [--graph-solve on|off] [--fused-dft on|off] [--fused-pointwise on|off]
//           [--resident-solve on|off] [--draw-curves DIR]
// --write-data writes the generated data as .npy (a_train, u_train, a_test, u_test; (N, K, K)
// float64) and exits; --data trains on such files instead of generating; --time-steps times
// N optimiser steps per model (the DEQ in solver mode) and prints TIMING lines instead of
// training; --train-seconds stops each model's training after the epoch in which that many
// seconds of training have passed (the schedule still spans --epochs, as fno_torch.py
// --seconds; with --checkpoint, the seconds of this run). benchmarks/compare/fno_gpu.sh uses them
// with its PyTorch twin. --checkpoint DIR saves each model's training state (parameters,
// Adam's moments, counters) in DIR/<model> every --checkpoint-every epochs (10), at the last
// epoch and when --train-seconds stops training, and resumes from it when it is there: a long
// run can be split over several invocations with the same settings. Each run writes its
// models' training curves (<out>/curves_<model>.csv) and draws <out>/curves.svg from every curve
// file there of its settings; --draw-curves DIR only draws DIR/curves.svg from the curve files in
// DIR (those of the first file's settings), e.g. after gathering them from several machines.
// The models, the training step and loop, evaluation and timing are model.hpp, generic over the
// memory space: this file runs them on the host, device.cu (--device cuda) on the GPU.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "model.hpp"
#include "tessera/io/npy.hpp"
#include "tessera/pde/darcy.hpp"
#include "tessera/tessera.hpp"

#ifdef TESSERA_FNO_DEQ_CUDA
#include "device.hpp"
#endif

namespace {

using fno_deq::clock_type;
using fno_deq::config;
using fno_deq::seconds_since;
using fno_deq::T;
using tessera::index_t;
using tessera::shape_t;
using tessera::tensor;

// ---------------------------------------------------------------------------------------
// Data: per-pixel Gaussian normaliser (FNO's UnitGaussianNormalizer, eps = 1e-5).

struct normaliser {
  tensor<T> mean, stdev;  // (K, K)
  static constexpr T eps = T(1e-5);
  explicit normaliser(const tensor<T>& x) {  // x (N, K, K)
    const index_t N = x.size(0), P = x.numel() / N;
    mean = tensor<T>(shape_t{x.size(1), x.size(2)});
    stdev = tensor<T>(shape_t{x.size(1), x.size(2)});
    for (index_t p = 0; p < P; ++p) {
      double s = 0, s2 = 0;
      for (index_t n = 0; n < N; ++n) s += x.data()[n * P + p];
      const double m = s / static_cast<double>(N);
      for (index_t n = 0; n < N; ++n) {
        const double d = x.data()[n * P + p] - m;
        s2 += d * d;
      }
      mean.data()[p] = static_cast<T>(m);
      // torch.std: unbiased
      stdev.data()[p] =
          static_cast<T>(std::sqrt(s2 / static_cast<double>(std::max<index_t>(N - 1, 1))));
    }
  }
  tensor<T> encode(const tensor<T>& x) const {
    tensor<T> y(x.shape());
    const index_t P = mean.numel();
    for (index_t i = 0; i < x.numel(); ++i)
      y.data()[i] = (x.data()[i] - mean.data()[i % P]) / (stdev.data()[i % P] + eps);
    return y;
  }
  // The decode ŷ · scale + mean of (B, 1, K, K) predictions: scale = std + eps, (1, 1, K, K).
  tensor<T> scale() const {
    tensor<T> sd(shape_t{1, 1, mean.size(0), mean.size(1)});
    for (index_t i = 0; i < mean.numel(); ++i) sd.data()[i] = stdev.data()[i] + eps;
    return sd;
  }
};

// ---------------------------------------------------------------------------------------
// PNG figures: a simple 5-stop "viridis-like" colormap, panels upscaled by nearest neighbour.

void colour(double t, unsigned char* rgb) {
  static const double stops[5][3] = {
      {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  // NaN (a diverged model's prediction) as the low end: std::clamp passes NaN through, and
  // static_cast<int>(NaN) indexed far outside `stops`.
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0) * 4.0;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  for (int c = 0; c < 3; ++c)
    rgb[c] = static_cast<unsigned char>(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]) + 0.5);
}

// Writes the K×K fields side by side (each with its own min/max) into one PNG.
bool write_panels(const std::string& path, const std::vector<std::vector<double>>& fields,
                  index_t K, int zoom = 8, int gap = 4) {
  const int n = static_cast<int>(fields.size());
  const int pw = static_cast<int>(K) * zoom, W = n * pw + (n - 1) * gap, H = pw;
  std::vector<unsigned char> img(static_cast<std::size_t>(W * H * 3), 255);
  for (int f = 0; f < n; ++f) {
    const auto [lo, hi] = std::minmax_element(fields[f].begin(), fields[f].end());
    const double a = *lo, range = std::max(*hi - *lo, 1e-30);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < pw; ++x) {
        const double v = fields[f][static_cast<std::size_t>((y / zoom) * K + x / zoom)];
        colour((v - a) / range, &img[static_cast<std::size_t>((y * W + f * (pw + gap) + x) * 3)]);
      }
  }
  return stbi_write_png(path.c_str(), W, H, 3, img.data(), W * 3) != 0;
}

/// `v` with 3 significant digits and no exponent (0.0123, 4.56, 789, 12345), for the table:
/// a tiny run's milliseconds are not rounded to 0.
std::string three_digits(double v) {
  if (!std::isfinite(v)) return "–";
  const double a = std::abs(v);
  const int decimals =
      a >= 100 || a == 0 ? 0 : std::min(6, 2 - static_cast<int>(std::floor(std::log10(a))));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

constexpr const char* usage =
    "usage: fno_deq [options]\n"
    "  --scale cpu|gpu        preset sizes (cpu: 24x24, 256/64, w 8, m 6, batch 4, lr 2e-2;\n"
    "                         gpu: the paper's 85x85, 1024/200, w 32, m 12, batch 32, 500 epochs)\n"
    "  --models LIST          comma-separated, of fno, fno++, fno2, fno++2, fno4, fno++4, wt,\n"
    "                         deq, deq-ift (default: fno, fno++, wt, deq, deq-ift; the digit is\n"
    "                         the paper's depth d; each at most once, trained in the order\n"
    "                         above whatever the order given)\n"
    "  --epochs N  --batch B  --lr LR  --seed S\n"
    "  --res K  --ntrain N  --ntest N  --width W  --modes M   problem and model sizes\n"
    "  --solver-iters N  --wt-unroll N  --warmup STEPS        DEQ / WT settings\n"
    "  --noise SIGMA2_MAX     noisy observations on the training targets\n"
    "  --threads N            OpenMP threads (default 1)\n"
    "  --out DIR              figures (default out/fno_deq)\n"
    "  --write-data DIR       write the generated data as .npy and exit\n"
    "  --draw-curves DIR      draw DIR/curves.svg from DIR/curves_<model>.csv and exit\n"
    "  --data DIR             train on such .npy files instead of generating\n"
    "  --time-steps N         time N optimiser steps per model instead of training\n"
    "  --device cpu|cuda      where to train (cuda needs the CUDA build and a GPU)\n"
    "  --train-seconds S      stop each model after the epoch that reaches S seconds\n"
    "  --checkpoint DIR       save/resume each model's training state in DIR/<model>\n"
    "  --checkpoint-every N   epochs between checkpoints (default 10)\n"
    "  --eval-every N         epochs between per-epoch test evaluations (default 1)\n"
    "  --graph-solve on|off   cuda: replay the DEQ's block from a CUDA graph in its solve\n"
    "                         (default on; the same results)\n"
    "  --fused-dft on|off     cuda: the spectral convolutions' DFTs by the fused kernels\n"
    "                         (default on), or by cuBLAS GEMMs\n"
    "  --fused-pointwise on|off  cuda: each layer's products with their GELU as single\n"
    "                         kernels where nothing is recorded (default on), or GEMMs and\n"
    "                         add_gelu\n"
    "  --resident-solve on|off  cuda: the DEQ solve's residuals, best iterate and Anderson\n"
    "                         systems on the device, no waiting per iteration (default on)\n"
    "See examples/fno_deq/README.md.\n";

/// The number in `v`, the value of option `opt`; exits with status 2 and a message naming
/// both when `v` is not entirely a number, or is one out of the type's range.
template <class N>
N parse_number(const std::string& opt, const std::string& v) {
  std::size_t used = 0;
  N r{};
  try {
    if constexpr (std::is_floating_point_v<N>)
      r = static_cast<N>(std::stod(v, &used));
    else if constexpr (std::is_unsigned_v<N>)
      r = static_cast<N>(std::stoull(v, &used));
    else
      r = static_cast<N>(std::stoll(v, &used));
  } catch (const std::out_of_range&) {
    std::fprintf(stderr, "fno_deq: %s %s is out of range\n", opt.c_str(), v.c_str());
    std::exit(2);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || (std::is_unsigned_v<N> && v.find('-') != v.npos)) {
    std::fprintf(stderr, "fno_deq: %s expects a%s number, got \"%s\"\n", opt.c_str(),
                 std::is_floating_point_v<N> ? ""
                 : std::is_unsigned_v<N>     ? " non-negative whole"
                                             : " whole",
                 v.c_str());
    std::exit(2);
  }
  return r;
}

/// A checkpoint's run identity (config::run_id): every setting that shapes the training
/// trajectory or the recorded curve, and a 64-bit hash of the prepared data (inputs, noisy
/// training targets, test targets, normaliser), so that a resume with other settings or other
/// data is refused. The device and the cuda kernel switches are left out: they change rounding
/// only, and a protocol may resume on another machine.
std::string run_identity(const config& c, const fno_deq::host_data& hd) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the tensors' bytes, 8 at a time
  for (const tensor<T>* t : {&hd.xtr, &hd.ytr_obs, &hd.xte, &hd.yte, &hd.y_mean, &hd.y_scale}) {
    const tensor<T> x = t->contiguous();
    const auto* bytes = reinterpret_cast<const unsigned char*>(x.data());
    const std::size_t n = static_cast<std::size_t>(x.numel()) * sizeof(T);
    for (std::size_t i = 0; i < n; i += 8) {
      std::uint64_t w = 0;
      std::memcpy(&w, bytes + i, std::min<std::size_t>(8, n - i));
      h = (h ^ w) * 0x100000001b3ull;
    }
    h = (h ^ static_cast<std::uint64_t>(x.numel())) * 0x100000001b3ull;
  }
  char buf[384];
  std::snprintf(buf, sizeof buf,
                "res=%lld pad=%lld ntrain=%lld ntest=%lld width=%lld modes=%lld batch=%lld "
                "epochs=%d lr=%.17g noise=%.17g seed=%llu solver_iters=%d wt_unroll=%d "
                "warmup=%dx%d data=%016llx",
                (long long)c.res, (long long)c.pad, (long long)c.ntrain, (long long)c.ntest,
                (long long)c.width, (long long)c.modes, (long long)c.batch, c.epochs, c.lr, c.noise,
                (unsigned long long)c.seed, c.solver_iters, c.wt_unroll, c.warmup_steps,
                c.warmup_unroll, (unsigned long long)h);
  return buf;
}

/// The noise protocol's variances for σ²_max = `noise` > 0 (brief §2.4): 0, then the powers of
/// ten from 1e-9 below σ²_max, then σ²_max itself (so a σ²_max that is not a power of ten is
/// still the largest variance applied).
std::vector<double> noise_variances(double noise) {
  std::vector<double> vars = {0.0};
  for (double v = 1e-9; v < noise * (1 - 1e-9); v *= 10) vars.push_back(v);
  vars.push_back(noise);
  return vars;
}

/// The largest --res: a 16384² grid is 2.7e8 cells a sample, far beyond what the solver and the
/// models take in memory; the bound keeps the size arithmetic from overflowing.
constexpr index_t max_res = 16384;

/// Every setting checked before any work is done; returns an empty string or what is wrong.
/// `check_grid` false skips the modes-against-grid check (with --data the grid is the files',
/// checked again once they are read).
std::string check_config(const config& c, bool check_grid = true) {
  char buf[256];
  const auto at_least = [&](const char* opt, long long v, long long lo) {
    if (v >= lo) return false;
    std::snprintf(buf, sizeof buf, "%s must be at least %lld (got %lld)", opt, lo, v);
    return true;
  };
  // Two training samples at least: the normaliser divides by their per-pixel deviation.
  if (at_least("--res", c.res, 3) || at_least("--ntrain", c.ntrain, 2) ||
      at_least("--ntest", c.ntest, 1) || at_least("--width", c.width, 1) ||
      at_least("--modes", c.modes, 1) || at_least("--batch", c.batch, 1) ||
      at_least("--solver-iters", c.solver_iters, 1) || at_least("--wt-unroll", c.wt_unroll, 1) ||
      at_least("--warmup", c.warmup_steps, 0) || at_least("--threads", c.threads, 0) ||
      at_least("--epochs", c.epochs, 1) || at_least("--checkpoint-every", c.checkpoint_every, 1) ||
      at_least("--eval-every", c.eval_every, 1) || at_least("--time-steps", c.time_steps, 0))
    return buf;
  if (c.res > max_res) {  // (and so res + pad and the grid's cell count cannot overflow)
    std::snprintf(buf, sizeof buf, "--res must be at most %lld (got %lld)", (long long)max_res,
                  (long long)c.res);
    return buf;
  }
  if (c.batch > c.ntrain && c.write_data.empty()) {  // (--write-data trains nothing)
    std::snprintf(buf, sizeof buf, "--batch %lld exceeds --ntrain %lld", (long long)c.batch,
                  (long long)c.ntrain);
    return buf;
  }
  if (!(c.lr > 0) || !std::isfinite(c.lr)) {
    std::snprintf(buf, sizeof buf, "--lr must be positive and finite (got %g)", c.lr);
    return buf;
  }
  if (!(c.noise >= 0) || !std::isfinite(c.noise)) {
    std::snprintf(buf, sizeof buf, "--noise must be non-negative and finite (got %g)", c.noise);
    return buf;
  }
  if (const std::size_t V = c.noise > 0 ? noise_variances(c.noise).size() : 0;
      c.write_data.empty() && c.ntrain < static_cast<index_t>(V)) {
    std::snprintf(buf, sizeof buf,
                  "--noise %g needs at least %zu training samples, one per variance (0, 1e-9, "
                  "..., %g); --ntrain is %lld",
                  c.noise, V, c.noise, (long long)c.ntrain);
    return buf;
  }
  if (!(c.train_seconds >= 0) || !std::isfinite(c.train_seconds)) {
    std::snprintf(buf, sizeof buf, "--train-seconds must be non-negative (got %g)",
                  c.train_seconds);
    return buf;
  }
  // The spectral convolution keeps modes ≤ half the padded grid.
  const long long grid = c.res + c.pad;
  if (check_grid && c.modes > grid / 2) {
    std::snprintf(buf, sizeof buf,
                  "--modes %lld does not fit the %lld×%lld padded grid (at most %lld)",
                  (long long)c.modes, grid, grid, grid / 2);
    return buf;
  }
  std::string models = c.models + ",", item;
  std::vector<std::string> listed;
  for (char ch : models) {
    if (ch != ',') {
      item += ch;
      continue;
    }
    bool ok = false;
    for (const auto& s : fno_deq::specs) ok = ok || item == s.key;
    if (!ok)
      return "--models: unknown model \"" + item +
             "\" (known: fno, fno++, fno2, fno++2, fno4, fno++4, wt, deq, deq-ift)";
    if (std::find(listed.begin(), listed.end(), item) != listed.end())
      return "--models: \"" + item + "\" is listed twice in \"" + c.models + "\"";
    listed.push_back(item);
    item.clear();
  }
  const std::size_t known = listed.size();
  if (known == 0) return "--models lists no model";
  return {};
}

}  // namespace

static int fno_deq_main(int argc, char** argv) {
  config c;
  std::string draw_dir;     // --draw-curves
  std::string first_other;  // the first option given other than --draw-curves
  // --scale gpu's preset first, wherever it stands, so that explicit options override it (every
  // option but --help takes one value). Its Anderson budget: 24 iterations on clean data (the
  // brief's GPU protocol allows 16–32; 24 is the PyTorch reference step), 32 with
  // --noise (the paper's noisy Darcy runs).
  bool gpu_scale = false, noisy = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--noise") == 0) noisy = std::strtod(argv[i + 1], nullptr) > 0;
    if (std::strcmp(argv[i], "--scale") == 0 && std::strcmp(argv[i + 1], "gpu") == 0)
      gpu_scale = true;
  }
  if (gpu_scale) {
    c.res = 85;
    c.ntrain = 1024;
    c.ntest = 200;
    c.width = 32;
    c.modes = 12;
    c.batch = 32;
    c.epochs = 500;
    c.lr = 1e-3;
    c.solver_iters = noisy ? 32 : 24;
    c.warmup_steps = 300;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fno_deq: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      // An empty value (an unset shell variable, say) is refused, not taken as "not given".
      if (argv[i + 1][0] == '\0') {
        std::fprintf(stderr, "fno_deq: %s needs a value, got an empty one\n", a.c_str());
        std::exit(2);
      }
      if (a != "--draw-curves" && first_other.empty()) first_other = a;
      return argv[++i];
    };
    const auto integer = [&]() { return parse_number<long long>(a, next()); };
    const auto small = [&]() {
      const long long v = integer();
      if (v > std::numeric_limits<int>::max() || v < std::numeric_limits<int>::min()) {
        std::fprintf(stderr, "fno_deq: %s %lld is out of range\n", a.c_str(), v);
        std::exit(2);
      }
      return static_cast<int>(v);
    };
    const auto real = [&]() { return parse_number<double>(a, next()); };
    if (a == "--scale") {
      c.scale = next();  // its preset was applied before this loop
      if (c.scale != "gpu" && c.scale != "cpu") {
        std::fprintf(stderr, "fno_deq: --scale must be cpu or gpu (got \"%s\")\n", c.scale.c_str());
        return 2;
      }
    } else if (a == "--noise")
      c.noise = real();
    else if (a == "--epochs") {
      c.epochs = small();
    } else if (a == "--res")
      c.res = integer();
    else if (a == "--ntrain")
      c.ntrain = integer();
    else if (a == "--ntest")
      c.ntest = integer();
    else if (a == "--width")
      c.width = integer();
    else if (a == "--modes")
      c.modes = integer();
    else if (a == "--batch")
      c.batch = integer();
    else if (a == "--solver-iters")
      c.solver_iters = small();
    else if (a == "--wt-unroll")
      c.wt_unroll = small();
    else if (a == "--warmup")
      c.warmup_steps = small();
    else if (a == "--seed")
      c.seed = parse_number<std::uint64_t>(a, next());
    else if (a == "--models")
      c.models = next();
    else if (a == "--out")
      c.out = next();
    else if (a == "--threads")
      c.threads = small();
    else if (a == "--lr") {
      c.lr = real();
    } else if (a == "--write-data")
      c.write_data = next();
    else if (a == "--draw-curves")
      draw_dir = next();
    else if (a == "--data")
      c.data = next();
    else if (a == "--time-steps")
      c.time_steps = small();
    else if (a == "--device")
      c.device = next();
    else if (a == "--train-seconds")
      c.train_seconds = real();
    else if (a == "--checkpoint")
      c.checkpoint = next();
    else if (a == "--checkpoint-every")
      c.checkpoint_every = small();
    else if (a == "--eval-every")
      c.eval_every = small();
    else if (a == "--graph-solve") {
      const std::string v = next();
      if (v != "on" && v != "off") {
        std::fprintf(stderr, "fno_deq: --graph-solve must be on or off (got \"%s\")\n", v.c_str());
        return 2;
      }
      c.graph_solve = v == "on";
    } else if (a == "--fused-dft") {
      const std::string v = next();
      if (v != "on" && v != "off") {
        std::fprintf(stderr, "fno_deq: --fused-dft must be on or off (got \"%s\")\n", v.c_str());
        return 2;
      }
      c.fused_dft = v == "on";
    } else if (a == "--fused-pointwise") {
      const std::string v = next();
      if (v != "on" && v != "off") {
        std::fprintf(stderr, "fno_deq: --fused-pointwise must be on or off (got \"%s\")\n",
                     v.c_str());
        return 2;
      }
      c.fused_pointwise = v == "on";
    } else if (a == "--resident-solve") {
      const std::string v = next();
      if (v != "on" && v != "off") {
        std::fprintf(stderr, "fno_deq: --resident-solve must be on or off (got \"%s\")\n",
                     v.c_str());
        return 2;
      }
      c.resident_solve = v == "on";
    } else {
      std::fprintf(stderr, "fno_deq: unknown option %s (fno_deq --help lists them)\n", a.c_str());
      return 2;
    }
  }
  if (!draw_dir.empty()) {
    // Only the chart: from the curve files a run (or several, on other machines) left in DIR.
    // Nothing else is done, so any other option is a mistake.
    if (!first_other.empty()) {
      std::fprintf(stderr, "fno_deq: --draw-curves takes no other option (got %s)\n",
                   first_other.c_str());
      return 2;
    }
    if (!std::filesystem::is_directory(draw_dir)) {
      std::fprintf(stderr, "fno_deq: --draw-curves %s: no such directory\n", draw_dir.c_str());
      return 1;
    }
    const std::size_t n = fno_deq::draw_curves(draw_dir, fno_deq::spec_keys(), "");
    if (n == 0) {
      std::fprintf(stderr, "fno_deq: --draw-curves %s: no curve file (curves_<model>.csv) drawn\n",
                   draw_dir.c_str());
      return 1;
    }
    std::printf("drew %zu model(s) into %s/curves.svg\n", n, draw_dir.c_str());
    return 0;
  }
  if (const std::string bad = check_config(c, c.data.empty()); !bad.empty()) {
    std::fprintf(stderr, "fno_deq: %s\n", bad.c_str());
    return 2;
  }
  if (c.device == "cuda") {
    // The contract benchmarks/compare/fno_gpu.sh relies on: exit status 3 = no device path.
#ifndef TESSERA_FNO_DEQ_CUDA
    std::fprintf(stderr,
                 "fno_deq: --device cuda: this build has no CUDA backend (configure with nvcc "
                 "found, TESSERA_WITH_CUDA=AUTO or ON)\n");
    return 3;
#else
    if (!fno_deq_cuda::available()) {
      std::fprintf(stderr, "fno_deq: --device cuda: no CUDA device is available\n");
      return 3;
    }
#endif
  } else if (c.device != "cpu") {
    std::fprintf(stderr, "fno_deq: --device must be cpu or cuda (got \"%s\")\n", c.device.c_str());
    return 2;
  }
  const bool on_gpu = c.device == "cuda";
  // The folders this run writes to, made before any work (data generation can take minutes),
  // so that one that cannot be made is named with its option at once.
  const auto make_dir = [](const char* opt, const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir)) {
      std::fprintf(stderr, "fno_deq: %s %s: cannot make the directory (%s)\n", opt, dir.c_str(),
                   ec ? ec.message().c_str() : "a file is in the way");
      return false;
    }
    return true;
  };
  if (!c.write_data.empty()) {
    if (!make_dir("--write-data", c.write_data)) return 2;
  } else if (c.time_steps == 0) {
    if (!c.checkpoint.empty() && !make_dir("--checkpoint", c.checkpoint)) return 2;
    if (!make_dir("--out", c.out)) return 2;
  }

#ifdef _OPENMP
  if (c.threads > 0) omp_set_num_threads(c.threads);
#endif
  std::printf("FNO-DEQ on Darcy flow (Marwah et al. 2023), tessera example on the %s\n",
              on_gpu ? "GPU (cuda)" : "CPU");
  char grid[160];
  if (c.data.empty())
    std::snprintf(grid, sizeof grid, "grid %lld×%lld (+%lld pad), %lld train / %lld test",
                  (long long)c.res, (long long)c.res, (long long)c.pad, (long long)c.ntrain,
                  (long long)c.ntest);
  else  // the files decide the grid and may hold fewer samples (the data line below)
    std::snprintf(grid, sizeof grid, "grid of --data (+%lld pad), at most %lld train / %lld test",
                  (long long)c.pad, (long long)c.ntrain, (long long)c.ntest);
  std::printf(
      "scale %s: %s, width %lld, modes %lld, batch %lld, %d epochs, Adam lr %g (cosine "
      "per step)\n",
      c.scale.c_str(), grid, (long long)c.width, (long long)c.modes, (long long)c.batch, c.epochs,
      c.lr);
  std::printf(
      "FNO-WT: %d unrolled blocks; FNO-DEQ: Anderson m=5 λ=1e-4 β=1, %d iterations (full "
      "budget), phantom τ=0.5 k=1, warm-up %d steps unrolled ×%d\n",
      c.wt_unroll, c.solver_iters, c.warmup_steps, c.warmup_unroll);
  if (on_gpu)
    std::printf(
        "cuda kernels: fused DFTs %s, fused pointwise %s, graph solve %s, resident solve %s\n",
        c.fused_dft ? "on" : "off", c.fused_pointwise ? "on" : "off", c.graph_solve ? "on" : "off",
        c.resident_solve ? "on" : "off");
  if (c.train_seconds > 0)
    std::printf("training budget: %g s per model (stops after the epoch that reaches it)\n",
                c.train_seconds);
  if (c.scale == "gpu" && !on_gpu && c.time_steps == 0)
    std::printf(
        "note: --scale gpu trains on the CPU here: expect hours to days (--device cuda trains "
        "on the GPU)\n");
  if (c.noise > 0)
    std::printf("noisy observations: σ²_max = %g on normalised train targets\n", c.noise);

  // Data.
  auto t0 = clock_type::now();
  tessera::generator gen(c.seed);
  tessera::pde::darcy_data<double> data;
  if (c.data.empty()) {
    data = tessera::pde::generate_darcy<double>(c.ntrain + c.ntest, c.res, gen);
  } else {
    // Train and test files as fno_deq --write-data wrote them (or any (N, K, K) arrays).
    namespace io = tessera::io;
    const tensor<double> atr = io::load_npy<double>(c.data + "/a_train.npy"),
                         utr = io::load_npy<double>(c.data + "/u_train.npy"),
                         ate = io::load_npy<double>(c.data + "/a_test.npy"),
                         ute = io::load_npy<double>(c.data + "/u_test.npy");
    if (atr.rank() != 3 || atr.shape() != utr.shape() || ate.shape() != ute.shape() ||
        ate.rank() != 3 || atr.size(1) != ate.size(1) || atr.size(1) != atr.size(2) ||
        ate.size(2) != atr.size(2)) {  // (the test arrays were read as K×K too)
      std::fprintf(stderr,
                   "fno_deq: --data %s: expected (N, K, K) arrays of matching shapes, got "
                   "a_train %s, u_train %s, a_test %s, u_test %s\n",
                   c.data.c_str(), atr.shape().str().c_str(), utr.shape().str().c_str(),
                   ate.shape().str().c_str(), ute.shape().str().c_str());
      return 2;
    }
    c.ntrain = std::min(c.ntrain, atr.size(0));
    c.ntest = std::min(c.ntest, ate.size(0));
    c.res = atr.size(1);
    // Values the training cannot use: a non-finite or non-positive coefficient, a non-finite
    // solution, or a solution of norm 0 (its relative error divides by it). Only the samples
    // used are checked.
    {
      const auto bad_value = [&](const char* file, const tensor<double>& x, index_t n,
                                 bool coefficient) {
        const tensor<double> v = x.slice(0, 0, n).contiguous();
        const index_t per = v.numel() / std::max<index_t>(n, 1);
        for (index_t s = 0; s < n; ++s) {
          double norm2 = 0;
          for (index_t i = 0; i < per; ++i) {
            const double e = v.data()[s * per + i];
            if (!std::isfinite(e) || (coefficient && !(e > 0))) {
              std::fprintf(stderr,
                           "fno_deq: --data %s: %s sample %lld, pixel %lld is %g (expected %s)\n",
                           c.data.c_str(), file, (long long)s, (long long)i, e,
                           coefficient ? "a finite positive coefficient" : "a finite value");
              return true;
            }
            norm2 += e * e;
          }
          if (!coefficient && norm2 == 0) {
            std::fprintf(stderr,
                         "fno_deq: --data %s: %s sample %lld is zero everywhere (the relative "
                         "error divides by its norm)\n",
                         c.data.c_str(), file, (long long)s);
            return true;
          }
        }
        return false;
      };
      if (bad_value("a_train.npy", atr, c.ntrain, true) ||
          bad_value("u_train.npy", utr, c.ntrain, false) ||
          bad_value("a_test.npy", ate, c.ntest, true) ||
          bad_value("u_test.npy", ute, c.ntest, false))
        return 2;
    }
    if (const std::string bad = check_config(c); !bad.empty()) {  // sizes taken from the files
      std::fprintf(stderr, "fno_deq: --data %s: %s\n", c.data.c_str(), bad.c_str());
      return 2;
    }
    const index_t KK = c.res * c.res;
    data.a = tensor<double>(shape_t{c.ntrain + c.ntest, c.res, c.res});
    data.u = tensor<double>(data.a.shape());
    const tensor<double> atc = atr.contiguous(), utc = utr.contiguous(), aec = ate.contiguous(),
                         uec = ute.contiguous();
    std::copy(atc.data(), atc.data() + c.ntrain * KK, data.a.data());
    std::copy(utc.data(), utc.data() + c.ntrain * KK, data.u.data());
    std::copy(aec.data(), aec.data() + c.ntest * KK, data.a.data() + c.ntrain * KK);
    std::copy(uec.data(), uec.data() + c.ntest * KK, data.u.data() + c.ntrain * KK);
    std::printf("data from %s: %lld train / %lld test at %lld×%lld\n", c.data.c_str(),
                (long long)c.ntrain, (long long)c.ntest, (long long)c.res, (long long)c.res);
  }
  const index_t K = c.res, P = K * K;
  if (!c.write_data.empty()) {
    std::filesystem::create_directories(c.write_data);
    const auto part = [&](const tensor<double>& x, index_t lo, index_t hi) {
      tensor<double> o(shape_t{hi - lo, K, K});
      std::copy(x.data() + lo * P, x.data() + hi * P, o.data());
      return o;
    };
    const index_t n = c.ntrain + c.ntest;
    tessera::io::save_npy(c.write_data + "/a_train.npy", part(data.a, 0, c.ntrain));
    tessera::io::save_npy(c.write_data + "/u_train.npy", part(data.u, 0, c.ntrain));
    tessera::io::save_npy(c.write_data + "/a_test.npy", part(data.a, c.ntrain, n));
    tessera::io::save_npy(c.write_data + "/u_test.npy", part(data.u, c.ntrain, n));
    std::printf("wrote %s/{a,u}_{train,test}.npy: %lld train / %lld test at %lld×%lld, %.1f s\n",
                c.write_data.c_str(), (long long)c.ntrain, (long long)c.ntest, (long long)K,
                (long long)K, seconds_since(t0));
    return 0;
  }
  tensor<T> a_all(shape_t{c.ntrain + c.ntest, K, K}), u_all(shape_t{c.ntrain + c.ntest, K, K});
  for (index_t i = 0; i < a_all.numel(); ++i) {
    a_all.data()[i] = static_cast<T>(data.a.data()[i]);
    u_all.data()[i] = static_cast<T>(data.u.data()[i]);
  }
  const auto split = [&](const tensor<T>& x, index_t lo, index_t hi) {
    tensor<T> o(shape_t{hi - lo, K, K});
    std::copy(x.data() + lo * P, x.data() + hi * P, o.data());
    return o;
  };
  const tensor<T> atr = split(a_all, 0, c.ntrain), ate = split(a_all, c.ntrain, c.ntrain + c.ntest);
  const tensor<T> ytr = split(u_all, 0, c.ntrain), yte = split(u_all, c.ntrain, c.ntrain + c.ntest);
  const normaliser an(atr), yn(ytr);
  tensor<T> ytr_obs = ytr.clone();
  if (c.noise > 0) {
    // Consecutive chunks as equal as ntrain allows (sizes differ by at most one), one per
    // variance in [0, 1e-9, 1e-8, ..., σ²_max] (the powers of ten below σ²_max, then σ²_max
    // itself); Gaussian noise on the normalised targets, decoded back (test data stay clean).
    const std::vector<double> vars = noise_variances(c.noise);
    const index_t V = static_cast<index_t>(vars.size());  // ≤ ntrain (check_config)
    const auto chunk_of = [&](index_t n) { return static_cast<std::size_t>(n * V / c.ntrain); };
    const tensor<T> eps = tessera::randn<T>(shape_t{c.ntrain, K, K}, gen);
    for (index_t n = 0; n < c.ntrain; ++n) {
      const double sd = std::sqrt(vars[chunk_of(n)]);
      for (index_t p = 0; p < P; ++p)
        ytr_obs.data()[n * P + p] +=
            static_cast<T>(sd * eps.data()[n * P + p] * (yn.stdev.data()[p] + normaliser::eps));
    }
    double rel = 0;  // how large the noise is: mean ‖u_obs − u‖/‖u‖ over the noisiest chunk
    index_t cnt = 0;
    for (index_t n = 0; n < c.ntrain; ++n) {
      if (chunk_of(n) + 1 != vars.size()) continue;
      ++cnt;
      double nd = 0, nu = 0;
      for (index_t p = 0; p < P; ++p) {
        const double dv = ytr_obs.data()[n * P + p] - ytr.data()[n * P + p];
        nd += dv * dv;
        nu += double(ytr.data()[n * P + p]) * ytr.data()[n * P + p];
      }
      rel += std::sqrt(nd / nu);
    }
    std::printf(
        "noise: %zu chunks of %s samples; noisiest chunk (σ² = %g): mean relative L2 of the "
        "observations %.4f\n",
        vars.size(),
        (c.ntrain % V == 0 ? std::to_string(c.ntrain / V)
                           : std::to_string(c.ntrain / V) + "–" + std::to_string(c.ntrain / V + 1))
            .c_str(),
        vars.back(), cnt ? rel / double(cnt) : 0.0);
  }
  double umax = 0;
  for (index_t i = 0; i < u_all.numel(); ++i) umax = std::max(umax, double(u_all.data()[i]));
  std::printf("data: %.1f s (max u %.4f)\n", seconds_since(t0), umax);

  // The prepared data, (N, 1, K, K), handed to model.hpp's generic code.
  fno_deq::host_data hd;
  const auto nchw = [&](const tensor<T>& x) { return x.reshape(shape_t{x.size(0), 1, K, K}); };
  hd.xtr = nchw(an.encode(atr));
  hd.ytr_obs = nchw(ytr_obs);
  hd.xte = nchw(an.encode(ate));
  hd.yte = nchw(yte);
  hd.y_mean = yn.mean.reshape(shape_t{1, 1, K, K});
  hd.y_scale = yn.scale();
  c.run_id = run_identity(c, hd);

  if (c.time_steps > 0) {
#ifdef TESSERA_FNO_DEQ_CUDA
    if (on_gpu) return fno_deq_cuda::time_models(c, hd);
#endif
    return fno_deq::time_models<tessera::host>(c, hd);
  }
  std::filesystem::create_directories(c.out);
  fno_deq::report rep;
  int rc = 0;
#ifdef TESSERA_FNO_DEQ_CUDA
  if (on_gpu) rc = fno_deq_cuda::train_models(c, hd, rep);
#endif
  if (!on_gpu) rc = fno_deq::train_models<tessera::host>(c, hd, rep);
  if (rc != 0) return rc;
  const auto& results = rep.results;
  for (const auto& r : results) {  // test sample 0: a, u, û, |û − u|
    std::vector<double> truth(yte.data(), yte.data() + P), err(P);
    for (index_t p = 0; p < P; ++p) err[p] = std::abs(r.pred0[p] - truth[p]);
    std::vector<double> coef(ate.data(), ate.data() + P);
    const std::string f = c.out + "/prediction_" + r.key + ".png";
    if (!write_panels(f, {coef, truth, r.pred0, err}, K))
      std::fprintf(stderr, "fno_deq: cannot write %s\n", f.c_str());
  }

  // Individual figures of test sample 0.
  {
    std::vector<double> coef(ate.data(), ate.data() + P), truth(yte.data(), yte.data() + P);
    for (const auto& [name, field] :
         {std::pair{"coefficient", &coef}, std::pair{"solution", &truth}})
      if (const std::string f = c.out + "/" + name + ".png"; !write_panels(f, {*field}, K))
        std::fprintf(stderr, "fno_deq: cannot write %s\n", f.c_str());
  }

  // Training curves: this run's models into curves_<key>.csv, then curves.svg from every curve
  // file here of the same settings (the protocol trains each model in a process of its own).
  std::string curves_note;
  {
    char settings[256];
    std::snprintf(settings, sizeof settings,
                  "res=%lld ntrain=%lld ntest=%lld width=%lld modes=%lld batch=%lld epochs=%d "
                  "lr=%g noise=%g seed=%llu device=%s",
                  (long long)K, (long long)c.ntrain, (long long)c.ntest, (long long)c.width,
                  (long long)c.modes, (long long)c.batch, c.epochs, c.lr, c.noise,
                  (unsigned long long)c.seed, on_gpu ? "cuda" : "cpu");
    // A folder that cannot be written costs the curves, not the results table below.
    const auto written = [](const auto& write) {
      try {
        write();
        return true;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "fno_deq: %s; the curves are not written\n", e.what());
        return false;
      }
    };
    for (const auto& r : results)
      written([&] {
        fno_deq::write_curve(
            c.out + "/curves_" + r.key + ".csv",
            {.settings = settings, .key = r.key, .name = r.name, .epochs = r.history});
      });
    std::size_t drawn = 0;
    if (written([&] { drawn = fno_deq::draw_curves(c.out, fno_deq::spec_keys(), settings); }))
      curves_note = drawn > 0 ? std::to_string(drawn) + " model(s)" : "not drawn: no curve";
    else
      curves_note = "not written";
  }

  std::printf("\n== results (test relative L2, mean over %lld test samples; seed %llu) ==\n",
              (long long)c.ntest, (unsigned long long)c.seed);
  std::printf(
      "| model | params | test rel-L2 | ms/step | train s | paper params | paper rel-L2 (approx.) "
      "|\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : results) {
    // The paper's Darcy table (brief §3): FNO d = 1/2/4 ≈0.0080/0.0105/unstable, FNO++
    // ≈0.0075/0.0065/0.0064, FNO-WT ≈0.0055–0.006, FNO-DEQ ≈0.0055.
    const bool d2 = r.name.ends_with("(d=2)"), d4 = r.name.ends_with("(d=4)");
    const char* pp = d2 ? "4.15M" : d4 ? "7.71M" : "2.37M";
    const char* pe = r.name.starts_with("FNO-DEQ") ? "≈0.0055"
                     : r.name == "FNO-WT"          ? "≈0.0055–0.006"
                     : r.name.starts_with("FNO++") ? (d2   ? "≈0.0065"
                                                      : d4 ? "≈0.0064"
                                                           : "≈0.0075")
                                                   : (d2   ? "≈0.0105"
                                                      : d4 ? "unstable (≈0.25)"
                                                           : "≈0.0080");
    std::printf("| %s | %lld | %.4f | %s | %s | %s | %s |\n", r.name.c_str(), (long long)r.params,
                r.test_err, three_digits(r.step_ms).c_str(), three_digits(r.train_s).c_str(), pp,
                pe);
  }
  std::printf("(paper: Darcy 85×85, w=32, m=12, 1024 train, 500 epochs, mean of 3 seeds)\n");
  if (!std::isnan(rep.res_final) || !rep.gcos.empty()) {
    std::printf("\n== FNO-DEQ diagnostics ==\n");
    std::printf(
        "relative residual ‖f(z)−z‖/‖f(z)‖ after %d Anderson steps: init %.2e, final %.2e "
        "(paper ≈1e-2…1e-3)\n",
        c.solver_iters, rep.res_init, rep.res_final);
    if (!rep.gcos.empty())
      std::printf(
          "cosine(phantom grad, exact implicit grad) on one batch: %.4f (GMRES adjoint: "
          "%d iterations, residual %.2e)\n",
          rep.gcos[0], rep.adj ? rep.adj->iterations : 0, rep.adj ? rep.adj->residual : NAN);
  }
  std::printf(
      "figures: %s/{coefficient,solution,prediction_<model>}.png "
      "(prediction panels: a, u, û, |û−u|); %s/curves.svg (train and test rel-L2 per epoch, %s; "
      "the values in curves_<model>.csv)\n",
      c.out.c_str(), c.out.c_str(), curves_note.c_str());
  return 0;
}

int main(int argc, char** argv) {
  // Bad input (an unreadable --data or --checkpoint file, say) ends with its message, not an
  // abort.
  try {
    return fno_deq_main(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "fno_deq: out of memory: the sizes asked for (--res, --ntrain, --ntest, --width, "
                 "--batch) need more memory than this machine gives\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fno_deq: %s\n", e.what());
    return 1;
  }
}
