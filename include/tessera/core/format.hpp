// SPDX-License-Identifier: Apache-2.0
// Printing host tensors: numpy-like nested brackets, summarised when large.
#pragma once

#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>

#include "tessera/core/tensor.hpp"

namespace tessera {

namespace detail {
template <class T>
void format_axis(std::ostream& os, const tensor<T>& t, int axis, index_t offset, int indent,
                 index_t edge) {
  const index_t n = t.shape()[axis];
  os << '[';
  const bool summarise = n > 2 * edge;
  for (index_t i = 0; i < n; ++i) {
    if (summarise && i == edge) {
      os << (axis + 1 == t.rank() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - edge;
    }
    const index_t off = offset + i * t.strides()[axis];
    if (axis + 1 == t.rank())
      os << t.storage().get()[off];
    else
      format_axis(os, t, axis + 1, off, indent + 1, edge);
    if (i + 1 < n) os << (axis + 1 == t.rank() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << ']';
}
}  // namespace detail

/// Writes "tensor(shape=(2,3), [[...]])"; axes longer than 2·edge are summarised.
template <class T>
std::ostream& operator<<(std::ostream& os, const tensor<T>& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  std::ostringstream body;
  body.imbue(os.getloc());  // the numbers as `os` writes them, not as the global locale would
  body << std::setprecision(6);
  if (t.rank() == 0)
    body << t.item();
  else if (t.numel() == 0)
    body << "[]";
  else
    detail::format_axis(body, t, 0, t.offset(), 0, 3);
  return os << "tensor(shape=" << t.shape().str() << ", " << body.str() << ")";
}

/// The printed form of a tensor as a string.
template <class T>
std::string to_string(const tensor<T>& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

}  // namespace tessera
