// SPDX-License-Identifier: Apache-2.0
// The FFT engine behind tessera::spectral's transforms: a mixed-radix Stockham FFT (radices 8,
// 4, 2, 3 and a generic O(p²) radix for other prime factors, on symmetric input pairs) that
// transforms a block of columns at once, split real/imaginary storage, with the innermost loop over
// the columns so that it vectorises: every butterfly works on as many lines as a SIMD register
// holds.
#pragma once

#include <cmath>
#include <numbers>
#include <utility>
#include <vector>

#include "tessera/config.hpp"
#include "tessera/core/shape.hpp"

/// Marks a loop over independent lanes for vectorisation (OpenMP SIMD; nothing without OpenMP).
#define TESSERA_SPECTRAL_SIMD TESSERA_OMP_SIMD()

namespace tessera::spectral::detail {

/// A plan for DFTs of length n in one direction, X_k = Σ_j x_j e^{∓2πijk/n} (unscaled; minus
/// forward, plus inverse). Immutable after construction, so one plan may serve many threads.
///
/// Data layout of run(): `lanes` columns of length n, element (i, c) at i·lanes + c of the
/// real array and of the imaginary array.
template <class T>
class stockham_plan {
 public:
  stockham_plan(index_t n, bool inverse) : n_(n), inverse_(inverse) {
    const double sign = inverse ? 1.0 : -1.0;
    index_t len = n, s = 1;
    auto add = [&](index_t p) {
      const index_t m = len / p;
      stage st{p, m, s, static_cast<index_t>(twr_.size()), static_cast<index_t>(rootr_.size())};
      for (index_t pp = 0; pp < m; ++pp)
        for (index_t k = 0; k < p; ++k) {
          const double t = sign * 2.0 * std::numbers::pi * static_cast<double>((pp * k) % len) /
                           static_cast<double>(len);
          twr_.push_back(static_cast<T>(std::cos(t)));
          twi_.push_back(static_cast<T>(std::sin(t)));
        }
      if (p != 2 && p != 3 && p != 4 && p != 8)
        for (index_t t = 0; t < p; ++t) {
          const double a =
              sign * 2.0 * std::numbers::pi * static_cast<double>(t) / static_cast<double>(p);
          rootr_.push_back(static_cast<T>(std::cos(a)));
          rooti_.push_back(static_cast<T>(std::sin(a)));
        }
      stages_.push_back(st);
      len = m;
      s *= p;
    };
    while (len % 8 == 0) add(8);
    while (len % 4 == 0) add(4);
    while (len % 2 == 0) add(2);
    while (len % 3 == 0) add(3);
    for (index_t p = 5; p * p <= len; p += 2)
      while (len % p == 0) add(p);
    if (len > 1) add(len);
  }

  [[nodiscard]] index_t size() const noexcept { return n_; }

  /// Transforms `lanes` columns held in (re, im), using (wr, wi) as work space of the same
  /// size. @return the arrays holding the result: (re, im) or (wr, wi).
  std::pair<T*, T*> run(T* re, T* im, T* wr, T* wi, index_t lanes) const {
    T *xr = re, *xi = im, *yr = wr, *yi = wi;
    for (const stage& st : stages_) {
      switch (st.p) {
        case 8:
          radix8(st, xr, xi, yr, yi, lanes);
          break;
        case 4:
          radix4(st, xr, xi, yr, yi, lanes);
          break;
        case 2:
          radix2(st, xr, xi, yr, yi, lanes);
          break;
        case 3:
          radix3(st, xr, xi, yr, yi, lanes);
          break;
        default:
          radix_generic(st, xr, xi, yr, yi, lanes);
      }
      std::swap(xr, yr);
      std::swap(xi, yi);
    }
    return {xr, xi};
  }

 private:
  // One Stockham (decimation in frequency) step on the current length len = p·m with stride
  // s: for pp < m, q < s, the p inputs x[q + s(pp + jm)] give the outputs
  // y[q + s(p·pp + k)] = (Σ_j x_j ω_p^{jk})·ω_len^{pp·k}.
  struct stage {
    index_t p, m, s;
    index_t tw;    // offset of this stage's twiddles ω_len^{pp·k}, (m, p) row-major
    index_t root;  // offset of ω_p^t (generic radices only)
  };

  void radix2(const stage& st, const T* xr, const T* xi, T* yr, T* yi, index_t L) const {
    const index_t m = st.m, s = st.s;
    for (index_t pp = 0; pp < m; ++pp) {
      const T w1r = twr_.data()[st.tw + 2 * pp + 1], w1i = twi_.data()[st.tw + 2 * pp + 1];
      for (index_t q = 0; q < s; ++q) {
        const index_t i0 = (q + s * pp) * L, i1 = (q + s * (pp + m)) * L;
        const index_t o0 = (q + s * 2 * pp) * L, o1 = o0 + s * L;
        TESSERA_SPECTRAL_SIMD
        for (index_t c = 0; c < L; ++c) {
          const T ar = xr[i0 + c], ai = xi[i0 + c], br = xr[i1 + c], bi = xi[i1 + c];
          const T dr = ar - br, di = ai - bi;
          yr[o0 + c] = ar + br;
          yi[o0 + c] = ai + bi;
          yr[o1 + c] = dr * w1r - di * w1i;
          yi[o1 + c] = dr * w1i + di * w1r;
        }
      }
    }
  }

  void radix3(const stage& st, const T* xr, const T* xi, T* yr, T* yi, index_t L) const {
    const index_t m = st.m, s = st.s;
    // ω_3 = -1/2 + i·s3 with s3 = ∓√3/2 (forward: minus).
    const T s3 = static_cast<T>((inverse_ ? 0.5 : -0.5) * std::numbers::sqrt3);
    for (index_t pp = 0; pp < m; ++pp) {
      const T* w = twr_.data() + (st.tw + 3 * pp);
      const T* v = twi_.data() + (st.tw + 3 * pp);
      const T w1r = w[1], w1i = v[1], w2r = w[2], w2i = v[2];
      for (index_t q = 0; q < s; ++q) {
        const index_t i0 = (q + s * pp) * L, i1 = (q + s * (pp + m)) * L,
                      i2 = (q + s * (pp + 2 * m)) * L;
        const index_t o0 = (q + s * 3 * pp) * L, o1 = o0 + s * L, o2 = o1 + s * L;
        TESSERA_SPECTRAL_SIMD
        for (index_t c = 0; c < L; ++c) {
          const T a0r = xr[i0 + c], a0i = xi[i0 + c];
          const T tr = xr[i1 + c] + xr[i2 + c], ti = xi[i1 + c] + xi[i2 + c];
          const T dr = xr[i1 + c] - xr[i2 + c], di = xi[i1 + c] - xi[i2 + c];
          const T br = a0r - T(0.5) * tr, bi = a0i - T(0.5) * ti;
          const T er = -s3 * di, ei = s3 * dr;  // i·s3·d
          yr[o0 + c] = a0r + tr;
          yi[o0 + c] = a0i + ti;
          const T y1r = br + er, y1i = bi + ei, y2r = br - er, y2i = bi - ei;
          yr[o1 + c] = y1r * w1r - y1i * w1i;
          yi[o1 + c] = y1r * w1i + y1i * w1r;
          yr[o2 + c] = y2r * w2r - y2i * w2i;
          yi[o2 + c] = y2r * w2i + y2i * w2r;
        }
      }
    }
  }

  void radix4(const stage& st, const T* xr, const T* xi, T* yr, T* yi, index_t L) const {
    const index_t m = st.m, s = st.s;
    // ω_4 = ∓i: multiplying by it maps (r, i) to (i, -r) forward, (-i, r) inverse.
    const T f = inverse_ ? T(-1) : T(1);
    for (index_t pp = 0; pp < m; ++pp) {
      const T* w = twr_.data() + (st.tw + 4 * pp);
      const T* v = twi_.data() + (st.tw + 4 * pp);
      const T w1r = w[1], w1i = v[1], w2r = w[2], w2i = v[2], w3r = w[3], w3i = v[3];
      for (index_t q = 0; q < s; ++q) {
        const index_t i0 = (q + s * pp) * L, i1 = (q + s * (pp + m)) * L,
                      i2 = (q + s * (pp + 2 * m)) * L, i3 = (q + s * (pp + 3 * m)) * L;
        const index_t o0 = (q + s * 4 * pp) * L, o1 = o0 + s * L, o2 = o1 + s * L, o3 = o2 + s * L;
        TESSERA_SPECTRAL_SIMD
        for (index_t c = 0; c < L; ++c) {
          const T t0r = xr[i0 + c] + xr[i2 + c], t0i = xi[i0 + c] + xi[i2 + c];
          const T t1r = xr[i0 + c] - xr[i2 + c], t1i = xi[i0 + c] - xi[i2 + c];
          const T t2r = xr[i1 + c] + xr[i3 + c], t2i = xi[i1 + c] + xi[i3 + c];
          const T dr = xr[i1 + c] - xr[i3 + c], di = xi[i1 + c] - xi[i3 + c];
          const T t3r = f * di, t3i = -f * dr;  // ω_4·(x1 - x3)
          const T y1r = t1r + t3r, y1i = t1i + t3i;
          const T y2r = t0r - t2r, y2i = t0i - t2i;
          const T y3r = t1r - t3r, y3i = t1i - t3i;
          yr[o0 + c] = t0r + t2r;
          yi[o0 + c] = t0i + t2i;
          yr[o1 + c] = y1r * w1r - y1i * w1i;
          yi[o1 + c] = y1r * w1i + y1i * w1r;
          yr[o2 + c] = y2r * w2r - y2i * w2i;
          yi[o2 + c] = y2r * w2i + y2i * w2r;
          yr[o3 + c] = y3r * w3r - y3i * w3i;
          yi[o3 + c] = y3r * w3i + y3i * w3r;
        }
      }
    }
  }

  // Radix 8 as two radix-2 halves: the even outputs are the 4-point DFT of a_j + a_{j+4}, the
  // odd ones the 4-point DFT of (a_j − a_{j+4})·ω_8^j (j = 0 … 3).
  void radix8(const stage& st, const T* xr, const T* xi, T* yr, T* yi, index_t L) const {
    const index_t m = st.m, s = st.s;
    const T f = inverse_ ? T(-1) : T(1);  // ω_4 = ∓i: (r, i) → (f·i, −f·r)
    const T h = static_cast<T>(std::numbers::sqrt2 / 2);
    const T w1r = h, w1i = -f * h, w3r = -h, w3i = -f * h;  // ω_8 and ω_8³
    for (index_t pp = 0; pp < m; ++pp) {
      const T* w = twr_.data() + (st.tw + 8 * pp);
      const T* v = twi_.data() + (st.tw + 8 * pp);
      index_t in[8], out[8];
      for (int j = 0; j < 8; ++j) in[j] = 0;
      for (index_t q = 0; q < s; ++q) {
        for (int j = 0; j < 8; ++j) {
          in[j] = (q + s * (pp + j * m)) * L;
          out[j] = (q + s * (8 * pp + j)) * L;
        }
        TESSERA_SPECTRAL_SIMD
        for (index_t c = 0; c < L; ++c) {
          // a_j ± a_{j+4}
          const T s0r = xr[in[0] + c] + xr[in[4] + c], s0i = xi[in[0] + c] + xi[in[4] + c];
          const T d0r = xr[in[0] + c] - xr[in[4] + c], d0i = xi[in[0] + c] - xi[in[4] + c];
          const T s1r = xr[in[1] + c] + xr[in[5] + c], s1i = xi[in[1] + c] + xi[in[5] + c];
          const T d1r = xr[in[1] + c] - xr[in[5] + c], d1i = xi[in[1] + c] - xi[in[5] + c];
          const T s2r = xr[in[2] + c] + xr[in[6] + c], s2i = xi[in[2] + c] + xi[in[6] + c];
          const T d2r = xr[in[2] + c] - xr[in[6] + c], d2i = xi[in[2] + c] - xi[in[6] + c];
          const T s3r = xr[in[3] + c] + xr[in[7] + c], s3i = xi[in[3] + c] + xi[in[7] + c];
          const T d3r = xr[in[3] + c] - xr[in[7] + c], d3i = xi[in[3] + c] - xi[in[7] + c];
          // Even outputs: DFT4(s0, s1, s2, s3) → y0, y2, y4, y6.
          const T e0r = s0r + s2r, e0i = s0i + s2i, e1r = s0r - s2r, e1i = s0i - s2i;
          const T e2r = s1r + s3r, e2i = s1i + s3i, e3r = s1r - s3r, e3i = s1i - s3i;
          const T y0r = e0r + e2r, y0i = e0i + e2i, y4r = e0r - e2r, y4i = e0i - e2i;
          const T y2r = e1r + f * e3i, y2i = e1i - f * e3r;  // e1 + ω_4·e3
          const T y6r = e1r - f * e3i, y6i = e1i + f * e3r;
          // Odd outputs: b_j = d_j·ω_8^j, then DFT4(b0, b1, b2, b3) → y1, y3, y5, y7.
          const T b1r = d1r * w1r - d1i * w1i, b1i = d1r * w1i + d1i * w1r;
          const T b2r = f * d2i, b2i = -f * d2r;  // ω_8² = ω_4
          const T b3r = d3r * w3r - d3i * w3i, b3i = d3r * w3i + d3i * w3r;
          const T o0r = d0r + b2r, o0i = d0i + b2i, o1r = d0r - b2r, o1i = d0i - b2i;
          const T o2r = b1r + b3r, o2i = b1i + b3i, o3r = b1r - b3r, o3i = b1i - b3i;
          const T y1r = o0r + o2r, y1i = o0i + o2i, y5r = o0r - o2r, y5i = o0i - o2i;
          const T y3r = o1r + f * o3i, y3i = o1i - f * o3r;
          const T y7r = o1r - f * o3i, y7i = o1i + f * o3r;
          yr[out[0] + c] = y0r;
          yi[out[0] + c] = y0i;
          const T rr[8] = {y0r, y1r, y2r, y3r, y4r, y5r, y6r, y7r};
          const T ii[8] = {y0i, y1i, y2i, y3i, y4i, y5i, y6i, y7i};
          for (int k = 1; k < 8; ++k) {
            yr[out[k] + c] = rr[k] * w[k] - ii[k] * v[k];
            yi[out[k] + c] = rr[k] * v[k] + ii[k] * w[k];
          }
        }
      }
    }
  }

  // An odd prime radix p (every radix other than 2, 3 and 4 is one) by the symmetric pairs
  // of its inputs: with s_j = x_j + x_{p−j}, d_j = x_j − x_{p−j} (j = 1 … h, h = (p − 1)/2)
  // and ω^{jk} = C_jk + i S_jk,
  //   y_k     = x_0 + Σ_j (s_j C_jk + i S_jk d_j),
  //   y_{p−k} = x_0 + Σ_j (s_j C_jk − i S_jk d_j),
  // so each pair of outputs costs h real-by-complex products of each kind: a quarter of the
  // multiplications of the direct Σ_j x_j ω^{jk}.
  void radix_generic(const stage& st, const T* xr, const T* xi, T* yr, T* yi, index_t L) const {
    const index_t p = st.p, m = st.m, s = st.s, h = (p - 1) / 2;
    const T* rr = rootr_.data() + st.root;
    const T* ri = rooti_.data() + st.root;
    // s_j and d_j of one butterfly, lanes contiguous: (sr, si, dr, di) × h × L.
    std::vector<T> scratch(static_cast<std::size_t>(4 * h * L));
    T* sr = scratch.data();
    T* si = sr + h * L;
    T* dr = si + h * L;
    T* di = dr + h * L;
    for (index_t pp = 0; pp < m; ++pp) {
      const T* w = twr_.data() + (st.tw + p * pp);
      const T* v = twi_.data() + (st.tw + p * pp);
      for (index_t q = 0; q < s; ++q) {
        const index_t in0 = (q + s * pp) * L, in_step = s * m * L;
        const index_t out0 = (q + s * p * pp) * L, out_step = s * L;
        const T* x0r = xr + in0;
        const T* x0i = xi + in0;
        T* y0r = yr + out0;
        T* y0i = yi + out0;
        TESSERA_SPECTRAL_SIMD
        for (index_t c = 0; c < L; ++c) {
          y0r[c] = x0r[c];
          y0i[c] = x0i[c];
        }
        for (index_t j = 1; j <= h; ++j) {
          const T* ar = xr + in0 + j * in_step;
          const T* ai = xi + in0 + j * in_step;
          const T* br = xr + in0 + (p - j) * in_step;
          const T* bi = xi + in0 + (p - j) * in_step;
          T* sjr = sr + (j - 1) * L;
          T* sji = si + (j - 1) * L;
          T* djr = dr + (j - 1) * L;
          T* dji = di + (j - 1) * L;
          TESSERA_SPECTRAL_SIMD
          for (index_t c = 0; c < L; ++c) {
            sjr[c] = ar[c] + br[c];
            sji[c] = ai[c] + bi[c];
            djr[c] = ar[c] - br[c];
            dji[c] = ai[c] - bi[c];
            y0r[c] += sjr[c];
            y0i[c] += sji[c];
          }
        }
        for (index_t k = 1; k <= h; ++k) {
          T* ykr = yr + out0 + k * out_step;
          T* yki = yi + out0 + k * out_step;
          T* zkr = yr + out0 + (p - k) * out_step;  // y_{p−k}
          T* zki = yi + out0 + (p - k) * out_step;
          // (ykr, yki) accumulate x_0 + Σ s_j C_jk; (zkr, zki) accumulate Σ S_jk d_j.
          TESSERA_SPECTRAL_SIMD
          for (index_t c = 0; c < L; ++c) {
            ykr[c] = x0r[c];
            yki[c] = x0i[c];
            zkr[c] = T(0);
            zki[c] = T(0);
          }
          for (index_t j = 1; j <= h; ++j) {
            const index_t t = (j * k) % p;
            const T cr = rr[t], ci = ri[t];
            const T* sjr = sr + (j - 1) * L;
            const T* sji = si + (j - 1) * L;
            const T* djr = dr + (j - 1) * L;
            const T* dji = di + (j - 1) * L;
            TESSERA_SPECTRAL_SIMD
            for (index_t c = 0; c < L; ++c) {
              ykr[c] += sjr[c] * cr;
              yki[c] += sji[c] * cr;
              zkr[c] += dji[c] * ci;
              zki[c] += djr[c] * ci;
            }
          }
          // y_k = A + i·(S d) = (Ar − Σ S di, Ai + Σ S dr), y_{p−k} = (Ar + Σ S di, Ai − Σ S dr),
          // then the twiddles ω_len^{pp·k} and ω_len^{pp·(p−k)}.
          const T wkr = w[k], wki = v[k], wpr = w[p - k], wpi = v[p - k];
          TESSERA_SPECTRAL_SIMD
          for (index_t c = 0; c < L; ++c) {
            const T ar = ykr[c], ai = yki[c], br = zkr[c], bi = zki[c];
            const T ur = ar - br, ui = ai + bi, tr = ar + br, ti = ai - bi;
            ykr[c] = ur * wkr - ui * wki;
            yki[c] = ur * wki + ui * wkr;
            zkr[c] = tr * wpr - ti * wpi;
            zki[c] = tr * wpi + ti * wpr;
          }
        }
      }
    }
  }

  index_t n_;
  bool inverse_;
  std::vector<stage> stages_;
  std::vector<T> twr_, twi_;
  std::vector<T> rootr_, rooti_;
};

/// Columns per block for transforms of length n: enough for full SIMD registers, few enough
/// that the block (and its work copy) stays in cache.
inline index_t fft_lanes(index_t n) {
  index_t l = 8192 / (n > 0 ? n : 1);
  l = l < 4 ? 4 : (l > 32 ? 32 : l);
  return l & ~index_t(3);
}

}  // namespace tessera::spectral::detail
