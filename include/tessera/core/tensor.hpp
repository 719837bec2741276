// SPDX-License-Identifier: Apache-2.0
// tensor<T, Space>: runtime-rank strided array with shared storage and value-semantic handles.
#pragma once

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/core/shape.hpp"
#include "tessera/core/space.hpp"

namespace tessera {

/// A row-major, strided, runtime-rank array of T in memory space Space.
///
/// Copying a tensor copies the handle: both share storage (like numpy views); use clone() for
/// a deep copy. Views (slice, transpose, permute, expand, reshape of contiguous data) share
/// storage with their source. Constness is shallow: a const tensor still refers to mutable
/// storage, as in numpy and LibTorch. A default-constructed tensor is undefined (no storage).
template <class T, class Space = host>
class tensor {
 public:
  using value_type = T;
  using space_type = Space;

  tensor() = default;

  /// Uninitialised storage of the given shape.
  /// @throws tessera::invalid_argument when an extent is negative or the byte size of the
  ///   shape overflows (numel() would wrap and the allocation would be too small).
  explicit tensor(const shape_t& shape)
      : shape_(checked_shape(shape)), strides_(contiguous_strides(shape_)) {
    buf_ = space_traits<Space>::template allocate<T>(shape_.numel());
  }

  /// A view on existing storage (used by the library; checked only by TESSERA_ASSERT).
  tensor(std::shared_ptr<T> buf, const shape_t& shape, const shape_t& strides, index_t offset)
      : buf_(std::move(buf)), shape_(shape), strides_(strides), offset_(offset) {}

  // --- metadata -----------------------------------------------------------------------------
  [[nodiscard]] bool defined() const noexcept { return static_cast<bool>(buf_); }
  [[nodiscard]] const shape_t& shape() const noexcept { return shape_; }
  [[nodiscard]] const shape_t& strides() const noexcept { return strides_; }
  [[nodiscard]] index_t offset() const noexcept { return offset_; }
  [[nodiscard]] int rank() const noexcept { return shape_.rank(); }
  [[nodiscard]] index_t numel() const noexcept { return shape_.numel(); }
  /// Extent along `axis` (negative counts from the end).
  [[nodiscard]] index_t size(int axis) const {
    return shape_[normalize_axis("tensor::size", axis, rank())];
  }
  /// Element pointer of the first element (storage base plus offset).
  [[nodiscard]] T* data() const noexcept { return buf_.get() + offset_; }
  /// The shared storage (for interop and aliasing checks).
  [[nodiscard]] const std::shared_ptr<T>& storage() const noexcept { return buf_; }
  /// Number of handles sharing this storage.
  [[nodiscard]] long use_count() const noexcept { return buf_.use_count(); }

  /// True when the elements are laid out row-major without gaps (size-1 axes ignored; a
  /// tensor without elements is contiguous).
  [[nodiscard]] bool is_contiguous() const noexcept {
    if (numel() == 0) return true;
    index_t s = 1;
    for (int i = rank() - 1; i >= 0; --i) {
      if (shape_[i] == 1) continue;
      if (strides_[i] != s) return false;
      s *= shape_[i];
    }
    return true;
  }

  // --- element access (host only) -------------------------------------------------------------
  /// Unchecked element access by indices (one per axis).
  template <class... I>
    requires(std::is_same_v<Space, host> && (std::is_integral_v<I> && ...))
  T& operator()(I... idx) const noexcept {
    const index_t ii[] = {static_cast<index_t>(idx)..., 0};
    index_t off = offset_;
    for (std::size_t k = 0; k < sizeof...(I); ++k) off += ii[k] * strides_[static_cast<int>(k)];
    return buf_.get()[off];
  }

  /// Bounds-checked element access.
  /// @throws tessera::invalid_argument when the index count or a value is out of range.
  T& at(std::initializer_list<index_t> idx) const
    requires std::is_same_v<Space, host>
  {
    if (static_cast<int>(idx.size()) != rank())
      throw_invalid_argument("tensor::at", "got ", idx.size(), " indices for a tensor of shape ",
                             shape_.str());
    index_t off = offset_;
    int k = 0;
    for (index_t i : idx) {
      if (i < 0 || i >= shape_[k])
        throw_invalid_argument("tensor::at", "index ", i, " is out of range for axis ", k,
                               " of shape ", shape_.str());
      off += i * strides_[k++];
    }
    return buf_.get()[off];
  }

  /// The single element of a one-element tensor.
  /// @throws tessera::invalid_argument when numel() != 1.
  T item() const
    requires std::is_same_v<Space, host>
  {
    if (!defined())
      throw_invalid_argument("tensor::item", "the tensor is undefined (default-constructed or ",
                             "moved from)");
    if (numel() != 1)
      throw_invalid_argument("tensor::item", "tensor of shape ", shape_.str(),
                             " does not have exactly one element");
    return buf_.get()[offset_];
  }

  /// Element `i` in row-major order of the logical shape (host, slow path for tests/printing).
  /// @throws tessera::invalid_argument when i is not in [0, numel()) or the tensor is undefined.
  T flat(index_t i) const
    requires std::is_same_v<Space, host>
  {
    if (!defined() || i < 0 || i >= numel())
      throw_invalid_argument("tensor::flat", "index ", i, " is out of range for ",
                             defined() ? numel() : 0, " elements (shape ", shape_.str(), ")");
    index_t off = offset_;
    for (int k = rank() - 1; k >= 0; --k) {
      off += (i % shape_[k]) * strides_[k];
      i /= shape_[k];
    }
    return buf_.get()[off];
  }

  /// Copies all elements into a std::vector in row-major order (host).
  [[nodiscard]] std::vector<T> to_vector() const
    requires std::is_same_v<Space, host>
  {
    std::vector<T> v(static_cast<std::size_t>(numel()));
    if (is_contiguous()) {
      if (!v.empty()) std::memcpy(v.data(), data(), v.size() * sizeof(T));
    } else {
      for (index_t i = 0; i < numel(); ++i) v[static_cast<std::size_t>(i)] = flat(i);
    }
    return v;
  }

  // --- views ----------------------------------------------------------------------------------
  /// Elements start, start+step, ... < stop along `axis` (negative start/stop count from the
  /// end and are clamped as in Python slicing). Shares storage.
  [[nodiscard]] tensor slice(int axis, index_t start, index_t stop, index_t step = 1) const {
    const int a = normalize_axis("tensor::slice", axis, rank());
    if (step <= 0) throw_invalid_argument("tensor::slice", "step ", step, " must be positive");
    const index_t n = shape_[a];
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    start = std::clamp<index_t>(start, 0, n);
    stop = std::clamp<index_t>(stop, start, n);
    tensor r = *this;
    r.shape_[a] = stop > start ? (stop - start - 1) / step + 1 : 0;  // (no overflow for any step)
    r.strides_[a] = strides_[a] * step;
    r.offset_ = offset_ + start * strides_[a];
    return r;
  }

  /// The sub-tensor at `index` along `axis` (rank drops by one). Shares storage.
  [[nodiscard]] tensor select(int axis, index_t index) const {
    const int a = normalize_axis("tensor::select", axis, rank());
    if (index < -shape_[a] || index >= shape_[a])
      throw_invalid_argument("tensor::select", "index ", index, " is out of range for axis ", a,
                             " of shape ", shape_.str());
    if (index < 0) index += shape_[a];
    tensor r = *this;
    r.offset_ += index * strides_[a];
    r.shape_.erase(a);
    r.strides_.erase(a);
    return r;
  }

  /// Swaps two axes. Shares storage.
  [[nodiscard]] tensor transpose(int a0, int a1) const {
    const int a = normalize_axis("tensor::transpose", a0, rank());
    const int b = normalize_axis("tensor::transpose", a1, rank());
    tensor r = *this;
    std::swap(r.shape_[a], r.shape_[b]);
    std::swap(r.strides_[a], r.strides_[b]);
    return r;
  }

  /// Reorders axes: result axis i is source axis order[i]. Shares storage.
  /// @throws tessera::invalid_argument when `order` is not a permutation of 0..rank-1.
  [[nodiscard]] tensor permute(const shape_t& order) const {
    if (order.rank() != rank())
      throw_invalid_argument("tensor::permute", "order ", order.str(), " has ", order.rank(),
                             " entries for a tensor of rank ", rank());
    bool seen[max_rank] = {};
    tensor r = *this;
    for (int i = 0; i < rank(); ++i) {
      const index_t o = order[i] < 0 ? order[i] + rank() : order[i];
      if (o < 0 || o >= rank() || seen[o])
        throw_invalid_argument("tensor::permute", "order ", order.str(),
                               " is not a permutation of the axes of a rank-", rank(), " tensor");
      seen[o] = true;
      r.shape_[i] = shape_[static_cast<int>(o)];
      r.strides_[i] = strides_[static_cast<int>(o)];
    }
    return r;
  }

  /// Inserts a size-1 axis at `axis` (0..rank). Shares storage.
  [[nodiscard]] tensor unsqueeze(int axis) const {
    const int a = normalize_axis("tensor::unsqueeze", axis, rank() + 1);
    tensor r = *this;
    const index_t st = a < rank() ? strides_[a] * shape_[a] : 1;
    r.shape_.insert(a, 1);
    r.strides_.insert(a, st);
    return r;
  }

  /// Removes a size-1 axis. @throws tessera::invalid_argument when its extent is not 1.
  [[nodiscard]] tensor squeeze(int axis) const {
    const int a = normalize_axis("tensor::squeeze", axis, rank());
    if (shape_[a] != 1)
      throw_invalid_argument("tensor::squeeze", "axis ", a, " of shape ", shape_.str(),
                             " has extent ", shape_[a], ", not 1");
    tensor r = *this;
    r.shape_.erase(a);
    r.strides_.erase(a);
    return r;
  }

  /// Broadcasts to `shape` (numpy rules; size-1 axes get stride 0). Shares storage.
  /// @throws tessera::invalid_argument when this shape does not broadcast to `shape`.
  [[nodiscard]] tensor expand(const shape_t& shape) const {
    for (index_t d : shape)
      if (d < 0)
        throw_invalid_argument("tensor::expand", "cannot expand shape ", shape_.str(), " to ",
                               shape.str(), ": negative extent");
    if (shape.rank() < rank())
      throw_invalid_argument("tensor::expand", "cannot expand shape ", shape_.str(), " to ",
                             shape.str());
    check_extents("tensor::expand", shape);
    tensor r = *this;
    r.shape_ = shape;
    r.strides_ = shape_t::filled(shape.rank(), 0);
    const int lead = shape.rank() - rank();
    for (int i = 0; i < rank(); ++i) {
      if (shape_[i] == shape[lead + i])
        r.strides_[lead + i] = strides_[i];
      else if (shape_[i] != 1)
        throw_invalid_argument("tensor::expand", "cannot expand shape ", shape_.str(), " to ",
                               shape.str(), " (axis ", i, ")");
    }
    return r;
  }

  /// Reinterprets contiguous data with a new shape (one extent may be -1). Shares storage.
  /// @throws tessera::invalid_argument when not contiguous or the element count differs.
  [[nodiscard]] tensor view(shape_t shape) const {
    shape = infer_shape("tensor::view", shape);
    if (!is_contiguous())
      throw_invalid_argument("tensor::view", "tensor of shape ", shape_.str(), " and strides ",
                             strides_.str(), " is not contiguous; use reshape()");
    return tensor(buf_, shape, contiguous_strides(shape), offset_);
  }

  /// Like view() but copies when the data is not contiguous.
  [[nodiscard]] tensor reshape(shape_t shape) const {
    shape = infer_shape("tensor::reshape", shape);
    if (is_contiguous()) return tensor(buf_, shape, contiguous_strides(shape), offset_);
    return contiguous().view(shape);
  }

  /// Rank-1 view or copy of all elements.
  [[nodiscard]] tensor flatten() const { return reshape(shape_t{numel()}); }

  /// This tensor when contiguous, otherwise a contiguous copy.
  [[nodiscard]] tensor contiguous() const {
    if (is_contiguous()) return *this;
    return clone();
  }

  /// A deep, contiguous copy (on cuda: enqueued on the current stream).
  [[nodiscard]] tensor clone() const {
    tensor r(shape_);
    r.copy_from(*this);
    return r;
  }

  /// Copies `src` (same shape, or broadcastable to this shape) into this tensor's elements.
  /// On cuda the copy is a kernel on the current stream (see <tessera/cuda.hpp>).
  /// @throws tessera::invalid_argument when the shapes do not broadcast.
  void copy_from(const tensor& src) const {
    if (!defined() || !src.defined())
      throw_invalid_argument("tensor::copy_from", !defined() ? "the destination" : "the source",
                             " is an undefined tensor (default-constructed or moved from)");
    tensor s = src.shape_ == shape_ ? src : src.expand_checked("tensor::copy_from", shape_);
    // Views of one storage whose element spans overlap: unless both are contiguous on the host
    // (memmove), read from a copy of the source, so no element is read after it was overwritten
    // (as numpy). Disjoint views of one storage, and a view copied onto itself, need no copy.
    if (s.buf_ == buf_ && numel() > 0 && overlaps(s) &&
        !(std::is_same_v<Space, host> && is_contiguous() && s.is_contiguous()) &&
        !(s.offset_ == offset_ && s.strides_ == strides_))
      s = s.clone();
    if constexpr (!std::is_same_v<Space, host>) {
      space_traits<Space>::copy(*this, s);
    } else if (is_contiguous() && s.is_contiguous()) {
      if (numel() > 0)
        std::memmove(data(), s.data(), static_cast<std::size_t>(numel()) * sizeof(T));
    } else {
      for_each_pair(s, [](T& d, const T& v) { d = v; });
    }
  }

  /// Sets every element to `value` (on cuda: a kernel on the current stream).
  void fill_(T value) const {
    if constexpr (!std::is_same_v<Space, host>) {
      space_traits<Space>::fill(*this, value);
    } else if (is_contiguous()) {
      std::fill_n(data(), numel(), value);
    } else {
      for_each_pair(*this, [value](T& d, const T&) { d = value; });
    }
  }

 private:
  // Whether the element spans [first, last] of this view and `o` (same storage) intersect.
  bool overlaps(const tensor& o) const noexcept {
    const auto span = [](const tensor& t) {
      index_t lo = t.offset_, hi = t.offset_;
      for (int i = 0; i < t.rank(); ++i) {
        const index_t reach = (t.shape_[i] - 1) * t.strides_[i];
        (reach < 0 ? lo : hi) += reach;
      }
      return std::pair{lo, hi};
    };
    const auto [a0, a1] = span(*this);
    const auto [b0, b1] = span(o);
    return a0 <= b1 && b0 <= a1;
  }

  // Extents must be >= 0, and the product of the non-zero ones times sizeof(T) must fit in
  // index_t, so that numel(), strides and byte counts computed from the shape never overflow.
  static const shape_t& checked_shape(const shape_t& shape) {
    check_extents("tensor", shape);
    return shape;
  }
  // The same rule for the shapes of views (reshape, view, expand), named by `fn`.
  static void check_extents(const char* fn, const shape_t& shape) {
    for (index_t d : shape)
      if (d < 0) throw_invalid_argument(fn, "shape ", shape.str(), " has a negative extent");
    index_t n = static_cast<index_t>(sizeof(T));
    for (index_t d : shape) {
      if (d == 0) continue;
      if (n > std::numeric_limits<index_t>::max() / d)
        throw_invalid_argument(fn, "shape ", shape.str(), " has more elements than fit in memory");
      n *= d;
    }
  }

  shape_t infer_shape(const char* fn, shape_t shape) const {
    int infer = -1;
    for (int i = 0; i < shape.rank(); ++i) {
      if (shape[i] == -1) {
        if (infer >= 0) throw_invalid_argument(fn, "shape ", shape.str(), " has more than one -1");
        infer = i;
      } else if (shape[i] < 0) {
        throw_invalid_argument(fn, "shape ", shape.str(), " has a negative extent");
      }
    }
    // The known extents' product must not overflow (a wrapped count of 0 would pass below).
    shape_t known_part = shape;
    if (infer >= 0) known_part[infer] = 1;
    check_extents(fn, known_part);
    const index_t known = known_part.numel();
    if (infer >= 0) {
      if (known == 0 || numel() % known != 0)
        throw_invalid_argument(fn, "cannot infer the -1 extent of ", shape.str(), " for ", numel(),
                               " elements of shape ", shape_.str());
      shape[infer] = numel() / known;
    }
    if (shape.numel() != numel())
      throw_invalid_argument(fn, "shape ", shape.str(), " has ", shape.numel(),
                             " elements but the tensor of shape ", shape_.str(), " has ", numel());
    return shape;
  }

  tensor expand_checked(const char* fn, const shape_t& target) const {
    const shape_t b = broadcast_shapes(fn, shape_, target);
    if (!(b == target))
      throw_invalid_argument(fn, "source shape ", shape_.str(), " does not broadcast to ",
                             target.str());
    return expand(target);
  }

  // Visits (this element, src element) pairs in row-major order; both share this shape.
  template <class F>
  void for_each_pair(const tensor& src, F f) const {
    const index_t n = numel();
    if (n == 0) return;
    index_t idx[max_rank] = {};
    index_t od = offset_, os = src.offset_;
    T* d = buf_.get();
    const T* s = src.buf_.get();
    const int r = rank();
    for (index_t k = 0; k < n; ++k) {
      f(d[od], s[os]);
      for (int ax = r - 1; ax >= 0; --ax) {
        od += strides_[ax];
        os += src.strides_[ax];
        if (++idx[ax] < shape_[ax]) break;
        od -= strides_[ax] * shape_[ax];
        os -= src.strides_[ax] * shape_[ax];
        idx[ax] = 0;
      }
    }
  }

  std::shared_ptr<T> buf_;
  shape_t shape_;
  shape_t strides_;
  index_t offset_ = 0;
};

/// An uninitialised tensor of the given shape.
template <class T, class Space = host>
tensor<T, Space> empty(const shape_t& shape) {
  return tensor<T, Space>(shape);
}

namespace detail {
/// Throws tessera::invalid_argument naming `fn` and `what` when `t` is undefined (default-
/// constructed or moved from): its rank-0 shape says one element, but it has no storage.
template <class T, class S>
void require_defined(const char* fn, const char* what, const tensor<T, S>& t) {
  if (!t.defined())
    throw_invalid_argument(fn, what, " is an undefined tensor (default-constructed or moved from)");
}
}  // namespace detail

/// The tensor in memory space `Dst`: `to<cuda>(t)` copies a host tensor to the device and
/// `to<host>(t)` copies back (waiting for the copy); a tensor already in `Dst` is returned
/// as is (sharing storage). Moves between spaces need <tessera/cuda.hpp> (nvcc).
/// @throws tessera::invalid_argument when a move between spaces is asked of an undefined tensor.
template <memory_space Dst, class T, memory_space Src>
tensor<T, Dst> to(const tensor<T, Src>& t) {
  if constexpr (std::is_same_v<Dst, Src>) {
    return t;
  } else {
    detail::require_defined("to", "the tensor", t);
    // The non-host side implements both directions.
    using device_space = std::conditional_t<std::is_same_v<Dst, host>, Src, Dst>;
    return space_traits<device_space>::template transfer<Dst>(t);
  }
}

/// True when both tensors are defined and refer to the same storage block.
template <class T, class S>
bool shares_storage(const tensor<T, S>& a, const tensor<T, S>& b) noexcept {
  return a.defined() && b.defined() && a.storage().get() == b.storage().get();
}

}  // namespace tessera
