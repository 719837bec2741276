// SPDX-License-Identifier: Apache-2.0
// Batched complex matrix products op(A)·op(B) (op = identity or conjugate transpose) on complex
// tensors (..., rows, cols, 2), through Eigen's complex GEMM on the host and cuBLAS on cuda
// (cuda/spectral.cuh); differentiable to any order.
#pragma once

#include <complex>
#include <tuple>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "tessera/ad/node.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/ops/reduce.hpp"

namespace tessera::spectral {

namespace detail {

/// Rows and columns of op(x) for a complex matrix stack x (..., r, c, 2).
inline std::pair<index_t, index_t> op_dims(const shape_t& s, bool adjoint) {
  const index_t r = s[s.rank() - 3], c = s[s.rank() - 2];
  return adjoint ? std::pair{c, r} : std::pair{r, c};
}

/// The shapes of one complex_matmul: op(A) is (m, k), op(B) is (k, n); the batch axes of a
/// and b (their own, before broadcasting) and the broadcast batch; out = (batch..., m, n, 2).
struct complex_matmul_plan {
  index_t m, k, n;
  shape_t a_batch, b_batch, batch, out;
};

/// Checks complex_matmul's operands and plans its shapes (shared by every space).
/// @throws tessera::invalid_argument as complex_matmul documents.
inline complex_matmul_plan plan_complex_matmul(const shape_t& a, const shape_t& b, bool adjoint_a,
                                               bool adjoint_b) {
  const char* fn = "spectral::complex_matmul";
  for (const shape_t* s : {&a, &b})
    if (s->rank() < 3 || s->back() != 2)
      throw_invalid_argument(
          fn, "operands must be complex matrix stacks (..., rows, cols, 2), got ", s->str());
  complex_matmul_plan p{};
  index_t k2 = 0;
  std::tie(p.m, p.k) = op_dims(a, adjoint_a);
  std::tie(k2, p.n) = op_dims(b, adjoint_b);
  if (p.k != k2)
    throw_invalid_argument(fn, "shapes ", a.str(), (adjoint_a ? "ᴴ" : ""), " and ", b.str(),
                           (adjoint_b ? "ᴴ" : ""), ": inner dimensions ", p.k, " and ", k2,
                           " differ");
  for (int i = 0; i + 3 < a.rank(); ++i) p.a_batch.push_back(a[i]);
  for (int i = 0; i + 3 < b.rank(); ++i) p.b_batch.push_back(b[i]);
  p.batch = broadcast_shapes(fn, p.a_batch, p.b_batch);
  p.out = p.batch;
  p.out.push_back(p.m);
  p.out.push_back(p.n);
  p.out.push_back(2);
  return p;
}

/// The complex_matmul kernels of a memory space other than host; specialised by that space's
/// headers (cuda/spectral.cuh), so that generic code reaches them at instantiation.
template <class Space>
struct space_backend;

}  // namespace detail

namespace detail {

/// complex_matmul on host tensors through Eigen's complex GEMM, one product per batch entry
/// (in parallel when the products are small).
template <class T>
tensor<T> complex_matmul_host(const tensor<T>& a, const tensor<T>& b, bool adjoint_a,
                              bool adjoint_b, const complex_matmul_plan& plan) {
  const index_t m = plan.m, k = plan.k, n = plan.n;
  const shape_t &batch = plan.batch, &ab = plan.a_batch, &bb = plan.b_batch;
  tensor<T> out(plan.out);
  const index_t nb = batch.numel();
  if (out.numel() == 0) return out;
  if (k == 0) {
    out.fill_(T(0));
    return out;
  }
  // Each matrix must be a dense row-major complex block; batch axes may be broadcast.
  const tensor<T> ac = a.contiguous(), bc = b.contiguous();
  const index_t asz = a.shape()[a.rank() - 3] * a.shape()[a.rank() - 2];
  const index_t bsz = b.shape()[b.rank() - 3] * b.shape()[b.rank() - 2];
  auto batch_index = [&](index_t i, const shape_t& own) {  // matrix index in a stack `own`
    index_t idx = 0, mul = 1;
    for (int ax = batch.rank() - 1, o = own.rank() - 1; ax >= 0; --ax, --o) {
      const index_t bi = i % batch[ax];
      i /= batch[ax];
      if (o >= 0) {
        if (own[o] != 1) idx += bi * mul;
        mul *= own[o];
      }
    }
    return idx;
  };
  using cplx = std::complex<T>;
  using mat = Eigen::Matrix<cplx, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const cplx* pa = reinterpret_cast<const cplx*>(ac.data());
  const cplx* pb = reinterpret_cast<const cplx*>(bc.data());
  cplx* pc = reinterpret_cast<cplx*>(out.data());
  const index_t ar = a.shape()[a.rank() - 3], acn = a.shape()[a.rank() - 2];
  const index_t br = b.shape()[b.rank() - 3], bcn = b.shape()[b.rank() - 2];
  auto one = [&](index_t i) {
    const Eigen::Map<const mat> A(pa + batch_index(i, ab) * asz, ar, acn);
    const Eigen::Map<const mat> B(pb + batch_index(i, bb) * bsz, br, bcn);
    Eigen::Map<mat> C(pc + i * m * n, m, n);
    if (!adjoint_a && !adjoint_b)
      C.noalias() = A * B;
    else if (adjoint_a && !adjoint_b)
      C.noalias() = A.adjoint() * B;
    else if (!adjoint_a)
      C.noalias() = A * B.adjoint();
    else
      C.noalias() = A.adjoint() * B.adjoint();
  };
  const index_t work = m * n * k;
  if (nb > 1 && work < (index_t(1) << 16)) {
    parallel_for(0, nb, std::max<index_t>(1, (index_t(1) << 16) / work),
                 [&](index_t lo, index_t hi) {
                   for (index_t i = lo; i < hi; ++i) one(i);
                 });
  } else {
    for (index_t i = 0; i < nb; ++i) one(i);
  }
  return out;
}

}  // namespace detail

/// C = op(A)·op(B) for stacks of complex matrices, op(M) = M or Mᴴ (conjugate transpose).
/// @param a complex tensor (..., r, c, 2), rank >= 3; its matrix is (r, c), or (c, r) when
///   adjoint_a is set.
/// @param b complex tensor (..., r', c', 2), likewise.
/// @return a contiguous complex tensor (batch..., m, n, 2): batch axes broadcast as in numpy.
/// @throws tessera::invalid_argument when an operand is not a complex matrix stack, the inner
///   dimensions differ or the batch shapes do not broadcast.
template <class T, class S>
tensor<T, S> complex_matmul(const tensor<T, S>& a, const tensor<T, S>& b, bool adjoint_a = false,
                            bool adjoint_b = false) {
  for (const tensor<T, S>* t : {&a, &b})
    if (!t->defined())
      throw_invalid_argument("spectral::complex_matmul",
                             "operands must be complex matrix stacks (..., rows, cols, 2), got "
                             "undefined");
  const detail::complex_matmul_plan plan =
      detail::plan_complex_matmul(a.shape(), b.shape(), adjoint_a, adjoint_b);
  if constexpr (!std::is_same_v<S, host>) {
    return detail::space_backend<S>::complex_matmul(a, b, adjoint_a, adjoint_b, plan);
  } else {
    return detail::complex_matmul_host(a, b, adjoint_a, adjoint_b, plan);
  }
}

/// Differentiable complex_matmul. For C = op(A)·op(B), with the real inner product
/// Re tr(XᴴY) on complex tensors:
///   C = A B:   Ā += C̄ Bᴴ,  B̄ += Aᴴ C̄;     C = Aᴴ B:   Ā += B C̄ᴴ,  B̄ += A C̄;
///   C = A Bᴴ:  Ā += C̄ B,   B̄ += C̄ᴴ A;     C = Aᴴ Bᴴ:  Ā += Bᴴ C̄ᴴ, B̄ += C̄ᴴ Aᴴ;
/// each summed over broadcast batch axes. The rules call complex_matmul itself, so gradients
/// of every order exist.
template <class T, class S>
ad::var<T, S> complex_matmul(const ad::var<T, S>& a, const ad::var<T, S>& b, bool adjoint_a = false,
                             bool adjoint_b = false) {
  tensor<T, S> y = complex_matmul(a.value(), b.value(), adjoint_a, adjoint_b);
  return ad::make_op(std::move(y), {a, b}, [adjoint_a, adjoint_b](auto& c) {
    const bool ta = adjoint_a, tb = adjoint_b;
    if (c.needs(0)) {
      if (!ta)
        c.acc(0, complex_matmul(c.gy(), c.x(1), false, !tb));  // C̄ op(B)ᴴ
      else
        c.acc(0, complex_matmul(c.x(1), c.gy(), tb, true));  // op(B) C̄ᴴ
    }
    if (c.needs(1)) {
      if (!tb)
        c.acc(1, complex_matmul(c.x(0), c.gy(), !ta, false));  // op(A)ᴴ C̄
      else
        c.acc(1, complex_matmul(c.gy(), c.x(0), true, ta));  // C̄ᴴ op(A)
    }
  });
}

}  // namespace tessera::spectral
