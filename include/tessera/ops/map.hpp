// SPDX-License-Identifier: Apache-2.0
// The elementwise engines: unary, binary (numpy broadcasting) and ternary maps over tensors.
#pragma once

#include <array>

#include "tessera/core/iterate.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::detail {

/// Strides of `t` viewed with shape `out` (broadcast axes get stride 0).
template <class T>
shape_t broadcast_strides(const tensor<T>& t, const shape_t& out) {
  shape_t st = shape_t::filled(out.rank(), 0);
  const int lead = out.rank() - t.rank();
  for (int i = 0; i < t.rank(); ++i)
    st[lead + i] = t.shape()[i] == 1 && out[lead + i] != 1 ? 0 : t.strides()[i];
  return st;
}

/// r[i] = f(x[i]) into a fresh contiguous tensor.
template <class R, class T, class F>
tensor<R> unary_map(const tensor<T>& x, F f) {
  require_defined("elementwise op", "its input", x);
  tensor<R> r(x.shape());
  R* TESSERA_RESTRICT rp = r.data();
  const index_t n = x.numel();
  if (x.is_contiguous()) {
    const T* TESSERA_RESTRICT xp = x.data();
    if (n <= default_grain) {
      for (index_t i = 0; i < n; ++i) rp[i] = f(xp[i]);
    } else {
      parallel_for(0, n, default_grain, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) rp[i] = f(xp[i]);
      });
    }
    return r;
  }
  const T* xb = x.storage().get();
  for_each_row<2>(
      x.shape(), {r.strides(), x.strides()}, {0, x.offset()}, default_grain,
      [&](index_t cnt, const std::array<index_t, 2>& o, const std::array<index_t, 2>& s) {
        R* d = rp + o[0];
        const T* a = xb + o[1];
        for (index_t i = 0; i < cnt; ++i) d[i * s[0]] = f(a[i * s[1]]);
      });
  return r;
}

/// r = f(a, b) with numpy broadcasting into a fresh contiguous tensor.
/// @throws tessera::invalid_argument naming `fn` when the shapes do not broadcast.
template <class R, class T, class F>
tensor<R> binary_map(const char* fn, const tensor<T>& a, const tensor<T>& b, F f) {
  require_defined(fn, "the first operand", a);
  require_defined(fn, "the second operand", b);
  if (a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous()) {
    tensor<R> r(a.shape());
    R* TESSERA_RESTRICT rp = r.data();
    const T* TESSERA_RESTRICT ap = a.data();
    const T* TESSERA_RESTRICT bp = b.data();
    const index_t n = a.numel();
    if (n <= default_grain) {
      for (index_t i = 0; i < n; ++i) rp[i] = f(ap[i], bp[i]);
    } else {
      parallel_for(0, n, default_grain, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) rp[i] = f(ap[i], bp[i]);
      });
    }
    return r;
  }
  const shape_t out = broadcast_shapes(fn, a.shape(), b.shape());
  tensor<R> r(out);
  R* rp = r.data();
  const T* ab = a.storage().get();
  const T* bb = b.storage().get();
  for_each_row<3>(
      out, {r.strides(), broadcast_strides(a, out), broadcast_strides(b, out)},
      {0, a.offset(), b.offset()}, default_grain,
      [&](index_t cnt, const std::array<index_t, 3>& o, const std::array<index_t, 3>& s) {
        R* d = rp + o[0];
        const T* x = ab + o[1];
        const T* y = bb + o[2];
        if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
          for (index_t i = 0; i < cnt; ++i) d[i] = f(x[i], y[i]);
        } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
          const T yv = *y;
          for (index_t i = 0; i < cnt; ++i) d[i] = f(x[i], yv);
        } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
          const T xv = *x;
          for (index_t i = 0; i < cnt; ++i) d[i] = f(xv, y[i]);
        } else {
          for (index_t i = 0; i < cnt; ++i) d[i * s[0]] = f(x[i * s[1]], y[i * s[2]]);
        }
      });
  return r;
}

/// r = f(a, b, c) with numpy broadcasting of all three.
template <class R, class T, class F>
tensor<R> ternary_map(const char* fn, const tensor<T>& a, const tensor<T>& b, const tensor<T>& c,
                      F f) {
  require_defined(fn, "the first operand", a);
  require_defined(fn, "the second operand", b);
  require_defined(fn, "the third operand", c);
  const shape_t out = broadcast_shapes(fn, broadcast_shapes(fn, a.shape(), b.shape()), c.shape());
  tensor<R> r(out);
  R* rp = r.data();
  const T* ab = a.storage().get();
  const T* bb = b.storage().get();
  const T* cb = c.storage().get();
  for_each_row<4>(
      out,
      {r.strides(), broadcast_strides(a, out), broadcast_strides(b, out),
       broadcast_strides(c, out)},
      {0, a.offset(), b.offset(), c.offset()}, default_grain,
      [&](index_t cnt, const std::array<index_t, 4>& o, const std::array<index_t, 4>& s) {
        for (index_t i = 0; i < cnt; ++i)
          rp[o[0] + i * s[0]] = f(ab[o[1] + i * s[1]], bb[o[2] + i * s[2]], cb[o[3] + i * s[3]]);
      });
  return r;
}

/// dst[i] = f(dst[i], src[i]) in place; src broadcasts to dst's shape.
template <class T, class F>
void inplace_map(const char* fn, const tensor<T>& dst, const tensor<T>& src, F f) {
  if (dst.shape() == src.shape() && dst.is_contiguous() && src.is_contiguous()) {
    T* TESSERA_RESTRICT d = dst.data();
    const T* TESSERA_RESTRICT s = src.data();
    const index_t n = dst.numel();
    if (n <= default_grain) {
      for (index_t i = 0; i < n; ++i) d[i] = f(d[i], s[i]);
    } else {
      parallel_for(0, n, default_grain, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) d[i] = f(d[i], s[i]);
      });
    }
    return;
  }
  const shape_t out = broadcast_shapes(fn, dst.shape(), src.shape());
  if (!(out == dst.shape()))
    throw_invalid_argument(fn, "source shape ", src.shape().str(),
                           " does not broadcast to destination shape ", dst.shape().str());
  T* db = dst.storage().get();
  const T* sb = src.storage().get();
  for_each_row<2>(
      out, {dst.strides(), broadcast_strides(src, out)}, {dst.offset(), src.offset()},
      default_grain,
      [&](index_t cnt, const std::array<index_t, 2>& o, const std::array<index_t, 2>& s) {
        for (index_t i = 0; i < cnt; ++i)
          db[o[0] + i * s[0]] = f(db[o[0] + i * s[0]], sb[o[1] + i * s[1]]);
      });
}

}  // namespace tessera::detail
