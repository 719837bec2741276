// SPDX-License-Identifier: Apache-2.0
// Gradient clipping over a list of parameter slots: by global norm and by value.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "tessera/optim/param.hpp"

namespace tessera::optim {

/// The device side of clip_grad_norm / clip_grad_norm_to for cuda slots (defined in
/// cuda/optim.cuh; declared here so that the Space-generic functions can call it from a .cu
/// file): N into the rank-0 `norm_out`, grads scaled on the device, no synchronisation. The
/// arguments are already checked.
template <class T>
void clip_grad_norm_device_(const std::vector<param_slot<T, cuda>>& slots, T max_norm, T norm_type,
                            const tensor<T, cuda>& norm_out);

/// Clamps one cuda gradient to [−c, c] in place (cuda/optim.cuh).
template <class T>
void clip_grad_value_device_(const tensor<T, cuda>& grad, T clip_value);

namespace detail {
template <class T>
void check_clip_norm_args(T max_norm, T norm_type) {
  if (!(max_norm >= T(0)))
    throw_invalid_argument("optim::clip_grad_norm", "max_norm ", max_norm, " must be non-negative");
  if (!(norm_type > T(0)))
    throw_invalid_argument("optim::clip_grad_norm", "norm_type ", norm_type,
                           " must be positive (or infinity)");
}
}  // namespace detail

/// Rescales all defined gradients together so that their global p-norm is at most `max_norm`
/// (PyTorch's clip_grad_norm_). With every gradient element of every slot taken as one vector,
///
///     N = ‖g‖_p = (Σ |gᵢ|ᵖ)^(1/p)        (max |gᵢ| for p = ∞)
///     c = max_norm / (N + 10⁻⁶)
///     g ← c g                              (only if c < 1)
///
/// N is computed in double (for float grads) with a fixed summation order, so it is the same
/// for any thread count. When N is not finite the gradients are left unchanged, so the caller
/// can test the returned value and skip the step.
///
/// Cuda slots (`param_slot<T, cuda>`, in a .cu file including <tessera/cuda.hpp>): per-slot
/// reductions in double on the device, c computed and applied there too (a contiguous
/// gradient is not rewritten when c ≥ 1), and one copy of N to the host, the only
/// synchronisation (clip_grad_norm_to has none). N agrees with the host's up to the summation
/// order.
/// @param slots the parameters whose grads are clipped; undefined grads are skipped.
/// @param max_norm the largest allowed norm, ≥ 0.
/// @param norm_type p > 0, or std::numeric_limits<T>::infinity().
/// @return N, the norm before clipping (0 when there are no defined grads).
/// @throws tessera::invalid_argument for a negative or NaN max_norm, a non-positive or NaN p,
///         or a bad slot (e.g. a grad shape differing from its value's).
// Space defaults so that clip_grad_norm<T>({{&v, &g}}, ...) works.
template <floating_point_scalar T, class Space = host>
T clip_grad_norm(const std::vector<param_slot<T, Space>>& slots, std::type_identity_t<T> max_norm,
                 std::type_identity_t<T> norm_type = T(2)) {
  using A = detail::accum_t<T>;
  detail::check_clip_norm_args<T>(max_norm, norm_type);
  detail::check_slots("optim::clip_grad_norm", slots);
  if constexpr (!std::is_same_v<Space, host>) {
    const tensor<T, Space> norm(shape_t{});
    clip_grad_norm_device_<T>(slots, max_norm, norm_type, norm);
    return to<host>(norm).item();
  } else {
    const bool inf_norm = std::isinf(norm_type);
    const A p = static_cast<A>(norm_type);
    A acc = 0;
    for (const param_slot<T>& s : slots) {
      if (!detail::has_grad(s)) continue;
      const tensor<T> grad = s.grad->contiguous();
      const T* g = grad.data();
      const index_t n = grad.numel();
      if (inf_norm) {
        const A m = detail::deterministic_max<A>(n, [g](index_t i) { return std::abs(g[i]); });
        acc = detail::nan_max(acc, m);
      } else if (norm_type == T(2)) {
        acc += detail::deterministic_sum<A>(n, [g](index_t i) {
          const A v = static_cast<A>(g[i]);
          return v * v;
        });
      } else if (norm_type == T(1)) {
        acc += detail::deterministic_sum<A>(n, [g](index_t i) { return std::abs(A(g[i])); });
      } else {
        acc += detail::deterministic_sum<A>(
            n, [g, p](index_t i) { return std::pow(std::abs(static_cast<A>(g[i])), p); });
      }
    }
    A total;
    if (inf_norm || norm_type == T(1))
      total = acc;
    else if (norm_type == T(2))
      total = std::sqrt(acc);
    else
      total = std::pow(acc, A(1) / p);
    const T norm = static_cast<T>(total);
    if (!std::isfinite(total)) return norm;
    const A coef = static_cast<A>(max_norm) / (total + A(1e-6));
    if (coef < A(1)) {
      const T c = static_cast<T>(coef);
      for (const param_slot<T>& s : slots) {
        if (!detail::has_grad(s)) continue;
        detail::with_contiguous(*s.grad, [c](T* g, index_t n) {
          detail::elementwise(n, 1, [&](index_t lo, index_t hi) {
            for (index_t i = lo; i < hi; ++i) g[i] *= c;
          });
        });
      }
    }
    return norm;
  }
}

/// clip_grad_norm that leaves N in `norm_out` (a rank-0 tensor in the slots' space) instead of
/// returning it, so that nothing waits for the device: on cuda the reductions, c and the
/// scaling are all enqueued on the current stream with no synchronisation and no host copy,
/// so the call may be captured into a CUDA graph (cuda_rt::graph; norm_out allocated before
/// capture). Same semantics, checks and errors as clip_grad_norm; on the host it is
/// clip_grad_norm followed by norm_out.fill_(N).
/// @param slots the parameters whose grads are clipped; undefined grads are skipped.
/// @param norm_out receives N; defined, rank 0, in the slots' space.
/// @param max_norm the largest allowed norm, ≥ 0.
/// @param norm_type p > 0, or std::numeric_limits<T>::infinity().
/// @throws tessera::invalid_argument as clip_grad_norm, or for a norm_out that is not a
///         defined rank-0 tensor.
template <floating_point_scalar T, class Space = host>
void clip_grad_norm_to(const std::vector<param_slot<T, Space>>& slots,
                       const tensor<T, Space>& norm_out, std::type_identity_t<T> max_norm,
                       std::type_identity_t<T> norm_type = T(2)) {
  if (!norm_out.defined() || norm_out.rank() != 0)
    throw_invalid_argument("optim::clip_grad_norm",
                           "norm_out must be a defined rank-0 tensor, not ",
                           norm_out.defined() ? norm_out.shape().str() : std::string("undefined"));
  detail::check_clip_norm_args<T>(max_norm, norm_type);
  detail::check_slots("optim::clip_grad_norm", slots);
  if constexpr (!std::is_same_v<Space, host>)
    clip_grad_norm_device_<T>(slots, max_norm, norm_type, norm_out);
  else
    norm_out.fill_(clip_grad_norm<T>(slots, max_norm, norm_type));
}

/// Clamps every element of every defined gradient to [−clip_value, clip_value]
/// (PyTorch's clip_grad_value_):  gᵢ ← min(max(gᵢ, −c), c). NaN elements stay NaN.
/// On cuda: one elementwise kernel per gradient, in place (strided grads too), no
/// synchronisation.
/// @param slots the parameters whose grads are clipped; undefined grads are skipped.
/// @param clip_value c ≥ 0.
/// @throws tessera::invalid_argument for a negative or NaN clip_value, or a bad slot.
template <floating_point_scalar T, class Space = host>
void clip_grad_value(const std::vector<param_slot<T, Space>>& slots,
                     std::type_identity_t<T> clip_value) {
  if (!(clip_value >= T(0)))
    throw_invalid_argument("optim::clip_grad_value", "clip_value ", clip_value,
                           " must be non-negative");
  detail::check_slots("optim::clip_grad_value", slots);
  const T c = clip_value;
  for (const param_slot<T, Space>& s : slots) {
    if (!detail::has_grad(s)) continue;
    if constexpr (!std::is_same_v<Space, host>) {
      clip_grad_value_device_<T>(*s.grad, c);
    } else {
      detail::with_contiguous(*s.grad, [c](T* g, index_t n) {
        detail::elementwise(n, 1, [&](index_t lo, index_t hi) {
          for (index_t i = lo; i < hi; ++i) {
            const T v = g[i];
            g[i] = v < -c ? -c : (v > c ? c : v);
          }
        });
      });
    }
  }
}

}  // namespace tessera::optim
