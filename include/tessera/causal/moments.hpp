// SPDX-License-Identifier: Apache-2.0
// The per-pair inner loop of DirectLiNGAM: for both residuals of a pair, u = (a - ρ b)·s and
// (b - ρ a)·s over n samples, the sums Σ (|u| + log1p(exp(-2|u|))) (= Σ log cosh u + n log 2)
// and Σ u·exp(-u²/2), accumulated in double in an order that depends only on n
// (deterministic); one pass reads both variables once.
//
// Two evaluations:
// - `pair_moments<double>` / `<float>`: branch-free exp and log1p polynomials (vectorised
//   by the compiler). log1p(y), y ∈ [0, 1], is range-split at √2 - 1 so that its atanh series
//   runs on |t| ≤ 0.1716 (10 terms in double, 5 in float).
// - `pair_moments_table` (AVX-512 only; the mixed-precision path): both functions of
//   a = |u| from piecewise polynomials on 32 segments of [0, 9] — g(a) = log1p(exp(-2a)),
//   degree 4, and e(a) = exp(-a²/2), degree 5 — whose coefficients sit in registers and are
//   looked up with one permute each. Interpolation error below 1.2e-7 (g) and 3e-8 (e)
//   absolute including the float rounding of the coefficients, i.e. FP32 accuracy; beyond
//   a = 9 the tables hold their end values (g(9) = 1.5e-8, e(9) = 3e-18).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "tessera/config.hpp"
#include "tessera/core/shape.hpp"
#include "tessera/core/vmath.hpp"

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define TESSERA_CAUSAL_TABLE_KERNEL 1
#else
#define TESSERA_CAUSAL_TABLE_KERNEL 0
#endif

namespace tessera::causal::detail {

/// log1p(y) for y ∈ [0, 1]: log((1 + y)/(1 + c)) = 2 atanh(t), t = (y - c)/(2 + y + c), with
/// c = 1 above √2 - 1 (then + log 2) and c = 0 below, so |t| ≤ 3 - 2√2 = 0.1716.
template <class C>
inline C log1p_unit_split(C y) {
  const bool hi = y > C(0.41421356237309515);
  const C c = hi ? C(1) : C(0);
  const C t = (y - c) / (C(2) + y + c);
  const C t2 = t * t;
  C p;
  if constexpr (std::is_same_v<C, float>) {
    p = C(1) / C(9);
    p = p * t2 + C(1) / C(7);
    p = p * t2 + C(1) / C(5);
    p = p * t2 + C(1) / C(3);
    p = p * t2 + C(1);
  } else {
    p = C(1) / C(19);
    p = p * t2 + C(1) / C(17);
    p = p * t2 + C(1) / C(15);
    p = p * t2 + C(1) / C(13);
    p = p * t2 + C(1) / C(11);
    p = p * t2 + C(1) / C(9);
    p = p * t2 + C(1) / C(7);
    p = p * t2 + C(1) / C(5);
    p = p * t2 + C(1) / C(3);
    p = p * t2 + C(1);
  }
  return C(2) * t * p + (hi ? C(std::numbers::ln2) : C(0));
}

/// The moment sums of both residuals of a pair: u = (a - ρ b)·s ("ab") and v = (b - ρ a)·s
/// ("ba"); lc = Σ (|u| + log1p(exp(-2|u|))), ue = Σ u·exp(-u²/2).
struct moment_sums {
  double lc_ab = 0, ue_ab = 0, lc_ba = 0, ue_ba = 0;
};

/// moment_sums with the transcendentals in C. Sums run per 256-sample block in C and across
/// blocks in double.
template <class C, class T>
moment_sums pair_moments(const T* a, const T* b, index_t n, double rho, double s) {
  constexpr index_t block = 256;
  moment_sums r;
  const T rh = static_cast<T>(rho), sc = static_cast<T>(s);
  for (index_t t0 = 0; t0 < n; t0 += block) {
    const index_t m = std::min(block, n - t0);
    const T* pa = a + t0;
    const T* pb = b + t0;
    C lu = C(0), eu = C(0), lv = C(0), ev = C(0);
    TESSERA_OMP_SIMD(reduction(+ : lu, eu, lv, ev))
    for (index_t t = 0; t < m; ++t) {
      const C u = static_cast<C>((pa[t] - rh * pb[t]) * sc);
      const C v = static_cast<C>((pb[t] - rh * pa[t]) * sc);
      const C au = std::abs(u), av = std::abs(v);
      lu += au + log1p_unit_split(vmath::exp_nonpositive(C(-2) * au));
      eu += u * vmath::exp_nonpositive(C(-0.5) * u * u);
      lv += av + log1p_unit_split(vmath::exp_nonpositive(C(-2) * av));
      ev += v * vmath::exp_nonpositive(C(-0.5) * v * v);
    }
    r.lc_ab += static_cast<double>(lu);
    r.ue_ab += static_cast<double>(eu);
    r.lc_ba += static_cast<double>(lv);
    r.ue_ba += static_cast<double>(ev);
  }
  return r;
}

/// Piecewise-polynomial tables of g(a) = log1p(exp(-2a)) and e(a) = exp(-a²/2) on [0, 9]:
/// on segment k, a = (k + x)·h with x ∈ [0, 1), h = 9/32, f(a) = Σ_j c[j][k] x^j. The
/// coefficients interpolate f at the segment's Chebyshev nodes (computed once, in double).
struct moment_tables {
  static constexpr int segments = 32;
  static constexpr double range = 9.0;
  static constexpr int deg_g = 4, deg_e = 5;
  alignas(64) float g[deg_g + 1][segments];
  alignas(64) float e[deg_e + 1][segments];

  moment_tables() {
    const double h = range / segments;
    const auto g_of = [](double a) { return std::log1p(std::exp(-2.0 * a)); };
    const auto e_of = [](double a) { return std::exp(-0.5 * a * a); };
    fit(deg_g, h, g_of, &g[0][0]);
    fit(deg_e, h, e_of, &e[0][0]);
  }

 private:
  template <class F>
  static void fit(int deg, double h, F f, float* out) {
    const int m = deg + 1;
    for (int k = 0; k < segments; ++k) {
      // Vandermonde system at the Chebyshev nodes of [0, 1], solved with partial pivoting.
      double A[8][8] = {};
      double y[8] = {};
      for (int i = 0; i < m; ++i) {
        const double x = 0.5 + 0.5 * std::cos(std::numbers::pi * (i + 0.5) / m);
        double p = 1.0;
        for (int j = 0; j < m; ++j, p *= x) A[i][j] = p;
        y[i] = f((k + x) * h);
      }
      for (int c = 0; c < m; ++c) {
        int piv = c;
        for (int r = c + 1; r < m; ++r)
          if (std::abs(A[r][c]) > std::abs(A[piv][c])) piv = r;
        std::swap(A[c], A[piv]);
        std::swap(y[c], y[piv]);
        for (int r = c + 1; r < m; ++r) {
          const double l = A[r][c] / A[c][c];
          for (int j = c; j < m; ++j) A[r][j] -= l * A[c][j];
          y[r] -= l * y[c];
        }
      }
      for (int c = m - 1; c >= 0; --c) {
        double v = y[c];
        for (int j = c + 1; j < m; ++j) v -= A[c][j] * y[j];
        y[c] = v / A[c][c];
      }
      for (int j = 0; j < m; ++j) out[j * segments + k] = static_cast<float>(y[j]);
    }
  }
};

inline const moment_tables& moment_table() {
  static const moment_tables t;
  return t;
}

#if TESSERA_CAUSAL_TABLE_KERNEL

/// The residuals u = (a - ρ b)·s and v = (b - ρ a)·s of 16 samples (lanes outside `mask`
/// are 0): from float data in float, from double data in double and then rounded.
struct residual_pair {
  __m512 u, v;
};
inline residual_pair load_residuals(const float* a, const float* b, __mmask16 mask, __m512 s,
                                    __m512 rs, __m512d, __m512d) {
  const __m512 va = _mm512_maskz_loadu_ps(mask, a), vb = _mm512_maskz_loadu_ps(mask, b);
  return {_mm512_fnmadd_ps(vb, rs, _mm512_mul_ps(va, s)),
          _mm512_fnmadd_ps(va, rs, _mm512_mul_ps(vb, s))};
}
inline __m512 join(__m512d lo, __m512d hi) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
}
inline residual_pair load_residuals(const double* a, const double* b, __mmask16 mask, __m512,
                                    __m512, __m512d rho, __m512d s) {
  const __mmask8 m0 = static_cast<__mmask8>(mask), m1 = static_cast<__mmask8>(mask >> 8);
  const __m512d a0 = _mm512_maskz_loadu_pd(m0, a), a1 = _mm512_maskz_loadu_pd(m1, a + 8);
  const __m512d b0 = _mm512_maskz_loadu_pd(m0, b), b1 = _mm512_maskz_loadu_pd(m1, b + 8);
  auto res = [&](__m512d x, __m512d y) { return _mm512_mul_pd(_mm512_fnmadd_pd(y, rho, x), s); };
  return {join(res(a0, b0), res(a1, b1)), join(res(b0, a0), res(b1, a1))};
}

/// The table evaluation of pair_moments (same sums, FP32 accuracy).
template <class T>
moment_sums pair_moments_table(const T* a, const T* b, index_t n, double rho, double s) {
  using mt = moment_tables;
  const mt& tb = moment_table();
  __m512 g_lo[mt::deg_g + 1], g_hi[mt::deg_g + 1], e_lo[mt::deg_e + 1], e_hi[mt::deg_e + 1];
  for (int j = 0; j <= mt::deg_g; ++j) {
    g_lo[j] = _mm512_load_ps(&tb.g[j][0]);
    g_hi[j] = _mm512_load_ps(&tb.g[j][16]);
  }
  for (int j = 0; j <= mt::deg_e; ++j) {
    e_lo[j] = _mm512_load_ps(&tb.e[j][0]);
    e_hi[j] = _mm512_load_ps(&tb.e[j][16]);
  }
  const __m512 scale = _mm512_set1_ps(static_cast<float>(mt::segments / mt::range));
  const __m512 qmax = _mm512_set1_ps(static_cast<float>(mt::segments));
  const __m512i last = _mm512_set1_epi32(mt::segments - 1);
  // Adds |w| + g(|w|) to lc and w·e(|w|) to ue on the lanes of mask.
  auto accumulate = [&](__m512 w, __mmask16 mask, __m512& lc, __m512& ue) {
    const __m512 aw = _mm512_abs_ps(w);
    const __m512 q = _mm512_min_ps(_mm512_mul_ps(aw, scale), qmax);
    // q >= 0, so truncation is the floor; |w| >= 9 uses the last segment at x = 1.
    const __m512i idx = _mm512_min_epi32(_mm512_cvttps_epi32(q), last);
    const __m512 x = _mm512_sub_ps(q, _mm512_cvtepi32_ps(idx));
    __m512 pg = _mm512_permutex2var_ps(g_lo[mt::deg_g], idx, g_hi[mt::deg_g]);
    __m512 pe = _mm512_permutex2var_ps(e_lo[mt::deg_e], idx, e_hi[mt::deg_e]);
    pe = _mm512_fmadd_ps(pe, x,
                         _mm512_permutex2var_ps(e_lo[mt::deg_e - 1], idx, e_hi[mt::deg_e - 1]));
    for (int j = mt::deg_g - 1; j >= 0; --j) {
      pg = _mm512_fmadd_ps(pg, x, _mm512_permutex2var_ps(g_lo[j], idx, g_hi[j]));
      pe = _mm512_fmadd_ps(pe, x, _mm512_permutex2var_ps(e_lo[j], idx, e_hi[j]));
    }
    lc = _mm512_mask_add_ps(lc, mask, lc, _mm512_add_ps(aw, pg));
    ue = _mm512_mask3_fmadd_ps(w, pe, ue, mask);
  };
  const __m512 sf = _mm512_set1_ps(static_cast<float>(s));
  const __m512 rsf = _mm512_set1_ps(static_cast<float>(rho * s));
  const __m512d rhod = _mm512_set1_pd(rho), sd = _mm512_set1_pd(s);
  __m512d acc[8];
  for (auto& x : acc) x = _mm512_setzero_pd();
  auto add_block = [&](__m512 v, __m512d& lo, __m512d& hi) {
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
  };
  constexpr index_t block = 256;
  for (index_t t0 = 0; t0 < n; t0 += block) {
    const index_t te = std::min(n, t0 + block);
    __m512 lu = _mm512_setzero_ps(), eu = lu, lv = lu, ev = lu;
    for (index_t t = t0; t < te; t += 16) {
      const index_t left = te - t;
      const __mmask16 mask =
          left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
      const residual_pair r = load_residuals(a + t, b + t, mask, sf, rsf, rhod, sd);
      accumulate(r.u, mask, lu, eu);
      accumulate(r.v, mask, lv, ev);
    }
    add_block(lu, acc[0], acc[1]);
    add_block(eu, acc[2], acc[3]);
    add_block(lv, acc[4], acc[5]);
    add_block(ev, acc[6], acc[7]);
  }
  // Lane sums in a fixed order (not _mm512_reduce_add_pd, whose GCC 12 expansion warns).
  auto total = [](__m512d lo, __m512d hi) {
    alignas(64) double l[8];
    _mm512_store_pd(l, _mm512_add_pd(lo, hi));
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
  };
  moment_sums m;
  m.lc_ab = total(acc[0], acc[1]);
  m.ue_ab = total(acc[2], acc[3]);
  m.lc_ba = total(acc[4], acc[5]);
  m.ue_ba = total(acc[6], acc[7]);
  return m;
}

#endif

}  // namespace tessera::causal::detail
