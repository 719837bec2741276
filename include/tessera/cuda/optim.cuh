// SPDX-License-Identifier: Apache-2.0
// Fused optimizer updates on cuda tensors: one kernel per parameter reads p, g, m, v (and the
// AMSGrad maximum) once and writes them back once, with the host's Adam/AdamW formula
// (optim/adam.hpp); the same for SGD with momentum (optim/sgd.hpp). optim::adam<T, cuda>,
// adamw<T, cuda> and sgd<T, cuda> call these from their step().
#pragma once

#include <cmath>

#include "tessera/cuda/tensor.cuh"
#include "tessera/optim/adam.hpp"
#include "tessera/optim/sgd.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// Adam/AdamW on n contiguous elements, the host's adam_kernel per element (flags uniform
/// over the launch). vmax is read and written only when amsgrad. Launch: 1-d grid-stride.
template <class T>
TESSERA_KERNEL void adam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                                T* __restrict__ v, T* __restrict__ vmax, index_t n,
                                tessera::optim::detail::adam_coefficients<T> c, bool l2,
                                bool amsgrad, bool decoupled) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t k = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += stride) {
    const T pk = p[k];
    T gk = g[k];
    if (l2) gk += c.wd * pk;
    const T mk = c.b1 * m[k] + c.c1 * gk;
    T vk = c.b2 * v[k] + c.c2 * gk * gk;
    m[k] = mk;
    v[k] = vk;
    if (amsgrad) {
      vk = vmax[k] > vk ? vmax[k] : vk;
      vmax[k] = vk;
    }
    const T denom = std::sqrt(vk) * c.inv_sqrt_bc2 + c.eps;
    p[k] = decoupled ? pk * c.shrink - c.step_size * mk / denom : pk - c.step_size * mk / denom;
  }
}

/// SGD on n contiguous elements, the host's sgd_kernel per element (b, the momentum buffer, is
/// read only when momentum and not first, written when momentum). Launch: 1-d grid-stride.
template <class T>
TESSERA_KERNEL void sgd_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ b,
                               index_t n, tessera::optim::detail::sgd_coefficients<T> c, bool l2,
                               bool momentum, bool first, bool nesterov) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t k = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += stride) {
    T d = g[k];
    if (l2) d += c.wd * p[k];
    if (momentum) {
      const T bk = first ? d : c.mu * b[k] + c.keep * d;
      b[k] = bk;
      d = nesterov ? d + c.mu * bk : bk;
    }
    p[k] -= c.lr * d;
  }
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera::optim {

/// The scalars of the t-th Adam (decoupled = false) or AdamW (true) update, computed as the
/// host's optimizers compute them (bias corrections in double).
template <class T>
detail::adam_coefficients<T> adam_coefficients_for(T lr, T beta1, T beta2, T eps, T weight_decay,
                                                   bool decoupled, index_t t) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  return detail::adam_coefficients<T>{
      .b1 = beta1,
      .b2 = beta2,
      .c1 = T(1) - beta1,
      .c2 = T(1) - beta2,
      .eps = eps,
      .wd = weight_decay,
      .shrink = decoupled ? T(1) - lr * weight_decay : T(1),
      .step_size = static_cast<T>(static_cast<double>(lr) / bc1),
      .inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(bc2)),
  };
}

/// One fused Adam/AdamW step of a cuda parameter on the current stream: p, m, v (and vmax
/// when amsgrad) updated in place from g, one kernel. `l2` adds wd·p to the gradient (Adam's
/// weight decay); `decoupled` shrinks p by 1 − ηλ instead (AdamW).
/// @throws tessera::invalid_argument when a tensor is not contiguous or the shapes differ.
template <class T>
void adam_update_(const tensor<T, cuda>& p, const tensor<T, cuda>& g, const tensor<T, cuda>& m,
                  const tensor<T, cuda>& v, const tensor<T, cuda>& vmax,
                  const detail::adam_coefficients<T>& c, bool l2, bool amsgrad, bool decoupled) {
  for (const tensor<T, cuda>* t : {&g, &m, &v})
    if (!(t->shape() == p.shape()) || !t->is_contiguous())
      throw_invalid_argument("optim::adam_update_", "gradient/state shape ", t->shape().str(),
                             " must equal parameter shape ", p.shape().str(), " and be contiguous");
  if (!p.is_contiguous())
    throw_invalid_argument("optim::adam_update_", "parameter of shape ", p.shape().str(),
                           " is not contiguous");
  if (amsgrad && (!vmax.defined() || !(vmax.shape() == p.shape()) || !vmax.is_contiguous()))
    throw_invalid_argument("optim::adam_update_", "amsgrad needs a contiguous vmax of shape ",
                           p.shape().str());
  const index_t n = p.numel();
  if (n == 0) return;
  cuda_kernels::adam_update<T>
      <<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
          p.data(), g.data(), m.data(), v.data(), amsgrad ? vmax.data() : nullptr, n, c, l2,
          amsgrad, decoupled);
  TESSERA_CUDA_CHECK_LAUNCH();
}

/// One fused SGD step of a cuda parameter on the current stream (optim::sgd's update): p (and
/// the momentum buffer when `momentum`) updated in place from g, one kernel. `first` starts the
/// buffer from the gradient (its previous contents are not read).
/// @throws tessera::invalid_argument when a tensor is not contiguous or the shapes differ.
template <class T>
void sgd_update_(const tensor<T, cuda>& p, const tensor<T, cuda>& g, const tensor<T, cuda>& buf,
                 const detail::sgd_coefficients<T>& c, bool l2, bool momentum, bool first,
                 bool nesterov) {
  if (!p.is_contiguous() || !g.is_contiguous() || !(g.shape() == p.shape()))
    throw_invalid_argument("optim::sgd_update_", "parameter shape ", p.shape().str(),
                           " and gradient shape ", g.shape().str(),
                           " must be equal and contiguous");
  if (momentum && (!buf.defined() || !(buf.shape() == p.shape()) || !buf.is_contiguous()))
    throw_invalid_argument("optim::sgd_update_", "momentum needs a contiguous buffer of shape ",
                           p.shape().str());
  const index_t n = p.numel();
  if (n == 0) return;
  cuda_kernels::sgd_update<T>
      <<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
          p.data(), g.data(), momentum ? buf.data() : nullptr, n, c, l2, momentum, first, nesterov);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace tessera::optim
