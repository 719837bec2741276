// SPDX-License-Identifier: Apache-2.0
// Values-only fixed-point solvers: damped Picard, Anderson acceleration and limited-memory good
// Broyden, with per-sample residuals and the lowest-residual iterate returned.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/config.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/tensor.hpp"
#include "tessera/implicit/detail/rows.hpp"
#include "tessera/implicit/options.hpp"

namespace tessera::implicit {

/// A values-only solve: the returned iterate and the report.
template <class T, class S = host>
struct solution {
  tensor<T, S> z;     ///< the lowest-residual iterate (chosen per sample when batched)
  solve_result info;  ///< convergence, iterations, residuals
};

namespace detail {

/// What the relative tolerance is relative to.
enum class reference {
  map_value,         ///< ‖f(z)‖ of the same iterate (fixed points)
  initial_residual,  ///< the residual of z0 (root finding)
  given,             ///< fixed per-sample norms (adjoint solves: ‖z̄‖)
};

/// How a solve measures residuals: reported residual = scale · ‖f(z) − z‖ per sample, and
/// the tolerance is max(abs_tol, rel_tol · reference).
struct convention {
  double scale = 1;
  reference ref = reference::map_value;
  std::vector<double> given;  ///< per-sample reference norms when ref == given
};

/// (samples, features) view of a tensor: samples = extent of axis 0 when batched, else 1.
struct row_layout {
  index_t rows;
  index_t n;
};

/// `name`: the argument z is, for the messages.
template <class T, class S>
row_layout layout_of(const char* fn, const tensor<T, S>& z, bool batched, const char* name = "z0") {
  if (!z.defined()) throw_invalid_argument(fn, name, " is an undefined tensor");
  if (z.numel() == 0)
    throw_invalid_argument(fn, name, " of shape ", z.shape().str(), " has no elements");
  if (batched && z.rank() == 0)
    throw_invalid_argument(fn, "batched solve needs ", name,
                           " with a leading batch axis, got a scalar");
  const index_t rows = batched ? z.shape()[0] : 1;
  return {rows, z.numel() / rows};
}

/// Throws tessera::invalid_argument naming the first non-finite element of t (flat index). On a
/// space other than host, one device reduction (all_finite, one synchronisation) decides, and
/// only a tensor that fails is copied to the host to name the element.
template <class T, class S>
void check_finite(const char* fn, const char* name, const tensor<T, S>& t) {
  if constexpr (std::is_same_v<S, host>) {
    const tensor<T> c = t.contiguous();
    const T* p = c.data();
    for (index_t i = 0; i < c.numel(); ++i)
      if (!std::isfinite(p[i]))
        throw_invalid_argument(fn, name, " of shape ", t.shape().str(),
                               " holds a non-finite value at flat index ", i);
  } else {
    if (!all_finite(t)) check_finite(fn, name, to<host>(t));
  }
}

/// The current iterate and what is known about it, as the step rules see it.
template <class T>
struct iterate_view {
  const tensor<T>& x;                   // current iterate
  const tensor<T>& r;                   // its residual f(x) − x
  const tensor<T>& best_z;              // per-sample best iterate so far
  const tensor<T>& best_r;              // its residual
  const std::vector<double>& res;       // residual of x per sample (scaled)
  const std::vector<double>& best_res;  // residual of best_z per sample
  const std::vector<char>& finite;      // res is finite, per sample
  row_layout L;
  std::vector<double>& restarts;  // per sample, since its best last changed (the loop resets it)
};

/// z + β r on finite samples; on the others a restart from the best iterate,
/// (1 − w) z* + w (z* + β r*) with w = restart_weight of its restarts (counted in v.restarts).
template <class T>
tensor<T> picard_step(const iterate_view<T>& v, double beta, int& safeguards) {
  tensor<T> xn(v.x.shape());
  bool bad = false;
  for (char f : v.finite) bad = bad || !f;
  std::vector<double> w(v.finite.size(), 0.0);
  if (bad) {
    ++safeguards;
    for (std::size_t row = 0; row < w.size(); ++row)
      if (!v.finite[row]) w[row] = restart_weight(v.restarts[row] += 1);
  }
  const T b = static_cast<T>(beta);
  T* out = xn.data();
  const T *x = v.x.data(), *r = v.r.data(), *bz = v.best_z.data(), *br = v.best_r.data();
  for_rows(v.L.rows, v.L.n, [&](index_t row, index_t lo, index_t hi) {
    if (v.finite[static_cast<std::size_t>(row)]) {
      for (index_t i = lo; i < hi; ++i) out[i] = x[i] + b * r[i];
    } else {
      const double wr = w[static_cast<std::size_t>(row)];
      for (index_t i = lo; i < hi; ++i) {
        const T u = bz[i] + b * br[i];
        out[i] = static_cast<T>((1 - wr) * double(bz[i]) + wr * double(u));
      }
    }
  });
  return xn;
}

/// The Anderson mixing coefficients α (R rows of n) from the per-sample Gram matrices `gram`
/// (R blocks of m × m, entries ⟨g_i, g_j⟩): the bordered least-squares system of
/// anderson_state, with its safeguards; s is the newest history slot (α = e_s when a sample's
/// system cannot be solved). Returns whether any safeguard fired.
inline bool anderson_coefficients(const std::vector<double>& gram, index_t R, int m, int n, int s,
                                  double lambda, bool relative, std::vector<double>& alpha) {
  const std::size_t mm = static_cast<std::size_t>(m) * static_cast<std::size_t>(m);
  alpha.assign(static_cast<std::size_t>(R * n), 0.0);
  std::vector<double> work(static_cast<std::size_t>(anderson_row_work(n)));
  bool safeguarded = false;
  for (index_t b = 0; b < R; ++b)
    if (anderson_row_alpha(gram.data() + static_cast<std::size_t>(b) * mm, m, n, s, lambda,
                           relative, alpha.data() + static_cast<std::size_t>(b * n),
                           work.data()) != anderson_solved)
      safeguarded = true;
  return safeguarded;
}

/// Anderson acceleration (type II) with the bordered least-squares system of the FNO-DEQ
/// reference. With residuals g_i = f(x_i) − x_i of the last n ≤ m iterates (per sample),
///   [[0, 1ᵀ], [1, G Gᵀ + λ' I]] [ν; α] = [1; 0],   x⁺ = Σ α_i (x_i + β g_i)
/// (= β Σ α_i f(x_i) + (1 − β) Σ α_i x_i), with λ' = λ or λ · max_i ‖g_i‖² (relative_lambda).
/// Before n = 2 the step is Picard with mixing β. Safeguards: a singular or non-finite system is
/// retried with λ raised (×100, at least 1e-10 · max diag G Gᵀ) three times, then the step
/// falls back to Picard from the newest iterate; a non-finite residual clears the history.
template <class T>
struct anderson_state {
  int m;
  double lambda, beta;
  bool relative;
  std::vector<tensor<T>> X, G;
  std::vector<double> gram;  // per sample, m × m: ⟨g_i, g_j⟩
  int count = 0, head = 0;

  anderson_state(int m_, double lambda_, double beta_, bool relative_, index_t rows)
      : m(m_),
        lambda(lambda_),
        beta(beta_),
        relative(relative_),
        X(static_cast<std::size_t>(m_)),
        G(static_cast<std::size_t>(m_)),
        gram(static_cast<std::size_t>(rows * m_ * m_), 0.0) {}

  tensor<T> next(const iterate_view<T>& v, int& safeguards) {
    const index_t R = v.L.rows, N = v.L.n;
    for (char f : v.finite)
      if (!f) {
        count = head = 0;
        return picard_step(v, beta, safeguards);
      }
    const int s = head;
    X[static_cast<std::size_t>(s)] = v.x;
    G[static_cast<std::size_t>(s)] = v.r;
    head = (head + 1) % m;
    count = std::min(count + 1, m);
    std::vector<double> d(static_cast<std::size_t>(R));
    const std::size_t mm = static_cast<std::size_t>(m) * static_cast<std::size_t>(m);
    for (int i = 0; i < count; ++i) {
      row_dots(G[static_cast<std::size_t>(s)].data(), G[static_cast<std::size_t>(i)].data(), R, N,
               d.data());
      for (index_t b = 0; b < R; ++b) {
        double* g = gram.data() + static_cast<std::size_t>(b) * mm;
        g[s * m + i] = g[i * m + s] = d[static_cast<std::size_t>(b)];
      }
    }
    if (count == 1) return picard_step(v, beta, safeguards);

    const int n = count;
    std::vector<double> alpha;
    const bool safeguarded = anderson_coefficients(gram, R, m, n, s, lambda, relative, alpha);
    if (safeguarded) ++safeguards;

    tensor<T> xn(v.x.shape());
    T* out = xn.data();
    std::vector<const T*> xp(static_cast<std::size_t>(n)), gp(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      xp[static_cast<std::size_t>(i)] = X[static_cast<std::size_t>(i)].data();
      gp[static_cast<std::size_t>(i)] = G[static_cast<std::size_t>(i)].data();
    }
    const double bt = beta;
    for_rows(R, N, [&](index_t row, index_t lo, index_t hi) {
      const double* a = alpha.data() + static_cast<std::size_t>(row * n);
      // Blocks of elements, one history term at a time over the block: the element loops
      // vectorise (the sum per element is the same, in the same order, as term by term).
      constexpr index_t block = 512;
      double acc[block];
      for (index_t e0 = lo; e0 < hi; e0 += block) {
        const index_t len = std::min(block, hi - e0);
        for (index_t j = 0; j < len; ++j) acc[j] = 0;
        for (int i = 0; i < n; ++i) {
          const T* xi = xp[static_cast<std::size_t>(i)] + e0;
          const T* gi = gp[static_cast<std::size_t>(i)] + e0;
          const double ai = a[i];
          TESSERA_OMP_SIMD()
          for (index_t j = 0; j < len; ++j) acc[j] += ai * (double(xi[j]) + bt * double(gi[j]));
        }
        T* o = out + e0;
        TESSERA_OMP_SIMD()
        for (index_t j = 0; j < len; ++j) o[j] = static_cast<T>(acc[j]);
      }
    });
    return xn;
  }
};

/// Limited-memory good Broyden on g(x) = f(x) − x with an inverse-Jacobian estimate
/// B⁻¹ = −I + Σ u_i v_iᵀ (per sample). A step is x⁺ = x − B⁻¹ g; after it, with Δx, Δg,
///   v = B⁻ᵀ Δx,  u = (Δx − B⁻¹ Δg) / (vᵀ Δg)   (Sherman–Morrison of the good update).
/// The oldest pair is overwritten when the memory is full. Safeguards (no line search): an
/// update with vᵀΔg ≈ 0 or non-finite is skipped (that sample's pair is zero; when every sample
/// skips, no pair is stored and the memory is unchanged); a sample whose residual is non-finite or
/// exceeds broyden_restart × its best restarts from its best iterate with an empty memory; its
/// next step is then a Picard step g times 2⁻ʲ for its j-th restart since that best iterate
/// became the best (restart_weight; later accepted steps take their full length), so neither a
/// diverging Picard map nor a secant step that leads back to the same failure can make it
/// cycle.
template <class T>
struct broyden_state {
  int mem;
  double restart;
  std::vector<tensor<T>> U, V;
  int count = 0, head = 0;
  tensor<T> x_prev, r_prev;

  broyden_state(int mem_, double restart_)
      : mem(mem_),
        restart(restart_),
        U(static_cast<std::size_t>(mem_)),
        V(static_cast<std::size_t>(mem_)) {}

  // out = base + sign·Σ_i P_i c_i (per-sample coefficients c[i·R + row]).
  static void combine(T* out, const T* base, double sign, const std::vector<tensor<T>>& P,
                      int count, const std::vector<double>& c, row_layout L) {
    for_rows(L.rows, L.n, [&](index_t row, index_t lo, index_t hi) {
      for (index_t e = lo; e < hi; ++e) {
        double acc = 0;
        for (int i = 0; i < count; ++i)
          acc += c[static_cast<std::size_t>(i * L.rows + row)] *
                 double(P[static_cast<std::size_t>(i)].data()[e]);
        out[e] = static_cast<T>(sign * double(base[e]) + acc);
      }
    });
  }

  tensor<T> next(const iterate_view<T>& v, int& safeguards) {
    const row_layout L = v.L;
    const index_t R = L.rows, N = L.n;
    const auto sz = [](index_t i) { return static_cast<std::size_t>(i); };
    std::vector<char> reset(sz(R), 0);
    std::vector<double> step_scale(sz(R), 1.0);
    bool any_reset = false;
    for (index_t b = 0; b < R; ++b) {
      const double res = v.res[sz(b)], best = v.best_res[sz(b)];
      reset[sz(b)] = !v.finite[sz(b)] || (std::isfinite(best) && res > restart * best);
      any_reset = any_reset || reset[sz(b)];
      if (reset[sz(b)]) step_scale[sz(b)] = restart_weight(v.restarts[sz(b)] += 1);
    }
    tensor<T> xc = v.x, rc = v.r;
    if (any_reset) {
      ++safeguards;
      xc = v.x.clone();
      rc = v.r.clone();
      for (index_t b = 0; b < R; ++b) {
        if (!reset[sz(b)]) continue;
        copy_row(xc.data(), v.best_z.data(), b, N);
        copy_row(rc.data(), v.best_r.data(), b, N);
        for (int i = 0; i < count; ++i) {
          std::fill_n(U[sz(i)].data() + b * N, N, T(0));
          std::fill_n(V[sz(i)].data() + b * N, N, T(0));
        }
      }
    }

    if (x_prev.defined()) {
      tensor<T> dx(v.x.shape()), dr(v.x.shape());
      {
        T *pdx = dx.data(), *pdr = dr.data();
        const T *x = v.x.data(), *r = v.r.data(), *xp = x_prev.data(), *rp = r_prev.data();
        for_rows(R, N, [&](index_t, index_t lo, index_t hi) {
          for (index_t e = lo; e < hi; ++e) {
            pdx[e] = x[e] - xp[e];
            pdr[e] = r[e] - rp[e];
          }
        });
      }
      std::vector<double> a(sz(count * R)), c(sz(count * R));
      for (int i = 0; i < count; ++i) {
        row_dots(V[sz(i)].data(), dr.data(), R, N, a.data() + sz(i * R));
        row_dots(U[sz(i)].data(), dx.data(), R, N, c.data() + sz(i * R));
      }
      tensor<T> hdr(v.x.shape()), vv(v.x.shape());  // B⁻¹Δg and B⁻ᵀΔx
      combine(hdr.data(), dr.data(), -1.0, U, count, a, L);
      combine(vv.data(), dx.data(), -1.0, V, count, c, L);
      std::vector<double> denom(sz(R)), nv(sz(R)), ndr(sz(R));
      row_dots(vv.data(), dr.data(), R, N, denom.data());
      row_dots(vv.data(), vv.data(), R, N, nv.data());
      row_dots(dr.data(), dr.data(), R, N, ndr.data());
      std::vector<double> scale(sz(R), 0.0);
      bool skipped = false;
      for (index_t b = 0; b < R; ++b) {
        if (reset[sz(b)]) continue;
        const double d = denom[sz(b)];
        const double bound = std::sqrt(nv[sz(b)] * ndr[sz(b)]);
        if (std::isfinite(d) && std::isfinite(bound) && bound > 0 && std::abs(d) > 1e-12 * bound)
          scale[sz(b)] = 1.0 / d;
        else
          skipped = true;
      }
      if (skipped && !any_reset) ++safeguards;
      // When no sample takes the update, no pair is stored: a zero pair would evict the oldest
      // real one and change B⁻¹ although the update was skipped.
      if (std::any_of(scale.begin(), scale.end(), [](double q) { return q != 0; })) {
        const int slot = head;
        tensor<T> u(v.x.shape());
        {
          T *pu = u.data(), *pv = vv.data();
          const T *pdx = dx.data(), *ph = hdr.data();
          for_rows(R, N, [&](index_t row, index_t lo, index_t hi) {
            const double sc = scale[sz(row)];
            if (sc == 0) {
              std::fill(pu + lo, pu + hi, T(0));
              std::fill(pv + lo, pv + hi, T(0));
            } else {
              for (index_t e = lo; e < hi; ++e)
                pu[e] = static_cast<T>((double(pdx[e]) - double(ph[e])) * sc);
            }
          });
        }
        U[sz(slot)] = std::move(u);
        V[sz(slot)] = std::move(vv);
        head = (head + 1) % mem;
        count = std::min(count + 1, mem);
      }
    }

    // x⁺ = x − B⁻¹ g = x + g − Σ u_i (v_i · g)
    std::vector<double> e(sz(count * R));
    for (int i = 0; i < count; ++i)
      row_dots(V[sz(i)].data(), rc.data(), R, N, e.data() + sz(i * R));
    for (double& q : e) q = -q;
    tensor<T> step(v.x.shape());
    combine(step.data(), rc.data(), 1.0, U, count, e, L);
    tensor<T> xn(v.x.shape());
    {
      T* out = xn.data();
      const T *x = xc.data(), *st = step.data();
      for_rows(R, N, [&](index_t row, index_t lo, index_t hi) {
        const T sc = static_cast<T>(step_scale[sz(row)]);
        for (index_t k = lo; k < hi; ++k) out[k] = x[k] + sc * st[k];
      });
    }
    x_prev = xc;
    r_prev = rc;
    return xn;
  }
};

/// The solver loop shared by every method: evaluates f, measures per-sample residuals,
/// keeps the per-sample best iterate, stops on tolerance or budget, asks the method for the
/// next iterate. `f` maps a contiguous tensor to a tensor of the same shape.
template <class T, class Map>
solution<T> solve_values(const char* fn, Map&& f, const tensor<T>& z0, const solver_options& o,
                         const convention& cv) {
  const row_layout L = layout_of(fn, z0, o.batched);
  const index_t R = L.rows, N = L.n;
  const shape_t shape = z0.shape();
  const auto sz = [](index_t i) { return static_cast<std::size_t>(i); };
  const double inf = std::numeric_limits<double>::infinity();

  solution<T> out;
  solve_result& info = out.info;
  tensor<T> x = z0.contiguous();
  tensor<T> best_z = x.clone();
  tensor<T> best_r(shape);
  std::vector<double> best_res(sz(R), inf), ref0(sz(R), 0.0), rr(sz(R)), ff(sz(R)), res(sz(R));
  std::vector<char> conv(sz(R), 0), finite(sz(R), 1);
  std::vector<double> restarts(sz(R), 0.0);  // since each sample's best last changed

  anderson_state<T> anderson(o.history, o.lambda, o.mixing, o.relative_lambda, R);
  broyden_state<T> broyden(o.broyden_memory, o.broyden_restart);

  for (int k = 0; k < o.max_iter; ++k) {
    tensor<T> fx = f(x);
    if (!fx.defined() || !(fx.shape() == shape))
      throw_invalid_argument(fn, "f returned ", fx.defined() ? "shape " : "an undefined tensor",
                             fx.defined() ? fx.shape().str() : std::string(), " for z of shape ",
                             shape.str(), "; f must map z to a tensor of the same shape");
    fx = fx.contiguous();
    tensor<T> r(shape);
    {
      T* pr = r.data();
      const T *pf = fx.data(), *px = x.data();
      for_rows(R, N, [&](index_t, index_t lo, index_t hi) {
        for (index_t e = lo; e < hi; ++e) pr[e] = pf[e] - px[e];
      });
    }
    row_dots(r.data(), r.data(), R, N, rr.data());
    if (cv.ref == reference::map_value) row_dots(fx.data(), fx.data(), R, N, ff.data());
    double total = 0;
    for (index_t b = 0; b < R; ++b) {
      const std::size_t i = sz(b);
      res[i] = std::sqrt(rr[i]) * cv.scale;
      if (k == 0) ref0[i] = res[i];
      const double ref = cv.ref == reference::map_value          ? std::sqrt(ff[i]) * cv.scale
                         : cv.ref == reference::initial_residual ? ref0[i]
                                                                 : cv.given[i];
      const double tol = std::max(o.abs_tol, o.rel_tol * ref);
      total += res[i] * res[i];
      finite[i] = std::isfinite(res[i]);
      if (finite[i] && res[i] <= tol) conv[i] = 1;
      if (k == 0 || (finite[i] && res[i] < best_res[i])) {
        if (k > 0) copy_row(best_z.data(), x.data(), b, N);
        copy_row(best_r.data(), r.data(), b, N);
        best_res[i] = finite[i] ? res[i] : inf;
        restarts[i] = 0;
      }
    }
    info.residual_history.push_back(std::sqrt(total));
    info.iterations = k + 1;
    const bool all = std::all_of(conv.begin(), conv.end(), [](char c) { return c != 0; });
    if ((all && !o.full_budget) || k + 1 == o.max_iter) break;

    const iterate_view<T> view{x, r, best_z, best_r, res, best_res, finite, L, restarts};
    switch (o.method) {
      case solver_method::picard:
        x = picard_step(view, o.damping, info.safeguard_steps);
        break;
      case solver_method::anderson:
        x = anderson.next(view, info.safeguard_steps);
        break;
      case solver_method::broyden:
        x = broyden.next(view, info.safeguard_steps);
        break;
    }
  }

  out.z = best_z;
  double total = 0;
  for (double r2 : best_res) total += r2 * r2;
  info.residual = std::sqrt(total);
  info.sample_residuals = best_res;
  info.sample_converged.assign(conv.begin(), conv.end());
  info.converged = std::all_of(conv.begin(), conv.end(), [](char c) { return c != 0; });
  return out;
}

// --- other memory spaces (cuda) ---------------------------------------------------------------
// The same solver loop and step rules on tensor<T, S> for S other than host. The passes over
// iterates are the space's solver_kernels<S> (cuda/implicit.cuh for cuda): one batch of passes
// per iteration yields the residual, the mixed point and every per-sample dot product (in double;
// copied to the host at once, the iteration's one synchronisation), one pass forms Anderson's
// combination; the Anderson system is solved on the host as above. Broyden needs a second
// batch (broyden_space_state): two synchronisations per iteration.

/// What solver_kernels<S>::residual_pass(f, x, β, others, rows, f_norm) returns: r = f − x,
/// u = x + β r, and the per-row dot products dots[q · rows + b], q = 0: ⟨r, r⟩, q = 1: ⟨f, f⟩
/// (0 unless f_norm), q = 2 + j: ⟨r, others[j]⟩.
template <class T, class S>
struct residual_pass_result {
  tensor<T, S> r, u;
  std::vector<double> dots;
};

/// One request of solver_kernels<S>::passes. With x defined, r = f − x is written (into `r`
/// when given, else into a new tensor) and, when with_u, u = x + β r; with x undefined, r is f
/// itself and nothing is written. The request's dots are residual_pass_result's: q = 0: ⟨r, r⟩,
/// q = 1: ⟨f, f⟩ (0 unless f_norm), q = 2 + j: ⟨r, others[j]⟩.
template <class T, class S>
struct pass_request {
  tensor<T, S> f, x, r;
  double beta = 0;
  bool with_u = false;
  bool f_norm = false;
  std::vector<tensor<T, S>> others;
};

/// The passes of the solver on tensors of space S, defined by that space's header:
///   residual_pass<T>(f, x, β, others, rows, f_norm) → residual_pass_result<T, S>
///   passes<T>(requests, rows) → one residual_pass_result<T, S> per pass_request, run in order
///     (a request may read the r of an earlier one) with one synchronisation for all
///   combine<T>(terms, coef, rows) → Σ_j coef[b · terms.size() + j] · terms[j] per row b
/// and optionally (a space with graphs: solver_options::graph; the space then also declares
/// `static constexpr bool has_replayed_map = true`)
///   replayed_map<T, Map>(fn, f, shape, graph) → a callable x ↦ f(x)
/// and (solver_options::device_resident, with `static constexpr bool has_resident_ops = true`)
///   resident_ops<T> (see solve_values_resident)
/// (f, x and the terms contiguous, of one shape, rows dividing it along axis 0).
template <class S>
struct solver_kernels;

/// The map as solve_values_space evaluates it: the space's replayed_map when it has one (which
/// honours solver_options::graph), else f itself.
template <class T, class S, class Map>
auto solver_map(const char* fn, Map& f, const shape_t& shape, bool graph) {
  // (A member flag, not `typename solver_kernels<S>::template replayed_map<T, Map>` as a type
  // requirement: GCC 12 finds that requirement unsatisfied even where the template exists,
  // which left the graph replay off on cuda until 2026-11-27.)
  if constexpr (requires { solver_kernels<S>::has_replayed_map; })
    return typename solver_kernels<S>::template replayed_map<T, Map>(fn, f, shape, graph);
  else
    return [&f](const tensor<T, S>& x) -> tensor<T, S> { return f(x); };
}

/// Row b (axis 0) of t when the layout is batched, else t itself.
template <class T, class S>
tensor<T, S> row_of(const tensor<T, S>& t, row_layout L, index_t b) {
  return L.rows == 1 ? t : t.select(0, b);
}

/// Σ_j coef(b, j) · terms[j] per row b of L (one combine of solver_kernels<S>).
template <class T, class S, class Coef>
tensor<T, S> mix(const std::vector<tensor<T, S>>& terms, row_layout L, Coef&& coef) {
  const std::size_t nt = terms.size();
  std::vector<double> c(static_cast<std::size_t>(L.rows) * nt);
  for (index_t b = 0; b < L.rows; ++b)
    for (std::size_t j = 0; j < nt; ++j) c[static_cast<std::size_t>(b) * nt + j] = coef(b, j);
  return solver_kernels<S>::template combine<T>(terms, c, L.rows);
}

/// broyden_state on a space other than host: the same update rule, memory, restart safeguard,
/// skipped updates and per-sample coefficients, with the passes of solver_kernels<S> (the small
/// per-sample scalars on the host, in double). An iteration after the first:
///  1. with the residual pass (one synchronisation for the batch, add_requests): r = f(x) − x
///     with ⟨r, v_i⟩; Δx = x − x_prev with ⟨Δx, u_i⟩; Δg = r − r_prev with ‖Δg‖², ⟨Δg, v_i⟩;
///  2. B⁻ᵀΔx = −Δx + Σ v_i ⟨u_i, Δx⟩ (one combination), then one pass for ‖B⁻ᵀΔx‖²,
///     ⟨B⁻ᵀΔx, Δg⟩ and ⟨B⁻ᵀΔx, g⟩ (the second synchronisation: the new pair's normalisation
///     depends on the coefficients of the first);
///  3. u = (Δx + Δg − Σ u_i ⟨v_i, Δg⟩) / ⟨B⁻ᵀΔx, Δg⟩ (= (Δx − B⁻¹Δg) / vᵀΔg, one combination);
///  4. x⁺ = x + s (g − Σ u_i ⟨v_i, g⟩) over the updated memory (one combination).
/// Each combination reads at most memory + 2 tensors (in passes of up to 16 terms). The products
/// are those of the host's vectors (rounded to T) except that B⁻¹Δg and the step are not
/// rounded to T on their own before they are combined, so the two spaces differ by rounding.
template <class T, class S>
struct broyden_space_state {
  int mem;
  double restart;
  std::vector<tensor<T, S>> U, V;
  int count = 0, head = 0;
  tensor<T, S> x_prev, r_prev, dx, dr;

  broyden_space_state(int mem_, double restart_)
      : mem(mem_),
        restart(restart_),
        U(static_cast<std::size_t>(mem_)),
        V(static_cast<std::size_t>(mem_)) {}

  std::vector<tensor<T, S>> memory(const std::vector<tensor<T, S>>& P) const {
    return std::vector<tensor<T, S>>(P.begin(), P.begin() + count);
  }

  /// Adds what step 1 needs to the residual request q[0] (f = f(x), x): ⟨r, v_i⟩, and with a
  /// previous iterate the requests for Δx and Δg (Δg's reads the r that q[0] writes).
  void add_requests(std::vector<pass_request<T, S>>& q) {
    pass_request<T, S>& rq = q.front();
    rq.others = memory(V);
    rq.r = tensor<T, S>(rq.f.shape());
    if (!x_prev.defined()) return;
    dx = tensor<T, S>(rq.f.shape());
    dr = tensor<T, S>(rq.f.shape());
    pass_request<T, S> qx, qr;
    qx.f = rq.x;
    qx.x = x_prev;
    qx.r = dx;
    qx.others = memory(U);
    qr.f = rq.r;
    qr.x = r_prev;
    qr.r = dr;
    qr.others = memory(V);
    q.push_back(std::move(qx));  // rq dangles from here on
    q.push_back(std::move(qr));
  }

  /// The next iterate from x, the results p of the requests of add_requests (p[0]: the residual
  /// pass) and the loop's per-sample bookkeeping (see broyden_state::next).
  tensor<T, S> next(const tensor<T, S>& x, const std::vector<residual_pass_result<T, S>>& p,
                    const tensor<T, S>& best_z, const tensor<T, S>& best_r,
                    const std::vector<double>& res, const std::vector<double>& best_res,
                    const std::vector<char>& finite, std::vector<double>& restarts, row_layout L,
                    int& safeguards) {
    using kernels = solver_kernels<S>;
    const index_t R = L.rows;
    const auto sz = [](index_t i) { return static_cast<std::size_t>(i); };
    const std::size_t Rs = sz(R);
    std::vector<char> reset(Rs, 0);
    std::vector<double> step_scale(Rs, 1.0);
    bool any_reset = false;
    for (index_t b = 0; b < R; ++b) {
      const double rb = res[sz(b)], best = best_res[sz(b)];
      reset[sz(b)] = !finite[sz(b)] || (std::isfinite(best) && rb > restart * best);
      any_reset = any_reset || reset[sz(b)];
      if (reset[sz(b)]) step_scale[sz(b)] = restart_weight(restarts[sz(b)] += 1);
    }
    const tensor<T, S>& r = p.front().r;
    tensor<T, S> xc = x, rc = r;
    if (any_reset) {
      ++safeguards;
      xc = x.clone();
      rc = r.clone();
      for (index_t b = 0; b < R; ++b) {
        if (!reset[sz(b)]) continue;
        row_of(xc, L, b).copy_from(row_of(best_z, L, b));
        row_of(rc, L, b).copy_from(row_of(best_r, L, b));
        for (int i = 0; i < count; ++i) {
          row_of(U[sz(i)], L, b).fill_(T(0));
          row_of(V[sz(i)], L, b).fill_(T(0));
        }
      }
    }
    // The products of step 1 were taken before the reset samples' pairs were zeroed: on those
    // samples every product with a pair is 0 (as the host's, on its zeroed pairs).
    const auto pair_dot = [&](const residual_pass_result<T, S>& q, int i, index_t b) {
      return reset[sz(b)] ? 0.0 : q.dots[sz(2 + i) * Rs + sz(b)];
    };
    // e_i = −⟨v_i, g⟩ per sample over the memory as it will be after the update.
    std::vector<double> e(sz(std::min(count + 1, mem)) * Rs, 0.0);
    for (int i = 0; i < count; ++i)
      for (index_t b = 0; b < R; ++b) e[sz(i) * Rs + sz(b)] = -pair_dot(p.front(), i, b);

    if (x_prev.defined()) {
      const residual_pass_result<T, S>&px = p[1], &pr = p[2];
      std::vector<tensor<T, S>> terms{dx};
      for (int i = 0; i < count; ++i) terms.push_back(V[sz(i)]);
      tensor<T, S> vv = mix<T, S>(terms, L, [&](index_t b, std::size_t j) {  // B⁻ᵀΔx
        return j == 0 ? -1.0 : pair_dot(px, static_cast<int>(j) - 1, b);
      });
      std::vector<pass_request<T, S>> qv(1);
      qv[0].f = vv;
      qv[0].others = {dr, rc};
      const residual_pass_result<T, S> pv = std::move(kernels::template passes<T>(qv, R)[0]);
      std::vector<double> scale(Rs, 0.0);
      bool skipped = false;
      for (index_t b = 0; b < R; ++b) {
        if (reset[sz(b)]) continue;
        const double d = pv.dots[2 * Rs + sz(b)];
        const double bound = std::sqrt(pv.dots[sz(b)] * pr.dots[sz(b)]);
        if (std::isfinite(d) && std::isfinite(bound) && bound > 0 && std::abs(d) > 1e-12 * bound)
          scale[sz(b)] = 1.0 / d;
        else
          skipped = true;
      }
      if (skipped && !any_reset) ++safeguards;
      // As on the host: no pair is stored when no sample takes the update.
      if (std::any_of(scale.begin(), scale.end(), [](double q) { return q != 0; })) {
        terms.assign({dx, dr});
        for (int i = 0; i < count; ++i) terms.push_back(U[sz(i)]);
        tensor<T, S> u = mix<T, S>(terms, L, [&](index_t b, std::size_t j) {
          const double sc = scale[sz(b)];
          return j < 2 ? sc : -sc * pair_dot(pr, static_cast<int>(j) - 2, b);
        });
        // A skipped or reset sample stores a zero pair (its Δx, Δg may not even be finite).
        for (index_t b = 0; b < R; ++b)
          if (scale[sz(b)] == 0) {
            row_of(u, L, b).fill_(T(0));
            row_of(vv, L, b).fill_(T(0));
          }
        const int slot = head;
        for (index_t b = 0; b < R; ++b)
          e[sz(slot) * Rs + sz(b)] = scale[sz(b)] == 0 ? 0.0 : -pv.dots[3 * Rs + sz(b)];
        U[sz(slot)] = std::move(u);
        V[sz(slot)] = std::move(vv);
        head = (head + 1) % mem;
        count = std::min(count + 1, mem);
      }
    }

    // x⁺ = x + s (g − Σ u_i ⟨v_i, g⟩), from the best iterate on the reset samples.
    std::vector<tensor<T, S>> terms{xc, rc};
    for (int i = 0; i < count; ++i) terms.push_back(U[sz(i)]);
    tensor<T, S> xn = mix<T, S>(terms, L, [&](index_t b, std::size_t j) {
      const double s = step_scale[sz(b)];
      return j == 0 ? 1.0 : j == 1 ? s : s * e[(j - 2) * Rs + sz(b)];
    });
    x_prev = xc;
    r_prev = rc;
    return xn;
  }
};

/// The device-resident solve (solver_options::device_resident) on space S with the space's
/// resident operations `Ops` (solver_kernels<cuda>::resident_ops<T> on cuda; a test drives it on
/// the host with emulated ones). Ops provides
///   ndots (doubles per block partial), blocks(rows, n) (block partials per sample),
///   pass(f, x, r, u, others, β, f_norm, rows, blocks, partial): r = f − x and u = x + β r
///     written into r and u, the block partials of ‖r‖², ‖f‖² and ⟨r, others_j⟩ into partial
///     ([rows][blocks][ndots]: exactly `blocks`, the count blocks(rows, n) gave, per sample),
///   step(view, k, last): resident_residual for every sample, then (unless last) resident_step,
///   save(x, u, best_z, best_u, best_iter, evicted, rows): the rows whose best iteration is
///     `evicted` copied from x, u into best_z, best_u,
///   combine(terms, coef, shape, rows): Σ_j coef[row · terms.size() + j] · terms_j per row,
///     skipping terms whose coefficient is 0 (they may be null),
/// all enqueued without waiting; the state buffer is read back once, after the last iteration.
/// Iteration k evaluates f at x_k, writes r_k and u_k into ring slot s = k % ring (first saving
/// the evicted iteration k − ring's x and u if that is some sample's best), runs the step
/// kernel and combines x_{k+1} from the ring's u and the saved best's u (and, for a restart,
/// the best's x).
template <class T, class S, class Ops, class Map>
solution<T, S> solve_values_resident(const char* fn, Map& fmap, const tensor<T, S>& z0,
                                     const solver_options& o, const convention& cv) {
  const row_layout L = layout_of(fn, z0, o.batched);
  const index_t R = L.rows;
  const shape_t shape = z0.shape();
  const auto sz = [](index_t i) { return static_cast<std::size_t>(i); };
  const bool anderson = o.method == solver_method::anderson;
  if (anderson && o.history > resident_max_history)
    throw_invalid_argument(fn, "solver.history (Anderson m) = ", o.history,
                           " exceeds the device-resident solve's ", resident_max_history,
                           " (set solver.device_resident = false for longer histories)");
  const double beta = anderson ? o.mixing : o.damping;
  const int iters = o.max_iter;

  resident_view v;
  v.anderson = anderson && o.history > 1;
  v.ring = v.anderson ? o.history : 2;
  v.rows = R;
  v.blocks = Ops::blocks(R, L.n);
  v.ndots = Ops::ndots;
  v.lambda = o.lambda;
  v.relative = o.relative_lambda;
  v.abs_tol = o.abs_tol;
  v.rel_tol = o.rel_tol;
  v.scale = cv.scale;
  v.ref = cv.ref == reference::map_value ? 0 : cv.ref == reference::initial_residual ? 1 : 2;
  const int ring = v.ring, R1 = ring + 1;
  // The state buffer: offsets of each array, set up on the host and copied over once.
  const auto Rn = R, Ri = static_cast<index_t>(iters);
  const index_t o_partial = 0, o_dots = o_partial + Rn * v.blocks * v.ndots,
                o_gram = o_dots + Rn * v.ndots, o_best = o_gram + Rn * ring * ring,
                o_iter = o_best + Rn, o_ref0 = o_iter + Rn, o_given = o_ref0 + Rn,
                o_hist = o_given + Rn, o_coef = o_hist + Ri * Rn, o_valid = o_coef + Rn * 2 * R1,
                o_fin = o_valid + Rn, o_conv = o_fin + Rn, o_restarts = o_conv + Rn,
                o_flags = o_restarts + Rn, total = o_flags + Ri;
  tensor<double> init(shape_t{total});
  init.fill_(0.0);
  for (index_t b = 0; b < R; ++b) {
    init.data()[o_best + b] = std::numeric_limits<double>::infinity();
    if (v.ref == 2) init.data()[o_given + b] = cv.given[sz(b)];
  }
  tensor<double, S> st = to<S>(init);
  double* base = st.data();
  double* const partial = base + o_partial;
  v.partial = partial;
  v.dots = base + o_dots;
  v.gram = base + o_gram;
  v.best_res = base + o_best;
  v.best_iter = base + o_iter;
  v.ref0 = base + o_ref0;
  v.given = base + o_given;
  v.hist = base + o_hist;
  v.coef = base + o_coef;
  v.valid = base + o_valid;
  v.finite = base + o_fin;
  v.conv = base + o_conv;
  v.restarts = base + o_restarts;
  v.flags = base + o_flags;

  std::vector<tensor<T, S>> X(sz(ring)), U(sz(ring)), G(sz(ring));
  tensor<T, S> best_z, best_u;  // the best iterate's x and u once the ring has dropped it
  tensor<T, S> x = z0.contiguous();
  // The combinations read the ring's iterates as terms; x₀ a view at an offset that is not a
  // multiple of 16 bytes would keep them off the 16-byte packs while it is in the ring.
  if (reinterpret_cast<std::uintptr_t>(x.data()) % 16 != 0) x = x.clone();
  for (int k = 0; k < iters; ++k) {
    const int s = k % ring;
    if (k >= ring) {
      if (!best_z.defined()) {
        best_z = tensor<T, S>(shape);
        best_u = tensor<T, S>(shape);
      }
      Ops::save(X[sz(s)], U[sz(s)], best_z, best_u, v.best_iter, k - ring, R);
    }
    tensor<T, S> fx = fmap(x);
    if (!fx.defined() || !(fx.shape() == shape))
      throw_invalid_argument(fn, "f returned ", fx.defined() ? "shape " : "an undefined tensor",
                             fx.defined() ? fx.shape().str() : std::string(), " for z of shape ",
                             shape.str(), "; f must map z to a tensor of the same shape");
    fx = fx.contiguous();
    X[sz(s)] = x;
    if (!U[sz(s)].defined()) {
      U[sz(s)] = tensor<T, S>(shape);
      G[sz(s)] = tensor<T, S>(shape);
    }
    std::vector<const T*> others;
    if (v.anderson)
      for (int i = 0; i < std::min(k + 1, ring); ++i)
        if (i != s) others.push_back(G[sz(i)].data());
    Ops::pass(fx, x, G[sz(s)], U[sz(s)], others, beta, v.ref == 0, R, v.blocks, partial);
    const bool last = k + 1 == iters;
    Ops::step(v, k, last);
    if (last) break;
    std::vector<const T*> terms(sz(2 * R1), nullptr);
    for (int i = 0; i < ring; ++i)
      if (U[sz(i)].defined()) {
        terms[sz(i)] = U[sz(i)].data();
        terms[sz(R1 + i)] = X[sz(i)].data();
      }
    if (best_u.defined()) {
      terms[sz(ring)] = best_u.data();
      terms[sz(R1 + ring)] = best_z.data();
    }
    x = Ops::combine(terms, v.coef, shape, R);
  }

  // The one synchronisation: the report, and where each sample's best iterate is.
  const tensor<double> h = to<host>(st);
  const double* hs = h.data();
  solution<T, S> out;
  solve_result& info = out.info;
  info.iterations = iters;
  for (int k = 0; k < iters; ++k) {
    double t = 0;
    for (index_t b = 0; b < R; ++b) {
      const double r = hs[o_hist + k * Rn + b];
      t += r * r;
    }
    info.residual_history.push_back(std::sqrt(t));
    if (hs[o_flags + k] != 0) ++info.safeguard_steps;
  }
  double total2 = 0;
  info.sample_residuals.resize(sz(R));
  info.sample_converged.resize(sz(R));
  info.converged = true;
  const int K = iters - 1;
  std::vector<const tensor<T, S>*> src(sz(R));
  for (index_t b = 0; b < R; ++b) {
    const double br = hs[o_best + b];
    info.sample_residuals[sz(b)] = br;
    total2 += br * br;
    const bool c = hs[o_conv + b] != 0;
    info.sample_converged[sz(b)] = c;
    info.converged = info.converged && c;
    const int bi = static_cast<int>(hs[o_iter + b]);
    src[sz(b)] = bi > K - ring ? &X[sz(bi % ring)] : &best_z;
  }
  info.residual = std::sqrt(total2);
  const bool one = std::all_of(src.begin(), src.end(), [&](auto* p) { return p == src[0]; });
  if (one && !shares_storage(*src[0], z0)) {
    out.z = *src[0];
  } else {
    out.z = tensor<T, S>(shape);
    for (index_t b = 0; b < R; ++b) row_of(out.z, L, b).copy_from(row_of(*src[sz(b)], L, b));
  }
  return out;
}

/// solve_values on a space other than host (see above).
template <class T, class S, class Map>
solution<T, S> solve_values_space(const char* fn, Map&& f, const tensor<T, S>& z0,
                                  const solver_options& o, const convention& cv) {
  using kernels = solver_kernels<S>;
  const row_layout L = layout_of(fn, z0, o.batched);
  const index_t R = L.rows;
  const shape_t shape = z0.shape();
  const auto sz = [](index_t i) { return static_cast<std::size_t>(i); };
  const double inf = std::numeric_limits<double>::infinity();
  const bool anderson = o.method == solver_method::anderson;
  const bool broyden = o.method == solver_method::broyden;
  const double beta = anderson ? o.mixing : o.damping;
  auto fmap = solver_map<T, S>(fn, f, shape, o.graph);
  if constexpr (requires { solver_kernels<S>::has_resident_ops; })
    if (o.device_resident && !broyden)
      return solve_values_resident<T, S, typename solver_kernels<S>::template resident_ops<T>>(
          fn, fmap, z0, o, cv);

  solution<T, S> out;
  solve_result& info = out.info;
  tensor<T, S> x = z0.contiguous();
  // best_z/best_r may share storage with an iterate (when every sample improves at once); such
  // a tensor is never written, so before rows are copied into them they are made their own.
  tensor<T, S> best_z = x.clone();
  tensor<T, S> best_r;
  bool best_shared = true;
  std::vector<double> best_res(sz(R), inf), ref0(sz(R), 0.0), res(sz(R));
  std::vector<char> conv(sz(R), 0), finite(sz(R), 1), take(sz(R), 0);
  std::vector<double> restarts(sz(R), 0.0);  // since each sample's best last changed

  // Anderson history: the mixed points u_i = x_i + β g_i and the residuals g_i.
  const int m = o.history;
  std::vector<tensor<T, S>> U(sz(m)), G(sz(m));
  const std::size_t mm = static_cast<std::size_t>(m) * static_cast<std::size_t>(m);
  std::vector<double> gram(sz(R) * mm, 0.0), alpha;
  int count = 0, head = 0;
  broyden_space_state<T, S> broy(broyden ? o.broyden_memory : 1, o.broyden_restart);

  for (int k = 0; k < o.max_iter; ++k) {
    tensor<T, S> fx = fmap(x);
    if (!fx.defined() || !(fx.shape() == shape))
      throw_invalid_argument(fn, "f returned ", fx.defined() ? "shape " : "an undefined tensor",
                             fx.defined() ? fx.shape().str() : std::string(), " for z of shape ",
                             shape.str(), "; f must map z to a tensor of the same shape");
    fx = fx.contiguous();
    // The new Gram row ⟨r, g_i⟩ against the history slots Anderson keeps (slot `head` is
    // about to hold r itself, whose product is ⟨r, r⟩).
    const int slots = anderson ? std::min(count + 1, m) : 0;
    std::vector<pass_request<T, S>> q(1);
    q[0].f = fx;
    q[0].x = x;
    q[0].beta = beta;
    q[0].with_u = !broyden;
    q[0].f_norm = cv.ref == reference::map_value;
    for (int i = 0; i < slots; ++i)
      if (i != head) q[0].others.push_back(G[sz(i)]);
    if (broyden && k + 1 < o.max_iter) broy.add_requests(q);  // none after the last evaluation
    const std::vector<residual_pass_result<T, S>> passes = kernels::template passes<T>(q, R);
    const residual_pass_result<T, S>& p = passes.front();
    const auto dot = [&](std::size_t j, index_t b) { return p.dots[j * sz(R) + sz(b)]; };
    double total = 0;
    bool all_take = true;
    for (index_t b = 0; b < R; ++b) {
      const std::size_t i = sz(b);
      res[i] = std::sqrt(dot(0, b)) * cv.scale;
      if (k == 0) ref0[i] = res[i];
      const double ref = cv.ref == reference::map_value          ? std::sqrt(dot(1, b)) * cv.scale
                         : cv.ref == reference::initial_residual ? ref0[i]
                                                                 : cv.given[i];
      const double tol = std::max(o.abs_tol, o.rel_tol * ref);
      total += res[i] * res[i];
      finite[i] = std::isfinite(res[i]);
      if (finite[i] && res[i] <= tol) conv[i] = 1;
      take[i] = k == 0 || (finite[i] && res[i] < best_res[i]);
      if (take[i]) {
        best_res[i] = finite[i] ? res[i] : inf;
        restarts[i] = 0;
      }
      all_take = all_take && take[i];
    }
    // The best iterate: shared when every sample improved (or at the start, where best_z is
    // already z0's copy), row copies otherwise.
    if (all_take) {
      if (k > 0) best_z = x;
      best_r = p.r;
      best_shared = true;
    } else if (std::any_of(take.begin(), take.end(), [](char c) { return c != 0; })) {
      if (best_shared) {
        best_z = best_z.clone();
        best_r = best_r.clone();
        best_shared = false;
      }
      for (index_t b = 0; b < R; ++b)
        if (take[sz(b)]) {
          row_of(best_z, L, b).copy_from(row_of(x, L, b));
          row_of(best_r, L, b).copy_from(row_of(p.r, L, b));
        }
    }
    info.residual_history.push_back(std::sqrt(total));
    info.iterations = k + 1;
    const bool all = std::all_of(conv.begin(), conv.end(), [](char c) { return c != 0; });
    if ((all && !o.full_budget) || k + 1 == o.max_iter) break;

    if (broyden) {
      x = broy.next(x, passes, best_z, best_r, res, best_res, finite, restarts, L,
                    info.safeguard_steps);
      continue;
    }
    // Picard (and Anderson's first step, and its step after a non-finite residual, which
    // clears its history): x + β r, and on samples whose residual is not finite a restart from
    // the best iterate, (1 − w) x* + w u* with u* = x* + β r* and w = restart_weight (as the
    // device-resident step combines it).
    const bool all_finite_rows =
        std::all_of(finite.begin(), finite.end(), [](char c) { return c != 0; });
    const auto picard = [&] {
      if (all_finite_rows) return p.u;
      ++info.safeguard_steps;
      std::vector<double> w(sz(R), 0.0);
      for (index_t i = 0; i < R; ++i)
        if (!finite[sz(i)]) w[sz(i)] = restart_weight(restarts[sz(i)] += 1);
      const tensor<T, S> best_u = best_z + best_r * static_cast<T>(beta);
      return mix<T, S>({p.u, best_z, best_u}, L, [&](index_t b, std::size_t j) {
        if (finite[sz(b)]) return j == 0 ? 1.0 : 0.0;
        return j == 0 ? 0.0 : j == 1 ? 1 - w[sz(b)] : w[sz(b)];
      });
    };
    if (!anderson) {
      x = picard();
      continue;
    }
    if (!all_finite_rows) {
      count = head = 0;
      x = picard();
      continue;
    }
    const int s = head;
    U[sz(s)] = p.u;
    G[sz(s)] = p.r;
    head = (head + 1) % m;
    count = std::min(count + 1, m);
    for (int i = 0, j = 0; i < count; ++i) {  // count == slots here
      for (index_t b = 0; b < R; ++b) {
        const double d = i == s ? dot(0, b) : dot(sz(2 + j), b);
        double* g = gram.data() + sz(b) * mm;
        g[s * m + i] = g[i * m + s] = d;
      }
      if (i != s) ++j;
    }
    if (count == 1) {
      x = picard();
      continue;
    }
    const int n = count;
    if (anderson_coefficients(gram, R, m, n, s, o.lambda, o.relative_lambda, alpha))
      ++info.safeguard_steps;
    // x⁺ = Σ_i α_i u_i with α per sample (alpha[b · n + i]): one pass over the history.
    x = kernels::template combine<T>(std::vector<tensor<T, S>>(U.begin(), U.begin() + n), alpha, R);
  }

  out.z = best_z;
  double total = 0;
  for (double r2 : best_res) total += r2 * r2;
  info.residual = std::sqrt(total);
  info.sample_residuals = best_res;
  info.sample_converged.assign(conv.begin(), conv.end());
  info.converged = std::all_of(conv.begin(), conv.end(), [](char c) { return c != 0; });
  return out;
}

}  // namespace detail

/// Solves z = f(z) on plain tensors (no autodiff) with the method of `o`, from z0.
///
/// Residual of an iterate: ‖f(z) − z‖ (Frobenius, accumulated in double); a sample has
/// converged once an iterate meets ‖f(z) − z‖ ≤ max(abs_tol, rel_tol · ‖f(z)‖). With
/// o.batched, axis 0 indexes independent samples: residuals, tolerances, Anderson/Broyden
/// coefficients and the returned best iterate are per sample (f must then act on each sample
/// independently for the assembled iterate to have the reported residuals). Non-convergence
/// is reported in the result, never thrown.
///
/// On another memory space (z0 a cuda tensor, in a .cu file including tessera/cuda/implicit.cuh)
/// every method runs on the device with the host's rules and report: per iteration, the dot
/// products of a batch of fused passes come to the host in double (one synchronisation for
/// Picard and Anderson, two for Broyden), where the small per-sample systems are solved; with
/// o.device_resident (Picard and Anderson, history ≤ 7) they are solved on the device and the
/// host waits once, after the whole budget (solve_values_resident).
/// @param f  callable tensor<T, S>(const tensor<T, S>&) returning a tensor of z's shape; the
///           argument is read-only (the solver never modifies a tensor after passing it)
/// @param z0 the initial iterate (any shape with at least one element)
/// @param o  the solver settings
/// @return the lowest-residual iterate and the report
/// @throws tessera::invalid_argument for invalid settings, an empty or non-finite z0, or an
///         f that returns a tensor of another shape
template <floating_point_scalar T, class S, class Map>
solution<T, S> solve(Map&& f, const tensor<T, S>& z0, const solver_options& o = {}) {
  static_assert(std::is_invocable_r_v<tensor<T, S>, Map&, const tensor<T, S>&>,
                "implicit::solve: f must be callable as tensor<T, S> f(const tensor<T, S>&)");
  constexpr const char* fn = "implicit::solve";
  detail::validate(fn, o);
  (void)detail::layout_of(fn, z0, o.batched);
  detail::check_finite(fn, "z0", z0);
  const auto map = [&](const tensor<T, S>& z) -> tensor<T, S> { return f(z); };
  if constexpr (std::is_same_v<S, host>)
    return detail::solve_values<T>(fn, map, z0, o, detail::convention{});
  else
    return detail::solve_values_space<T, S>(fn, map, z0, o, detail::convention{});
}

}  // namespace tessera::implicit
