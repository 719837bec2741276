// SPDX-License-Identifier: Apache-2.0
// Reading numeric CSV files (comma-separated, optional header row) into a (rows, cols) tensor.
#pragma once

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::io {

/// Whether the first row of a CSV file names the columns.
enum class csv_header {
  detect,   ///< a header when some field of the first row is not a number
  present,  ///< the first row is a header
  absent,   ///< every row is data
};

/// A CSV file's data and column names.
template <class T>
struct csv_table {
  /// (rows, cols) values in file order.
  tensor<T> data;
  /// The header's names (quotes removed), or "0", "1", ... when the file has no header.
  std::vector<std::string> columns;
  /// Whether the first row was taken as a header.
  bool has_header = false;
};

namespace detail {

/// Splits one line into fields at commas outside double quotes; "" inside quotes is a quote.
/// Returns false (and the 1-based column of the fault) for an unterminated quote or text
/// after a closing quote.
inline bool csv_split(std::string_view line, std::vector<std::string>& fields,
                      std::vector<bool>& quoted, std::size_t& bad_col) {
  fields.clear();
  quoted.clear();
  std::string cur;
  bool q = false, was_quoted = false, after_quote = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (q) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          q = false;
          after_quote = true;
        }
      } else {
        cur += c;
      }
      continue;
    }
    if (c == ',') {
      fields.push_back(cur);
      quoted.push_back(was_quoted);
      cur.clear();
      was_quoted = after_quote = false;
    } else if (c == '"' && !was_quoted && cur.find_first_not_of(" \t") == std::string::npos) {
      q = was_quoted = true;
      cur.clear();
    } else if (after_quote && c != ' ' && c != '\t') {
      bad_col = fields.size() + 1;
      return false;
    } else if (!after_quote) {
      cur += c;
    }
  }
  if (q) {
    bad_col = fields.size() + 1;
    return false;
  }
  fields.push_back(cur);
  quoted.push_back(was_quoted);
  return true;
}

inline std::string_view csv_trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

/// Parses a whole field as T (leading '+' allowed; nan, inf, infinity in any case).
template <class T>
bool csv_parse(std::string_view s, T& v) {
  s = csv_trim(s);
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && (s.front() == '-' || s.front() == '+')) return false;
  }
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size();
}

/// A printable excerpt of a field for an error message.
inline std::string csv_excerpt(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 40; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > 40) out += "...";
  return out;
}

}  // namespace detail

/// Reads a numeric CSV file: comma-separated fields, optional surrounding spaces and double
/// quotes, '\n' or "\r\n" line ends, blank lines skipped, a UTF-8 byte-order mark at the start
/// ignored; numbers as std::from_chars reads them (plus a leading '+'; "nan" and "inf" are
/// accepted, values that overflow T are not).
/// @param path the file; @param header whether the first row is a header (default: detect).
/// @return the data (rows, cols) and the column names.
/// @throws tessera::io_error naming the file (and line, column and text where there is one)
///   when the file is a directory or cannot be opened, holds a NUL byte (binary data), is
///   empty or has no data rows (a header alone), has bare
///   '\r' line ends (classic Mac), a row has a different number of fields from the first, or a
///   field is empty or not a number.
template <class T>
csv_table<T> read_csv(const std::string& path, csv_header header = csv_header::detect) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "read_csv reads float or double values");
  const char* fn = "io::read_csv";
  {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw_io_error(fn, path, ": is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_io_error(fn, path, ": cannot open the file");
  std::vector<std::string> fields;
  std::vector<bool> quoted;
  std::vector<T> values;
  csv_table<T> t;
  std::size_t cols = 0, rows = 0, line_no = 0;
  bool first = true;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // UTF-8 BOM
    if (const std::size_t nul = line.find('\0'); nul != std::string::npos)
      throw_io_error(fn, path, ":", line_no, ": a NUL byte (at byte ", nul + 1,
                     "): a binary file (a .npy, say), not CSV text");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (const std::size_t cr = line.find('\r'); cr != std::string::npos)
      throw_io_error(fn, path, ":", line_no, ": a bare '\\r' inside the line (at byte ", cr + 1,
                     "): '\\r' line ends are not read, only '\\n' and \"\\r\\n\"");
    if (detail::csv_trim(line).empty()) continue;
    std::size_t bad_col = 0;
    if (!detail::csv_split(line, fields, quoted, bad_col))
      throw_io_error(fn, path, ":", line_no, ": column ", bad_col,
                     ": unterminated quote or text after a closing quote in '",
                     detail::csv_excerpt(line), "'");
    if (first) {
      first = false;
      cols = fields.size();
      bool is_header = header == csv_header::present;
      if (header == csv_header::detect) {
        T v;
        for (const auto& f : fields)
          if (!detail::csv_parse(f, v) && !detail::csv_trim(f).empty()) is_header = true;
      }
      if (is_header) {
        t.has_header = true;
        for (std::size_t c = 0; c < cols; ++c)
          t.columns.emplace_back(quoted[c] ? std::string_view(fields[c])
                                           : detail::csv_trim(fields[c]));
        continue;
      }
    }
    if (fields.size() != cols)
      throw_io_error(fn, path, ":", line_no, ": ", fields.size(), " fields where the ",
                     t.has_header ? "header has " : "first row has ", cols);
    for (std::size_t c = 0; c < cols; ++c) {
      T v;
      if (!detail::csv_parse(fields[c], v)) {
        if (detail::csv_trim(fields[c]).empty())
          throw_io_error(fn, path, ":", line_no, ": column ", c + 1, ": empty field");
        throw_io_error(fn, path, ":", line_no, ": column ", c + 1, ": '",
                       detail::csv_excerpt(fields[c]), "' is not a number",
                       std::is_same_v<T, float> ? " representable as float" : "");
      }
      values.push_back(v);
    }
    ++rows;
  }
  if (in.bad()) throw_io_error(fn, path, ": read error after line ", line_no);
  if (first) throw_io_error(fn, path, ": empty file (no rows)");
  if (rows == 0) throw_io_error(fn, path, ": a header and no data rows");
  if (!t.has_header)
    for (std::size_t c = 0; c < cols; ++c) t.columns.push_back(std::to_string(c));
  t.data = tensor<T>(shape_t{static_cast<index_t>(rows), static_cast<index_t>(cols)});
  std::copy(values.begin(), values.end(), t.data.data());
  return t;
}

}  // namespace tessera::io
