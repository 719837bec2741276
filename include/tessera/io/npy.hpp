// SPDX-License-Identifier: Apache-2.0
// Reading and writing numpy .npy files (format 1.0, 2.0, 3.0) for float, double and index_t.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::io {

/// Element types that .npy files carry to and from tessera: float ('<f4'), double ('<f8') and
/// index_t ('<i8').
template <class T>
concept npy_scalar = std::same_as<T, float> || std::same_as<T, double> || std::same_as<T, index_t>;

namespace detail {

inline constexpr char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
/// Headers longer than this are refused before they are read (numpy itself refuses more than
/// 10000 bytes unless told otherwise; a legitimate header of rank <= 8 needs a few hundred).
inline constexpr std::uint64_t npy_max_header_len = std::uint64_t(1) << 20;
/// numpy's ARRAY_ALIGN and GROWTH_AXIS_MAX_DIGITS (numpy/lib/format.py).
inline constexpr std::size_t npy_align = 64;
inline constexpr std::size_t npy_growth_axis_max_digits = 21;

/// What the header says about the data that follows it.
struct npy_header {
  char kind = 0;         // 'f' or 'i'
  int itemsize = 0;      // 4 or 8
  bool swap = false;     // stored byte order differs from the host's
  bool fortran = false;  // column-major data
  shape_t shape;         // logical (C-order) shape
  index_t numel = 0;
  std::uint64_t data_offset = 0;  // bytes before the data
  std::uint64_t data_bytes = 0;   // numel * itemsize
  std::string descr;
};

/// Escapes a header fragment for an error message (printable ASCII kept, the rest as \xNN).
inline std::string printable(std::string_view s, std::size_t max_len = 80) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

/// A strict parser for the Python dict literal in an .npy header:
///   {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
/// Keys in any order, single or double quotes, optional trailing comma, whitespace between
/// tokens; anything else (unknown or repeated keys, expressions, escapes) is refused.
class npy_header_parser {
 public:
  npy_header_parser(const char* fn, std::string_view source, std::string_view text)
      : fn_(fn), source_(source), s_(text) {}

  void parse(npy_header& h) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = parse_string("key");
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (have_descr) fail("key 'descr' appears twice");
        have_descr = true;
        if (peek() != '\'' && peek() != '"')
          fail("descr is not a simple dtype string at offset ", i_,
               " (structured dtypes are "
               "not supported): ",
               printable(s_.substr(i_, 40)));
        h.descr = parse_string("descr");
      } else if (key == "fortran_order") {
        if (have_fortran) fail("key 'fortran_order' appears twice");
        have_fortran = true;
        h.fortran = parse_bool();
      } else if (key == "shape") {
        if (have_shape) fail("key 'shape' appears twice");
        have_shape = true;
        h.shape = parse_shape();
      } else {
        fail("unexpected key '", printable(key), "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') fail_unexpected("',' or '}'");
    }
    ++i_;  // '}'
    // numpy pads with spaces and ends with '\n'; only whitespace may follow the dict.
    skip_ws();
    if (i_ != s_.size())
      fail("unexpected trailing characters after the dict: '", printable(s_.substr(i_, 40)), "'");
    if (!have_descr) fail("key 'descr' is missing");
    if (!have_fortran) fail("key 'fortran_order' is missing");
    if (!have_shape) fail("key 'shape' is missing");
  }

 private:
  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw_io_error(fn_, source_, ": bad header: ", parts...);
  }
  [[noreturn]] void fail_unexpected(const char* wanted) const {
    if (i_ >= s_.size()) fail("expected ", wanted, " but the header ends at offset ", i_);
    fail("expected ", wanted, " at offset ", i_, " but found '", printable(s_.substr(i_, 20)), "'");
  }
  char peek() const noexcept { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() noexcept {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  void expect(char c) {
    if (peek() != c || i_ >= s_.size()) {
      const char wanted[] = {'\'', c, '\'', '\0'};
      fail_unexpected(wanted);
    }
    ++i_;
  }
  std::string parse_string(const char* what) {
    const char q = peek();
    if (i_ >= s_.size() || (q != '\'' && q != '"')) {
      const std::string wanted = std::string("a quoted ") + what;
      fail_unexpected(wanted.c_str());
    }
    const std::size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != q) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c < 0x20 || c >= 0x7f || c == '\\')
        fail("unsupported character '", printable(s_.substr(i_, 1)), "' in the ", what,
             " string at offset ", i_);
      ++i_;
    }
    if (i_ >= s_.size()) fail("unterminated ", what, " string starting at offset ", start - 1);
    return std::string(s_.substr(start, i_++ - start));
  }
  static bool is_ident(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }
  bool parse_bool() {
    for (const std::string_view word : {std::string_view("True"), std::string_view("False")}) {
      if (s_.substr(i_, word.size()) == word &&
          (i_ + word.size() >= s_.size() || !is_ident(s_[i_ + word.size()]))) {
        i_ += word.size();
        return word == "True";
      }
    }
    fail("fortran_order must be True or False, found '", printable(s_.substr(i_, 20)), "'");
  }
  index_t parse_extent(const shape_t& so_far) {
    const std::size_t start = i_;
    if (peek() == '-' || peek() == '+') {
      std::size_t j = i_ + 1;
      while (j < s_.size() && s_[j] >= '0' && s_[j] <= '9') ++j;
      if (peek() == '-')
        fail("shape extent ", printable(s_.substr(start, j - start)), " at axis ", so_far.rank(),
             " is negative");
      fail("shape extent '", printable(s_.substr(start, j - start)), "' at axis ", so_far.rank(),
           " is not a plain integer");
    }
    if (!(peek() >= '0' && peek() <= '9')) fail_unexpected("a shape extent");
    index_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      const index_t d = s_[i_] - '0';
      if (v > (std::numeric_limits<index_t>::max() - d) / 10) {
        std::size_t j = i_;
        while (j < s_.size() && s_[j] >= '0' && s_[j] <= '9') ++j;
        fail("shape extent ", printable(s_.substr(start, j - start)), " at axis ", so_far.rank(),
             " does not fit in 64 bits");
      }
      v = v * 10 + d;
      ++i_;
    }
    if (i_ - start > 1 && s_[start] == '0')
      fail("shape extent '", printable(s_.substr(start, i_ - start)), "' has a leading zero");
    if (peek() == 'L') ++i_;  // Python 2 long suffix, written by old numpy versions
    if (is_ident(peek()) || peek() == '.')
      fail("shape extent '", printable(s_.substr(start, i_ - start + 1)),
           "' is not a plain integer");
    return v;
  }
  shape_t parse_shape() {
    if (peek() != '(') fail_unexpected("a shape tuple '('");
    ++i_;
    shape_t shape;
    index_t extents = 0;
    bool trailing_comma = false;
    for (;;) {
      skip_ws();
      if (peek() == ')') break;
      if (shape.rank() == max_rank)
        fail("shape has more than ", max_rank, " extents (tessera's maximum rank)");
      const index_t v = parse_extent(shape);
      shape.push_back(v);
      ++extents;
      skip_ws();
      trailing_comma = false;
      if (peek() == ',') {
        ++i_;
        trailing_comma = true;
        continue;
      }
      if (peek() != ')') fail_unexpected("',' or ')' in the shape");
    }
    ++i_;
    // (3) is the integer 3 in Python, not a tuple; numpy rejects it and so do we.
    if (extents == 1 && !trailing_comma) fail("shape (", shape[0], ") is not a tuple");
    return shape;
  }

  const char* fn_;
  std::string_view source_;
  std::string_view s_;
  std::size_t i_ = 0;
};

inline std::uint64_t read_le(const unsigned char* p, int n) noexcept {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// Parses the 10- or 12-byte preamble from `pre` (at least 12 bytes or the whole input).
/// Returns the header length and sets `preamble_len`.
inline std::uint64_t parse_preamble(const char* fn, std::string_view source,
                                    const unsigned char* pre, std::uint64_t avail,
                                    std::uint64_t total, std::uint64_t& preamble_len) {
  if (avail < 8 || std::memcmp(pre, npy_magic, 6) != 0) {
    const std::string got(reinterpret_cast<const char*>(pre),
                          static_cast<std::size_t>(avail < 6 ? avail : 6));
    throw_io_error(fn, source, ": not an .npy file (magic string is '", printable(got),
                   "', expected '\\x93NUMPY'; ", total, " bytes)");
  }
  const int major = pre[6], minor = pre[7];
  if (minor != 0 || major < 1 || major > 3)
    throw_io_error(fn, source, ": format version ", major, ".", minor,
                   " is not supported (1.0, 2.0 and 3.0 are)");
  preamble_len = major == 1 ? 10 : 12;
  if (avail < preamble_len)
    throw_io_error(fn, source, ": truncated preamble (", total, " bytes, format ", major,
                   ".0 needs ", preamble_len, " before the header)");
  const std::uint64_t hlen = read_le(pre + 8, major == 1 ? 2 : 4);
  if (hlen > npy_max_header_len)
    throw_io_error(fn, source, ": header length ", hlen, " exceeds the limit of ",
                   npy_max_header_len, " bytes");
  if (hlen > total - preamble_len)
    throw_io_error(fn, source, ": header length ", hlen, " runs past the end of the data (", total,
                   " bytes in all, ", total - preamble_len, " after the preamble)");
  return hlen;
}

/// Parses the header text and checks it against the number of bytes that follow it.
inline npy_header parse_header(const char* fn, std::string_view source, std::string_view text,
                               std::uint64_t data_offset, std::uint64_t total) {
  npy_header h;
  npy_header_parser(fn, source, text).parse(h);
  // descr: byte order, kind, item size.
  const std::string& d = h.descr;
  const bool ok_form = d.size() == 3 &&
                       (d[0] == '<' || d[0] == '>' || d[0] == '=' || d[0] == '|') &&
                       (d[1] == 'f' || d[1] == 'i') && (d[2] == '4' || d[2] == '8');
  if (!ok_form || d[0] == '|')
    throw_io_error(fn, source, ": unsupported dtype '", printable(d),
                   "' (supported: '<f4', '<f8', '<i4', '<i8' and their '>' forms)");
  h.kind = d[1];
  h.itemsize = d[2] - '0';
  const bool file_big = d[0] == '>' || (d[0] == '=' && std::endian::native == std::endian::big);
  h.swap = file_big != (std::endian::native == std::endian::big);
  // The product of the non-zero extents times 8 (the largest element tessera allocates) must
  // fit in index_t. This is tensor's own rule, so an empty but absurd shape such as
  // (0, 2**63-1) is refused here as corrupt instead of later as an invalid argument.
  constexpr index_t max_elem_bytes = 8;
  index_t nonzero = 1;
  bool any_zero = false;
  for (index_t e : h.shape) {
    if (e == 0) {
      any_zero = true;
      continue;
    }
    if (nonzero > std::numeric_limits<index_t>::max() / max_elem_bytes / e)
      throw_io_error(fn, source, ": shape ", h.shape.str(), " of dtype '", d,
                     "' is too large: its extents multiply past 2^63 bytes");
    nonzero *= e;
  }
  const index_t n = any_zero ? 0 : nonzero;
  h.numel = n;
  h.data_offset = data_offset;
  h.data_bytes = static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(h.itemsize);
  const std::uint64_t have = total - data_offset;
  if (have != h.data_bytes)
    throw_io_error(fn, source, ": shape ", h.shape.str(), " of dtype '", d, "' needs ",
                   h.data_bytes, " data bytes but ", have, " follow the header",
                   have < h.data_bytes ? " (truncated)" : " (trailing bytes)");
  return h;
}

template <class Dst, class Src>
void convert_run(const unsigned char* src, std::size_t count, bool swap, Dst* dst) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    unsigned char b[sizeof(Src)];
    std::memcpy(b, src + i * sizeof(Src), sizeof(Src));
    if (swap)
      for (std::size_t k = 0; k < sizeof(Src) / 2; ++k) std::swap(b[k], b[sizeof(Src) - 1 - k]);
    Src v;
    std::memcpy(&v, b, sizeof(Src));
    dst[i] = static_cast<Dst>(v);
  }
}

/// Converts `count` stored elements of the header's dtype into T.
template <class T>
void decode_elements(const npy_header& h, const unsigned char* src, std::size_t count, T* dst) {
  if (h.kind == 'f' && h.itemsize == 4)
    convert_run<T, float>(src, count, h.swap, dst);
  else if (h.kind == 'f')
    convert_run<T, double>(src, count, h.swap, dst);
  else if (h.itemsize == 4)
    convert_run<T, std::int32_t>(src, count, h.swap, dst);
  else
    convert_run<T, std::int64_t>(src, count, h.swap, dst);
}

template <class T>
const char* npy_type_name() {
  if constexpr (std::is_same_v<T, float>)
    return "float";
  else if constexpr (std::is_same_v<T, double>)
    return "double";
  else
    return "index_t";
}

/// Refuses crossing between integer and floating data (see load_npy).
template <class T>
void check_kind(const char* fn, std::string_view source, const npy_header& h) {
  const bool want_float = !std::is_same_v<T, index_t>;
  if (want_float != (h.kind == 'f'))
    throw_io_error(fn, source, ": dtype '", h.descr, "' cannot be loaded as ", npy_type_name<T>(),
                   " (integer and floating data are not converted)");
}

/// Allocates the result (the stored shape reversed when Fortran-ordered, so the data fills it
/// in C order), lets `fill` write the elements, and returns the C-ordered tensor.
template <class T, class Fill>
tensor<T> make_result(const npy_header& h, Fill fill) {
  shape_t stored = h.shape;
  if (h.fortran)
    for (int i = 0; i < stored.rank() / 2; ++i) std::swap(stored[i], stored[stored.rank() - 1 - i]);
  tensor<T> t(stored);
  fill(t.data());
  if (!h.fortran || h.shape.rank() < 2) return t;
  shape_t order = shape_t::filled(stored.rank(), 0);
  for (int i = 0; i < stored.rank(); ++i) order[i] = stored.rank() - 1 - i;
  return t.permute(order).clone();
}

template <class T>
std::string npy_descr() {
  const char order = std::endian::native == std::endian::big ? '>' : '<';
  if constexpr (std::is_same_v<T, float>)
    return {order, 'f', '4'};
  else if constexpr (std::is_same_v<T, double>)
    return {order, 'f', '8'};
  else
    return {order, 'i', '8'};
}

/// The preamble and header numpy writes for a C-ordered array (format 1.0 when it fits).
template <class T>
std::string npy_header_bytes(const char* fn, const shape_t& shape) {
  std::string dict = "{'descr': '" + npy_descr<T>() + "', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < shape.rank(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(shape[i]);
  }
  if (shape.rank() == 1) dict += ',';
  dict += "), }";
  // numpy leaves room for the first axis to grow in place.
  if (shape.rank() > 0)
    dict.append(npy_growth_axis_max_digits - std::to_string(shape[0]).size(), ' ');
  const std::size_t hlen = dict.size() + 1;  // + '\n'
  const std::size_t pad = npy_align - (8 + 2 + hlen) % npy_align;
  const std::size_t total_hlen = hlen + pad;
  if (total_hlen > 0xffff)
    throw_io_error(fn, "header of ", total_hlen, " bytes does not fit format 1.0");
  std::string out(npy_magic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(total_hlen & 0xff);
  out += static_cast<char>(total_hlen >> 8);
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  return out;
}

/// Appends the elements of `t` in C order and the host's byte order.
template <class T>
void append_data(std::string& out, const tensor<T>& t) {
  const std::size_t n = static_cast<std::size_t>(t.numel());
  if (n == 0) return;
  const std::size_t at = out.size();
  out.resize(at + n * sizeof(T));
  if (t.is_contiguous()) {
    std::memcpy(out.data() + at, t.data(), n * sizeof(T));
  } else {
    const std::vector<T> v = t.to_vector();
    std::memcpy(out.data() + at, v.data(), n * sizeof(T));
  }
}

}  // namespace detail

/// The bytes of an .npy file (format 1.0, C order, host byte order) holding `t`, exactly as
/// numpy.save writes them: header padded with spaces to a multiple of 64 bytes, ending in '\n'.
/// @param t a defined tensor of any rank and layout (views are written in logical order).
/// @return the file content.
/// @throws tessera::invalid_argument when `t` is undefined.
template <npy_scalar T>
std::string to_npy_bytes(const tensor<T>& t) {
  if (!t.defined()) throw_invalid_argument("io::to_npy_bytes", "the tensor is undefined");
  std::string out = detail::npy_header_bytes<T>("io::to_npy_bytes", t.shape());
  detail::append_data(out, t);
  return out;
}

/// Writes `t` to `path` as an .npy file (see to_npy_bytes for the layout).
/// @throws tessera::io_error naming the path when the file cannot be written.
/// @throws tessera::invalid_argument when `t` is undefined.
template <npy_scalar T>
void save_npy(const std::string& path, const tensor<T>& t) {
  if (!t.defined()) throw_invalid_argument("io::save_npy", "the tensor is undefined");
  const std::string bytes = to_npy_bytes(t);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw_io_error("io::save_npy", path, ": cannot open the file for writing");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) throw_io_error("io::save_npy", path, ": writing ", bytes.size(), " bytes failed");
}

/// Reads a tensor from the bytes of an .npy file.
///
/// Accepts format 1.0, 2.0 and 3.0; fortran_order True (transposed to row-major); rank 0..8;
/// little-, big- ('>') and native-endian ('=') descriptors. Float data ('f4', 'f8') loads as
/// float or double, converting between the two; integer data ('i4', 'i8') loads as index_t.
/// Integer data asked for as float/double, or the reverse, is refused rather than converted,
/// so a label file is never silently read as features. The data must be exactly
/// numel × itemsize bytes: trailing bytes are an error too.
/// @param bytes the whole file content; every byte is checked before it is trusted, and
///   nothing is allocated before the sizes agree with the input's length.
/// @return a contiguous tensor of the stored shape.
/// @throws tessera::io_error naming "io::from_npy_bytes" and the offending value when the
///   input is corrupt, truncated or of an unsupported dtype.
template <npy_scalar T>
tensor<T> from_npy_bytes(std::string_view bytes) {
  constexpr const char* fn = "io::from_npy_bytes";
  constexpr std::string_view source = "buffer";
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::uint64_t total = bytes.size();
  std::uint64_t pre = 0;
  const std::uint64_t hlen = detail::parse_preamble(fn, source, p, total, total, pre);
  const detail::npy_header h = detail::parse_header(
      fn, source, bytes.substr(static_cast<std::size_t>(pre), static_cast<std::size_t>(hlen)),
      pre + hlen, total);
  detail::check_kind<T>(fn, source, h);
  return detail::make_result<T>(h, [&](T* dst) {
    detail::decode_elements(h, p + h.data_offset, static_cast<std::size_t>(h.numel), dst);
  });
}

/// Reads a tensor from the .npy file at `path`; see from_npy_bytes for what is accepted.
/// The file's size is checked against the header before anything is allocated, and the data
/// is read in bounded chunks, so a corrupt or truncated file costs no more memory than its
/// declared, verified content.
/// @throws tessera::io_error naming "io::load_npy", the path and the offending value when the
///   file cannot be read or is corrupt, truncated or of an unsupported dtype.
template <npy_scalar T>
tensor<T> load_npy(const std::string& path) {
  constexpr const char* fn = "io::load_npy";
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_io_error(fn, path, ": cannot open the file for reading");
  f.seekg(0, std::ios::end);
  const std::streamoff end = f.tellg();
  f.seekg(0, std::ios::beg);
  if (!f || end < 0) throw_io_error(fn, path, ": cannot determine the file size");
  const std::uint64_t total = static_cast<std::uint64_t>(end);
  auto read = [&](char* dst, std::uint64_t n, const char* what) {
    f.read(dst, static_cast<std::streamsize>(n));
    if (static_cast<std::uint64_t>(f.gcount()) != n)
      throw_io_error(fn, path, ": reading the ", what, " failed after ", f.gcount(), " of ", n,
                     " bytes (file changed or unreadable)");
  };
  unsigned char pre_buf[12] = {};
  const std::uint64_t avail = total < 12 ? total : 12;
  read(reinterpret_cast<char*>(pre_buf), avail, "preamble");
  std::uint64_t pre = 0;
  const std::uint64_t hlen = detail::parse_preamble(fn, path, pre_buf, avail, total, pre);
  std::string text(static_cast<std::size_t>(hlen), '\0');
  f.seekg(static_cast<std::streamoff>(pre), std::ios::beg);
  read(text.data(), hlen, "header");
  const detail::npy_header h = detail::parse_header(fn, path, text, pre + hlen, total);
  detail::check_kind<T>(fn, path, h);
  return detail::make_result<T>(h, [&](T* dst) {
    constexpr std::size_t chunk_elems = 1 << 14;
    std::vector<unsigned char> buf(chunk_elems * static_cast<std::size_t>(h.itemsize));
    for (index_t done = 0; done < h.numel;) {
      const std::size_t n = static_cast<std::size_t>(
          std::min<index_t>(static_cast<index_t>(chunk_elems), h.numel - done));
      read(reinterpret_cast<char*>(buf.data()), n * static_cast<std::size_t>(h.itemsize), "data");
      detail::decode_elements(h, buf.data(), n, dst + done);
      done += static_cast<index_t>(n);
    }
  });
}

}  // namespace tessera::io
