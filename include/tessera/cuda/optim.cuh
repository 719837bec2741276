// SPDX-License-Identifier: Apache-2.0
// The cuda side of optim/: fused Adam/AdamW and SGD updates (one kernel per parameter reads
// p, g, m, v once and writes them once, with the host's formula), gradient clipping (norms
// reduced in double on the device, the factor applied there) and the double-precision
// reductions L-BFGS runs on device vectors.
#pragma once

#include <cub/block/block_reduce.cuh>

#include <cmath>
#include <vector>

#include "tessera/cuda/tensor.cuh"
#include "tessera/optim/adam.hpp"
#include "tessera/optim/clip.hpp"
#include "tessera/optim/lbfgs.hpp"
#include "tessera/optim/sgd.hpp"

TESSERA_CUDA_NAMESPACE_BEGIN

/// Adam/AdamW on n contiguous elements, the host's adam_kernel per element (flags uniform
/// over the launch). vmax is read and written only when amsgrad. With `record` (a capturable
/// optimizer's, see adam_advance) the step's η/(1 − β₁ᵗ), 1/√(1 − β₂ᵗ) and 1 − ηλ are read
/// there instead of from c. Launch: 1-d grid-stride.
template <class T>
TESSERA_KERNEL void adam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                                T* __restrict__ v, T* __restrict__ vmax, index_t n,
                                tessera::optim::detail::adam_coefficients<T> c, bool l2,
                                bool amsgrad, bool decoupled,
                                const double* __restrict__ record = nullptr) {
  if (record != nullptr) {
    c.step_size = static_cast<T>(record[1]);
    c.inv_sqrt_bc2 = static_cast<T>(record[2]);
    c.shrink = static_cast<T>(record[3]);
  }
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

/// A capturable Adam step's scalars, computed on the device as the host's adam_family computes
/// them (bias corrections in double from t, the learning rate rounded to T): record[0] = t + 1,
/// record[1] = η/(1 − β₁ᵗ), record[2] = 1/√(1 − β₂ᵗ), record[3] = 1 − ηλ (decoupled) or 1.
/// Launch: one thread, before adam_update on the same stream.
template <class T>
TESSERA_KERNEL void adam_advance(double* __restrict__ record, const double* __restrict__ lr,
                                 double beta1, double beta2, T weight_decay, bool decoupled) {
  const double t = record[0] + 1.0;
  const T eta = static_cast<T>(*lr);
  const double bc1 = 1.0 - ::pow(beta1, t);
  const double bc2 = 1.0 - ::pow(beta2, t);
  record[0] = t;
  record[1] = static_cast<double>(static_cast<T>(static_cast<double>(eta) / bc1));
  record[2] = static_cast<double>(static_cast<T>(1.0 / ::sqrt(bc2)));
  record[3] = decoupled ? static_cast<double>(T(1) - eta * weight_decay) : 1.0;
}

/// SGD on n contiguous elements, the host's sgd_kernel per element (b, the momentum buffer, is
/// read only when momentum and not first, written when momentum). With `lr` (a capturable
/// optimizer's, one double in device memory) η is read there instead of from c.
/// Launch: 1-d grid-stride.
template <class T>
TESSERA_KERNEL void sgd_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ b,
                               index_t n, tessera::optim::detail::sgd_coefficients<T> c, bool l2,
                               bool momentum, bool first, bool nesterov,
                               const double* __restrict__ lr = nullptr) {
  if (lr != nullptr) c.lr = static_cast<T>(*lr);
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

// --- double-precision reductions (clip_grad_norm, L-BFGS) ---------------------------------------

/// Per-element terms, in double: x[i]·y[i], |x[i]|, x[i]², |x[i]|ᵖ (y unused but by dot).
template <class T>
struct dot_term {
  __device__ __forceinline__ double operator()(const T* x, const T* y, index_t i) const {
    return static_cast<double>(x[i]) * static_cast<double>(y[i]);
  }
};
template <class T>
struct abs_term {
  __device__ __forceinline__ double operator()(const T* x, const T*, index_t i) const {
    return std::fabs(static_cast<double>(x[i]));
  }
};
template <class T>
struct square_term {
  __device__ __forceinline__ double operator()(const T* x, const T*, index_t i) const {
    const double v = static_cast<double>(x[i]);
    return v * v;
  }
};
template <class T>
struct pow_term {
  double p;
  __device__ __forceinline__ double operator()(const T* x, const T*, index_t i) const {
    return std::pow(std::fabs(static_cast<double>(x[i])), p);
  }
};

struct sum_combine {
  __device__ __forceinline__ double operator()(double a, double b) const { return a + b; }
};
/// max where a NaN on either side wins (the host's detail::nan_max).
struct nan_max_combine {
  __device__ __forceinline__ double operator()(double a, double v) const {
    return std::isnan(a) || v <= a ? a : v;
  }
};

/// part[blockIdx.x] = combine, over this block's grid-stride share of i < n, of term(x, y, i),
/// starting from 0 (the identity of the sum, and of the max of terms ≥ 0). The order is fixed
/// by n and the grid, so results repeat run to run. Launch: 256 threads, any grid (one partial
/// per block); x (and y) contiguous with n elements.
template <class T, class Term, class Combine>
TESSERA_KERNEL void partial_reduce(const T* __restrict__ x, const T* __restrict__ y, index_t n,
                                   Term term, Combine combine, double* __restrict__ part) {
  using block_t = cub::BlockReduce<double, 256>;
  __shared__ typename block_t::TempStorage tmp;
  double acc = 0;
  const index_t stride = static_cast<index_t>(gridDim.x) * 256;
  for (index_t i = static_cast<index_t>(blockIdx.x) * 256 + threadIdx.x; i < n; i += stride)
    acc = combine(acc, term(x, y, i));
  acc = block_t(tmp).Reduce(acc, combine);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

/// Combines part[0, count) in a fixed order and calls finish(total) in thread 0.
/// Launch: one block of 256 threads.
template <class Combine, class Finish>
TESSERA_KERNEL void finish_reduce(const double* __restrict__ part, index_t count, Combine combine,
                                  Finish finish) {
  using block_t = cub::BlockReduce<double, 256>;
  __shared__ typename block_t::TempStorage tmp;
  double acc = 0;
  for (index_t i = threadIdx.x; i < count; i += 256) acc = combine(acc, part[i]);
  acc = block_t(tmp).Reduce(acc, combine);
  if (threadIdx.x == 0) finish(acc);
}

struct store_total {
  double* out;
  __device__ __forceinline__ void operator()(double total) const { *out = total; }
};

/// clip_grad_norm's scalars from the reduced Σ|g|ᵖ (or max |g|), as the host computes them:
/// N = Σ (p = 1), √Σ (p = 2), Σ^(1/p), max (p = ∞); *norm_out = N; *factor = c = max_norm /
/// (N + 10⁻⁶) rounded to T when c < 1 and N is finite, else 1 (grads left alone).
template <class T>
struct clip_finish {
  int kind;  // 0: general p, 1: p = 1, 2: p = 2, 3: p = ∞
  double p, max_norm;
  T* norm_out;
  double* factor;
  __device__ __forceinline__ void operator()(double acc) const {
    const double total = kind == 2 ? std::sqrt(acc) : kind == 0 ? std::pow(acc, 1.0 / p) : acc;
    *norm_out = static_cast<T>(total);
    double f = 1;
    if (std::isfinite(total)) {
      const double coef = max_norm / (total + 1e-6);
      if (coef < 1) f = static_cast<double>(static_cast<T>(coef));
    }
    *factor = f;
  }
};

/// g[i] ·= *factor over n contiguous elements; nothing is read or written when *factor is 1.
/// Launch: 1-d grid-stride.
template <class T>
TESSERA_KERNEL void scale_by_factor(T* __restrict__ g, index_t n,
                                    const double* __restrict__ factor) {
  const double f = *factor;
  if (f == 1.0) return;
  const T c = static_cast<T>(f);
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t k = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride)
    g[k] *= c;
}

/// v · *factor, for strided gradients through launch_map (multiplying by 1 leaves v as is).
template <class T>
struct mul_by_factor_op {
  const double* factor;
  __device__ __forceinline__ T operator()(T v) const { return v * static_cast<T>(*factor); }
};

/// clip_grad_value's clamp: NaN stays NaN.
template <class T>
struct clamp_abs_op {
  T c;
  __device__ __forceinline__ T operator()(T v) const { return v < -c ? -c : (v > c ? c : v); }
};

/// Blocks (partials) of partial_reduce for n elements: enough to fill the device, few enough
/// for one block to combine them.
inline unsigned reduce_blocks(index_t n) {
  const index_t need = (n + 255) / 256;
  const index_t cap = static_cast<index_t>(cuda_rt::sm_count()) * 4;
  return static_cast<unsigned>(need < cap ? need : cap);
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera::optim {

namespace detail {

/// The cuda form of capturing_now (optim/optimizer.hpp).
template <>
inline bool capturing_now<cuda>() {
  return cuda_rt::is_capturing(cuda_rt::current_stream());
}

/// The cuda form of check_not_capturing (optim/optimizer.hpp).
template <>
inline void check_not_capturing<cuda>(const char* fn, const char* what, std::size_t i) {
  if (capturing_now<cuda>())
    throw_invalid_argument(fn, what, " of parameter ", i,
                           " while the current stream is being captured into a CUDA graph: run "
                           "one step eagerly before capturing, and read state between replays");
}

}  // namespace detail

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

namespace detail {
/// The operands of adam_update_ and its capturable form: g, m, v (and vmax with amsgrad) of
/// p's shape, all contiguous.
/// @throws tessera::invalid_argument naming optim::adam_update_ and the shapes.
template <class T>
void check_adam_operands(const tensor<T, cuda>& p, const tensor<T, cuda>& g,
                         const tensor<T, cuda>& m, const tensor<T, cuda>& v,
                         const tensor<T, cuda>& vmax, bool amsgrad) {
  tessera::detail::require_defined("optim::adam_update_", "the parameter", p);
  tessera::detail::require_defined("optim::adam_update_", "the gradient", g);
  tessera::detail::require_defined("optim::adam_update_", "the first moment", m);
  tessera::detail::require_defined("optim::adam_update_", "the second moment", v);
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
}
}  // namespace detail

/// One fused Adam/AdamW step of a cuda parameter on the current stream: p, m, v (and vmax
/// when amsgrad) updated in place from g, one kernel. `l2` adds wd·p to the gradient (Adam's
/// weight decay); `decoupled` shrinks p by 1 − ηλ instead (AdamW).
/// @throws tessera::invalid_argument when a tensor is not contiguous or the shapes differ.
template <class T>
void adam_update_(const tensor<T, cuda>& p, const tensor<T, cuda>& g, const tensor<T, cuda>& m,
                  const tensor<T, cuda>& v, const tensor<T, cuda>& vmax,
                  const detail::adam_coefficients<T>& c, bool l2, bool amsgrad, bool decoupled) {
  static_assert(
      !tessera::cuda_detail::is_16bit_v<T>,
      "adam_update_ is not implemented for __nv_bfloat16/__half tensors: cast<float> first");
  detail::check_adam_operands(p, g, m, v, vmax, amsgrad);
  const index_t n = p.numel();
  if (n == 0) return;
  cuda_kernels::adam_update<T>
      <<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
          p.data(), g.data(), m.data(), v.data(), amsgrad ? vmax.data() : nullptr, n, c, l2,
          amsgrad, decoupled);
  TESSERA_CUDA_CHECK_LAUNCH();
}

namespace detail {

template <class T>
void adam_capturable_update_(const tensor<T, cuda>& p, const tensor<T, cuda>& g,
                             const tensor<T, cuda>& m, const tensor<T, cuda>& v,
                             const tensor<T, cuda>& vmax, double* record, const double* lr,
                             const adam_coefficients<T>& c, bool l2, bool amsgrad, bool decoupled) {
  static_assert(!tessera::cuda_detail::is_16bit_v<T>,
                "the capturable Adam update is not implemented for __nv_bfloat16/__half "
                "tensors: cast<float> first");
  detail::check_adam_operands(p, g, m, v, vmax, amsgrad);
  const cudaStream_t st = cuda_rt::current_stream();
  // t advances even for an empty parameter, as on the host.
  cuda_kernels::adam_advance<T><<<1, 1, 0, st>>>(record, lr, static_cast<double>(c.b1),
                                                 static_cast<double>(c.b2), c.wd, decoupled);
  TESSERA_CUDA_CHECK_LAUNCH();
  const index_t n = p.numel();
  if (n == 0) return;
  cuda_kernels::adam_update<T><<<cuda_rt::grid_for(n), cuda_rt::block_threads, 0, st>>>(
      p.data(), g.data(), m.data(), v.data(), amsgrad ? vmax.data() : nullptr, n, c, l2, amsgrad,
      decoupled, record);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace detail

/// One fused SGD step of a cuda parameter on the current stream (optim::sgd's update): p (and
/// the momentum buffer when `momentum`) updated in place from g, one kernel. `first` starts the
/// buffer from the gradient (its previous contents are not read).
/// @throws tessera::invalid_argument when a tensor is not contiguous or the shapes differ.
template <class T>
void sgd_update_(const tensor<T, cuda>& p, const tensor<T, cuda>& g, const tensor<T, cuda>& buf,
                 const detail::sgd_coefficients<T>& c, bool l2, bool momentum, bool first,
                 bool nesterov, const double* lr_device) {
  static_assert(
      !tessera::cuda_detail::is_16bit_v<T>,
      "sgd_update_ is not implemented for __nv_bfloat16/__half tensors: cast<float> first");
  tessera::detail::require_defined("optim::sgd_update_", "the parameter", p);
  tessera::detail::require_defined("optim::sgd_update_", "the gradient", g);
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
          p.data(), g.data(), momentum ? buf.data() : nullptr, n, c, l2, momentum, first, nesterov,
          lr_device);
  TESSERA_CUDA_CHECK_LAUNCH();
}

namespace detail {

/// combine over i < n of term(x, y, i) in double on the device (two kernels on the current
/// stream), copied back: waits for the stream.
template <class T, class Term, class Combine>
double reduce_to_host(const T* x, const T* y, index_t n, Term term, Combine combine) {
  if (n == 0) return 0;
  const cudaStream_t st = cuda_rt::current_stream();
  const unsigned blocks = cuda_kernels::reduce_blocks(n);
  cuda_rt::device_buffer<double> buf(blocks + 1, st);
  cuda_kernels::partial_reduce<T, Term, Combine>
      <<<blocks, 256, 0, st>>>(x, y, n, term, combine, buf.get());
  TESSERA_CUDA_CHECK_LAUNCH();
  cuda_kernels::finish_reduce<<<1, 256, 0, st>>>(buf.get(), blocks, combine,
                                                 cuda_kernels::store_total{buf.get() + blocks});
  TESSERA_CUDA_CHECK_LAUNCH();
  double total = 0;
  TESSERA_CUDA_CHECK(
      cudaMemcpyAsync(&total, buf.get() + blocks, sizeof(double), cudaMemcpyDeviceToHost, st));
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(st));
  return total;
}

/// xᵀy over contiguous cuda tensors of the same size, in double (L-BFGS).
template <class T>
double dot_accum(const tensor<T, cuda>& x, const tensor<T, cuda>& y) {
  TESSERA_ASSERT(x.is_contiguous() && y.is_contiguous() && x.numel() == y.numel());
  return reduce_to_host(x.data(), y.data(), x.numel(), cuda_kernels::dot_term<T>{},
                        cuda_kernels::sum_combine{});
}

/// ‖x‖∞ of a contiguous cuda tensor, in double; NaN when x holds one (L-BFGS).
template <class T>
double norm_inf_accum(const tensor<T, cuda>& x) {
  TESSERA_ASSERT(x.is_contiguous());
  return reduce_to_host(x.data(), static_cast<const T*>(nullptr), x.numel(),
                        cuda_kernels::abs_term<T>{}, cuda_kernels::nan_max_combine{});
}

}  // namespace detail

/// clip_grad_norm on cuda slots (called by optim::clip_grad_norm and clip_grad_norm_to, which
/// check the arguments): one partial_reduce per defined gradient into one buffer of partials,
/// one finish_reduce that writes N to `norm_out` and the factor c (or 1) to the device, then
/// one scaling kernel per gradient that reads c there. All on the current stream, no
/// synchronisation; the partial buffer is a stream-ordered allocation (capturable).
template <class T>
void clip_grad_norm_device_(const std::vector<param_slot<T, cuda>>& slots, T max_norm, T norm_type,
                            const tensor<T, cuda>& norm_out) {
  namespace ck = cuda_kernels;
  std::vector<tensor<T, cuda>> grads;  // contiguous (a copy only for a strided grad)
  std::vector<unsigned> blocks;
  index_t parts = 0;
  for (const param_slot<T, cuda>& s : slots) {
    if (!detail::has_grad(s) || s.grad->numel() == 0) continue;
    grads.push_back(s.grad->contiguous());
    blocks.push_back(ck::reduce_blocks(s.grad->numel()));
    parts += blocks.back();
  }
  if (grads.empty()) {  // N = 0 and nothing to scale
    norm_out.fill_(T(0));
    return;
  }
  const cudaStream_t st = cuda_rt::current_stream();
  cuda_rt::device_buffer<double> buf(static_cast<std::size_t>(parts) + 1, st);
  double* const part = buf.get();
  double* const factor = part + parts;
  const int kind = std::isinf(norm_type) ? 3 : norm_type == T(2) ? 2 : norm_type == T(1) ? 1 : 0;
  auto reduce_all = [&](auto term, auto combine) {
    index_t at = 0;
    for (std::size_t k = 0; k < grads.size(); ++k) {
      ck::partial_reduce<T><<<blocks[k], 256, 0, st>>>(grads[k].data(),
                                                       static_cast<const T*>(nullptr),
                                                       grads[k].numel(), term, combine, part + at);
      TESSERA_CUDA_CHECK_LAUNCH();
      at += blocks[k];
    }
    ck::finish_reduce<<<1, 256, 0, st>>>(
        part, parts, combine,
        ck::clip_finish<T>{kind, static_cast<double>(norm_type), static_cast<double>(max_norm),
                           norm_out.data(), factor});
    TESSERA_CUDA_CHECK_LAUNCH();
  };
  if (kind == 3)
    reduce_all(ck::abs_term<T>{}, ck::nan_max_combine{});
  else if (kind == 2)
    reduce_all(ck::square_term<T>{}, ck::sum_combine{});
  else if (kind == 1)
    reduce_all(ck::abs_term<T>{}, ck::sum_combine{});
  else
    reduce_all(ck::pow_term<T>{static_cast<double>(norm_type)}, ck::sum_combine{});
  for (const param_slot<T, cuda>& s : slots) {
    if (!detail::has_grad(s) || s.grad->numel() == 0) continue;
    const tensor<T, cuda>& g = *s.grad;
    if (g.is_contiguous()) {
      ck::scale_by_factor<T><<<cuda_rt::grid_for(g.numel()), cuda_rt::block_threads, 0, st>>>(
          g.data(), g.numel(), factor);
      TESSERA_CUDA_CHECK_LAUNCH();
    } else {
      const tensor<T, cuda>* ins[1] = {&g};
      ck::launch_map<T, 1>(g, ins, ck::mul_by_factor_op<T>{factor});
    }
  }
}

/// clip_grad_value on one cuda gradient: clamps it to [−c, c] in place, one elementwise kernel
/// (strided grads too), no synchronisation.
template <class T>
void clip_grad_value_device_(const tensor<T, cuda>& grad, T clip_value) {
  const tensor<T, cuda>* ins[1] = {&grad};
  cuda_kernels::launch_map<T, 1>(grad, ins, cuda_kernels::clamp_abs_op<T>{clip_value});
}

}  // namespace tessera::optim
