// SPDX-License-Identifier: Apache-2.0
// The small per-sample arithmetic of the fixed-point solvers written once for the host and the
// device: the dense solve and Anderson's bordered system (anderson_coefficients on the host,
// the device-resident solve's step kernel on cuda), and the two phases of that kernel (a
// sample's residual bookkeeping, then its next mixing coefficients). Plain pointers and no
// standard-library calls, so that the same functions compile as __host__ __device__ code.
#pragma once

#include <cmath>
#include <limits>

#include "tessera/config.hpp"
#include "tessera/core/shape.hpp"

namespace tessera::implicit::detail {

TESSERA_HOST_DEVICE double hd_abs(double v) { return v < 0 ? -v : v; }
/// false for ±∞ and NaN (IEEE arithmetic: v − v is NaN for both).
TESSERA_HOST_DEVICE bool hd_finite(double v) { return v - v == 0; }
/// std::max's rule: (a < b) ? b : a.
TESSERA_HOST_DEVICE double hd_max(double a, double b) { return a < b ? b : a; }
TESSERA_HOST_DEVICE double hd_inf() {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(0x7ff0000000000000LL);
#else
  return std::numeric_limits<double>::infinity();
#endif
}

/// Solves the dense n×n system A x = rhs (row-major A, overwritten) by Gaussian elimination
/// with partial pivoting; the solution replaces rhs. Returns false when a pivot is at most
/// `pivot_tol` times the largest entry of A, or A or the solution is not finite.
TESSERA_HOST_DEVICE bool solve_dense_inplace(double* A, double* rhs, int n, double pivot_tol) {
  double amax = 0;
  for (int i = 0; i < n * n; ++i) {
    if (!hd_finite(A[i])) return false;
    amax = hd_max(amax, hd_abs(A[i]));
  }
  if (amax == 0) return false;
  const double tiny = pivot_tol * amax;
  for (int k = 0; k < n; ++k) {
    int p = k;
    for (int i = k + 1; i < n; ++i)
      if (hd_abs(A[i * n + k]) > hd_abs(A[p * n + k])) p = i;
    if (!(hd_abs(A[p * n + k]) > tiny)) return false;
    if (p != k) {
      for (int j = 0; j < n; ++j) {
        const double t = A[k * n + j];
        A[k * n + j] = A[p * n + j];
        A[p * n + j] = t;
      }
      const double t = rhs[k];
      rhs[k] = rhs[p];
      rhs[p] = t;
    }
    for (int i = k + 1; i < n; ++i) {
      const double m = A[i * n + k] / A[k * n + k];
      if (m == 0) continue;
      for (int j = k; j < n; ++j) A[i * n + j] -= m * A[k * n + j];
      rhs[i] -= m * rhs[k];
    }
  }
  for (int k = n; k-- > 0;) {
    double s = rhs[k];
    for (int j = k + 1; j < n; ++j) s -= A[k * n + j] * rhs[j];
    rhs[k] = s / A[k * n + k];
    if (!hd_finite(rhs[k])) return false;
  }
  return true;
}

/// Doubles of workspace anderson_row_alpha needs for n history terms.
TESSERA_HOST_DEVICE int anderson_row_work(int n) { return (n + 1) * (n + 2); }

/// Entry (i, j) of a Gram matrix stored with leading dimension ld, through the index map idx
/// when it is not null.
TESSERA_HOST_DEVICE double gram_entry(const double* g, int ld, const int* idx, int i, int j) {
  return idx != nullptr ? g[idx[i] * ld + idx[j]] : g[i * ld + j];
}

/// What anderson_row_alpha did.
enum anderson_row_status : int {
  anderson_solved = 0,    ///< the system with λ as given
  anderson_raised = 1,    ///< solved after raising λ (a safeguard step)
  anderson_fallback = 2,  ///< no solution: α = e_s, a Picard step from the newest iterate
};

/// One sample's Anderson coefficients α (n of them, into a) from its Gram matrix g (entries
/// g[p_i·ld + p_j] = ⟨g_i, g_j⟩, i, j < n, with p_i = idx[i], or i when idx is null; s the
/// newest term): the bordered system
/// [[0, 1ᵀ], [1, G + λ' I]] [ν; α] = [1; 0] with λ' = λ, or λ · max_i G_ii when relative, scaled
/// by 1/(max diag + λ') (α unchanged, pivots O(1)). A singular or non-finite system, or one
/// with |α_i| > 1e8, is retried with λ' raised (×100, at least 1e-10 · max diag) three times;
/// then α = e_s. A sample whose residuals are all 0 (solved) takes α = e_s as a solved system,
/// not a fallback. `work` holds anderson_row_work(n) doubles.
TESSERA_HOST_DEVICE int anderson_row_alpha(const double* g, int ld, int n, int s, double lambda,
                                           bool relative, double* a, double* work,
                                           const int* idx = nullptr) {
  for (int i = 0; i < n; ++i) a[i] = 0;
  double smax = 0;
  for (int i = 0; i < n; ++i) smax = hd_max(smax, gram_entry(g, ld, idx, i, i));
  if (smax == 0) {  // every residual kept is 0: the sample is solved, and α = e_s keeps it
    a[s] = 1;
    return anderson_solved;
  }
  bool ok = false, raised = false;
  if (smax > 0 && hd_finite(smax)) {
    double lam = relative ? lambda * smax : lambda;
    const int k = n + 1;
    double* M = work;
    double* rhs = work + k * k;
    for (int attempt = 0; attempt < 4 && !ok; ++attempt) {
      if (attempt > 0) {
        lam = hd_max(100 * lam, 1e-10 * smax);
        raised = true;
      }
      const double c = 1.0 / (smax + lam);
      for (int i = 0; i < k * k; ++i) M[i] = 0;
      for (int i = 0; i < k; ++i) rhs[i] = 0;
      rhs[0] = 1;
      for (int i = 0; i < n; ++i) {
        M[i + 1] = 1;
        M[(i + 1) * k] = 1;
        for (int j = 0; j < n; ++j)
          M[(i + 1) * k + j + 1] = (gram_entry(g, ld, idx, i, j) + (i == j ? lam : 0.0)) * c;
      }
      ok = solve_dense_inplace(M, rhs, k, 1e-15);
      if (ok)
        for (int i = 0; i < n; ++i) ok = ok && hd_abs(rhs[i + 1]) <= 1e8;
      if (ok)
        for (int i = 0; i < n; ++i) a[i] = rhs[i + 1];
    }
  }
  if (!ok) {
    for (int i = 0; i < n; ++i) a[i] = i == s ? 1.0 : 0.0;
    return anderson_fallback;
  }
  return raised ? anderson_raised : anderson_solved;
}

// --- the device-resident solve's per-sample state ---------------------------------------------
// solver_options::device_resident keeps every decision of a Picard or Anderson solve on the
// device: a ring of `ring` history slots (slot k % ring holds iteration k's iterate x_k, mixed
// point u_k = x_k + β r_k and residual r_k), and one buffer of doubles with the per-sample state
// below. After each residual pass one single-block kernel runs, for every sample,
// resident_residual (residual, tolerance, best iterate), then, once the block knows whether
// any sample's residual was not finite, resident_step (the next combination's coefficients).
// The host reads the buffer once, after the last iteration.

/// Largest Anderson history of the device-resident solve (the combination reads the ring's
/// mixed points and iterates and the saved best's in one pass of at most 16 terms).
inline constexpr int resident_max_history = 7;
/// Doubles of per-thread workspace resident_step needs (history of at most 7 terms): α and
/// anderson_row_alpha's workspace (the Gram matrix is read in place through an index map, so
/// the step kernel's stack stays under CUDA's default 1 KB a thread).
inline constexpr int resident_work =
    resident_max_history + (resident_max_history + 1) * (resident_max_history + 2);

/// Sizes, settings and the state's arrays (each `rows` entries unless said; integers are
/// stored as doubles, exactly).
struct resident_view {
  int ring = 2;          ///< history slots, ≤ resident_max_history (2 for Picard)
  bool anderson = true;  ///< false: every step is Picard (u_k)
  index_t rows = 1;
  int blocks = 1;  ///< partial sums per sample of each dot product (the pass's blocks)
  int ndots = 2;  ///< doubles per partial: ‖r‖², ‖f‖², ⟨r, g_j⟩ for the others in slot order
  double lambda = 0, abs_tol = 0, rel_tol = 0, scale = 1;
  bool relative = true;
  int ref = 0;                      ///< 0: ‖f(x)‖, 1: the first residual, 2: `given`
  const double* partial = nullptr;  ///< [rows][blocks][ndots], the pass's block partials
  double* dots = nullptr;           ///< [rows][ndots]: their sums
  double* gram = nullptr;           ///< [rows][ring][ring]: ⟨r_i, r_j⟩ by slot
  double* best_res = nullptr;       ///< the lowest residual so far (∞ when not finite)
  double* best_iter = nullptr;      ///< the iteration that had it
  double* ref0 = nullptr;           ///< the first residual
  const double* given = nullptr;    ///< reference norms when ref == 2
  double* hist = nullptr;           ///< [iterations][rows]: every residual
  double* coef = nullptr;           ///< [rows][2 (ring + 1)]: the slots' u, the saved best's u, the
                                    ///< slots' x, the saved best's x
  double* restarts = nullptr;       ///< restarts since the best iterate last changed
  double* valid = nullptr;          ///< bit mask of the slots in Anderson's history
  double* finite = nullptr;         ///< 1 when this iteration's residual is finite
  double* conv = nullptr;           ///< 1 once a residual met the tolerance
  double* flags = nullptr;          ///< [iterations]: 1 when that step left the plain update
};

/// Phase 1 for sample b after iteration k's residual pass: adds the pass's block partials (in
/// block order, as solver_kernels<cuda>::passes does on the host), records the residual, the
/// convergence and the best iterate (iteration 0, or a finite residual below the best).
/// Returns whether the residual is not finite.
TESSERA_HOST_DEVICE bool resident_residual(const resident_view& v, index_t b, int k) {
  double* d = v.dots + b * v.ndots;
  for (int q = 0; q < v.ndots; ++q) d[q] = 0;
  const double* src = v.partial + b * v.blocks * v.ndots;
  for (int blk = 0; blk < v.blocks; ++blk)
    for (int q = 0; q < v.ndots; ++q) d[q] += src[blk * v.ndots + q];
  const double res = ::sqrt(d[0]) * v.scale;
  if (k == 0) v.ref0[b] = res;
  const double ref = v.ref == 0 ? ::sqrt(d[1]) * v.scale : v.ref == 1 ? v.ref0[b] : v.given[b];
  const double tol = hd_max(v.abs_tol, v.rel_tol * ref);
  v.hist[static_cast<index_t>(k) * v.rows + b] = res;
  const bool fin = hd_finite(res);
  v.finite[b] = fin ? 1 : 0;
  if (fin && res <= tol) v.conv[b] = 1;
  if (k == 0 || (fin && res < v.best_res[b])) {
    v.best_res[b] = fin ? res : hd_inf();
    v.best_iter[b] = k;
    v.restarts[b] = 0;
  }
  return !fin;
}

/// The step of a restart from the best iterate x*: x* + 2⁻ʲ β r* = (1 − 2⁻ʲ) x* + 2⁻ʲ u*, for
/// the j-th restart since x* became the best, so that restarts from one best iterate do not
/// replay the step that met a non-finite value. (Once 2⁻ʲ β r* is below x*'s rounding, after
/// ~24 restarts in float or ~53 in double, the step is x* itself and the solve alternates
/// between x* and its failing step until max_iter.) Returns 2⁻ʲ, j capped at 64 so that the
/// weight is never 0 (every path then reads u* alike, even a non-finite one).
TESSERA_HOST_DEVICE double restart_weight(double restarts) {
  double w = 1;
  for (double j = 0; j < restarts && j < 64; ++j) w *= 0.5;  // exact
  return w;
}

/// Phase 2 for sample b: the coefficients of x_{k+1} = Σ_i coef_i u_i + coef_ring · (the saved
/// best's u) + Σ_i coef_{ring+1+i} x_i + coef_{2 ring+1} · (the saved best's x). When any
/// sample's residual was not finite (`any_bad`), the history is cleared and the step is Picard:
/// u_k, or on a sample whose residual is not finite a restart from the best iterate (its slot
/// while the ring holds it, else the saved copy) with the step restart_weight gives. Otherwise
/// Picard (u_k) for the Picard method and while the history holds one term, else Anderson over
/// the history's slots in slot order (the order solve_values_space's history takes when no
/// sample was reset, so the two give the same coefficients). `work`: resident_work doubles.
TESSERA_HOST_DEVICE void resident_step(const resident_view& v, index_t b, int k, bool any_bad,
                                       double* work) {
  const int R1 = v.ring + 1, s = k % v.ring;
  double* c = v.coef + b * 2 * R1;
  for (int i = 0; i < 2 * R1; ++i) c[i] = 0;
  if (any_bad) {
    v.valid[b] = 0;
    v.flags[k] = 1;
    if (v.finite[b] != 0) {
      c[s] = 1;
    } else {
      v.restarts[b] += 1;
      const double w = restart_weight(v.restarts[b]);
      const int bi = static_cast<int>(v.best_iter[b]);
      const int slot = bi > k - v.ring ? bi % v.ring : v.ring;
      c[slot] = w;
      c[R1 + slot] = 1 - w;
    }
    return;
  }
  if (!v.anderson) {
    c[s] = 1;
    return;
  }
  const double* d = v.dots + b * v.ndots;
  double* g = v.gram + b * v.ring * v.ring;
  const int valid = static_cast<int>(v.valid[b]) | (1 << s);
  v.valid[b] = valid;
  g[s * v.ring + s] = d[0];
  const int written = k + 1 < v.ring ? k + 1 : v.ring;
  for (int i = 0, j = 0; i < written; ++i)
    if (i != s) {
      g[s * v.ring + i] = g[i * v.ring + s] = d[2 + j];
      ++j;
    }
  int idx[resident_max_history];
  int n = 0, sp = 0;
  for (int i = 0; i < v.ring; ++i)
    if ((valid >> i) & 1) {
      if (i == s) sp = n;
      idx[n++] = i;
    }
  if (n == 1) {
    c[s] = 1;
    return;
  }
  double* a = work;
  if (anderson_row_alpha(g, v.ring, n, sp, v.lambda, v.relative, a, a + n, idx) != anderson_solved)
    v.flags[k] = 1;
  for (int i = 0; i < n; ++i) c[idx[i]] = a[i];
}

}  // namespace tessera::implicit::detail
