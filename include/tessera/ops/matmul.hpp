// SPDX-License-Identifier: Apache-2.0
// matmul and batched matmul on host tensors (numpy matmul semantics) through the GEMM backend
// of ops/detail/gemm.hpp (BLIS, a BLAS or Eigen).
#pragma once

#include "tessera/ops/detail/gemm.hpp"
#include "tessera/ops/elementwise.hpp"
#include "tessera/ops/reduce.hpp"

namespace tessera {

namespace detail {

/// The shapes of a numpy matmul, shared by every memory space's implementation.
struct matmul_shapes {
  index_t m = 0, k = 0, n = 0;
  shape_t batch;     ///< broadcast batch shape
  shape_t out;       ///< batch + (m, n), before dropping a rank-1 operand's axis
  shape_t lhs_full;  ///< batch + (m, k): what the (promoted) lhs is expanded to
  shape_t rhs_full;  ///< batch + (k, n)
};

/// Checks and plans lhs·rhs (shapes as given: a rank-1 lhs is a row, a rank-1 rhs a column).
/// @throws tessera::invalid_argument when an operand has rank 0, the inner dimensions differ
///   or the batch shapes do not broadcast.
inline matmul_shapes plan_matmul(const shape_t& lhs, const shape_t& rhs) {
  if (lhs.rank() == 0 || rhs.rank() == 0)
    throw_invalid_argument("matmul", "lhs shape ", lhs.str(), ", rhs shape ", rhs.str(),
                           ": operands must have rank at least 1");
  shape_t a = lhs, b = rhs;
  if (a.rank() == 1) a = shape_t{1, lhs[0]};
  if (b.rank() == 1) b = shape_t{rhs[0], 1};
  matmul_shapes s;
  s.m = a[a.rank() - 2], s.k = a[a.rank() - 1], s.n = b[b.rank() - 1];
  const index_t k2 = b[b.rank() - 2];
  if (s.k != k2)
    throw_invalid_argument("matmul", "lhs shape ", lhs.str(), ", rhs shape ", rhs.str(),
                           ": inner dimensions ", s.k, " and ", k2, " differ");
  shape_t ab, bb;
  for (int i = 0; i + 2 < a.rank(); ++i) ab.push_back(a[i]);
  for (int i = 0; i + 2 < b.rank(); ++i) bb.push_back(b[i]);
  s.batch = broadcast_shapes("matmul", ab, bb);
  s.out = s.lhs_full = s.rhs_full = s.batch;
  s.out.push_back(s.m);
  s.out.push_back(s.n);
  s.lhs_full.push_back(s.m);
  s.lhs_full.push_back(s.k);
  s.rhs_full.push_back(s.k);
  s.rhs_full.push_back(s.n);
  return s;
}

/// The shape of matmul_add(a, b, c): a·b's, checked (both ranks ≥ 2, c broadcasting to it).
inline shape_t matmul_add_shape(const shape_t& a, const shape_t& b, const shape_t& c) {
  if (a.rank() < 2 || b.rank() < 2)
    throw_invalid_argument("matmul_add", "operands need rank >= 2, got lhs shape ", a.str(),
                           ", rhs shape ", b.str());
  const shape_t out = plan_matmul(a, b).out;
  if (!(broadcast_shapes("matmul_add", out, c) == out))
    throw_invalid_argument("matmul_add", "addend shape ", c.str(),
                           " does not broadcast to the product's shape ", out.str(), " (lhs ",
                           a.str(), ", rhs ", b.str(), ")");
  return out;
}

/// The shape (m, n) of matmul_batch_sum(a, b), checked: a (batch..., m, k), b (batch..., k, n)
/// with the same batch axes.
inline shape_t batch_sum_shape(const shape_t& a, const shape_t& b) {
  const int r = a.rank();
  bool ok = r >= 2 && b.rank() == r && a[r - 1] == b[r - 2];
  for (int i = 0; ok && i + 2 < r; ++i) ok = a[i] == b[i];
  if (!ok)
    throw_invalid_argument("matmul_batch_sum", "lhs shape ", a.str(), ", rhs shape ", b.str(),
                           ": need (batch..., m, k) and (batch..., k, n) with the same batch "
                           "axes, rank at least 2");
  return shape_t{a[r - 2], b[r - 1]};
}

/// Σ over the batch axes of matmul(a, b) (rank 2: the product itself), in any memory space:
/// matmul_batch_sum on the host, and on cuda where its kernel does not apply.
template <class X>
X batched_product_summed(const X& a, const X& b) {
  if (a.rank() == 2) return matmul(a, b);
  shape_t axes;
  for (int i = 0; i + 2 < a.rank(); ++i) axes.push_back(i);
  return sum(matmul(a, b), axes);
}

/// add_gelu(matmul_add(w, x, c), bias), or add_gelu(matmul(w, x), bias) when c is undefined:
/// matmul_add_gelu's definition, for tensors of any space and for ad variables.
template <class X>
X matmul_add_gelu_composite(const X& w, const X& x, const X& c, const X& bias) {
  return add_gelu(c.defined() ? matmul_add(w, x, c) : matmul(w, x), bias);
}

/// matmul_add_gelu(w, x, matmul_add(w2, x2, c), bias) (c undefined: matmul(w2, x2) as the
/// addend): matmul_pair_add_gelu's definition, for tensors of any space and for ad variables.
/// matmul_add_gelu is the space's own (found by argument-dependent lookup): on the host its
/// composite, on cuda its one-kernel path, on a recording tape its recorded composite.
template <class X>
X matmul_pair_add_gelu_composite(const X& w, const X& x, const X& w2, const X& x2, const X& c,
                                 const X& bias) {
  return matmul_add_gelu(w, x, c.defined() ? matmul_add(w2, x2, c) : matmul(w2, x2), bias);
}

}  // namespace detail

/// Matrix product with numpy semantics: (m,k)·(k,n) → (m,n); leading batch axes broadcast,
/// (…,m,k)·(…,k,n) → (…,m,n); a rank-1 operand is treated as a row (lhs) or column (rhs)
/// vector and its axis dropped from the result.
/// @throws tessera::invalid_argument when an operand has rank 0, the inner dimensions differ
///   or the batch shapes do not broadcast.
template <class T>
tensor<T> matmul(const tensor<T>& lhs, const tensor<T>& rhs) {
  const detail::matmul_shapes s = detail::plan_matmul(lhs.shape(), rhs.shape());
  const index_t m = s.m, k = s.k, n = s.n;
  const shape_t& batch = s.batch;
  tensor<T> out(s.out);
  const index_t nb = batch.numel();
  const tensor<T> A = (lhs.rank() == 1 ? lhs.unsqueeze(0) : lhs).expand(s.lhs_full);
  const tensor<T> B = (rhs.rank() == 1 ? rhs.unsqueeze(1) : rhs).expand(s.rhs_full);
  const int br = batch.rank();
  auto batch_offset = [&](const tensor<T>& t, index_t i) {
    index_t off = t.offset();
    for (int ax = br - 1; ax >= 0; --ax) {
      off += (i % batch[ax]) * t.strides()[ax];
      i /= batch[ax];
    }
    return off;
  };
  const index_t ars = A.strides()[br], acs = A.strides()[br + 1];
  const index_t brs = B.strides()[br], bcs = B.strides()[br + 1];
  auto one = [&](index_t i) {
    detail::gemm(A.storage().get() + batch_offset(A, i), m, k, ars, acs,
                 B.storage().get() + batch_offset(B, i), n, brs, bcs, out.data() + i * m * n, n,
                 false);
  };
  // Big single products are threaded inside the GEMM; many small ones are spread over threads.
  if (nb > 1 && m * n * k < (index_t(1) << 18)) {
    parallel_for(0, nb, std::max<index_t>(1, (index_t(1) << 18) / std::max<index_t>(1, m * n * k)),
                 [&](index_t lo, index_t hi) {
                   for (index_t i = lo; i < hi; ++i) one(i);
                 });
  } else {
    for (index_t i = 0; i < nb; ++i) one(i);
  }
  if (lhs.rank() == 1) out = out.squeeze(-2);
  if (rhs.rank() == 1) out = out.squeeze(-1);
  return out;
}

/// a·b + c: the matrix product of rank ≥ 2 operands (batch axes broadcast, as matmul) plus a
/// tensor c that broadcasts to the product's shape (PyTorch's baddbmm with α = β = 1). On the
/// host the product is formed and c added in place; on cuda c enters the GEMM as its C operand,
/// so the sum costs no extra pass.
/// @throws tessera::invalid_argument when an operand has rank < 2, the inner dimensions differ,
///   the batch shapes do not broadcast or c does not broadcast to the product's shape.
template <class T>
tensor<T> matmul_add(const tensor<T>& a, const tensor<T>& b, const tensor<T>& c) {
  (void)detail::matmul_add_shape(a.shape(), b.shape(), c.shape());
  tensor<T> out = matmul(a, b);
  add_(out, c);
  return out;
}

/// Σ over the batch axes of a·b: a (batch..., m, k) and b (batch..., k, n), with the same batch
/// axes, give the (m, n) sum of the batch's products. It is the gradient of a matrix applied to
/// every entry of a batch (Σ_b Ȳ_b·X_bᵀ for Y_b = W·X_b), which the tape's matmul uses. On the
/// host the batched product is formed and summed over the batch axes; on cuda, for small m and n,
/// one kernel sums the products of chunks of the batch and inner dimension, without the (batch,
/// m, n) products and with the whole GPU busy (cuBLAS gives such a product one block per batch
/// entry).
/// @throws tessera::invalid_argument when the ranks are below 2 or differ, the batch axes
///   differ or the inner dimensions differ.
template <class T>
tensor<T> matmul_batch_sum(const tensor<T>& a, const tensor<T>& b) {
  (void)detail::batch_sum_shape(a.shape(), b.shape());
  return detail::batched_product_summed(a, b);
}

/// gelu(w·x + c + bias): a matrix w (m, k) applied to x, plus an addend c of the product's shape
/// (or an undefined tensor for none), plus a bias that broadcasts to it, through GELU (the erf
/// form). The same as add_gelu(matmul_add(w, x, c), bias), which is what the host computes; on
/// cuda, for w at most 32×32, x (B, k, P), c (B, m, P) and a per-row bias (m, 1), all contiguous
/// (the pointwise layers of an FNO), it is one kernel that reads x and c once and writes the
/// result once, with the same order of sums (the product, then c, then the bias).
/// @throws tessera::invalid_argument as matmul, matmul_add and add_gelu.
template <class T>
tensor<T> matmul_add_gelu(const tensor<T>& w, const tensor<T>& x, const tensor<T>& c,
                          const tensor<T>& bias) {
  return detail::matmul_add_gelu_composite(w, x, c, bias);
}

/// gelu(w·x + (w2·x2 + c) + bias): matmul_add_gelu whose addend is itself a product plus c (c
/// undefined: none), the last pointwise product of an FNO layer with its skip path W_s·z + x̃.
/// The same as matmul_add_gelu(w, x, matmul_add(w2, x2, c), bias), which is what the host
/// computes; on cuda, for w and w2 at most 32×32 applied to x (B, k, P) and x2 (B, k2, P), c
/// (B, m, P) and a per-row bias (m, 1), all contiguous, it is one kernel that reads x, x2 and c
/// once and writes the result once (the skip path's result is never stored), with the
/// composite's order of sums (w2·x2, then c, then w·x added, then the bias).
/// @throws tessera::invalid_argument as matmul, matmul_add and add_gelu.
template <class T>
tensor<T> matmul_pair_add_gelu(const tensor<T>& w, const tensor<T>& x, const tensor<T>& w2,
                               const tensor<T>& x2, const tensor<T>& c, const tensor<T>& bias) {
  return detail::matmul_pair_add_gelu_composite(w, x, w2, x2, c, bias);
}

}  // namespace tessera
