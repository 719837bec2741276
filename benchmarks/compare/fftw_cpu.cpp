// SPDX-License-Identifier: Apache-2.0
// tessera's own FFT (spectral::rfft2 / irfft2, mixed-radix Stockham on blocks of lines) against
// FFTW 3 (fftwf_plan_many_dft_r2c / c2r, rank 2) in one process, one thread, float, on the same
// data: the measurement behind docs/spectral.md's choice of the default host FFT. Built and run
// by fftw_cpu.sh (not part of the CMake build: FFTW is not a dependency of tessera).
// Shapes: the benchmark layer of benchmarks/spectral/cases.hpp, (16, 32, 64, 64), and the
// paper-scale FNO activation (32, 32, 94, 94) (85 + 9 padding; 94 = 2·47, a large prime factor).
// Output per shape and transform:
//   RESULT case=<rfft2|irfft2>_<H>x<W> tessera=<ms> fftw=<ms> unit=ms ratio=<tessera/fftw>
// (medians of --reps repetitions of process CPU time, each at least --min-time seconds), then
// CHECK lines with the largest difference between the two results relative to the largest
// magnitude, and the FFTW planning time. Built with TESSERA_USE_FFTW and TESSERA_USE_EIGEN_FFT:
// the `tessera` column is the builtin engine (selected with spectral::fft_engine_guard), and a
// second pair of lines
//   RESULT case=<rfft2|irfft2>_<H>x<W>_fftw_engine tessera=<ms> fftw=<ms> unit=ms ratio=...
// times the same calls on tessera's FFTW engine (guru plans over the tensors' layout,
// FFTW_ESTIMATE, or FFTW_MEASURE with --engine-measure; tensors allocated per call) against the
// raw planned FFTW calls (FFTW_MEASURE, or FFTW_ESTIMATE with --estimate), and a third pair,
// `_eigen_engine`, the same calls on the engine of Eigen's FFT module (kissfft).
#include <fftw3.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "../ad/cases.hpp"  // fill_uniform
#include "tessera/core.hpp"
#include "tessera/spectral.hpp"

namespace {

using tessera::index_t;
using tessera::shape_t;
using tessera::tensor;

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// Median over `reps` repetitions of the CPU time per call of f, in ms; each repetition runs
/// enough calls to last `min_time` seconds.
double measure(int reps, double min_time, const std::function<void()>& f) {
  double t0 = cpu_now();
  long calls = 0;
  while (calls < 2 || cpu_now() - t0 < 0.2) {
    f();
    ++calls;
  }
  const long iters =
      std::max(1L, static_cast<long>(std::ceil(min_time / ((cpu_now() - t0) / double(calls)))));
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    const double c0 = cpu_now();
    for (long i = 0; i < iters; ++i) f();
    ms.push_back(1e3 * (cpu_now() - c0) / static_cast<double>(iters));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void run_shape(index_t B, index_t C, index_t H, index_t W, int reps, double min_time,
               unsigned flags, const char* flag_name) {
  const index_t lines = B * C, Wc = W / 2 + 1;
  tensor<float> x(shape_t{B, C, H, W});
  tessera_bench::fill_uniform(x.data(), static_cast<std::size_t>(x.numel()), 41, -1.f, 1.f);

  // FFTW: out-of-place batched 2-d transforms over the last two axes, planned once.
  float* in = fftwf_alloc_real(static_cast<std::size_t>(x.numel()));
  fftwf_complex* spec = fftwf_alloc_complex(static_cast<std::size_t>(lines * H * Wc));
  float* back = fftwf_alloc_real(static_cast<std::size_t>(x.numel()));
  const int n[2] = {static_cast<int>(H), static_cast<int>(W)};
  double p0 = cpu_now();
  fftwf_plan fwd = fftwf_plan_many_dft_r2c(2, n, static_cast<int>(lines), in, nullptr, 1,
                                           static_cast<int>(H * W), spec, nullptr, 1,
                                           static_cast<int>(H * Wc), flags);
  fftwf_plan inv = fftwf_plan_many_dft_c2r(2, n, static_cast<int>(lines), spec, nullptr, 1,
                                           static_cast<int>(H * Wc), back, nullptr, 1,
                                           static_cast<int>(H * W), flags);
  const double plan_ms = 1e3 * (cpu_now() - p0);
  if (!fwd || !inv) {
    std::fprintf(stderr, "fftw_cpu: planning failed\n");
    std::exit(1);
  }
  std::copy(x.data(), x.data() + x.numel(), in);  // after planning (MEASURE overwrites)

  namespace sp = tessera::spectral;
  const sp::fft_engine_guard builtin(sp::fft_engine::builtin);
  const tensor<float> X = sp::rfft2(x);  // (B, C, H, Wc, 2)
  fftwf_execute(fwd);
  double diff = 0, mag = 0;
  for (index_t i = 0; i < lines * H * Wc; ++i)
    for (int k = 0; k < 2; ++k) {
      diff = std::max(diff, double(std::abs(X.data()[2 * i + k] - spec[i][k])));
      mag = std::max(mag, double(std::abs(spec[i][k])));
    }
  // irfft2: tessera scales by 1/(H W) (numpy "backward"); FFTW's c2r is unnormalised.
  const tensor<float> y = sp::irfft2(X, shape_t{H, W});
  fftwf_execute(inv);
  double diff_inv = 0;
  const double scale = 1.0 / static_cast<double>(H * W);
  for (index_t i = 0; i < x.numel(); ++i)
    diff_inv = std::max(diff_inv, std::abs(double(y.data()[i]) - scale * back[i]));

  const double t_rfft = measure(reps, min_time, [&] {
    const tensor<float> r = sp::rfft2(x);
    (void)r;
  });
  const double f_rfft = measure(reps, min_time, [&] { fftwf_execute(fwd); });
  const double t_irfft = measure(reps, min_time, [&] {
    const tensor<float> r = sp::irfft2(X, shape_t{H, W});
    (void)r;
  });
  // c2r destroys its input: restore the spectrum before each call, and time the copy alone.
  std::vector<float> saved(reinterpret_cast<float*>(spec),
                           reinterpret_cast<float*>(spec) + 2 * lines * H * Wc);
  const auto restore = [&] {
    std::copy(saved.begin(), saved.end(), reinterpret_cast<float*>(spec));
  };
  const double f_irfft_copy = measure(reps, min_time, [&] {
    restore();
    fftwf_execute(inv);
  });
  const double copy_ms = measure(reps, min_time, restore);
  const double f_irfft = f_irfft_copy - copy_ms;

  // The same calls on tessera's other engines (FFTW, Eigen's FFT), and their agreement with the
  // builtin engine.
  const std::string shp = std::to_string(H) + "x" + std::to_string(W);
  const auto engine_lines = [&](sp::fft_engine e, const char* name) {
    const sp::fft_engine_guard fe(e);
    const tensor<float> Xe = sp::rfft2(x);
    double d = 0;
    for (index_t i = 0; i < Xe.numel(); ++i)
      d = std::max(d, double(std::abs(Xe.data()[i] - X.data()[i])));
    const double t_r = measure(reps, min_time, [&] {
      const tensor<float> r = sp::rfft2(x);
      (void)r;
    });
    const double t_i = measure(reps, min_time, [&] {
      const tensor<float> r = sp::irfft2(X, shape_t{H, W});
      (void)r;
    });
    std::printf("RESULT case=rfft2_%s_%s_engine tessera=%.4g fftw=%.4g unit=ms ratio=%.3f\n",
                shp.c_str(), name, t_r, f_rfft, t_r / f_rfft);
    std::printf("RESULT case=irfft2_%s_%s_engine tessera=%.4g fftw=%.4g unit=ms ratio=%.3f\n",
                shp.c_str(), name, t_i, f_irfft, t_i / f_irfft);
    std::printf("CHECK %s_engine_vs_builtin_rfft2_maxdiff_rel=%.2e\n", name, d / mag);
  };
  engine_lines(sp::fft_engine::fftw, "fftw");
  engine_lines(sp::fft_engine::eigen, "eigen");
  std::printf("RESULT case=rfft2_%s tessera=%.4g fftw=%.4g unit=ms ratio=%.3f\n", shp.c_str(),
              t_rfft, f_rfft, t_rfft / f_rfft);
  std::printf("RESULT case=irfft2_%s tessera=%.4g fftw=%.4g unit=ms ratio=%.3f\n", shp.c_str(),
              t_irfft, f_irfft, t_irfft / f_irfft);
  std::printf(
      "CHECK shape=(%lld,%lld,%lld,%lld) rfft2_maxdiff_rel=%.2e irfft2_maxdiff=%.2e "
      "fftw_flags=%s fftw_plan_ms=%.1f irfft2_restore_copy_ms=%.3g\n",
      (long long)B, (long long)C, (long long)H, (long long)W, diff / mag, diff_inv, flag_name,
      plan_ms, copy_ms);
  std::fflush(stdout);
  fftwf_destroy_plan(fwd);
  fftwf_destroy_plan(inv);
  fftwf_free(in);
  fftwf_free(spec);
  fftwf_free(back);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  double min_time = 0.3;
  unsigned flags = FFTW_MEASURE;
  const char* flag_name = "FFTW_MEASURE";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc)
      reps = std::atoi(argv[++i]);
    else if (a == "--min-time" && i + 1 < argc)
      min_time = std::atof(argv[++i]);
    else if (a == "--estimate") {
      flags = FFTW_ESTIMATE;
      flag_name = "FFTW_ESTIMATE";
    } else if (a == "--engine-measure") {
      tessera::spectral::set_fftw_planning(tessera::spectral::fftw_planning::measure);
    } else {
      std::fprintf(stderr,
                   "usage: fftw_cpu [--reps N] [--min-time S] [--estimate] [--engine-measure]\n");
      return 2;
    }
  }
  std::printf("INFO fftw=%s tessera_threads=%s\n", fftwf_version,
              std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "default");
  run_shape(16, 32, 64, 64, reps, min_time, flags, flag_name);
  run_shape(32, 32, 94, 94, reps, min_time, flags, flag_name);
  return 0;
}
