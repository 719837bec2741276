// SPDX-License-Identifier: Apache-2.0
// Host tensor creation: zeros, ones, full, arange, linspace, eye, from_vector, rand, randn.
// full/zeros/ones/scalar/rand/randn/from_vector also take the space, zeros<T, host>(shape),
// so code templated on Space can call zeros<T, Space>; the cuda forms are in <tessera/cuda.hpp>.
#pragma once

#include <cmath>
#include <concepts>
#include <initializer_list>
#include <vector>

#include "tessera/core/parallel.hpp"
#include "tessera/core/philox.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera {

/// A tensor of the given shape filled with `value`.
template <class T, class Space = host>
  requires std::same_as<Space, host>
tensor<T> full(const shape_t& shape, T value) {
  tensor<T> t(shape);
  t.fill_(value);
  return t;
}

/// A tensor of zeros.
template <class T, class Space = host>
  requires std::same_as<Space, host>
tensor<T> zeros(const shape_t& shape) {
  return full<T>(shape, T(0));
}

/// A tensor of ones.
template <class T, class Space = host>
  requires std::same_as<Space, host>
tensor<T> ones(const shape_t& shape) {
  return full<T>(shape, T(1));
}

/// Zeros with the shape of `like`.
template <class T>
tensor<T> zeros_like(const tensor<T>& like) {
  return zeros<T>(like.shape());
}

/// A rank-0 tensor holding `value`.
template <class T, class Space = host>
  requires std::same_as<Space, host>
tensor<T> scalar(T value) {
  return full<T>(shape_t{}, value);
}

/// start, start+step, ... < stop (rank 1).
/// @throws tessera::invalid_argument when step is zero or not finite.
template <class T>
tensor<T> arange(T start, T stop, T step = T(1)) {
  if (!(step != T(0)) || !std::isfinite(static_cast<double>(step)))
    throw_invalid_argument("arange", "step ", step, " must be finite and non-zero");
  if (!std::isfinite(static_cast<double>(start)) || !std::isfinite(static_cast<double>(stop)))
    throw_invalid_argument("arange", "start ", start, " and stop ", stop, " must be finite");
  const double n = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) /
                             static_cast<double>(step));
  if (n > 0x1p62)  // (converting a larger double to index_t is undefined)
    throw_invalid_argument("arange", "start ", start, ", stop ", stop, " and step ", step,
                           " would make ", n, " elements");
  const index_t count = n > 0 ? static_cast<index_t>(n) : 0;
  tensor<T> t(shape_t{count});
  for (index_t i = 0; i < count; ++i)
    t.data()[i] = static_cast<T>(start + static_cast<T>(i) * step);
  return t;
}

/// `count` evenly spaced values from start to stop inclusive (rank 1).
/// @throws tessera::invalid_argument when count is negative.
template <class T>
tensor<T> linspace(T start, T stop, index_t count) {
  if (count < 0) throw_invalid_argument("linspace", "count ", count, " is negative");
  if (!std::isfinite(static_cast<double>(start)) || !std::isfinite(static_cast<double>(stop)))
    throw_invalid_argument("linspace", "start ", start, " and stop ", stop, " must be finite");
  tensor<T> t(shape_t{count});
  const double step =
      count > 1 ? (static_cast<double>(stop) - start) / static_cast<double>(count - 1) : 0.0;
  for (index_t i = 0; i < count; ++i)
    t.data()[i] = static_cast<T>(start + step * static_cast<double>(i));
  if (count > 1) t.data()[count - 1] = stop;
  return t;
}

/// The n×m identity (m defaults to n: the default -1).
/// @throws tessera::invalid_argument when n is negative or m is negative and not -1.
template <class T>
tensor<T> eye(index_t n, index_t m = -1) {
  if (n < 0) throw_invalid_argument("eye", "n ", n, " is negative");
  if (m < -1) throw_invalid_argument("eye", "m ", m, " is negative");
  if (m == -1) m = n;
  tensor<T> t = zeros<T>(shape_t{n, m});
  for (index_t i = 0; i < std::min(n, m); ++i) t.data()[i * m + i] = T(1);
  return t;
}

/// A tensor of the given shape holding `values` in row-major order.
/// @throws tessera::invalid_argument when the counts differ.
template <class T, class Space = host>
  requires std::same_as<Space, host>
tensor<T> from_vector(const std::vector<T>& values, const shape_t& shape) {
  if (static_cast<index_t>(values.size()) != shape.numel())
    throw_invalid_argument("from_vector", values.size(), " values given for shape ", shape.str(),
                           " (", shape.numel(), " elements)");
  tensor<T> t(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

/// A rank-1 tensor of the given values.
template <class T>
tensor<T> from_list(std::initializer_list<T> values) {
  return from_vector<T>(std::vector<T>(values), shape_t{static_cast<index_t>(values.size())});
}

/// Uniform samples in [low, high) from the next stream of `gen` (Philox; same on cuda).
template <class T, class Space = host>
  requires std::same_as<Space, host>
tensor<T> rand(const shape_t& shape, generator& gen, T low = T(0), T high = T(1)) {
  if (!(low <= high) || !std::isfinite(low) || !std::isfinite(high))
    throw_invalid_argument("rand", "bounds [", low, ", ", high,
                           ") must be finite with low <= high");
  const philox_stream s = gen.next();
  tensor<T> t(shape);
  T* p = t.data();
  parallel_for(0, t.numel(), default_grain / 8, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i)
      p[i] = low + (high - low) * s.template uniform<T>(static_cast<std::uint64_t>(i));
  });
  return t;
}

/// Normal samples N(mean, stddev²) from the next stream of `gen` (Philox + Box–Muller).
template <class T, class Space = host>
  requires std::same_as<Space, host>
tensor<T> randn(const shape_t& shape, generator& gen, T mean = T(0), T stddev = T(1)) {
  if (!(stddev >= T(0)) || !std::isfinite(stddev) || !std::isfinite(mean))
    throw_invalid_argument("randn", "mean ", mean, " and stddev ", stddev,
                           " must be finite with stddev >= 0");
  const philox_stream s = gen.next();
  tensor<T> t(shape);
  T* p = t.data();
  parallel_for(0, t.numel(), default_grain / 8, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i)
      p[i] = mean + stddev * s.template normal<T>(static_cast<std::uint64_t>(i));
  });
  return t;
}

}  // namespace tessera
