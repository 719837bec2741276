// SPDX-License-Identifier: Apache-2.0
// fno_deq --device cuda: FNO (d = 1), FNO++, FNO-WT and FNO-DEQ (Anderson, phantom gradient)
// training steps on the GPU with the same blocks, initialisation order, solver settings, loss,
// optimiser and batch sampling as main.cpp's time_model.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "block.hpp"
#include "cuda_timing.hpp"
#include "tessera/cuda/spectral.cuh"
#include "tessera/implicit.hpp"
#include "tessera/optim/adam.hpp"
#include "tessera/optim/param.hpp"
#include "tessera/optim/schedule.hpp"

namespace fno_deq_cuda {
namespace {

using tessera::index_t;
using tessera::shape_t;
using tessera::tensor;
namespace ad = tessera::ad;
namespace optim = tessera::optim;
namespace sp = tessera::spectral;
namespace im = tessera::implicit;
namespace cuda_rt = tessera::cuda_rt;
using T = float;
using S = tessera::cuda;
using var = ad::var<T, S>;
using dtensor = tensor<T, S>;

enum class kind { fno, fnopp, wt, deq };

// The block F_θ(z, x̃) with weights taken from θ: block.hpp (shared by the CPU and GPU paths).
using fno_deq_block::block_from;

/// main.cpp's `model` without the DEQ, on the GPU. Parameters are drawn in main.cpp's order
/// (lift, last layer, head, then the block) from the same seed, so both start alike.
struct model {
  kind k;
  int wt_unroll, solver_iters;
  sp::lifting<T, S> lift;
  sp::fourier_layer<T, S> last;
  sp::projection_head<T, S> head;
  sp::fourier_block<T, S> block;

  model(kind kk, const request& r, tessera::generator& gen)
      : k(kk),
        wt_unroll(r.wt_unroll),
        solver_iters(r.solver_iters),
        lift(1, r.width, r.pad, gen),
        last(r.width, r.modes, r.modes, true, gen),
        head(r.width, 1, r.pad, gen),
        block(r.width, r.modes, r.modes, gen, 3, true) {}

  std::vector<ad::parameter<T, S>*> parameters() {
    std::vector<ad::parameter<T, S>*> p = lift.parameters();
    sp::append_parameters(p, block.parameters());
    sp::append_parameters(p, last.parameters());
    sp::append_parameters(p, head.parameters());
    return p;
  }

  /// x (B, 1, K, K) normalised input → normalised prediction (B, 1, K, K).
  var operator()(const dtensor& x) {
    const var xt = lift(ad::constant(x));
    var z;
    if (k == kind::fno) {
      z = block(xt, var{});
    } else if (k == kind::deq) {
      // main.cpp's solver mode (after its warm-up): Anderson, full budget, phantom τ = 0.5, k = 1.
      std::vector<var> th;
      for (auto* p : block.parameters()) th.push_back((*p)());
      th.push_back(xt);
      im::options o;
      o.solver = {.method = im::solver_method::anderson,
                  .max_iter = solver_iters,
                  .abs_tol = 0,
                  .rel_tol = 0,
                  .full_budget = true,
                  .batched = false,
                  .history = 5,
                  .lambda = 1e-4,
                  .relative_lambda = false,
                  .mixing = 1.0};
      o.backward.mode = im::backward_mode::phantom;
      o.backward.phantom_tau = 0.5;
      o.backward.phantom_steps = 1;
      dtensor z0(xt.shape());
      z0.fill_(T(0));
      z = im::fixed_point(block_from<var>, z0, th, o).z;
    } else {
      dtensor zero(xt.shape());
      zero.fill_(T(0));
      z = ad::constant(zero);
      for (int i = 0; i < (k == kind::wt ? wt_unroll : 1); ++i) z = block(z, xt);
    }
    return head(last(z, var{}, false));
  }
};

/// Σ_b ‖pred_b − y_b‖ / ‖y_b‖ (main.cpp's rel_l2_sum), y (B, 1, K, K) on the device.
var rel_l2_sum(const var& pred, const dtensor& y) {
  const index_t B = y.size(0), P = y.numel() / B;
  const dtensor yf = y.reshape(shape_t{B, P});
  const dtensor inv_norm = rsqrt(sum(yf * yf, shape_t{1}));
  const var d = ad::reshape(pred - ad::constant(y), shape_t{B, P});
  return ad::sum(ad::sqrt(ad::sum(ad::square(d), shape_t{1})) * ad::constant(inv_norm));
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void time_one(kind k, const char* key, const request& r, const dtensor& x, const dtensor& y,
              const dtensor& scale, const dtensor& mean) {
  tessera::generator mg(r.seed + 100);  // main.cpp: the same initial weights for every model
  model m(k, r, mg);
  auto params = m.parameters();
  optim::adam<T, S> opt(optim::slots_of(params), {.lr = T(r.lr), .weight_decay = T(1e-4)});
  const int total = r.time_warmup + r.time_steps;
  const optim::cosine_annealing<T> sched(T(r.lr), total);
  tessera::generator gen(r.seed + 7);
  const index_t N = x.size(0), B = std::min(r.batch, N);
  std::vector<double> ms, cpu_ms;
  for (int s = 0; s < total; ++s) {
    // main.cpp's batch: B indices drawn uniformly with the library's generator.
    const tensor<T> u = tessera::rand<T>(shape_t{B}, gen);
    tensor<index_t> idx(shape_t{B});
    for (index_t i = 0; i < B; ++i)
      idx(i) = std::min<index_t>(N - 1, static_cast<index_t>(u(i) * static_cast<T>(N)));
    const tensor<index_t, S> di = tessera::to<S>(idx);
    cuda_rt::synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    {
      ad::scope sc;
      const dtensor xb = index_select(x, 0, di), yb = index_select(y, 0, di);
      const var pred = m(xb) * ad::constant(scale) + ad::constant(mean);  // decode
      const var l = rel_l2_sum(pred, yb);
      opt.zero_grad();
      ad::backward(l);
      opt.set_lr(sched(s));
      opt.step();
    }
    cuda_rt::synchronize();
    if (s >= r.time_warmup) {
      const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
      ms.push_back(1e3 * dt.count());
      cpu_ms.push_back(1e3 * (cpu_seconds() - c0));
    }
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  std::printf(
      "TIMING model=%s ms_per_step=%.4g min=%.4g max=%.4g cpu_ms_per_step=%.4g steps=%zu "
      "params=%lld device=cuda\n",
      key, ms[ms.size() / 2], ms.front(), ms.back(), cpu_ms[cpu_ms.size() / 2], ms.size(),
      static_cast<long long>(sp::parameter_count(params)));
  std::fflush(stdout);
}

}  // namespace

int time_models(const request& r) {
  if (!cuda_rt::device_available()) {
    std::fprintf(stderr, "fno_deq: --device cuda: no CUDA device is available\n");
    return 3;
  }
  if (r.time_steps <= 0) {
    std::fprintf(stderr, "fno_deq: --device cuda: --time-steps N must be positive\n");
    return 2;
  }
  // The batch indices are made in range here; skip the per-call check (a synchronisation).
  cuda_rt::set_check_indices(false);
  const index_t N = r.x_train.size(0), K = r.x_train.size(1), K2 = r.x_train.size(2);
  const dtensor x = tessera::to<S>(r.x_train.reshape(shape_t{N, 1, K, K2}));
  const dtensor y = tessera::to<S>(r.y_train.reshape(shape_t{N, 1, K, K2}));
  const dtensor scale = tessera::to<S>(r.y_scale.reshape(shape_t{1, 1, K, K2}));
  const dtensor mean = tessera::to<S>(r.y_mean.reshape(shape_t{1, 1, K, K2}));
  const auto has = [&](const std::string& key) {
    return ("," + r.models + ",").find("," + key + ",") != std::string::npos;
  };
  int timed = 0;
  const struct {
    const char* key;
    kind k;
  } specs[] = {{"fno", kind::fno}, {"fno++", kind::fnopp}, {"wt", kind::wt}, {"deq", kind::deq}};
  for (const auto& spec : specs) {
    if (!has(spec.key)) continue;
    // A failure of one model (this path's first runs are on the lead's GPU) is reported and
    // the others still run.
    try {
      time_one(spec.k, spec.key, r, x, y, scale, mean);
      ++timed;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "MISSING model=%s reason=failed on cuda: %s\n", spec.key, e.what());
    }
  }
  if (has("deq-ift"))  // main.cpp's time path skips it too (implicit mode is host-only on cuda)
    std::fprintf(stderr,
                 "MISSING model=deq-ift reason=implicit::fixed_point's implicit backward is "
                 "host-only\n");
  cuda_rt::set_check_indices(true);
  return timed > 0 ? 0 : 3;
}

}  // namespace fno_deq_cuda
