// SPDX-License-Identifier: Apache-2.0
// Reductions over any set of axes with keepdim: sum, mean, var, max, min, argmax, logsumexp,
// norms, and sum_to (the adjoint of broadcasting). Deterministic: the summation order depends
// only on the shapes, never on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "tessera/ops/elementwise.hpp"

namespace tessera {

namespace detail {

/// Which axes a reduction covers; an empty list means all axes.
struct reduce_plan {
  shape_t out_shape;       // with keepdim
  shape_t squeezed_shape;  // without keepdim
  bool reduced[max_rank] = {};
  index_t outer = 1;  // product of kept extents
  index_t inner = 1;  // product of reduced extents
};

inline reduce_plan plan_reduce(const char* fn, const shape_t& shape, const shape_t& axes) {
  reduce_plan p;
  const int r = shape.rank();
  if (axes.rank() == 0) {
    for (int i = 0; i < r; ++i) p.reduced[i] = true;
  } else {
    for (index_t a : axes) {
      const int ax = normalize_axis_entry(fn, a, r);
      if (p.reduced[ax])
        throw_invalid_argument(fn, "axis ", a, " appears twice in axes ", axes.str());
      p.reduced[ax] = true;
    }
  }
  for (int i = 0; i < r; ++i) {
    if (p.reduced[i]) {
      p.out_shape.push_back(1);
      p.inner *= shape[i];
    } else {
      p.out_shape.push_back(shape[i]);
      p.squeezed_shape.push_back(shape[i]);
      p.outer *= shape[i];
    }
  }
  return p;
}

/// Sum of n values with eight independent accumulators (vectorisable, and more accurate than
/// one running sum); the order depends only on n.
template <class T, class Map>
T lane_sum(const T* p, index_t n, Map map) {
  T acc[8] = {};
  index_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += map(p[i + l]);
  for (; i < n; ++i) acc[i & 7] += map(p[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/// Lays `x` out as (outer, inner) rows, reduced axes last; copies only when it must.
/// Returns the (outer, inner) contiguous data and sets column_mode when instead the reduced
/// axes lead and the data is (inner, outer) contiguous.
template <class T, class Space>
tensor<T, Space> reduction_layout(const tensor<T, Space>& x, const reduce_plan& p,
                                  bool& column_mode) {
  const int r = x.rank();
  column_mode = false;
  if (x.is_contiguous()) {
    // reduced axes (ignoring size-1 axes) form a suffix: rows; a prefix: columns.
    int first_reduced = r, last_kept = -1, first_kept = r, last_reduced = -1;
    for (int i = 0; i < r; ++i) {
      if (x.shape()[i] == 1) continue;
      if (p.reduced[i]) {
        first_reduced = std::min(first_reduced, i);
        last_reduced = i;
      } else {
        first_kept = std::min(first_kept, i);
        last_kept = i;
      }
    }
    if (last_kept < first_reduced) return x;
    if (last_reduced < first_kept) {
      column_mode = true;
      return x;
    }
  }
  shape_t order;
  for (int i = 0; i < r; ++i)
    if (!p.reduced[i]) order.push_back(i);
  for (int i = 0; i < r; ++i)
    if (p.reduced[i]) order.push_back(i);
  return x.permute(order).clone();
}

/// For a contiguous `x` whose kept axes (size-1 axes aside) form one run with reduced axes on
/// both sides, e.g. the bias gradient of a (B, C, P) activation: sets x = (A, M, K) with M the
/// kept extent, A and K the reduced extents before and after it, and returns true. Such a
/// reduction needs no permuted copy (reduction_layout would make one).
template <class T, class Space>
bool middle_kept_layout(const tensor<T, Space>& x, const reduce_plan& p, index_t& before,
                        index_t& after) {
  if (!x.is_contiguous()) return false;
  const int r = x.rank();
  int first_kept = r, last_kept = -1;
  for (int i = 0; i < r; ++i)
    if (x.shape()[i] != 1 && !p.reduced[i]) {
      first_kept = std::min(first_kept, i);
      last_kept = i;
    }
  if (last_kept < 0) return false;
  before = 1;
  after = 1;
  for (int i = 0; i < r; ++i) {
    if (x.shape()[i] == 1) continue;
    if (i < first_kept) {
      before *= x.shape()[i];
    } else if (i > last_kept) {
      after *= x.shape()[i];
    } else if (p.reduced[i]) {
      return false;  // a reduced axis between kept ones
    }
  }
  return before > 1 && after > 1;
}

/// Generic reduction: acc = combine(acc, map(v)) over the reduced axes, then finish(acc).
template <class T, class Map, class Combine>
tensor<T> reduce_generic(const char* fn, const tensor<T>& x, const shape_t& axes, bool keepdim,
                         T identity, Map map, Combine combine) {
  require_defined(fn, "the input", x);
  const reduce_plan p = plan_reduce(fn, x.shape(), axes);
  tensor<T> out(keepdim ? p.out_shape : p.squeezed_shape);
  T* o = out.data();
  if (p.outer == 0) return out;
  bool column_mode = false;
  const tensor<T> xl = reduction_layout(x, p, column_mode);
  const T* d = xl.data();
  const index_t M = p.outer, K = p.inner;
  if (column_mode) {
    parallel_for(0, M, std::max<index_t>(1, default_grain / std::max<index_t>(K, 1)),
                 [&](index_t lo, index_t hi) {
                   for (index_t j = lo; j < hi; ++j) o[j] = identity;
                   for (index_t i = 0; i < K; ++i) {
                     const T* row = d + i * M;
                     for (index_t j = lo; j < hi; ++j) o[j] = combine(o[j], map(row[j]));
                   }
                 });
    return out;
  }
  parallel_for(0, M, std::max<index_t>(1, default_grain / std::max<index_t>(K, 1)),
               [&](index_t lo, index_t hi) {
                 for (index_t m = lo; m < hi; ++m) {
                   const T* row = d + m * K;
                   T acc = identity;
                   for (index_t k = 0; k < K; ++k) acc = combine(acc, map(row[k]));
                   o[m] = acc;
                 }
               });
  return out;
}

/// Sum with lane accumulators; full reductions of large tensors are split into fixed blocks
/// whose partial sums are added in order (deterministic for any thread count).
template <class T, class Map>
tensor<T> sum_generic(const char* fn, const tensor<T>& x, const shape_t& axes, bool keepdim,
                      Map map) {
  require_defined(fn, "the input", x);
  const reduce_plan p = plan_reduce(fn, x.shape(), axes);
  tensor<T> out(keepdim ? p.out_shape : p.squeezed_shape);
  T* o = out.data();
  if (p.outer == 0) return out;
  index_t before = 1, after = 1;
  if (middle_kept_layout(x, p, before, after)) {
    // (A, M, K): each output adds its A rows of K in order, each row with lane_sum.
    const T* d = x.data();
    const index_t M = p.outer;
    parallel_for(0, M, std::max<index_t>(1, default_grain / p.inner), [&](index_t lo, index_t hi) {
      for (index_t m = lo; m < hi; ++m) {
        T acc = T(0);
        for (index_t a = 0; a < before; ++a) acc += lane_sum(d + (a * M + m) * after, after, map);
        o[m] = acc;
      }
    });
    return out;
  }
  bool column_mode = false;
  const tensor<T> xl = reduction_layout(x, p, column_mode);
  const T* d = xl.data();
  const index_t M = p.outer, K = p.inner;
  if (column_mode) {
    parallel_for(0, M, std::max<index_t>(1, default_grain / std::max<index_t>(K, 1)),
                 [&](index_t lo, index_t hi) {
                   for (index_t j = lo; j < hi; ++j) o[j] = T(0);
                   for (index_t i = 0; i < K; ++i) {
                     const T* row = d + i * M;
                     for (index_t j = lo; j < hi; ++j) o[j] += map(row[j]);
                   }
                 });
    return out;
  }
  if (M == 1 && K > default_grain) {
    constexpr index_t block = 8192;
    const index_t nb = (K + block - 1) / block;
    std::vector<T> partial(static_cast<std::size_t>(nb));
    parallel_for(0, nb, 4, [&](index_t lo, index_t hi) {
      for (index_t b = lo; b < hi; ++b)
        partial[static_cast<std::size_t>(b)] =
            lane_sum(d + b * block, std::min(block, K - b * block), map);
    });
    T acc = T(0);
    for (T v : partial) acc += v;
    o[0] = acc;
    return out;
  }
  parallel_for(0, M, std::max<index_t>(1, default_grain / std::max<index_t>(K, 1)),
               [&](index_t lo, index_t hi) {
                 for (index_t m = lo; m < hi; ++m) o[m] = lane_sum(d + m * K, K, map);
               });
  return out;
}

struct identity_map {
  template <class T>
  T operator()(T v) const noexcept {
    return v;
  }
};

}  // namespace detail

/// Sum over `axes` (all when empty).
/// @throws tessera::invalid_argument for an out-of-range or repeated axis.
template <class T>
tensor<T> sum(const tensor<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  return detail::sum_generic("sum", x, axes, keepdim, detail::identity_map{});
}

/// Mean over `axes` (all when empty). The mean over zero elements is NaN.
template <class T>
tensor<T> mean(const tensor<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  const detail::reduce_plan p = detail::plan_reduce("mean", x.shape(), axes);
  tensor<T> s = sum(x, axes, keepdim);
  scale_(s, p.inner > 0 ? T(1) / static_cast<T>(p.inner) : std::numeric_limits<T>::quiet_NaN());
  return s;
}

/// Variance over `axes`, dividing by (count - correction): 0 gives the population variance,
/// 1 the unbiased sample variance. Two-pass (mean first) for accuracy.
template <class T>
tensor<T> var(const tensor<T>& x, const shape_t& axes = {}, int correction = 0,
              bool keepdim = false) {
  const detail::reduce_plan p = detail::plan_reduce("var", x.shape(), axes);
  const tensor<T> m = mean(x, axes, true);
  tensor<T> s = sum(square(sub(x, m)), axes, keepdim);
  const index_t denom = p.inner - correction;
  scale_(s, denom > 0 ? T(1) / static_cast<T>(denom) : std::numeric_limits<T>::quiet_NaN());
  return s;
}

/// Same as var(); the name the autodiff layer also uses.
template <class T>
tensor<T> variance(const tensor<T>& x, const shape_t& axes = {}, int correction = 0,
                   bool keepdim = false) {
  return var(x, axes, correction, keepdim);
}

namespace detail {
/// The larger of two values, NaN if either is (max's and the infinity norm's combine).
struct nan_max {
  template <class T>
  T operator()(T a, T v) const {
    return (v > a || std::isnan(v)) && !std::isnan(a) ? v : a;
  }
};
}  // namespace detail

/// Maximum over `axes`. @throws tessera::invalid_argument when a reduced extent is zero.
template <class T>
tensor<T> max(const tensor<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  if (detail::plan_reduce("max", x.shape(), axes).inner == 0)
    throw_invalid_argument("max", "cannot take the maximum over an empty axis of shape ",
                           x.shape().str());
  return detail::reduce_generic("max", x, axes, keepdim, -std::numeric_limits<T>::infinity(),
                                detail::identity_map{}, detail::nan_max{});
}

/// Minimum over `axes`. @throws tessera::invalid_argument when a reduced extent is zero.
template <class T>
tensor<T> min(const tensor<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  if (detail::plan_reduce("min", x.shape(), axes).inner == 0)
    throw_invalid_argument("min", "cannot take the minimum over an empty axis of shape ",
                           x.shape().str());
  return detail::reduce_generic(
      "min", x, axes, keepdim, std::numeric_limits<T>::infinity(), detail::identity_map{},
      [](T a, T v) { return (v < a || std::isnan(v)) && !std::isnan(a) ? v : a; });
}

/// Index of the (first) maximum along one axis, as tensor<index_t>.
/// @throws tessera::invalid_argument when the axis is out of range or empty.
template <class T>
tensor<index_t> argmax(const tensor<T>& x, int axis, bool keepdim = false) {
  const int a = normalize_axis("argmax", axis, x.rank());
  if (x.shape()[a] == 0)
    throw_invalid_argument("argmax", "axis ", a, " of shape ", x.shape().str(), " is empty");
  shape_t order;
  for (int i = 0; i < x.rank(); ++i)
    if (i != a) order.push_back(i);
  order.push_back(a);
  const tensor<T> xl = x.permute(order).contiguous();
  shape_t out_shape = x.shape();
  if (keepdim)
    out_shape[a] = 1;
  else
    out_shape.erase(a);
  tensor<index_t> out(out_shape);
  const index_t K = x.shape()[a], M = x.numel() / K;
  const T* d = xl.data();
  for (index_t m = 0; m < M; ++m) {
    const T* row = d + m * K;
    index_t best = 0;
    for (index_t k = 1; k < K; ++k)
      if (row[k] > row[best] || (std::isnan(row[k]) && !std::isnan(row[best]))) best = k;
    out.data()[m] = best;
  }
  return out;
}

/// log Σ exp(x) over `axes`, computed stably (max subtracted first); -inf over an empty axis.
/// @throws tessera::invalid_argument for an out-of-range or repeated axis.
template <class T>
tensor<T> logsumexp(const tensor<T>& x, const shape_t& axes = {}, bool keepdim = false) {
  // Validate here so that errors name logsumexp, not the max it calls.
  const detail::reduce_plan p = detail::plan_reduce("logsumexp", x.shape(), axes);
  if (p.inner == 0) {  // log of an empty sum
    tensor<T> r(keepdim ? p.out_shape : p.squeezed_shape);
    r.fill_(-std::numeric_limits<T>::infinity());
    return r;
  }
  tensor<T> m = max(x, axes, true);
  // Rows whose max is ±inf would give inf - inf; use 0 as the shift there.
  m = detail::unary_map<T>(m, [](T v) { return std::isfinite(v) ? v : T(0); });
  tensor<T> s = log(sum(exp(sub(x, m)), axes, true));
  s = add(s, m);
  if (keepdim) return s;
  return s.reshape(p.squeezed_shape);
}

/// p-norm over `axes` for p = 1, 2 or infinity (pass std::numeric_limits<T>::infinity()).
/// A NaN in the reduced set gives NaN for every p (as ad::norm and PyTorch).
/// @throws tessera::invalid_argument for other p.
template <class T>
tensor<T> norm(const tensor<T>& x, T p = T(2), const shape_t& axes = {}, bool keepdim = false) {
  if (p == T(2))
    return sqrt(detail::sum_generic("norm", x, axes, keepdim, [](T v) { return v * v; }));
  if (p == T(1))
    return detail::sum_generic("norm", x, axes, keepdim, [](T v) { return std::abs(v); });
  if (std::isinf(p) && p > 0)
    return detail::reduce_generic(
        "norm", x, axes, keepdim, T(0), [](T v) { return std::abs(v); }, detail::nan_max{});
  throw_invalid_argument("norm", "p ", p, " is not supported (use 1, 2 or infinity)");
}

namespace detail {
/// The axes of a tensor of shape `from` that sum_to(·, to) sums over (kept as size 1, then
/// reshaped): the leading axes `to` lacks, and the axes where `to` has 1 and `from` does not.
/// Shared by the host and cuda sum_to.
/// @throws tessera::invalid_argument when `to` does not broadcast to `from`.
inline shape_t sum_to_axes(const shape_t& from, const shape_t& to) {
  const int lead = from.rank() - to.rank();
  const auto fail = [&] {
    throw_invalid_argument("sum_to", "cannot reduce shape ", from.str(), " to ", to.str());
  };
  if (lead < 0) fail();
  shape_t axes;
  for (int i = 0; i < from.rank(); ++i) {
    if (i < lead) {
      axes.push_back(i);
    } else if (to[i - lead] != from[i]) {
      if (to[i - lead] != 1) fail();
      axes.push_back(i);
    }
  }
  return axes;
}
}  // namespace detail

/// Sums `g` down to `shape`, undoing numpy broadcasting (the adjoint of expand).
/// @throws tessera::invalid_argument when `shape` does not broadcast to g's shape.
template <class T>
tensor<T> sum_to(const tensor<T>& g, const shape_t& shape) {
  if (g.shape() == shape) return g;
  const shape_t axes = detail::sum_to_axes(g.shape(), shape);
  if (axes.rank() == 0) return g.reshape(shape);
  return sum(g, axes, true).reshape(shape);
}

}  // namespace tessera
