// SPDX-License-Identifier: Apache-2.0
// Internal building blocks of the truncated-DFT spectral convolution: layout changes and
// matrix products with constant matrices whose gradients come out contiguous in the input's
// layout, with the reshapes folded in (ad::reshape/permute would hand back shared or strided
// adjoints that the tape then copies). Each op's rule calls the op's adjoint among these, so
// every order of derivative exists.
#pragma once

#include <algorithm>
#include <type_traits>

#include "tessera/ad/node.hpp"
#include "tessera/ad/shape.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/ops/matmul.hpp"

namespace tessera::spectral::detail {

/// The inverse of a permutation.
inline shape_t inverse_order(const shape_t& order) {
  shape_t inv = order;
  for (int i = 0; i < order.rank(); ++i) inv[static_cast<int>(order[i])] = i;
  return inv;
}

/// The shape of `s` permuted by `order`.
inline shape_t permuted_shape(const shape_t& s, const shape_t& order) {
  shape_t p = s;
  for (int i = 0; i < s.rank(); ++i) p[i] = s[static_cast<int>(order[i])];
  return p;
}

/// Writes the elements of the (strided) view v in row-major order to dst. The axes are
/// coalesced first; the copy then runs in 2-d tiles of the destination's innermost axis (above
/// a run contiguous in both) and the axis with the smallest source stride, so that both the
/// reads and the writes of a transpose stay within a few cache lines.
template <class T>
void permute_into(const tensor<T>& v, T* dst) {
  const index_t total = v.numel();
  if (total == 0) return;
  index_t ext[max_rank], str[max_rank];
  int r = 0;
  for (int i = 0; i < v.rank(); ++i) {
    if (v.shape()[i] == 1) continue;
    if (r > 0 && str[r - 1] == v.strides()[i] * v.shape()[i]) {
      ext[r - 1] *= v.shape()[i];
      str[r - 1] = v.strides()[i];
    } else {
      ext[r] = v.shape()[i];
      str[r] = v.strides()[i];
      ++r;
    }
  }
  const T* src = v.data();
  if (r == 0 || (r == 1 && str[0] == 1)) {
    std::copy_n(src, total, dst);
    return;
  }
  index_t dstr[max_rank];  // destination (contiguous) strides of the coalesced axes
  for (index_t i = r - 1, s = 1; i >= 0; --i) {
    dstr[i] = s;
    s *= ext[i];
  }
  const bool contiguous_run = str[r - 1] == 1;
  const index_t run = contiguous_run ? ext[r - 1] : 1;
  const int row = contiguous_run ? r - 2 : r - 1;  // the destination's innermost axis
  const index_t rows = ext[row], rs = str[row];
  int col = -1;  // the other axis read most contiguously
  for (int i = 0; i < row; ++i)
    if (col < 0 || str[i] < str[col]) col = i;
  const index_t cols = col >= 0 ? ext[col] : 1, cs = col >= 0 ? str[col] : 0;
  const index_t cd = col >= 0 ? dstr[col] : 0;
  int outer_axes[max_rank], n_axes = 0;
  index_t n_outer = 1;
  for (int i = 0; i < row; ++i)
    if (i != col) {
      outer_axes[n_axes++] = i;
      n_outer *= ext[i];
    }
  constexpr index_t col_block = 16, row_block = 64;
  const index_t n_cb = (cols + col_block - 1) / col_block;
  const index_t n_rb = (rows + row_block - 1) / row_block;
  const index_t tile =
      std::max<index_t>(1, std::min(cols, col_block) * std::min(rows, row_block) * run);
  parallel_for(0, n_outer * n_cb * n_rb, std::max<index_t>(1, default_grain / tile),
               [&](index_t lo, index_t hi) {
                 for (index_t w = lo; w < hi; ++w) {
                   const index_t o = w / (n_cb * n_rb), cb = (w / n_rb) % n_cb, rb = w % n_rb;
                   const index_t t0 = cb * col_block, t1 = std::min(cols, t0 + col_block);
                   const index_t j0 = rb * row_block, j1 = std::min(rows, j0 + row_block);
                   index_t so = 0, dof = 0;
                   for (index_t rem = o, k = n_axes - 1; k >= 0; --k) {
                     const int ax = outer_axes[k];
                     const index_t i = rem % ext[ax];
                     rem /= ext[ax];
                     so += i * str[ax];
                     dof += i * dstr[ax];
                   }
                   for (index_t t = t0; t < t1; ++t) {
                     const T* s = src + so + t * cs;
                     T* d = dst + dof + t * cd;
                     if (run == 1) {
                       for (index_t j = j0; j < j1; ++j) d[j] = s[j * rs];
                     } else if (run == 2) {
                       for (index_t j = j0; j < j1; ++j) {
                         d[2 * j] = s[j * rs];
                         d[2 * j + 1] = s[j * rs + 1];
                       }
                     } else {
                       for (index_t j = j0; j < j1; ++j) std::copy_n(s + j * rs, run, d + j * run);
                     }
                   }
                 }
               });
}

/// x viewed as `view` (copied first if it is not contiguous), permuted by `order`,
/// copied into contiguous storage and viewed as `out` (default: the permuted shape). On the
/// host a tiled transpose (permute_into); on another space its strided copy kernel.
template <class T, class S>
tensor<T, S> permute_copy(const tensor<T, S>& x, const shape_t& view, const shape_t& order,
                          const shape_t& out = {}) {
  const tensor<T, S> v = (x.shape() == view ? x : x.reshape(view)).permute(order);
  tensor<T, S> y(out.empty() ? v.shape() : out);
  TESSERA_ASSERT(y.numel() == v.numel());
  if constexpr (std::is_same_v<S, host>)
    permute_into(v, y.data());
  else
    y.view(v.shape()).copy_from(v);
  return y;
}

/// Differentiable permute_copy;  x̄ += permute_copy(ȳ viewed permuted, order⁻¹) viewed as x:
/// a fresh contiguous tensor (ad::permute would give a strided view to be cloned).
template <class T, class S>
ad::var<T, S> permute_copy(const ad::var<T, S>& x, const shape_t& view, const shape_t& order,
                           const shape_t& out = {}) {
  return ad::make_op(permute_copy(x.value(), view, order, out), {x},
                     [p = permuted_shape(view, order), inv = inverse_order(order)](auto& c) {
                       c.acc(0, detail::permute_copy(c.gy(), p, inv, c.xv(0).shape()));
                     });
}

/// a and b (same shape) each viewed as `view`, permuted by `order` and stacked along a new
/// leading axis, viewed as `out` (default (2, permuted...)).
template <class T, class S>
tensor<T, S> stack_permuted(const tensor<T, S>& a, const tensor<T, S>& b, const shape_t& view,
                            const shape_t& order, const shape_t& out = {}) {
  shape_t s = permuted_shape(view, order);
  s.insert(0, 2);
  tensor<T, S> y(out.empty() ? s : out);
  const tensor<T, S> pa = (a.shape() == view ? a : a.reshape(view)).permute(order);
  const tensor<T, S> pb = (b.shape() == view ? b : b.reshape(view)).permute(order);
  if constexpr (std::is_same_v<S, host>) {
    const index_t half = view.numel();
    permute_into(pa, y.data());
    permute_into(pb, y.data() + half);
  } else {
    const tensor<T, S> halves = y.view(s);
    halves.select(0, 0).copy_from(pa);
    halves.select(0, 1).copy_from(pb);
  }
  return y;
}

/// Differentiable stack_permuted;  ā += permute_copy(ȳ[0], order⁻¹), b̄ += permute_copy(ȳ[1],
/// order⁻¹), each viewed back as its input (ȳ[i] is a contiguous half: no copy to read it).
template <class T, class S>
ad::var<T, S> stack_permuted(const ad::var<T, S>& a, const ad::var<T, S>& b, const shape_t& view,
                             const shape_t& order, const shape_t& out = {}) {
  shape_t halves = permuted_shape(view, order);
  halves.insert(0, 2);
  return ad::make_op(
      stack_permuted(a.value(), b.value(), view, order, out), {a, b},
      [halves, p = permuted_shape(view, order), inv = inverse_order(order)](auto& c) {
        const auto g = reshape(c.gy(), halves);
        for (int i = 0; i < 2; ++i)
          if (c.needs(i))
            c.acc(i,
                  detail::permute_copy(squeeze(slice(g, 0, i, i + 1), 0), p, inv, c.xv(i).shape()));
      });
}

// The products below call matmul unqualified: on cuda tensors argument-dependent lookup finds
// the cuBLAS overload (cuda/matmul.cuh), declared after these templates.

/// y = f·xᵀ for every matrix of x (..., n, k), f (m, k) constant: (..., m, n).
template <class T, class S>
tensor<T, S> matmul_nt(const tensor<T, S>& f, const tensor<T, S>& x) {
  return matmul(f, x.transpose(-1, -2));
}
/// y = zᵀ·g for every matrix of z (..., m, n), g (m, k) constant: (..., n, k).
template <class T, class S>
tensor<T, S> matmul_tn(const tensor<T, S>& z, const tensor<T, S>& g) {
  return matmul(z.transpose(-1, -2), g);
}
template <class T, class S>
ad::var<T, S> matmul_tn(const ad::var<T, S>& z, const tensor<T, S>& g);
/// Differentiable matmul_nt;  x̄ += ȳᵀ·f = matmul_tn(ȳ, f), contiguous in x's layout.
template <class T, class S>
ad::var<T, S> matmul_nt(const tensor<T, S>& f, const ad::var<T, S>& x) {
  return ad::make_op(matmul_nt(f, x.value()), {x},
                     [f](auto& c) { c.acc(0, detail::matmul_tn(c.gy(), f)); });
}
/// Differentiable matmul_tn;  z̄ += g·ȳᵀ = matmul_nt(g, ȳ).
template <class T, class S>
ad::var<T, S> matmul_tn(const ad::var<T, S>& z, const tensor<T, S>& g) {
  return ad::make_op(matmul_tn(z.value(), g), {z},
                     [g](auto& c) { c.acc(0, detail::matmul_nt(g, c.gy())); });
}

/// y = (x viewed as (numel / k, k))·g for constant g (k, n), viewed as `out`.
template <class T, class S>
tensor<T, S> right_matmul(const tensor<T, S>& x, const tensor<T, S>& g, const shape_t& out) {
  const index_t k = g.shape()[0];
  return matmul(x.reshape(shape_t{x.numel() / k, k}), g).view(out);
}
/// Differentiable right_matmul;  x̄ += right_matmul(ȳ, gᵀ) viewed as x.
template <class T, class S>
ad::var<T, S> right_matmul(const ad::var<T, S>& x, const tensor<T, S>& g, const shape_t& out) {
  return ad::make_op(right_matmul(x.value(), g, out), {x}, [gt = g.transpose(0, 1)](auto& c) {
    c.acc(0, detail::right_matmul(c.gy(), gt, c.xv(0).shape()));
  });
}

}  // namespace tessera::spectral::detail
