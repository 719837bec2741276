// SPDX-License-Identifier: Apache-2.0
// Indexing and joining on host tensors: index_select, gather, embedding, scatter-add (their
// adjoints), concat, stack, split.
#pragma once

#include <vector>

#include "tessera/ops/elementwise.hpp"

namespace tessera {

namespace detail {
template <class T>
void check_index(const char* fn, index_t i, index_t n, int axis, const shape_t& shape) {
  if (i < 0 || i >= n)
    throw_invalid_argument(fn, "index ", i, " is out of range for axis ", axis, " of shape ",
                           shape.str());
}
}  // namespace detail

/// Rows of `x` along `axis` picked by `index` (rank 1): result extent along axis = index size.
/// @throws tessera::invalid_argument for a bad axis, a non-rank-1 index or an out-of-range index.
template <class T>
tensor<T> index_select(const tensor<T>& x, int axis, const tensor<index_t>& index) {
  const int a = normalize_axis("index_select", axis, x.rank());
  if (index.rank() != 1)
    throw_invalid_argument("index_select", "index must have rank 1, got shape ",
                           index.shape().str());
  shape_t out_shape = x.shape();
  out_shape[a] = index.numel();
  tensor<T> out(out_shape);
  for (index_t j = 0; j < index.numel(); ++j) {
    const index_t i = index(j);
    detail::check_index<T>("index_select", i, x.shape()[a], a, x.shape());
    out.select(a, j).copy_from(x.select(a, i));
  }
  return out;
}

/// Adds the rows of `src` into rows `index` of a zero tensor of `shape` along `axis` (the
/// adjoint of index_select; repeated indices accumulate).
/// @throws tessera::invalid_argument for a bad axis, a non-rank-1 index, an out-of-range index,
///   or a src whose shape is not `shape` with extent index.numel() along `axis`.
template <class T>
tensor<T> index_add(const shape_t& shape, int axis, const tensor<index_t>& index,
                    const tensor<T>& src) {
  const int a = normalize_axis("index_add", axis, shape.rank());
  if (index.rank() != 1)
    throw_invalid_argument("index_add", "index must have rank 1, got shape ", index.shape().str());
  shape_t src_shape = shape;
  src_shape[a] = index.numel();
  if (!(src.shape() == src_shape))
    throw_invalid_argument("index_add", "src shape ", src.shape().str(), " must be ",
                           src_shape.str(), " for ", index.numel(), " indices into shape ",
                           shape.str(), " along axis ", a);
  tensor<T> out(shape);
  out.fill_(T(0));
  for (index_t j = 0; j < index.numel(); ++j) {
    const index_t i = index(j);
    detail::check_index<T>("index_add", i, shape[a], a, shape);
    add_(out.select(a, i), src.select(a, j));
  }
  return out;
}

/// Embedding lookup: weight (V, D), ids of any shape → (ids..., D).
/// @throws tessera::invalid_argument when weight is not rank 2 or an id is out of range.
template <class T>
tensor<T> embedding(const tensor<T>& weight, const tensor<index_t>& ids) {
  if (weight.rank() != 2)
    throw_invalid_argument("embedding", "weight must have rank 2, got shape ",
                           weight.shape().str());
  const tensor<index_t> flat_ids = ids.contiguous().flatten();
  for (index_t k = 0; k < flat_ids.numel(); ++k) {
    const index_t id = flat_ids.data()[k];
    if (id < 0 || id >= weight.size(0))
      throw_invalid_argument("embedding", "id ", id, " is out of range for weight of shape ",
                             weight.shape().str());
  }
  shape_t out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  return index_select(weight, 0, flat_ids).reshape(out_shape);
}

/// torch.gather: out[..., j, ...] = x[..., index[..., j, ...], ...] along `axis`; index has
/// x's rank and extents no larger than x's on the other axes.
template <class T>
tensor<T> gather(const tensor<T>& x, int axis, const tensor<index_t>& index) {
  const int a = normalize_axis("gather", axis, x.rank());
  if (index.rank() != x.rank())
    throw_invalid_argument("gather", "index shape ", index.shape().str(),
                           " must have the rank of x shape ", x.shape().str());
  for (int i = 0; i < x.rank(); ++i)
    if (i != a && index.shape()[i] > x.shape()[i])
      throw_invalid_argument("gather", "index shape ", index.shape().str(), " exceeds x shape ",
                             x.shape().str(), " on axis ", i);
  tensor<T> out(index.shape());
  const tensor<index_t> idx = index.contiguous();
  const index_t n = out.numel();
  for (index_t q = 0; q < n; ++q) {
    index_t rem = q, off = x.offset();
    const index_t i = idx.data()[q];
    detail::check_index<T>("gather", i, x.shape()[a], a, x.shape());
    for (int ax = x.rank() - 1; ax >= 0; --ax) {
      const index_t c = rem % index.shape()[ax];
      rem /= index.shape()[ax];
      off += (ax == a ? i : c) * x.strides()[ax];
    }
    out.data()[q] = x.storage().get()[off];
  }
  return out;
}

/// Adjoint of gather: zeros of `shape` with src added at the gathered positions.
/// @throws tessera::invalid_argument when index's rank differs from shape's, index exceeds
///   shape on an axis other than `axis`, src's shape differs from index's, or an index is out
///   of range.
template <class T>
tensor<T> scatter_add(const shape_t& shape, int axis, const tensor<index_t>& index,
                      const tensor<T>& src) {
  const int a = normalize_axis("scatter_add", axis, shape.rank());
  if (index.rank() != shape.rank())
    throw_invalid_argument("scatter_add", "index shape ", index.shape().str(),
                           " must have the rank of shape ", shape.str());
  for (int i = 0; i < shape.rank(); ++i)
    if (i != a && index.shape()[i] > shape[i])
      throw_invalid_argument("scatter_add", "index shape ", index.shape().str(), " exceeds shape ",
                             shape.str(), " on axis ", i);
  if (!(src.shape() == index.shape()))
    throw_invalid_argument("scatter_add", "src shape ", src.shape().str(),
                           " must equal index shape ", index.shape().str());
  tensor<T> out(shape);
  out.fill_(T(0));
  const tensor<index_t> idx = index.contiguous();
  const tensor<T> s = src.contiguous();
  for (index_t q = 0; q < idx.numel(); ++q) {
    index_t rem = q, off = 0;
    const index_t i = idx.data()[q];
    detail::check_index<T>("scatter_add", i, shape[a], a, shape);
    for (int ax = shape.rank() - 1; ax >= 0; --ax) {
      const index_t c = rem % index.shape()[ax];
      rem /= index.shape()[ax];
      off += (ax == a ? i : c) * out.strides()[ax];
    }
    out.data()[off] += s.data()[q];
  }
  return out;
}

/// Joins tensors along an existing axis; all other extents must match. Any memory space (one
/// strided copy per part).
/// @throws tessera::invalid_argument for an empty list or mismatched shapes.
template <class T, class Space = host>
tensor<T, Space> concat(const std::vector<tensor<T, Space>>& parts, int axis = 0) {
  if (parts.empty()) throw_invalid_argument("concat", "no tensors given");
  const int a = normalize_axis("concat", axis, parts[0].rank());
  shape_t out_shape = parts[0].shape();
  index_t total = 0;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const shape_t& s = parts[p].shape();
    bool ok = s.rank() == out_shape.rank();
    for (int i = 0; ok && i < s.rank(); ++i) ok = i == a || s[i] == out_shape[i];
    if (!ok)
      throw_invalid_argument("concat", "tensor ", p, " has shape ", s.str(), ", incompatible with ",
                             parts[0].shape().str(), " along axis ", a);
    total += s[a];
  }
  out_shape[a] = total;
  tensor<T, Space> out(out_shape);
  index_t at = 0;
  for (const auto& p : parts) {
    out.slice(a, at, at + p.shape()[a]).copy_from(p);
    at += p.shape()[a];
  }
  return out;
}

/// Stacks equally shaped tensors along a new axis (any memory space).
template <class T, class Space = host>
tensor<T, Space> stack(const std::vector<tensor<T, Space>>& parts, int axis = 0) {
  if (parts.empty()) throw_invalid_argument("stack", "no tensors given");
  const int a = normalize_axis("stack", axis, parts[0].rank() + 1);
  std::vector<tensor<T, Space>> u;
  u.reserve(parts.size());
  for (std::size_t p = 0; p < parts.size(); ++p) {
    if (!(parts[p].shape() == parts[0].shape()))
      throw_invalid_argument("stack", "tensor ", p, " has shape ", parts[p].shape().str(),
                             ", expected ", parts[0].shape().str());
    u.push_back(parts[p].unsqueeze(a));
  }
  return concat(u, a);
}

/// Splits along `axis` into pieces of the given sizes (views sharing storage; any memory space).
/// @throws tessera::invalid_argument when the sizes do not add up to the extent.
template <class T, class Space>
std::vector<tensor<T, Space>> split(const tensor<T, Space>& x, const std::vector<index_t>& sizes,
                                    int axis = 0) {
  const int a = normalize_axis("split", axis, x.rank());
  index_t total = 0;
  for (index_t s : sizes)
    if (s < 0) throw_invalid_argument("split", "size ", s, " is negative");
  for (index_t s : sizes) {
    if (s > x.shape()[a] - total)  // (so the sum never overflows)
      throw_invalid_argument("split", "sizes add up to more than the extent ", x.shape()[a],
                             " of axis ", a, " of shape ", x.shape().str());
    total += s;
  }
  if (total != x.shape()[a])
    throw_invalid_argument("split", "sizes add up to ", total, " but axis ", a, " of shape ",
                           x.shape().str(), " has extent ", x.shape()[a]);
  std::vector<tensor<T, Space>> out;
  index_t at = 0;
  for (index_t s : sizes) {
    out.push_back(x.slice(a, at, at + s));
    at += s;
  }
  return out;
}

}  // namespace tessera
