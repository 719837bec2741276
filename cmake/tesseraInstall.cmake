# SPDX-License-Identifier: Apache-2.0
# Install rules: headers, exported targets (namespace tessera::), and the package config so
# that `find_package(tessera CONFIG)` works from an install prefix.
include(CMakePackageConfigHelpers)

set(TESSERA_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/tessera"
    CACHE STRING "Where tesseraConfig.cmake is installed, relative to the prefix")

if(IS_DIRECTORY "${PROJECT_SOURCE_DIR}/include/tessera")
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/tessera"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
          FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh" PATTERN "*.h")
endif()

install(TARGETS tessera EXPORT tesseraTargets)
if(TARGET tessera_blis)  # the BLIS call, compiled (cmake/tesseraGemm.cmake)
  install(TARGETS tessera_blis EXPORT tesseraTargets ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
endif()
install(EXPORT tesseraTargets NAMESPACE tessera:: DESTINATION "${TESSERA_INSTALL_CMAKEDIR}")

# tessera::cuda lives in its own export set: the config loads it only for consumers that use
# CUDA, so a host-only consumer never needs the CUDA toolkit.
if(TESSERA_CUDA_ENABLED)
  install(TARGETS tessera_cuda EXPORT tesseraCudaTargets)
  install(EXPORT tesseraCudaTargets NAMESPACE tessera::
          DESTINATION "${TESSERA_INSTALL_CMAKEDIR}")
endif()

# tessera::fftw in its own export set too: only consumers that ask for the `fftw` component
# need FFTW.
if(TESSERA_FFTW_ENABLED)
  install(TARGETS tessera_fftw EXPORT tesseraFftwTargets)
  install(EXPORT tesseraFftwTargets NAMESPACE tessera::
          DESTINATION "${TESSERA_INSTALL_CMAKEDIR}")
endif()

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/tesseraConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/tesseraConfig.cmake"
  INSTALL_DESTINATION "${TESSERA_INSTALL_CMAKEDIR}")
# 0.x: a minor bump may break the API, so only the same minor version is compatible.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/tesseraConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion
  ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/tesseraConfig.cmake"
              "${PROJECT_BINARY_DIR}/tesseraConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/FindBLIS.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/FindFFTW3.cmake"
        DESTINATION "${TESSERA_INSTALL_CMAKEDIR}")
# The licence text goes with every installed copy (Apache-2.0, section 4).
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/tessera")
