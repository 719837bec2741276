# SPDX-License-Identifier: Apache-2.0
# Finds BLIS (https://github.com/flame/blis) for tessera's host GEMM: its header blis.h and its
# library, checking that the typed API with runtime objects (rntm_t, bli_sgemm_ex) is there.
#   BLIS_FOUND, BLIS_INCLUDE_DIR, BLIS_LIBRARY, imported target BLIS::BLIS.
# Debian: libblis-dev (the OpenMP build, /usr/include/<triplet>/blis.h).
include(FindPackageHandleStandardArgs)
include(CheckCXXSourceCompiles)
include(CMakePushCheckState)

find_path(BLIS_INCLUDE_DIR NAMES blis.h PATH_SUFFIXES blis)
find_library(BLIS_LIBRARY NAMES blis blis-mt)

if(BLIS_INCLUDE_DIR AND BLIS_LIBRARY AND NOT DEFINED BLIS_HAS_RNTM_API)
  cmake_push_check_state(RESET)
  set(CMAKE_REQUIRED_QUIET ON)
  set(CMAKE_REQUIRED_INCLUDES "${BLIS_INCLUDE_DIR}")
  set(CMAKE_REQUIRED_LIBRARIES "${BLIS_LIBRARY}" m)
  check_cxx_source_compiles([[
    #include <blis.h>
    int main() {
      rntm_t r = BLIS_RNTM_INITIALIZER;
      bli_rntm_set_num_threads(1, &r);
      bli_rntm_disable_l3_sup(&r);
      float a = 1, b = 1, c = 0, one = 1, zero = 0;
      bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, 1, 1, 1, &one, &a, 1, 1, &b, 1, 1,
                   &zero, &c, 1, 1, nullptr, &r);
      return c == 1 ? 0 : 1;
    }]] BLIS_HAS_RNTM_API)
  cmake_pop_check_state()
endif()

find_package_handle_standard_args(BLIS REQUIRED_VARS BLIS_LIBRARY BLIS_INCLUDE_DIR BLIS_HAS_RNTM_API)

if(BLIS_FOUND AND NOT TARGET BLIS::BLIS)
  add_library(BLIS::BLIS UNKNOWN IMPORTED)
  set_target_properties(BLIS::BLIS PROPERTIES
    IMPORTED_LOCATION "${BLIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${BLIS_INCLUDE_DIR}")
endif()
mark_as_advanced(BLIS_INCLUDE_DIR BLIS_LIBRARY)
