# SPDX-License-Identifier: Apache-2.0
# Finds FFTW 3 (https://www.fftw.org) for tessera's optional host FFT engine: the header
# fftw3.h and its double and float libraries (both are needed: tessera's transforms are
# templates over float and double).
#   FFTW3_FOUND, FFTW3_INCLUDE_DIR, FFTW3_LIBRARY, FFTW3F_LIBRARY,
#   imported targets FFTW3::fftw3 and FFTW3::fftw3f.
# Debian: libfftw3-dev. FFTW is GPL-2.0-or-later.
include(FindPackageHandleStandardArgs)

find_path(FFTW3_INCLUDE_DIR NAMES fftw3.h)
find_library(FFTW3_LIBRARY NAMES fftw3)
find_library(FFTW3F_LIBRARY NAMES fftw3f)

find_package_handle_standard_args(FFTW3 REQUIRED_VARS FFTW3_LIBRARY FFTW3F_LIBRARY FFTW3_INCLUDE_DIR)

if(FFTW3_FOUND)
  foreach(lib IN ITEMS fftw3 fftw3f)
    string(TOUPPER "${lib}" var)
    if(NOT TARGET FFTW3::${lib})
      add_library(FFTW3::${lib} UNKNOWN IMPORTED)
      set_target_properties(FFTW3::${lib} PROPERTIES
        IMPORTED_LOCATION "${${var}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${FFTW3_INCLUDE_DIR}")
    endif()
  endforeach()
endif()
mark_as_advanced(FFTW3_INCLUDE_DIR FFTW3_LIBRARY FFTW3F_LIBRARY)
