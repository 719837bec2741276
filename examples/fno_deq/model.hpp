// SPDX-License-Identifier: Apache-2.0
// The FNO-DEQ example's models (FNO, FNO++, FNO-WT, FNO-DEQ), training step, training loop,
// evaluation, step timing and DEQ diagnostics, written once and generic over the memory space
// S: main.cpp instantiates them for tessera::host, device.cu for tessera::cuda. The data are
// prepared on the host (main.cpp) and handed over as host_data; everything from there on runs
// in S, with only scalars (losses, residual norms) and test sample 0's prediction copied back.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "block.hpp"
#include "curves.hpp"
#include "tessera/core.hpp"
#include "tessera/implicit.hpp"
#include "tessera/io/npy.hpp"
#include "tessera/ops/indexing.hpp"
#include "tessera/optim/adam.hpp"
#include "tessera/optim/param.hpp"
#include "tessera/optim/schedule.hpp"
#include "tessera/spectral/fno.hpp"

namespace fno_deq {

using tessera::index_t;
using tessera::shape_t;
using tessera::tensor;
namespace ad = tessera::ad;
namespace optim = tessera::optim;
namespace sp = tessera::spectral;
namespace im = tessera::implicit;
using T = float;
using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Process CPU time, s (the metric for a shared host).
inline double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct config {
  std::string scale = "cpu";
  // CPU scale. Batch 4 and a peak learning rate of 2e-2 (cosine-annealed per step) instead of
  // the paper's 32 and 1e-3: in the few hundred steps a CPU run affords, the paper's schedule
  // leaves the error at 0.17–0.25 (PyTorch on the same data and settings agrees; see README).
  index_t res = 24, ntrain = 256, ntest = 64, width = 8, modes = 6, batch = 4, pad = 9;
  int epochs = 6;
  int wt_unroll = 12;     // FNO-WT unrolled block applications (paper: Darcy 12)
  int solver_iters = 12;  // Anderson budget (full budget, as the reference)
  int warmup_steps = 16;  // DEQ warm-up: unrolled ×8 from z = 0 (paper: 300 steps)
  int warmup_unroll = 8;
  double noise = 0;  // σ²_max for noisy observations (0: clean)
  std::uint64_t seed = 0;
  std::string models = "fno,fno++,wt,deq,deq-ift";
  std::string out = "out/fno_deq";
  int threads = 1;   // OpenMP threads (1: these tensors are small; see README)
  double lr = 2e-2;  // Adam's peak learning rate (cosine-annealed per step to 0; paper 1e-3)
  // > 0: stop training after the first epoch at whose end this many seconds of training
  // (evaluation excluded) have passed; the cosine schedule still spans `epochs` epochs
  // (benchmarks/compare/fno_torch.py --seconds does the same).
  double train_seconds = 0;
  // Non-empty: save each model's training state to checkpoint/<key>/ every checkpoint_every
  // epochs (and at the last epoch, and when train_seconds stops training), and resume from it
  // when it is there (see checkpoint_io below).
  std::string checkpoint;
  int checkpoint_every = 10;
  // What a checkpoint must have been written by to be resumed: the settings that shape the
  // training run and a hash of its data (main.cpp's run_identity). A checkpoint of another
  // run is refused, not silently continued on other data or settings.
  std::string run_id;
  // Epochs between the per-epoch evaluations (test rel-L2, the DEQ's residual): 1 evaluates
  // every epoch; the last epoch (and the one where --train-seconds stops) always is. The final
  // evaluation after training does not depend on it.
  int eval_every = 1;
  std::string write_data, data;  // folders of .npy files (see main.cpp's file comment)
  int time_steps = 0, time_warmup = 5;
  std::string device = "cpu";
  // cuda: the DEQ's Anderson solve replays its block from a CUDA graph captured once per solve
  // (implicit::solver_options::graph; the same kernels, so the same results).
  bool graph_solve = true;
  // cuda: the spectral convolutions' truncated DFTs by the fused kernels (recorded or not), or
  // always by cuBLAS GEMMs (--fused-dft off).
  bool fused_dft = true;
  // cuda: the Fourier layers' products with their GELU (and the skip product) as single kernels
  // where nothing is recorded, or as cuBLAS GEMMs followed by add_gelu (--fused-pointwise off).
  bool fused_pointwise = true;
  // cuda: the DEQ's solve keeps its per-iteration decisions on the device (residuals, best
  // iterate, Anderson's small systems: implicit::solver_options::device_resident), so the host
  // never waits inside the solve (the same results up to rounding), or waits once per
  // iteration for the dot products (--resident-solve off).
  bool resident_solve = true;
  [[nodiscard]] tessera::spectral::spectral_method spectral_method() const {
    return fused_dft ? tessera::spectral::spectral_method::truncated_dft
                     : tessera::spectral::spectral_method::truncated_dft_gemm;
  }

  [[nodiscard]] bool has(const std::string& key) const {
    return ("," + models + ",").find("," + key + ",") != std::string::npos;
  }
};

enum class kind { fno, fnopp, wt, deq };

struct model_spec {
  const char* key;
  const char* name;
  kind k;
  im::backward_mode mode;
  int depth = 1;  // FNO / FNO++: distinct 3-layer blocks in a row (the paper's d)
};

inline constexpr model_spec specs[] = {
    {"fno", "FNO (d=1)", kind::fno, im::backward_mode::phantom},
    {"fno++", "FNO++ (d=1)", kind::fnopp, im::backward_mode::phantom},
    {"fno2", "FNO (d=2)", kind::fno, im::backward_mode::phantom, 2},
    {"fno++2", "FNO++ (d=2)", kind::fnopp, im::backward_mode::phantom, 2},
    {"fno4", "FNO (d=4)", kind::fno, im::backward_mode::phantom, 4},
    {"fno++4", "FNO++ (d=4)", kind::fnopp, im::backward_mode::phantom, 4},
    {"wt", "FNO-WT", kind::wt, im::backward_mode::phantom},
    {"deq", "FNO-DEQ (phantom)", kind::deq, im::backward_mode::phantom},
    {"deq-ift", "FNO-DEQ (implicit)", kind::deq, im::backward_mode::implicit},
};

/// The models' keys in the order of `specs` (the order of the tables and of curves.svg).
inline std::vector<std::string> spec_keys() {
  std::vector<std::string> keys;
  for (const model_spec& s : specs) keys.emplace_back(s.key);
  return keys;
}

/// The prepared data on the host (main.cpp): x normalised, y raw (ytr_obs: the training
/// observations, noisy with --noise), all (N, 1, K, K); the target normaliser's decode
/// y = ŷ · y_scale + y_mean with y_scale = std + eps, both (1, 1, K, K).
struct host_data {
  tensor<T> xtr, ytr_obs, xte, yte, y_mean, y_scale;
};

struct run_result {
  std::string key, name;
  index_t params = 0, steps = 0;
  int epochs = 0;
  double test_err = 0, step_ms = 0, train_s = 0;
  double loop_s = 0;  // training loops only (evaluation excluded): fno_torch.py's train_s
  double residual = NAN;
  std::vector<double> pred0;          // prediction for test sample 0 (K·K, on the host)
  std::vector<epoch_record> history;  // every epoch so far, resumed ones included
};

/// What a training run hands back to main.cpp for the table, the diagnostics and the figures.
struct report {
  std::vector<run_result> results;
  double res_init = NAN, res_final = NAN;  // DEQ relative residual at init / after training
  std::vector<double> gcos;                // cosine(phantom, exact implicit gradient)
  std::shared_ptr<const im::solve_result> adj;
};

/// Per memory space: sync() waits for the space's queued work; marks records time points
/// (record(i)) and reports elapsed milliseconds between two (ms(i, j), after sync()). The host
/// form is here; device.cu specialises it for tessera::cuda with CUDA events.
template <class S>
struct space_ops;

template <>
struct space_ops<tessera::host> {
  static void sync() {}
  class marks {
   public:
    explicit marks(int n) : t_(static_cast<std::size_t>(n)) {}
    void record(int i) { t_[static_cast<std::size_t>(i)] = clock_type::now(); }
    [[nodiscard]] double ms(int i, int j) const {
      return 1e3 * std::chrono::duration<double>(t_[static_cast<std::size_t>(j)] -
                                                 t_[static_cast<std::size_t>(i)])
                       .count();
    }

   private:
    std::vector<clock_type::time_point> t_;
  };
};

/// Zeros of `shape` in S.
template <class S>
tensor<T, S> zeros_in(const shape_t& shape) {
  tensor<T, S> z(shape);
  z.fill_(T(0));
  return z;
}

/// The single value of a one-element tensor in S, on the host.
template <class S>
double scalar(const tensor<T, S>& x) {
  return static_cast<double>(tessera::to<tessera::host>(x).item());
}

/// Per-sample 1/‖y_b‖ (axis 0) of an (N, ...) host tensor, in double, as float.
inline tensor<T> inverse_norms(const tensor<T>& y) {
  const index_t B = y.size(0), P = y.numel() / B;
  const tensor<T> yc = y.contiguous();
  tensor<T> inv_norm(shape_t{B});
  for (index_t b = 0; b < B; ++b) {
    double s = 0;
    for (index_t p = 0; p < P; ++p) s += double(yc.data()[b * P + p]) * yc.data()[b * P + p];
    inv_norm.data()[b] = static_cast<T>(1.0 / std::sqrt(s));
  }
  return inv_norm;
}

/// The data in S, with the targets' inverse norms precomputed on the host.
template <class S>
struct data {
  using var = ad::var<T, S>;
  tensor<T, S> xtr, ytr, tr_inv_norm, xte, yte, te_inv_norm, y_mean, y_scale;

  explicit data(const host_data& h)
      : xtr(tessera::to<S>(h.xtr)),
        ytr(tessera::to<S>(h.ytr_obs)),
        tr_inv_norm(tessera::to<S>(inverse_norms(h.ytr_obs))),
        xte(tessera::to<S>(h.xte)),
        yte(tessera::to<S>(h.yte)),
        te_inv_norm(tessera::to<S>(inverse_norms(h.yte))),
        y_mean(tessera::to<S>(h.y_mean)),
        y_scale(tessera::to<S>(h.y_scale)) {}

  /// Differentiable decode of (B, 1, K, K) normalised predictions.
  [[nodiscard]] var decode(const var& y) const {
    return y * ad::constant(y_scale) + ad::constant(y_mean);
  }
};

/// Rows [lo, hi) of x along axis 0, as a fresh contiguous tensor.
template <class S>
tensor<T, S> rows(const tensor<T, S>& x, index_t lo, index_t hi) {
  return x.slice(0, lo, hi).clone();
}

/// Per-sample relative L2 ‖û − u‖/‖u‖, summed over the batch (the paper's training loss);
/// inv_norm (B) holds 1/‖u_b‖.
template <class S>
ad::var<T, S> rel_l2_sum(const ad::var<T, S>& pred, const tensor<T, S>& truth,
                         const tensor<T, S>& inv_norm) {
  const index_t B = truth.size(0), P = truth.numel() / B;
  const ad::var<T, S> d = ad::reshape(pred - ad::constant(truth), shape_t{B, P});
  return ad::sum(ad::sqrt(ad::sum(ad::square(d), shape_t{1})) * ad::constant(inv_norm));
}

// The block F_θ(z, x̃) with weights taken from θ: block.hpp.
using fno_deq_block::block_from;

/// Anderson as the reference runs it (m = 5, λ = 1e-4 absolute, β = 1, full budget, one
/// batch-Frobenius residual).
inline im::solver_options reference_anderson(int iters) {
  return {.method = im::solver_method::anderson,
          .max_iter = iters,
          .abs_tol = 0,
          .rel_tol = 0,
          .full_budget = true,
          .batched = false,
          .history = 5,
          .lambda = 1e-4,
          .relative_lambda = false,
          .mixing = 1.0};
}

template <class S>
struct model {
  using var = ad::var<T, S>;
  std::string name;
  kind k;
  im::backward_mode mode = im::backward_mode::phantom;
  // Declaration order = initialisation order = the order the weights are drawn from the
  // generator (lift, last layer, head, block): every model, in every space, starts alike.
  sp::lifting<T, S> lift;
  sp::fourier_layer<T, S> last;
  sp::projection_head<T, S> head;
  sp::fourier_block<T, S> block;
  // FNO / FNO++ with d > 1: blocks 2 … d, drawn after everything else (so the first block and
  // the rest start as in the d = 1 models).
  std::vector<sp::fourier_block<T, S>> deeper;
  const config& cfg;
  // Diagnostics of the latest DEQ forward.
  im::solve_result info;
  // Called with 1 after the trunk (the DEQ's solve) of each forward (step timing).
  std::function<void(int)> mark;

  model(std::string n, kind kk, const config& c, tessera::generator& gen, int depth = 1)
      : name(std::move(n)),
        k(kk),
        lift(1, c.width, c.pad, gen),
        last(c.width, c.modes, c.modes, true, gen),
        head(c.width, 1, c.pad, gen),
        block(c.width, c.modes, c.modes, gen, 3, true),
        cfg(c) {
    deeper.reserve(static_cast<std::size_t>(depth > 1 ? depth - 1 : 0));
    for (int i = 1; i < depth; ++i) deeper.emplace_back(c.width, c.modes, c.modes, gen, 3, true);
    const auto configure = [&c](sp::fourier_layer<T, S>& l) {
      l.spectral.method = c.spectral_method();
      l.fused_pointwise = c.fused_pointwise;
    };
    configure(last);
    for (auto& l : block.layers) configure(l);
    for (auto& b : deeper)
      for (auto& l : b.layers) configure(l);
  }

  /// The DEQ's map f(z, θ): the block from θ with the configured kernels; with `prepared`
  /// (prepare_block(θ) for the θ of one solve) its unrecorded applications take the prepared
  /// weights. The map owns them (shared, so that copies of the map stay cheap and valid).
  [[nodiscard]] auto block_map(
      std::vector<fno_deq_block::prepared_layer<var>> prepared = {}) const {
    return [m = cfg.spectral_method(), p = cfg.fused_pointwise,
            prep = std::make_shared<const std::vector<fno_deq_block::prepared_layer<var>>>(
                std::move(prepared))](const var& z, const std::vector<var>& th) {
      return block_from(z, th, m, p, prep->empty() ? nullptr : prep.get());
    };
  }

  std::vector<ad::parameter<T, S>*> parameters() {
    std::vector<ad::parameter<T, S>*> p = lift.parameters();
    sp::append_parameters(p, block.parameters());
    for (auto& b : deeper) sp::append_parameters(p, b.parameters());
    sp::append_parameters(p, last.parameters());
    sp::append_parameters(p, head.parameters());
    return p;
  }

  std::vector<var> theta(const var& inj) {
    std::vector<var> th;
    for (auto* p : block.parameters()) th.push_back((*p)());
    th.push_back(inj);
    return th;
  }

  /// step: the optimiser step (< warmup_steps: the DEQ's unrolled warm-up); < 0: evaluation.
  var trunk(const var& xt, index_t step) {
    switch (k) {
      case kind::fno: {  // input x̃, no injection, d blocks in a row
        var z = block(xt, var{});
        for (const auto& b : deeper) z = b(z, var{});
        return z;
      }
      case kind::fnopp: {  // from z = 0, x̃ injected in every layer of the d blocks
        var z = block(ad::constant(zeros_in<S>(xt.shape())), xt);
        for (const auto& b : deeper) z = b(z, xt);
        return z;
      }
      case kind::wt: {
        var z = ad::constant(zeros_in<S>(xt.shape()));
        for (int i = 0; i < cfg.wt_unroll; ++i) z = block(z, xt);
        return z;
      }
      case kind::deq: {
        const std::vector<var> th = theta(xt);
        im::options o;
        o.solver = reference_anderson(cfg.solver_iters);
        o.solver.graph = cfg.graph_solve;
        o.solver.device_resident = cfg.resident_solve;
        o.backward.mode = mode;
        o.backward.phantom_tau = 0.5;
        o.backward.phantom_steps = 1;
        o.backward.method = im::adjoint_method::anderson;  // the reference's adjoint solver
        o.backward.max_iter = cfg.solver_iters;
        o.backward.abs_tol = 0;
        o.backward.rel_tol = 1e-4;
        const bool warmup = step >= 0 && step < cfg.warmup_steps;
        if (warmup) {  // warm-up: unrolled from z = 0 (recorded)
          o.backward.mode = im::backward_mode::unroll;
          o.backward.unroll_steps = cfg.warmup_unroll;
        }
        // The solve applies the block cfg.solver_iters times with the same weights: what each
        // layer derives from them is computed once (not for the recorded warm-up).
        auto r =
            im::fixed_point(block_map(warmup ? std::vector<fno_deq_block::prepared_layer<var>>{}
                                             : fno_deq_block::prepare_block(th)),
                            zeros_in<S>(xt.shape()), th, o);
        info = r.info;
        return r.z;
      }
    }
    return {};
  }

  /// x (B, 1, K, K) normalised input → normalised prediction (B, 1, K, K). step < 0: evaluation.
  var operator()(const tensor<T, S>& x, index_t step) {
    const var xt = lift(ad::constant(x));
    const var z = trunk(xt, step);
    if (mark) mark(1);
    return head(last(z, var{}, false));
  }

  /// ‖f(z) − z‖/‖f(z)‖ of the solver's output, computed afresh (no_grad; norms on the host in
  /// double).
  double residual(const tensor<T, S>& x) {
    ad::scope s;
    ad::no_grad ng;
    const var xt = lift(ad::constant(x));
    const var z = trunk(xt, -1);
    const var fz = block_from(z, theta(xt), cfg.spectral_method(), cfg.fused_pointwise);
    const tensor<T> d = tessera::to<tessera::host>((fz - z).value()).contiguous(),
                    f = tessera::to<tessera::host>(fz.value()).contiguous();
    double nd = 0, nf = 0;
    for (index_t i = 0; i < d.numel(); ++i) {
      nd += double(d.data()[i]) * d.data()[i];
      nf += double(f.data()[i]) * f.data()[i];
    }
    return std::sqrt(nd / nf);
  }
};

/// One optimiser step on the batch idx (rows of the training set): forward, loss, backward,
/// Adam at learning rate lr. Returns the loss (summed over the batch) as a one-element tensor
/// in S (reading it waits for the step). With marks: 0 before the forward, 1 after the trunk,
/// 2 after the loss, 3 after the backward, 4 after the update.
template <class S>
tensor<T, S> train_step(model<S>& m, optim::adam<T, S>& opt, const data<S>& d,
                        const tensor<index_t, S>& idx, index_t step, T lr,
                        typename space_ops<S>::marks* marks = nullptr) {
  ad::scope sc;
  if (marks) {
    marks->record(0);
    m.mark = [marks](int i) { marks->record(i); };
  }
  const tensor<T, S> x = index_select(d.xtr, 0, idx), y = index_select(d.ytr, 0, idx),
                     inv = index_select(d.tr_inv_norm, 0, idx);
  const ad::var<T, S> l = rel_l2_sum(d.decode(m(x, step)), y, inv);
  if (marks) marks->record(2);
  opt.zero_grad();
  ad::backward(l);
  if (marks) marks->record(3);
  opt.set_lr(lr);
  opt.step();
  if (marks) {
    marks->record(4);
    m.mark = nullptr;
  }
  return l.value();
}

/// Mean test relative L2 (batches of c.batch); pred0: test sample 0's prediction (host).
template <class S>
double evaluate(model<S>& m, const data<S>& d, const config& c, std::vector<double>* pred0) {
  ad::no_grad ng;
  double err = 0;
  const index_t N = d.xte.size(0);
  for (index_t lo = 0; lo < N; lo += c.batch) {
    const index_t hi = std::min(N, lo + c.batch);
    ad::scope s;
    const tensor<T, S> y = rows(d.yte, lo, hi);
    const ad::var<T, S> pred = d.decode(m(rows(d.xte, lo, hi), -1));
    err += scalar(rel_l2_sum(pred, y, rows(d.te_inv_norm, lo, hi)).value());
    if (lo == 0 && pred0) {
      const tensor<T> p = tessera::to<tessera::host>(pred.value()).contiguous();
      pred0->assign(p.data(), p.data() + y.size(2) * y.size(3));
    }
  }
  return err / static_cast<double>(N);
}

/// The DEQ's residual on the first test batch.
template <class S>
double test_residual(model<S>& m, const data<S>& d, const config& c) {
  return m.residual(rows(d.xte, 0, std::min<index_t>(c.batch, d.xte.size(0))));
}

/// Where a training run stands between epochs (the counters of a checkpoint).
struct progress {
  int epoch = 0;                  ///< epochs completed
  index_t step = 0;               ///< optimiser steps completed
  std::uint64_t generator = 0;    ///< the shuffling generator's position
  double loop_s = 0;              ///< training seconds so far (evaluation excluded)
  index_t schedule_steps = 0;     ///< the cosine schedule's length (must not change)
  index_t batch = 0, ntrain = 0;  ///< must not change either
};

/// --checkpoint DIR: a model's training state in DIR/<key>/. The parameters and Adam's moments
/// go to slot a/ or b/ (p<i>.npy, m<i>.npy, v<i>.npy, float32) with the training curve so far
/// (history.csv, curves.hpp), always the slot the current state.txt does not name; then
/// state.txt, which names the complete slot with the run's identity (config::run_id), the
/// counters and Adam's step counts, is replaced atomically (written beside and renamed): a run
/// killed while saving leaves the previous checkpoint intact. Loading checks the identity,
/// every count and shape, and names the file at fault.
template <class S>
struct checkpoint_io {
  std::filesystem::path dir;
  std::vector<ad::parameter<T, S>*> params;
  optim::adam<T, S>& opt;
  std::string run_id;
  /// The slot the current state.txt names ("" before the first load or save).
  std::string slot_in_use;

  /// Saves the state after epoch pr.epoch, and the curve of epochs 1 … pr.epoch, into the slot
  /// state.txt does not name.
  void save(const progress& pr, const std::vector<epoch_record>& history) {
    namespace fs = std::filesystem;
    const std::string slot = slot_in_use == "a" ? "b" : "a";
    fs::create_directories(dir / slot);
    std::ostringstream st;
    st << "fno_deq checkpoint 2\nrun " << run_id << "\nslot " << slot << "\nepoch " << pr.epoch
       << "\nstep " << pr.step << "\ngenerator " << pr.generator << "\nloop_s " << pr.loop_s
       << "\nschedule_steps " << pr.schedule_steps << "\nbatch " << pr.batch << "\nntrain "
       << pr.ntrain << "\nparameters " << params.size() << "\nadam_steps";
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::string n = std::to_string(i) + ".npy";
      tessera::io::save_npy((dir / slot / ("p" + n)).string(),
                            tessera::to<tessera::host>(params[i]->value()));
      const optim::adam_state<T, S>& a = opt.state(i);
      st << ' ' << a.step;
      if (a.step == 0) continue;
      tessera::io::save_npy((dir / slot / ("m" + n)).string(),
                            tessera::to<tessera::host>(a.exp_avg));
      tessera::io::save_npy((dir / slot / ("v" + n)).string(),
                            tessera::to<tessera::host>(a.exp_avg_sq));
    }
    st << '\n';
    write_curve((dir / slot / "history.csv").string(), curve{.epochs = history});
    const fs::path tmp = dir / "state.txt.tmp";
    {
      std::ofstream f(tmp);
      f << st.str();
      if (!f.flush())
        tessera::throw_io_error("fno_deq --checkpoint", tmp.string(), ": cannot write");
    }
    fs::rename(tmp, dir / "state.txt");
    slot_in_use = slot;
  }

  /// Restores the parameters and Adam's state from DIR/<key>/ into the model and optimiser and
  /// returns the counters and the curve so far; false when there is no checkpoint. The
  /// checkpoint's run identity must be run_id, and its schedule length, batch and training-set
  /// size those of `expect`.
  bool load(const progress& expect, progress& pr, std::vector<epoch_record>& history) {
    namespace fs = std::filesystem;
    const fs::path state = dir / "state.txt";
    if (!fs::exists(state)) return false;
    const std::string where = state.string();
    std::ifstream f(state);
    std::string magic, word, slot;
    int version = 0;
    std::size_t nparams = 0;
    const auto bad = [&](const std::string& what) {
      tessera::throw_io_error("fno_deq --checkpoint", where, ": ", what);
    };
    if (!(f >> magic >> word >> version) || magic != "fno_deq" || word != "checkpoint")
      bad("not an fno_deq checkpoint");
    if (version == 1)
      bad("written by an fno_deq that did not record its run's settings and data (checkpoint "
          "version 1), so resuming it cannot be checked: remove " +
          dir.string() + " to start this model again");
    if (version != 2) bad("checkpoint version " + std::to_string(version) + ", expected 2");
    const auto field = [&](const char* name, auto& v) {
      if (!(f >> word) || word != name || !(f >> v))
        bad(std::string("missing or bad '") + name + "'");
    };
    std::string run;
    if (!(f >> word) || word != "run" || !std::getline(f, run) || run.size() < 2)
      bad("missing or bad 'run'");
    run.erase(0, 1);  // the space after "run"
    if (run != run_id)
      bad("written by another run (" + run + "); this run is " + run_id +
          " (resume with the same settings and data, or give another --checkpoint folder)");
    field("slot", slot);
    if (slot != "a" && slot != "b") bad("slot '" + slot + "' is neither a nor b");
    field("epoch", pr.epoch);
    field("step", pr.step);
    field("generator", pr.generator);
    field("loop_s", pr.loop_s);
    field("schedule_steps", pr.schedule_steps);
    field("batch", pr.batch);
    field("ntrain", pr.ntrain);
    field("parameters", nparams);
    if (pr.epoch < 0 || pr.step < 0) bad("negative epoch or step");
    if (pr.schedule_steps != expect.schedule_steps || pr.batch != expect.batch ||
        pr.ntrain != expect.ntrain)
      bad("written for a schedule of " + std::to_string(pr.schedule_steps) + " steps, batch " +
          std::to_string(pr.batch) + ", " + std::to_string(pr.ntrain) +
          " training samples; this run has " + std::to_string(expect.schedule_steps) + ", " +
          std::to_string(expect.batch) + ", " + std::to_string(expect.ntrain) +
          " (resume with the same --epochs, --batch and data)");
    if (nparams != params.size())
      bad("holds " + std::to_string(nparams) + " parameters, the model has " +
          std::to_string(params.size()));
    if (!(f >> word) || word != "adam_steps") bad("missing 'adam_steps'");
    std::vector<index_t> steps(nparams);
    for (auto& t : steps)
      if (!(f >> t) || t < 0) bad("bad Adam step count");
    const auto read = [&](const std::string& name, const shape_t& shape) {
      const std::string file = (dir / slot / name).string();
      const tensor<T> t = tessera::io::load_npy<T>(file);
      if (!(t.shape() == shape))
        tessera::throw_io_error("fno_deq --checkpoint", file, ": shape ", t.shape().str(),
                                ", the model's parameter has ", shape.str());
      return tessera::to<S>(t);
    };
    for (std::size_t i = 0; i < nparams; ++i) {
      const shape_t& shape = params[i]->value().shape();
      const std::string n = std::to_string(i) + ".npy";
      params[i]->value().copy_from(read("p" + n, shape));
      optim::adam_state<T, S> a;
      a.step = steps[i];
      if (a.step > 0) {
        a.exp_avg = read("m" + n, shape);
        a.exp_avg_sq = read("v" + n, shape);
      }
      opt.set_state(i, std::move(a));
    }
    const fs::path hist = dir / slot / "history.csv";
    history.clear();
    if (fs::exists(hist)) {
      history = read_curve(hist.string()).epochs;
      if (history.size() != static_cast<std::size_t>(pr.epoch))
        tessera::throw_io_error("fno_deq --checkpoint", hist.string(), ": holds ", history.size(),
                                " epochs, ", where, " says ", pr.epoch);
    } else {
      for (int e = 1; e <= pr.epoch; ++e) history.push_back(epoch_record{.epoch = e});
    }
    slot_in_use = slot;
    return true;
  }
};

/// Trains c.epochs epochs (or until c.train_seconds of training), printing each epoch's train
/// and test relative L2, then evaluates.
template <class S>
run_result train(model<S>& m, const data<S>& d, const config& c, std::uint64_t seed,
                 const std::string& key) {
  run_result r;
  r.name = m.name;
  auto params = m.parameters();
  r.params = sp::parameter_count(params);
  optim::adam<T, S> opt(optim::slots_of(params), {.lr = T(c.lr), .weight_decay = T(1e-4)});
  const index_t N = d.xtr.size(0), spe = (N + c.batch - 1) / c.batch;
  const optim::cosine_annealing<T> sched(T(c.lr), spe * c.epochs);
  tessera::generator gen(seed);
  index_t step = 0;
  double step_time = 0;
  std::printf("\n-- %s: %lld parameters --\n", m.name.c_str(), static_cast<long long>(r.params));
  progress pr{.schedule_steps = spe * c.epochs, .batch = c.batch, .ntrain = N};
  checkpoint_io<S> ck{std::filesystem::path(c.checkpoint) / key, params, opt, c.run_id, {}};
  if (const progress expect = pr; !c.checkpoint.empty() && ck.load(expect, pr, r.history)) {
    gen.set_position(pr.generator);
    step = pr.step;
    r.loop_s = pr.loop_s;
    r.epochs = pr.epoch;
    std::printf("  resumed from %s at epoch %d (step %lld, %.1f s of training)\n",
                ck.dir.string().c_str(), pr.epoch, static_cast<long long>(step), pr.loop_s);
  }
  const auto t_all = clock_type::now();
  const index_t first_step = step;
  const double loop_s0 = r.loop_s;  // --train-seconds counts this run's training only
  for (int e = pr.epoch + 1; e <= c.epochs; ++e) {
    const auto t0 = clock_type::now();
    // Shuffle with the library's generator (on the host), then move the order to S.
    const tensor<T> u = tessera::rand<T>(shape_t{N}, gen);
    tensor<index_t> idx(shape_t{N});
    for (index_t i = 0; i < N; ++i) idx.data()[i] = i;
    std::sort(idx.data(), idx.data() + N, [&](index_t a, index_t b) { return u(a) < u(b); });
    const tensor<index_t, S> order = tessera::to<S>(idx);
    double loss = 0;
    for (index_t lo = 0; lo < N; lo += c.batch, ++step) {
      const index_t hi = std::min(N, lo + c.batch);
      const auto ts = clock_type::now();
      loss += scalar(train_step(m, opt, d, order.slice(0, lo, hi), step, sched(step)));
      step_time += seconds_since(ts);
    }
    const double train_s = seconds_since(t0);
    r.loop_s += train_s;
    r.epochs = e;
    const bool out_of_time = c.train_seconds > 0 && r.loop_s - loop_s0 >= c.train_seconds;
    epoch_record rec{.epoch = e, .train = loss / static_cast<double>(N), .seconds = train_s};
    if (e % c.eval_every == 0 || e == c.epochs || out_of_time) {
      rec.test = evaluate(m, d, c, nullptr);
      char extra[96] = "";
      if (m.k == kind::deq) {
        rec.residual = test_residual(m, d, c);
        std::snprintf(extra, sizeof extra, "  residual %.1e%s", rec.residual,
                      step <= c.warmup_steps ? "  (warm-up: unrolled)" : "");
      }
      std::printf("  epoch %3d  train rel-L2 %.4f  test rel-L2 %.4f  %.1f s%s\n", e, rec.train,
                  rec.test, train_s, extra);
    } else {
      std::printf("  epoch %3d  train rel-L2 %.4f  %.1f s\n", e, rec.train, train_s);
    }
    std::fflush(stdout);
    r.history.push_back(rec);
    if (!c.checkpoint.empty() && (e % c.checkpoint_every == 0 || e == c.epochs || out_of_time)) {
      pr.epoch = e;
      pr.step = step;
      pr.generator = gen.position();
      pr.loop_s = r.loop_s;
      ck.save(pr, r.history);
    }
    if (out_of_time) break;
  }
  r.steps = step;
  r.train_s = seconds_since(t_all);
  r.step_ms = step > first_step ? 1e3 * step_time / static_cast<double>(step - first_step) : 0;
  r.test_err = evaluate(m, d, c, &r.pred0);
  if (m.k == kind::deq) r.residual = test_residual(m, d, c);
  return r;
}

/// The median of v (sorted in place).
inline double median(std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Times c.time_steps optimiser steps after c.time_warmup untimed ones, on random batches; the
/// DEQ runs in solver mode (its cost after the warm-up phase). Wall clock with S synchronised
/// before and after each step; the phases (space_ops<S>::marks: CUDA events on the device)
/// split it into forward to the trunk's output (lift + the DEQ's Anderson solve and phantom
/// forward), head and loss, backward, and the optimiser. Prints one TIMING line.
template <class S>
void time_model(model<S>& m, const char* key, const data<S>& d, const config& c) {
  auto params = m.parameters();
  optim::adam<T, S> opt(optim::slots_of(params), {.lr = T(c.lr), .weight_decay = T(1e-4)});
  const int total = c.time_warmup + c.time_steps;
  const optim::cosine_annealing<T> sched(T(c.lr), total);
  tessera::generator gen(c.seed + 7);
  const index_t N = d.xtr.size(0), B = std::min(c.batch, N);
  std::vector<double> ms, cpu_ms, ph[4];
  double loss_first = 0, loss_last = 0;
  typename space_ops<S>::marks marks(5);
  for (int s = 0; s < total; ++s) {
    // B indices drawn uniformly with the library's generator.
    const tensor<T> u = tessera::rand<T>(shape_t{B}, gen);
    tensor<index_t> idx(shape_t{B});
    for (index_t i = 0; i < B; ++i)
      idx.data()[i] = std::min<index_t>(N - 1, static_cast<index_t>(u(i) * static_cast<T>(N)));
    const tensor<index_t, S> di = tessera::to<S>(idx);
    space_ops<S>::sync();
    const auto ts = clock_type::now();
    const double c0 = cpu_seconds();
    const tensor<T, S> loss = train_step(m, opt, d, di, c.warmup_steps + s, sched(s), &marks);
    space_ops<S>::sync();
    if (s >= c.time_warmup) {
      ms.push_back(1e3 * seconds_since(ts));
      cpu_ms.push_back(1e3 * (cpu_seconds() - c0));
      for (int p = 0; p < 4; ++p) ph[p].push_back(marks.ms(p, p + 1));
    }
    // Outside the timed span. The same seed gives the same weights and batches whatever the
    // kernels, so these agree between fno_deq's kernel switches up to rounding (fno_gpu.sh's
    // ABCHECK lines compare them).
    if (s == 0) loss_first = scalar(loss);
    if (s + 1 == total) loss_last = scalar(loss);
  }
  const double lo = *std::min_element(ms.begin(), ms.end()),
               hi = *std::max_element(ms.begin(), ms.end());
  std::printf(
      "TIMING model=%s ms_per_step=%.4g min=%.4g max=%.4g cpu_ms_per_step=%.4g steps=%zu "
      "params=%lld device=%s fwd_solve_ms=%.4g head_loss_ms=%.4g backward_ms=%.4g "
      "optim_ms=%.4g loss_first=%.8g loss_last=%.8g\n",
      key, median(ms), lo, hi, median(cpu_ms), ms.size(),
      static_cast<long long>(sp::parameter_count(params)),
      std::is_same_v<S, tessera::host> ? "cpu" : "cuda", median(ph[0]), median(ph[1]),
      median(ph[2]), median(ph[3]), loss_first, loss_last);
  if (m.k == kind::deq)
    std::printf("INFO model=%s anderson_iters=%d residual=%.3e (the last timed step's solve)\n",
                key, m.info.iterations, m.info.residual);
  std::fflush(stdout);
}

/// Gradient of the loss on one training batch, flattened over all parameters, with the DEQ's
/// backward in `mode` (the exact implicit one by a GMRES adjoint to 1e-6), in S.
template <class S>
std::vector<double> batch_gradient(model<S>& m, const data<S>& d, const config& c,
                                   im::backward_mode mode,
                                   std::shared_ptr<const im::solve_result>* adj) {
  using var = ad::var<T, S>;
  auto params = m.parameters();
  for (auto* p : params) p->zero_grad();
  m.mode = mode;
  ad::scope s;
  const index_t hi = std::min<index_t>(c.batch, d.xtr.size(0));
  const var xt = m.lift(ad::constant(rows(d.xtr, 0, hi)));
  const std::vector<var> th = m.theta(xt);
  im::options o;
  o.solver = {.method = im::solver_method::anderson,
              .max_iter = c.solver_iters,
              .abs_tol = 0,
              .rel_tol = 0,
              .full_budget = true,
              .history = 5,
              .lambda = 1e-4,
              .relative_lambda = false};
  o.backward = {.mode = mode,
                .method = im::adjoint_method::gmres,
                .max_iter = 200,
                .abs_tol = 0,
                .rel_tol = 1e-6,
                .restart = 40,
                .phantom_steps = 1,
                .phantom_tau = 0.5};
  auto r = im::fixed_point(m.block_map(), zeros_in<S>(xt.shape()), th, o);
  const var l = rel_l2_sum(d.decode(m.head(m.last(r.z, var{}, false))), rows(d.ytr, 0, hi),
                           rows(d.tr_inv_norm, 0, hi));
  ad::backward(l);
  if (adj) *adj = r.adjoint;
  std::vector<double> g;
  for (auto* p : params) {
    if (!p->grad().defined()) {
      g.insert(g.end(), static_cast<std::size_t>(p->numel()), 0.0);
      continue;
    }
    const tensor<T> gc = tessera::to<tessera::host>(p->grad()).contiguous();
    g.insert(g.end(), gc.data(), gc.data() + gc.numel());
  }
  m.mode = im::backward_mode::phantom;
  return g;
}

inline double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

/// Runs one model's work. On the host an exception propagates; on a device it is reported as
/// `MISSING model=<key> reason=failed on <space>: ...` on stderr and the next model still runs.
/// @return whether the work completed.
template <class S, class F>
bool run_model(const char* key, F&& run) {
  if constexpr (std::is_same_v<S, tessera::host>) {
    run();
    return true;
  } else {
    try {
      run();
      return true;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "MISSING model=%s reason=failed on %s: %s\n", key, S::name, e.what());
      return false;
    }
  }
}
/// Trains and evaluates every model in c.models in S, in the order of `specs`. A model that
/// fails off the host gets a `MISSING model=<key> reason=...` line on stderr and the others
/// still run.
/// @return 0 when at least one model ran, 3 when none could.
template <class S>
int train_models(const config& c, const host_data& h, report& rep) {
  constexpr bool on_host = std::is_same_v<S, tessera::host>;
  const data<S> d(h);
  int ran = 0;
  for (const auto& spec : specs) {
    if (!c.has(spec.key)) continue;
    const auto run = [&] {
      tessera::generator mg(c.seed + 100);  // the same initial lift/block/head for every model
      model<S> m(spec.name, spec.k, c, mg, spec.depth);
      m.mode = spec.mode;
      // Residual at initialisation, for the "stable over training" check.
      if (m.k == kind::deq) rep.res_init = test_residual(m, d, c);
      run_result r = train(m, d, c, c.seed + 7, spec.key);
      r.key = spec.key;
      std::printf(
          "TRAIN model=%s epochs=%d steps=%lld train_s=%.1f test_rel_l2=%.5f params=%lld "
          "device=%s\n",
          spec.key, r.epochs, static_cast<long long>(r.steps), r.loop_s, r.test_err,
          static_cast<long long>(r.params), on_host ? "cpu" : "cuda");
      std::fflush(stdout);
      rep.results.push_back(std::move(r));
      if (std::string(spec.key) == "deq") {
        rep.res_final = rep.results.back().residual;
        const auto gp = batch_gradient(m, d, c, im::backward_mode::phantom, nullptr);
        const auto gi = batch_gradient(m, d, c, im::backward_mode::implicit, &rep.adj);
        rep.gcos.push_back(cosine(gp, gi));
      }
    };
    if (run_model<S>(spec.key, run)) ++ran;
  }
  return on_host || ran > 0 ? 0 : 3;
}

/// time_model for every model in c.models (deq-ift: the DEQ with its exact implicit backward,
/// an Anderson adjoint). @return 0 when at least one model was timed (or none asked for),
/// else 3.
template <class S>
int time_models(const config& c, const host_data& h) {
  constexpr bool on_host = std::is_same_v<S, tessera::host>;
  const data<S> d(h);
  int timed = 0;
  for (const auto& spec : specs) {
    if (!c.has(spec.key)) continue;
    const auto run = [&] {
      tessera::generator mg(c.seed + 100);  // the same initial weights for every model
      model<S> m(spec.name, spec.k, c, mg, spec.depth);
      m.mode = spec.mode;
      time_model(m, spec.key, d, c);
    };
    if (run_model<S>(spec.key, run)) ++timed;
  }
  return on_host || timed > 0 ? 0 : 3;
}

}  // namespace fno_deq
