// SPDX-License-Identifier: Apache-2.0
// Helpers for the .npy tests: hand-built files in numpy's byte layout, a temporary directory.
#pragma once

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "tessera/core/error.hpp"

namespace npy_test {

/// The header dictionary of an .npy file, as numpy writes it.
inline std::string dict(const std::string& descr, const std::string& fortran,
                        const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

/// Element bytes of `values` in the requested byte order, whatever the host's.
template <class S>
std::string element_bytes(const std::vector<S>& values, bool big_endian = false) {
  std::string out;
  for (S v : values) {
    unsigned char b[sizeof(S)];
    std::memcpy(b, &v, sizeof(S));
    const bool host_big = std::endian::native == std::endian::big;
    if (host_big != big_endian)
      for (std::size_t k = 0; k < sizeof(S) / 2; ++k) std::swap(b[k], b[sizeof(S) - 1 - k]);
    out.append(reinterpret_cast<const char*>(b), sizeof(S));
  }
  return out;
}

/// An .npy file: magic, version major.0, little-endian header length (2 bytes for 1.0, 4
/// otherwise), `dict`, then, when `numpy_padding` is set, spaces and '\n' up to a multiple of
/// 64 bytes exactly as numpy pads; finally `data`.
inline std::string make_npy(int major, const std::string& dict, const std::string& data,
                            bool numpy_padding = true) {
  const std::size_t pre = major == 1 ? 10 : 12;
  std::string header = dict;
  if (numpy_padding) {
    const std::size_t hlen = header.size() + 1;
    header.append(64 - (pre + hlen) % 64, ' ');
    header += '\n';
  }
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::uint32_t n = static_cast<std::uint32_t>(header.size());
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) {
    out += static_cast<char>((n >> 16) & 0xff);
    out += static_cast<char>((n >> 24) & 0xff);
  }
  return out + header + data;
}

/// A fresh directory under the system temp dir, removed with its content on destruction.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string templ = (std::filesystem::temp_directory_path() / "tessera_io_XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = templ;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }

  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string p = file(name);
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    BOOST_REQUIRE(f.good());
    return p;
  }
};

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  BOOST_REQUIRE(f.good());
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// The message of the tessera::io_error `f` throws; fails the test when it throws nothing.
/// Any other exception escapes and fails the test case.
template <class F>
std::string io_error_message(F&& f) {
  try {
    f();
  } catch (const tessera::io_error& e) {
    return e.what();
  }
  BOOST_ERROR("expected a tessera::io_error, but nothing was thrown");
  return {};
}

/// Checks that `message` contains every one of `parts`.
inline void check_contains(const std::string& message, std::initializer_list<std::string> parts) {
  for (const std::string& p : parts)
    BOOST_TEST(message.find(p) != std::string::npos,
               "message \"" << message << "\" should contain \"" << p << "\"");
}

}  // namespace npy_test
