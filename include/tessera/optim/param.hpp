// SPDX-License-Identifier: Apache-2.0
// param_slot: the (value, grad) handle every optimizer updates, and the checks and
// deterministic reductions the optimizers share.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <iterator>
#include <memory>
#include <ranges>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/core/space.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::optim {

/// One trainable parameter as an optimizer sees it: its value and its gradient, both by
/// pointer to tensors the caller owns (they must outlive the optimizer and must not move).
///
/// `value` is updated in place through `value->data()`, so it must be defined and contiguous.
/// `grad` may be null or point to an undefined tensor: that parameter is skipped by step()
/// (PyTorch's `grad is None`). A defined grad must have the value's shape; a non-contiguous grad
/// is read through a contiguous copy (the usual contiguous one costs nothing extra).
/// Reassigning `*value` or `*grad` between steps is allowed (the pointers are re-read every
/// step); the optimizer state keeps the value's shape and a change of shape throws.
/// Space is where the tensors live: adam, adamw and sgd update cuda slots with one fused
/// kernel per parameter (cuda/optim.cuh); the other optimizers and clipping are host-only.
template <class T, class Space = host>
struct param_slot {
  tensor<T, Space>* value = nullptr;
  tensor<T, Space>* grad = nullptr;
};

namespace detail {

/// Pointers and smart pointers (to parameters), as opposed to parameter objects.
template <class P>
concept pointer_like = requires(P& p) { *p; } && !requires(P& p) { p.value(); };

/// Dereferences pointers and smart pointers, leaves objects alone.
template <class P>
decltype(auto) deref(P&& p) {
  if constexpr (pointer_like<std::remove_reference_t<P>>)
    return deref(*p);
  else
    return std::forward<P>(p);
}

}  // namespace detail

/// An object exposing mutable references to its persistent value and gradient tensors, like
/// `ad::parameter<T>` (`tensor<T>& value()`, `tensor<T>& grad()`).
template <class P>
concept parameter_like = requires(P& p) {
  typename std::remove_cvref_t<decltype(p.value())>::value_type;
  requires std::is_lvalue_reference_v<decltype(p.value())>;
  requires std::is_lvalue_reference_v<decltype(p.grad())>;
  requires std::same_as<std::remove_cvref_t<decltype(p.value())>,
                        std::remove_cvref_t<decltype(p.grad())>>;
  requires !std::is_const_v<std::remove_reference_t<decltype(p.value())>>;
  requires !std::is_const_v<std::remove_reference_t<decltype(p.grad())>>;
};

/// Builds param slots from a range of parameter objects (or pointers / smart pointers to
/// them) that expose `tensor<T>& value()` and `tensor<T>& grad()`, e.g. a
/// `std::vector<ad::parameter<float>>`. The slots point into the parameters, so the range's
/// elements must stay where they are (no vector reallocation) while an optimizer uses them.
/// @param params a range of parameter-like objects, pointers or smart pointers to them.
/// @return one slot per element, in range order.
template <std::ranges::range Range>
  requires parameter_like<
      std::remove_reference_t<decltype(detail::deref(*std::ranges::begin(std::declval<Range&>())))>>
auto slots_of(Range& params) {
  using P = std::remove_reference_t<decltype(detail::deref(*std::ranges::begin(params)))>;
  using V = std::remove_cvref_t<decltype(std::declval<P&>().value())>;
  using T = typename V::value_type;
  using S = typename V::space_type;
  std::vector<param_slot<T, S>> out;
  if constexpr (std::ranges::sized_range<Range>) out.reserve(std::ranges::size(params));
  for (auto&& e : params) {
    auto& p = detail::deref(e);
    out.push_back(param_slot<T, S>{&p.value(), &p.grad()});
  }
  return out;
}

namespace detail {

/// Accumulator for sums of squares: double for float and double, so a global gradient norm
/// over millions of float elements keeps its digits.
template <class T>
using accum_t = std::conditional_t<(sizeof(T) <= sizeof(double)), double, T>;

/// Elements per block of a deterministic reduction; fixed, so the result does not depend on
/// the thread count.
inline constexpr index_t reduce_block = 16384;

/// Σ_{i<n} term(i) in accum_t precision. Blocks of reduce_block elements are summed with eight
/// lanes each (in parallel when n is large) and the block sums are added in order: the result
/// depends only on n, never on the number of threads.
template <class A, class Term>
A deterministic_sum(index_t n, Term term) {
  auto block_sum = [&](index_t lo, index_t hi) {
    A acc[8] = {};
    index_t i = lo;
    for (; i + 8 <= hi; i += 8)
      for (int l = 0; l < 8; ++l) acc[l] += static_cast<A>(term(i + l));
    for (; i < hi; ++i) acc[i & 7] += static_cast<A>(term(i));
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  };
  if (n <= reduce_block) return block_sum(0, n);
  const index_t nb = (n + reduce_block - 1) / reduce_block;
  std::vector<A> partial(static_cast<std::size_t>(nb));
  parallel_for(0, nb, 2, [&](index_t b0, index_t b1) {
    for (index_t b = b0; b < b1; ++b)
      partial[static_cast<std::size_t>(b)] =
          block_sum(b * reduce_block, std::min(n, (b + 1) * reduce_block));
  });
  A total = 0;
  for (A v : partial) total += v;
  return total;
}

/// max(m, v) where a NaN in either wins (once m is NaN it stays NaN; `!(v <= m)` alone would
/// replace it by the next number).
template <class A>
A nan_max(A m, A v) {
  return std::isnan(m) || v <= m ? m : v;
}

/// max_{i<n} term(i) (0 for n = 0); NaN propagates.
template <class A, class Term>
A deterministic_max(index_t n, Term term) {
  const index_t nb = (n + reduce_block - 1) / reduce_block;
  std::vector<A> partial(static_cast<std::size_t>(nb), A(0));
  parallel_for(0, nb, 2, [&](index_t b0, index_t b1) {
    for (index_t b = b0; b < b1; ++b) {
      A m = 0;
      for (index_t i = b * reduce_block, e = std::min(n, (b + 1) * reduce_block); i < e; ++i)
        m = nan_max(m, static_cast<A>(term(i)));
      partial[static_cast<std::size_t>(b)] = m;
    }
  });
  A m = 0;
  for (A v : partial) m = nan_max(m, v);
  return m;
}

/// Calls f(lo, hi) over [0, n), in parallel for large n; `cost` is the relative work per
/// element (a higher cost parallelises smaller tensors).
template <class F>
void elementwise(index_t n, index_t cost, F&& f) {
  parallel_for(0, n, default_grain / (cost > 0 ? cost : 1), std::forward<F>(f));
}

/// Calls f(std::bool_constant<b0>{}, std::bool_constant<b1>{}, ...) for the runtime flags, so
/// that an update loop is compiled once per combination with no branch inside it.
template <class F>
void dispatch_flags(F&& f) {
  f();
}
template <class F, class... Rest>
void dispatch_flags(F&& f, bool head, Rest... rest) {
  if (head)
    dispatch_flags([&](auto... c) { f(std::true_type{}, c...); }, rest...);
  else
    dispatch_flags([&](auto... c) { f(std::false_type{}, c...); }, rest...);
}

/// True when the slot's gradient should take part in an update.
template <class T, class S>
bool has_grad(const param_slot<T, S>& s) noexcept {
  return s.grad != nullptr && s.grad->defined();
}

/// Checks slot `i` for use by `fn`: value defined and contiguous; a defined grad of the value's
/// shape.
/// @throws tessera::invalid_argument naming `fn`, the slot index and the offending shapes.
template <class T, class S>
void check_slot(const char* fn, std::size_t i, const param_slot<T, S>& s) {
  if (s.value == nullptr) throw_invalid_argument(fn, "parameter ", i, ": value pointer is null");
  const tensor<T, S>& v = *s.value;
  if (!v.defined()) throw_invalid_argument(fn, "parameter ", i, ": value tensor is undefined");
  if (!v.is_contiguous())
    throw_invalid_argument(fn, "parameter ", i, ": value of shape ", v.shape().str(),
                           " and strides ", v.strides().str(),
                           " is not contiguous (updates are made in place)");
  if (!has_grad(s)) return;
  const tensor<T, S>& g = *s.grad;
  if (!(g.shape() == v.shape()))
    throw_invalid_argument(fn, "parameter ", i, ": grad shape ", g.shape().str(),
                           " does not match value shape ", v.shape().str());
}

/// Calls f(T* data, index_t n) on the elements of `g` in row-major order, so that f may update
/// them in place: directly when `g` is contiguous, else on a contiguous copy written back.
template <class T, class F>
void with_contiguous(const tensor<T>& g, F&& f) {
  if (g.is_contiguous()) {
    f(g.data(), g.numel());
    return;
  }
  const tensor<T> c = g.clone();
  f(c.data(), c.numel());
  g.copy_from(c);
}

/// Checks every slot and that no value appears twice (it would be updated twice per step).
/// @throws tessera::invalid_argument naming `fn`.
template <class T, class S>
void check_slots(const char* fn, const std::vector<param_slot<T, S>>& slots) {
  std::unordered_set<const T*> seen;
  seen.reserve(slots.size());
  for (std::size_t i = 0; i < slots.size(); ++i) {
    check_slot(fn, i, slots[i]);
    if (slots[i].value->numel() > 0 && !seen.insert(slots[i].value->data()).second)
      throw_invalid_argument(fn, "parameter ", i,
                             ": value shares its first element with an earlier parameter");
  }
}

}  // namespace detail

/// Sets every defined gradient in `slots` to zero (undefined ones stay undefined).
/// @param slots the parameters whose gradients are cleared.
template <class T, class S = host>  // S defaults so that zero_grad<T>({{&v, &g}}) works
void zero_grad(const std::vector<param_slot<T, S>>& slots) {
  for (const param_slot<T, S>& s : slots)
    if (detail::has_grad(s)) s.grad->fill_(T(0));
}

}  // namespace tessera::optim
