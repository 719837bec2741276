// SPDX-License-Identifier: Apache-2.0
// matmul and batched matmul on host tensors (numpy matmul semantics) through the GEMM backend
// of ops/detail/gemm.hpp (BLIS, a BLAS or Eigen).
#pragma once

#include "tessera/ops/detail/gemm.hpp"
#include "tessera/ops/elementwise.hpp"

namespace tessera {

/// Matrix product with numpy semantics: (m,k)·(k,n) → (m,n); leading batch axes broadcast,
/// (…,m,k)·(…,k,n) → (…,m,n); a rank-1 operand is treated as a row (lhs) or column (rhs)
/// vector and its axis dropped from the result.
/// @throws tessera::invalid_argument when an operand has rank 0, the inner dimensions differ
///   or the batch shapes do not broadcast.
template <class T>
tensor<T> matmul(const tensor<T>& lhs, const tensor<T>& rhs) {
  if (lhs.rank() == 0 || rhs.rank() == 0)
    throw_invalid_argument("matmul", "lhs shape ", lhs.shape().str(), ", rhs shape ",
                           rhs.shape().str(), ": operands must have rank at least 1");
  const tensor<T> a = lhs.rank() == 1 ? lhs.unsqueeze(0) : lhs;
  const tensor<T> b = rhs.rank() == 1 ? rhs.unsqueeze(1) : rhs;
  const index_t m = a.size(-2), k = a.size(-1), k2 = b.size(-2), n = b.size(-1);
  if (k != k2)
    throw_invalid_argument("matmul", "lhs shape ", lhs.shape().str(), ", rhs shape ",
                           rhs.shape().str(), ": inner dimensions ", k, " and ", k2, " differ");
  shape_t ab, bb;  // batch shapes
  for (int i = 0; i + 2 < a.rank(); ++i) ab.push_back(a.shape()[i]);
  for (int i = 0; i + 2 < b.rank(); ++i) bb.push_back(b.shape()[i]);
  const shape_t batch = broadcast_shapes("matmul", ab, bb);
  shape_t out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  tensor<T> out(out_shape);
  const index_t nb = batch.numel();
  shape_t ea = batch, eb = batch;
  ea.push_back(m);
  ea.push_back(k);
  eb.push_back(k);
  eb.push_back(n);
  const tensor<T> A = a.expand(ea), B = b.expand(eb);
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

}  // namespace tessera
