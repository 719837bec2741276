// SPDX-License-Identifier: Apache-2.0
// shape_t: the runtime shape (or strides) of a tensor, rank at most max_rank, stored inline.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>

#include "tessera/config.hpp"
#include "tessera/core/error.hpp"

namespace tessera {

/// Index and extent type used throughout tessera.
using index_t = std::int64_t;

/// Largest tensor rank tessera supports.
inline constexpr int max_rank = 8;

/// A small fixed-capacity list of extents (a shape) or strides; no heap allocation.
class shape_t {
 public:
  constexpr shape_t() noexcept = default;

  /// @throws tessera::invalid_argument when more than max_rank extents are given.
  shape_t(std::initializer_list<index_t> dims) { assign(dims.begin(), dims.size()); }

  /// @throws tessera::invalid_argument when more than max_rank extents are given.
  explicit shape_t(std::span<const index_t> dims) { assign(dims.data(), dims.size()); }

  /// A shape of `rank` copies of `value`.
  static shape_t filled(int rank, index_t value) {
    shape_t s;
    check_rank("shape_t", rank);
    s.rank_ = rank;
    for (int i = 0; i < rank; ++i) s.d_[i] = value;
    return s;
  }

  [[nodiscard]] constexpr int rank() const noexcept { return rank_; }
  [[nodiscard]] constexpr int size() const noexcept { return rank_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return rank_ == 0; }
  constexpr index_t operator[](int i) const noexcept { return d_[i]; }
  constexpr index_t& operator[](int i) noexcept { return d_[i]; }
  [[nodiscard]] constexpr const index_t* begin() const noexcept { return d_; }
  [[nodiscard]] constexpr const index_t* end() const noexcept { return d_ + rank_; }
  [[nodiscard]] constexpr index_t* begin() noexcept { return d_; }
  [[nodiscard]] constexpr index_t* end() noexcept { return d_ + rank_; }
  [[nodiscard]] constexpr const index_t* data() const noexcept { return d_; }

  /// Last extent; the shape must not be empty.
  [[nodiscard]] constexpr index_t back() const noexcept { return d_[rank_ - 1]; }

  /// Product of the extents (1 for rank 0).
  [[nodiscard]] constexpr index_t numel() const noexcept {
    index_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= d_[i];
    return n;
  }

  /// Appends one extent.
  /// @throws tessera::invalid_argument when the rank would exceed max_rank.
  void push_back(index_t v) {
    check_rank("shape_t::push_back", rank_ + 1);
    d_[rank_++] = v;
  }

  /// Inserts one extent before position `pos` (0 <= pos <= rank).
  void insert(int pos, index_t v) {
    check_rank("shape_t::insert", rank_ + 1);
    for (int i = rank_; i > pos; --i) d_[i] = d_[i - 1];
    d_[pos] = v;
    ++rank_;
  }

  /// Removes the extent at position `pos`.
  void erase(int pos) noexcept {
    for (int i = pos; i + 1 < rank_; ++i) d_[i] = d_[i + 1];
    --rank_;
  }

  friend constexpr bool operator==(const shape_t& a, const shape_t& b) noexcept {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.d_[i] != b.d_[i]) return false;
    return true;
  }

  /// "(2,3,4)", the form used in every error message.
  [[nodiscard]] std::string str() const {
    std::string s = "(";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ',';
      s += std::to_string(d_[i]);
    }
    return s + ")";
  }

  friend std::ostream& operator<<(std::ostream& os, const shape_t& s) { return os << s.str(); }

 private:
  static void check_rank(const char* fn, std::size_t r) {
    if (r > static_cast<std::size_t>(max_rank))
      throw_invalid_argument(fn, "rank ", r, " exceeds the maximum rank ", max_rank);
  }
  static void check_rank(const char* fn, int r) {
    if (r < 0) throw_invalid_argument(fn, "rank ", r, " is negative");
    check_rank(fn, static_cast<std::size_t>(r));
  }
  void assign(const index_t* p, std::size_t n) {
    check_rank("shape_t", n);
    rank_ = static_cast<int>(n);
    for (std::size_t i = 0; i < n; ++i) d_[i] = p[i];
  }

  index_t d_[max_rank] = {};
  int rank_ = 0;
};

/// Row-major (C order) strides of a shape.
inline shape_t contiguous_strides(const shape_t& shape) {
  shape_t st = shape_t::filled(shape.rank(), 1);
  index_t s = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    st[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return st;
}

/// Normalises a possibly negative axis against `rank`.
/// @throws tessera::invalid_argument naming `fn` when the axis is out of range.
inline int normalize_axis(const char* fn, int axis, int rank) {
  if (axis < -rank || axis >= rank || rank == 0)
    throw_invalid_argument(fn, "axis ", axis, " is out of range for a tensor of rank ", rank);
  return axis < 0 ? axis + rank : axis;
}
/// normalize_axis for an axis held as index_t (an entry of a shape_t axis list), checked before
/// it is narrowed to int (2³² must not become axis 0).
inline int normalize_axis_entry(const char* fn, index_t axis, int rank) {
  if (axis < -rank || axis >= rank || rank == 0)
    throw_invalid_argument(fn, "axis ", axis, " is out of range for a tensor of rank ", rank);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

/// numpy broadcasting of two shapes.
/// @throws tessera::invalid_argument naming `fn` and both shapes when they are incompatible.
inline shape_t broadcast_shapes(const char* fn, const shape_t& a, const shape_t& b) {
  const int r = a.rank() > b.rank() ? a.rank() : b.rank();
  shape_t out = shape_t::filled(r, 1);
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank() - r + i, ib = b.rank() - r + i;
    const index_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da == db || db == 1)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else
      throw_invalid_argument(fn, "shapes ", a.str(), " and ", b.str(),
                             " cannot be broadcast together (axis ", i, ": ", da, " vs ", db, ")");
  }
  return out;
}

}  // namespace tessera
