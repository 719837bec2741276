// SPDX-License-Identifier: Apache-2.0
// The fused truncated 2-D DFTs of spectral_conv2d (cuda/spectral.cuh runs them as kernels, one
// thread block per (batch, channel) slice): the forward transform takes a real (H, W) slice to
// its kept modes, written straight into the mode-major layout of the per-mode products, and the
// inverse takes the products' modes back to a real (H, W) slice. Each kernel is a sequence of
// phases separated by block barriers; the phases are plain functions of the thread index and
// the block's shared memory, so that the host tests can run them too: every phase for every
// thread, one phase after the other, which is exactly what the barriers guarantee.
//
// The arithmetic is that of spectral_conv2d's truncated-DFT GEMMs (the same basis values), with
// the symmetries of the roots of unity used to halve the multiplications:
//   forward, along W: for w and W - w the cosine rows are equal and the sine rows opposite, so
//     the sums run over x[w] + x[W-w] (cosines) and x[w] - x[W-w] (sines), w < W/2;
//   forward, along H: rows h and H - h are computed by one thread, which stores their sum P in
//     row h and their difference Q in row H - h; then z_h e^{-iφ} + z_{H-h} e^{iφ} =
//     P cos φ - i Q sin φ;
//   inverse, along H: z[h] = A + iB and z[H-h] = A - iB with A = Σ_r Y_r cos φ_r and
//     B = Σ_r Y_r sin φ_r;
//   inverse, along W: out[h][w] = E + O and out[h][W-w] = E - O, with E the cosine part and O
//     the sine part of column w.
// The rows of a slice are taken in groups (row_groups, tdft2_group_row): row 0, the pairs
// (h, H - h) for 1 ≤ h < H/2, and row H/2 when H is even.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "tessera/config.hpp"
#include "tessera/core/shape.hpp"
#include "tessera/core/tensor.hpp"
#include "tessera/spectral/spectral_conv.hpp"

#if defined(__CUDA_ARCH__)
#define TESSERA_DFT_UNROLL _Pragma("unroll")
#elif defined(__CUDACC__)
#define TESSERA_DFT_UNROLL  // nvcc's host pass: neither pragma is understood by both compilers
#else
#define TESSERA_DFT_UNROLL _Pragma("GCC unroll 16")
#endif

namespace tessera::spectral::detail {

/// The shapes of one fused truncated 2-D DFT: `slices` (B·C) real (H, W) slices, modes rows
/// [0, m1) ∪ [H-m1, H) and columns [0, m2), as spectral_conv2d keeps them.
struct tdft2_geometry {
  index_t slices = 0;
  int H = 0, W = 0, m1 = 0, m2 = 0;
  int jp = 0;     ///< 2·m2 rounded up to a multiple of 8: row length of the W-stage results
  int pitch = 0;  ///< row pitch of the staged input slice: W when odd, W + 1 when even
  int xw_at = 0;  ///< where the forward kernel's W-stage results start in shared memory

  static tdft2_geometry make(index_t slices, index_t H, index_t W, index_t m1, index_t m2) {
    tdft2_geometry g;
    g.slices = slices;
    g.H = static_cast<int>(H);
    g.W = static_cast<int>(W);
    g.m1 = static_cast<int>(m1);
    g.m2 = static_cast<int>(m2);
    g.jp = static_cast<int>((2 * m2 + 7) / 8 * 8);
    g.pitch = g.W % 2 == 1 ? g.W : g.W + 1;
    g.xw_at = (g.H * g.pitch + 7) / 8 * 8;
    return g;
  }
  /// Shared memory of the forward kernel, in values: the staged slice, then the W-stage rows.
  [[nodiscard]] index_t forward_smem() const { return index_t{xw_at} + index_t{H} * jp; }
  /// Shared memory of the inverse kernel, in values: the slice's modes, then the H-stage rows.
  [[nodiscard]] index_t inverse_smem() const { return index_t{2} * m1 * jp + index_t{H} * jp; }
  /// Row groups of a slice: row 0, the (H - 1)/2 pairs (h, H - h), and row H/2 for even H.
  [[nodiscard]] TESSERA_HOST_DEVICE int row_groups() const {
    return 1 + (H - 1) / 2 + (H % 2 == 0 ? 1 : 0);
  }
  /// Threads of the forward kernel's block: enough for the W stage (one per row group and 8
  /// values) and the H stage (one per kept row and two modes), and at least 256 for the
  /// staging of the slice (16 loads in flight per thread).
  [[nodiscard]] int forward_threads() const {
    const int items = std::max({row_groups() * (jp / 8), 2 * m1 * (jp / 4), 256});
    return std::clamp((items + 31) / 32 * 32, 64, 512);
  }
  static constexpr int inverse_threads = 256;
};

/// Row group i of a slice (see row_groups): its first row, and whether H - row belongs to it.
TESSERA_HOST_DEVICE int tdft2_group_row(const tdft2_geometry& g, int i, bool& paired) {
  const int pairs = (g.H - 1) / 2;
  paired = i >= 1 && i <= pairs;
  return i <= pairs ? i : g.H / 2;
}

/// The tables of the fused kernels (memory space S), rearranged from make_conv2d_bases' basis
/// values: f1t (W, jp) the forward W-stage matrix f1 transposed (column 2k: cos 2πkw/W,
/// 2k+1: -sin; zero past 2·m2); tw_hr (H, 2·m1, 2) and tw_rh (2·m1, H, 2) the (cos, sin) of
/// 2π·k_r·h/H for the kept row frequencies k_r (r < m1: r, else H - 2·m1 + r; g's columns 2r),
/// in the two orders the forward and inverse H stages read; finv (2·m2, W) the W synthesis with
/// its weights c_k/(H·W) (the bases' finv).
template <class T, class S = host>
struct tdft2_tables {
  tensor<T, S> f1t, tw_hr, tw_rh, finv;
};

template <class T>
tdft2_tables<T> make_tdft2_tables(index_t H, index_t W, index_t m1, index_t m2) {
  const tdft2_geometry g = tdft2_geometry::make(1, H, W, m1, m2);
  const conv2d_bases<T> b = make_conv2d_bases<T>(H, W, m1, m2);
  tdft2_tables<T> t{zeros<T>(shape_t{W, g.jp}), tensor<T>(shape_t{H, 2 * m1, 2}),
                    tensor<T>(shape_t{2 * m1, H, 2}), b.finv};
  for (index_t j = 0; j < 2 * m2; ++j)
    for (index_t w = 0; w < W; ++w) t.f1t(w, j) = b.f1(j, w);
  for (index_t r = 0; r < 2 * m1; ++r)
    for (index_t h = 0; h < H; ++h) {
      t.tw_hr(h, r, 0) = t.tw_rh(r, h, 0) = b.g(h, 2 * r);      // cos
      t.tw_hr(h, r, 1) = t.tw_rh(r, h, 1) = b.g(H + h, 2 * r);  // sin
    }
  return t;
}

/// Four consecutive values at p (16-byte aligned on the device).
template <class T>
TESSERA_HOST_DEVICE void tdft2_load4(const T* p, T& a, T& b, T& c, T& d) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    a = v.x, b = v.y, c = v.z, d = v.w;
    return;
  } else if constexpr (std::is_same_v<T, double>) {
    const double2 v = reinterpret_cast<const double2*>(p)[0];
    const double2 u = reinterpret_cast<const double2*>(p)[1];
    a = v.x, b = v.y, c = u.x, d = u.y;
    return;
  }
#endif
  a = p[0], b = p[1], c = p[2], d = p[3];
}

/// Two consecutive values at p (2·sizeof(T)-aligned on the device).
template <class T>
TESSERA_HOST_DEVICE void tdft2_load2(const T* p, T& a, T& b) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    const float2 v = *reinterpret_cast<const float2*>(p);
    a = v.x, b = v.y;
    return;
  } else if constexpr (std::is_same_v<T, double>) {
    const double2 v = *reinterpret_cast<const double2*>(p);
    a = v.x, b = v.y;
    return;
  }
#endif
  a = p[0], b = p[1];
}

/// Stores four consecutive values at p (aligned as tdft2_load4).
template <class T>
TESSERA_HOST_DEVICE void tdft2_store4(T* p, T a, T b, T c, T d) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    *reinterpret_cast<float4*>(p) = make_float4(a, b, c, d);
    return;
  } else if constexpr (std::is_same_v<T, double>) {
    reinterpret_cast<double2*>(p)[0] = make_double2(a, b);
    reinterpret_cast<double2*>(p)[1] = make_double2(c, d);
    return;
  }
#endif
  p[0] = a, p[1] = b, p[2] = c, p[3] = d;
}

/// Forward phase 1: slice x (H·W contiguous values) into shared memory, rows `pitch` apart.
/// Sixteen loads per thread are issued before their stores, so that they are in flight
/// together.
template <class T>
TESSERA_HOST_DEVICE void tdft2_fwd_stage(const tdft2_geometry& g, int tid, int nt, T* sm,
                                         const T* TESSERA_RESTRICT x) {
  constexpr int U = 16;
  const int n = g.H * g.W, dh = nt / g.W, dw = nt - dh * g.W;
  int h = tid / g.W, w = tid - h * g.W;  // element tid, advanced by nt = (dh, dw) per step
  for (int base = tid; base < n; base += U * nt) {
    T v[U];
    TESSERA_DFT_UNROLL
    for (int u = 0; u < U; ++u) {
      const int i = base + u * nt;
      v[u] = i < n ? x[i] : T(0);
    }
    TESSERA_DFT_UNROLL
    for (int u = 0; u < U; ++u) {
      if (base + u * nt < n) sm[h * g.pitch + w] = v[u];
      h += dh;
      w += dw;
      if (w >= g.W) w -= g.W, ++h;
    }
  }
}

/// Forward phase 2, along W: row h's kept W-modes xw[h][2k + (0 re, 1 im)] = Σ_w x[h][w]·f1t[w],
/// folded over w ↔ W - w, one thread per (row group, 8 consecutive values). A pair of rows
/// (h, H - h) leaves P = xw[h] + xw[H-h] in row h and Q = xw[h] - xw[H-h] in row H - h.
template <class T>
TESSERA_HOST_DEVICE void tdft2_fwd_w(const tdft2_geometry& g, int tid, int nt, T* sm,
                                     const T* TESSERA_RESTRICT f1t) {
  const int chunks = g.jp / 8, groups = g.row_groups(), items = groups * chunks;
  const int pairs = (g.W - 1) / 2;
  for (int it = tid; it < items; it += nt) {
    const int c = it / groups, gi = it - c * groups;  // neighbouring threads: neighbouring rows
    bool paired = false;
    const int h = tdft2_group_row(g, gi, paired), h2 = paired ? g.H - h : h;
    const T* row = sm + h * g.pitch;
    const T* row2 = sm + h2 * g.pitch;  // the same row when unpaired (its sums are unused)
    const T* f = f1t + 8 * c;
    T acc[8], acc2[8];
    {
      const T x0 = row[0], y0 = row2[0];
      T fv[8];
      tdft2_load4(f, fv[0], fv[1], fv[2], fv[3]);
      tdft2_load4(f + 4, fv[4], fv[5], fv[6], fv[7]);
      TESSERA_DFT_UNROLL
      for (int u = 0; u < 8; ++u) acc[u] = x0 * fv[u], acc2[u] = y0 * fv[u];
    }
    for (int w = 1; w <= pairs; ++w) {
      const T a = row[w], b = row[g.W - w], a2 = row2[w], b2 = row2[g.W - w];
      // the cosine (even) and sine (odd) columns' inputs of both rows
      const T sum = a + b, dif = a - b, sum2 = a2 + b2, dif2 = a2 - b2;
      const T* fw = f + w * g.jp;
      T fv[8];
      tdft2_load4(fw, fv[0], fv[1], fv[2], fv[3]);
      tdft2_load4(fw + 4, fv[4], fv[5], fv[6], fv[7]);
      TESSERA_DFT_UNROLL
      for (int u = 0; u < 8; u += 2) {
        acc[u] += sum * fv[u], acc[u + 1] += dif * fv[u + 1];
        acc2[u] += sum2 * fv[u], acc2[u + 1] += dif2 * fv[u + 1];
      }
    }
    if (g.W % 2 == 0) {  // the unpaired Nyquist column
      const T xm = row[g.W / 2], ym = row2[g.W / 2];
      const T* fw = f + (g.W / 2) * g.jp;
      T fv[8];
      tdft2_load4(fw, fv[0], fv[1], fv[2], fv[3]);
      tdft2_load4(fw + 4, fv[4], fv[5], fv[6], fv[7]);
      TESSERA_DFT_UNROLL
      for (int u = 0; u < 8; ++u) acc[u] += xm * fv[u], acc2[u] += ym * fv[u];
    }
    T* out = sm + g.xw_at + h * g.jp + 8 * c;
    if (paired) {
      T* out2 = sm + g.xw_at + h2 * g.jp + 8 * c;
      tdft2_store4(out, acc[0] + acc2[0], acc[1] + acc2[1], acc[2] + acc2[2], acc[3] + acc2[3]);
      tdft2_store4(out + 4, acc[4] + acc2[4], acc[5] + acc2[5], acc[6] + acc2[6], acc[7] + acc2[7]);
      tdft2_store4(out2, acc[0] - acc2[0], acc[1] - acc2[1], acc[2] - acc2[2], acc[3] - acc2[3]);
      tdft2_store4(out2 + 4, acc[4] - acc2[4], acc[5] - acc2[5], acc[6] - acc2[6],
                   acc[7] - acc2[7]);
    } else {
      tdft2_store4(out, acc[0], acc[1], acc[2], acc[3]);
      tdft2_store4(out + 4, acc[4], acc[5], acc[6], acc[7]);
    }
  }
}

/// Forward phase 3, along H: the kept modes Y[r][k] = Σ_h xw[h][k]·e^{-2πi·k_r·h/H} of slice s
/// from phase 2's rows (unpaired rows as they are, pairs as P and Q), one thread per (kept row
/// r, two W-modes), written to out (2·m2 [block·m2 + k], m1, slices, 2), the mode-major layout
/// of spectral_conv2d's per-mode products (block = r / m1).
template <class T>
TESSERA_HOST_DEVICE void tdft2_fwd_h(const tdft2_geometry& g, int tid, int nt, const T* sm,
                                     const T* TESSERA_RESTRICT tw_hr, T* TESSERA_RESTRICT out,
                                     index_t s) {
  const int r2 = 2 * g.m1, groups = g.jp / 4, items = r2 * groups, pairs = (g.H - 1) / 2;
  const T* xw = sm + g.xw_at;
  for (int it = tid; it < items; it += nt) {
    const int q = it / r2, r = it - q * r2;  // neighbouring threads: neighbouring rows r
    const int k0 = 2 * q;
    if (k0 >= g.m2) continue;  // padding only
    T re0 = 0, im0 = 0, re1 = 0, im1 = 0;
    // Unpaired rows: 0, and H/2 for even H.
    for (int h = 0; h < g.H; h += (g.H % 2 == 0 && g.H > 1 ? g.H / 2 : g.H)) {
      T c, sn, a0, b0, a1, b1;
      tdft2_load2(tw_hr + 2 * (h * r2 + r), c, sn);
      tdft2_load4(xw + h * g.jp + 4 * q, a0, b0, a1, b1);
      re0 += a0 * c + b0 * sn;
      im0 += b0 * c - a0 * sn;
      re1 += a1 * c + b1 * sn;
      im1 += b1 * c - a1 * sn;
    }
    for (int h = 1; h <= pairs; ++h) {  // P (row h) cos φ - i Q (row H - h) sin φ
      T c, sn, pa0, pb0, pa1, pb1, qa0, qb0, qa1, qb1;
      tdft2_load2(tw_hr + 2 * (h * r2 + r), c, sn);
      tdft2_load4(xw + h * g.jp + 4 * q, pa0, pb0, pa1, pb1);
      tdft2_load4(xw + (g.H - h) * g.jp + 4 * q, qa0, qb0, qa1, qb1);
      re0 += pa0 * c + qb0 * sn;
      im0 += pb0 * c - qa0 * sn;
      re1 += pa1 * c + qb1 * sn;
      im1 += pb1 * c - qa1 * sn;
    }
    const int blk = r / g.m1, rr = r - blk * g.m1;
    const index_t o0 = 2 * ((index_t{blk * g.m2 + k0} * g.m1 + rr) * g.slices + s);
    out[o0] = re0;
    out[o0 + 1] = im0;
    if (k0 + 1 < g.m2) {
      const index_t o1 = o0 + 2 * index_t{g.m1} * g.slices;
      out[o1] = re1;
      out[o1 + 1] = im1;
    }
  }
}

/// Inverse phase 1: slice s's modes from y (2·m2 [block·m2 + k], m1, slices, 2) into shared
/// memory as rows r < 2·m1 of jp values (2k re, 2k + 1 im; zero past 2·m2).
template <class T>
TESSERA_HOST_DEVICE void tdft2_inv_stage(const tdft2_geometry& g, int tid, int nt, T* sm,
                                         const T* TESSERA_RESTRICT y, index_t s) {
  const int r2 = 2 * g.m1, half = g.jp / 2, items = r2 * half;
  for (int it = tid; it < items; it += nt) {
    const int r = it / half, k = it - r * half;
    T re = 0, im = 0;
    if (k < g.m2) {
      const int blk = r / g.m1, rr = r - blk * g.m1;
      const index_t i = 2 * ((index_t{blk * g.m2 + k} * g.m1 + rr) * g.slices + s);
      re = y[i];
      im = y[i + 1];
    }
    sm[r * g.jp + 2 * k] = re;
    sm[r * g.jp + 2 * k + 1] = im;
  }
}

/// Inverse phase 2, along H (unscaled): z[h][k] = Σ_r Y[r][k]·e^{+2πi·k_r·h/H}, one thread per
/// (row group, two W-modes) computing A = Σ_r Y_r cos φ and B = Σ_r Y_r sin φ for its first
/// row h: z[h] = A + iB and, for a pair, z[H - h] = A - iB; into the rows after the modes.
template <class T>
TESSERA_HOST_DEVICE void tdft2_inv_h(const tdft2_geometry& g, int tid, int nt, T* sm,
                                     const T* TESSERA_RESTRICT tw_rh) {
  const int r2 = 2 * g.m1, groups = g.jp / 4, rows = g.row_groups(), items = rows * groups;
  T* z = sm + r2 * g.jp;
  for (int it = tid; it < items; it += nt) {
    const int q = it / rows, gi = it - q * rows;  // neighbouring threads: neighbouring rows
    bool paired = false;
    const int h = tdft2_group_row(g, gi, paired);
    T ar0 = 0, ai0 = 0, ar1 = 0, ai1 = 0, br0 = 0, bi0 = 0, br1 = 0, bi1 = 0;
    for (int r = 0; r < r2; ++r) {
      T c, sn, yr0, yi0, yr1, yi1;
      tdft2_load2(tw_rh + 2 * (r * g.H + h), c, sn);
      tdft2_load4(sm + r * g.jp + 4 * q, yr0, yi0, yr1, yi1);
      ar0 += yr0 * c, ai0 += yi0 * c, ar1 += yr1 * c, ai1 += yi1 * c;
      br0 += yr0 * sn, bi0 += yi0 * sn, br1 += yr1 * sn, bi1 += yi1 * sn;
    }
    tdft2_store4(z + h * g.jp + 4 * q, ar0 - bi0, ai0 + br0, ar1 - bi1, ai1 + br1);
    if (paired)
      tdft2_store4(z + (g.H - h) * g.jp + 4 * q, ar0 + bi0, ai0 - br0, ar1 + bi1, ai1 - br1);
  }
}

/// GELU (erf form) of v + b, as add_gelu computes it.
template <class T>
TESSERA_HOST_DEVICE T tdft2_gelu(T v, T b) {
  const T x = v + b;
  return T(0.5) * x * (T(1) + std::erf(x * T(0.7071067811865476)));
}

/// Inverse phase 3, along W: rows h of slice s, out[h][w] = Σ_k z[h][2k]·finv[2k][w] +
/// z[h][2k+1]·finv[2k+1][w], one thread per (4 rows, column w ≤ W/2) writing column w and its
/// mirror W - w. `out` is the slice (H·W contiguous values). With Gelu, out = gelu(value +
/// *bias) instead (`bias`: the slice's channel's value; a template parameter so that the plain
/// transform's kernel carries no erf).
template <class T, bool Gelu = false>
TESSERA_HOST_DEVICE void tdft2_inv_w(const tdft2_geometry& g, int tid, int nt, const T* sm,
                                     const T* TESSERA_RESTRICT finv, T* TESSERA_RESTRICT out,
                                     const T* bias = nullptr) {
  const int half = g.W / 2 + 1, quads = (g.H + 3) / 4, items = quads * half;
  const T* z = sm + 2 * g.m1 * g.jp;
  for (int it = tid; it < items; it += nt) {
    const int q = it / half, w = it - q * half;  // neighbouring threads: neighbouring columns
    const int h0 = 4 * q;
    // Rows past H read the last row (in bounds) and are not written.
    const int last = g.H - 1;
    const T* z0 = z + (h0 < last ? h0 : last) * g.jp;
    const T* z1 = z + (h0 + 1 < last ? h0 + 1 : last) * g.jp;
    const T* z2 = z + (h0 + 2 < last ? h0 + 2 : last) * g.jp;
    const T* z3 = z + (h0 + 3 < last ? h0 + 3 : last) * g.jp;
    T e0 = 0, e1 = 0, e2 = 0, e3 = 0, o0 = 0, o1 = 0, o2 = 0, o3 = 0;
    int k = 0;
    for (; k + 1 < g.m2; k += 2) {  // two modes: one 4-value load per row
      const T fc = finv[(2 * k) * g.W + w], fs = finv[(2 * k + 1) * g.W + w];
      const T gc = finv[(2 * k + 2) * g.W + w], gs = finv[(2 * k + 3) * g.W + w];
      T a0, b0, c0, d0, a1, b1, c1, d1, a2, b2, c2, d2, a3, b3, c3, d3;
      tdft2_load4(z0 + 2 * k, a0, b0, c0, d0);
      tdft2_load4(z1 + 2 * k, a1, b1, c1, d1);
      tdft2_load4(z2 + 2 * k, a2, b2, c2, d2);
      tdft2_load4(z3 + 2 * k, a3, b3, c3, d3);
      e0 += a0 * fc + c0 * gc, o0 += b0 * fs + d0 * gs;
      e1 += a1 * fc + c1 * gc, o1 += b1 * fs + d1 * gs;
      e2 += a2 * fc + c2 * gc, o2 += b2 * fs + d2 * gs;
      e3 += a3 * fc + c3 * gc, o3 += b3 * fs + d3 * gs;
    }
    if (k < g.m2) {  // an odd m2's last mode
      const T fc = finv[(2 * k) * g.W + w], fs = finv[(2 * k + 1) * g.W + w];
      T a0, b0, a1, b1, a2, b2, a3, b3;
      tdft2_load2(z0 + 2 * k, a0, b0);
      tdft2_load2(z1 + 2 * k, a1, b1);
      tdft2_load2(z2 + 2 * k, a2, b2);
      tdft2_load2(z3 + 2 * k, a3, b3);
      e0 += a0 * fc, o0 += b0 * fs;
      e1 += a1 * fc, o1 += b1 * fs;
      e2 += a2 * fc, o2 += b2 * fs;
      e3 += a3 * fc, o3 += b3 * fs;
    }
    const bool mirror = w != 0 && 2 * w != g.W;
    const T e[4] = {e0, e1, e2, e3}, o[4] = {o0, o1, o2, o3};
    TESSERA_DFT_UNROLL
    for (int u = 0; u < 4; ++u) {
      const int h = h0 + u;
      if (h >= g.H) break;
      T a = e[u] + o[u], b = e[u] - o[u];
      if constexpr (Gelu) a = tdft2_gelu(a, *bias), b = tdft2_gelu(b, *bias);
      out[index_t{h} * g.W + w] = a;
      if (mirror) out[index_t{h} * g.W + (g.W - w)] = b;
    }
  }
}

}  // namespace tessera::spectral::detail

#undef TESSERA_DFT_UNROLL
