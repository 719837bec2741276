// SPDX-License-Identifier: Apache-2.0
// tessera's exception types and the helpers that build messages naming function, argument, value.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace tessera {

/// A precondition on a user's argument failed (shape, axis, size, file content).
class invalid_argument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A value lies outside the domain an operation accepts (NaN where forbidden, log of a
/// negative count, a singular system the caller asked to solve exactly).
class domain_error : public std::domain_error {
 public:
  using std::domain_error::domain_error;
};

/// A file could not be read or written, or its content is corrupt or truncated.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A CUDA runtime or library call failed (file, line and call text in the message).
class cuda_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

template <class... Parts>
std::string concat_message(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

}  // namespace detail

/// Throws tessera::invalid_argument with "tessera::<function>: <parts...>".
template <class... Parts>
[[noreturn]] void throw_invalid_argument(const char* function, const Parts&... parts) {
  throw invalid_argument(detail::concat_message("tessera::", function, ": ", parts...));
}

/// Throws tessera::domain_error with "tessera::<function>: <parts...>".
template <class... Parts>
[[noreturn]] void throw_domain_error(const char* function, const Parts&... parts) {
  throw domain_error(detail::concat_message("tessera::", function, ": ", parts...));
}

/// Throws tessera::io_error with "tessera::<function>: <parts...>".
template <class... Parts>
[[noreturn]] void throw_io_error(const char* function, const Parts&... parts) {
  throw io_error(detail::concat_message("tessera::", function, ": ", parts...));
}

}  // namespace tessera
