# SPDX-License-Identifier: Apache-2.0
# CTest `consumer_find_package` (run with cmake -P): installs the tessera build tree into
# <build>/consumer-prefix, then configures, builds and runs tests/consumer against it with
# CMAKE_PREFIX_PATH=<prefix>.
# Inputs: TESSERA_BINARY_DIR TESSERA_SOURCE_DIR CONSUMER_GENERATOR CONSUMER_CXX_COMPILER
#         CONSUMER_BUILD_TYPE (may be empty) CONSUMER_CUDA_COMPILER (empty: no CUDA consumer)
#         CONSUMER_CUDA_HOST_COMPILER (may be empty)
cmake_minimum_required(VERSION 3.25)

set(prefix "${TESSERA_BINARY_DIR}/consumer-prefix")
set(build "${TESSERA_BINARY_DIR}/consumer-build")
file(REMOVE_RECURSE "${prefix}" "${build}")  # no stale headers or cache from a previous run

function(run)
  execute_process(COMMAND ${ARGN} COMMAND_ECHO STDOUT RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer_find_package: command failed (${rc})")
  endif()
endfunction()

set(config_args "")
if(CONSUMER_BUILD_TYPE)
  set(config_args --config "${CONSUMER_BUILD_TYPE}")
endif()
run("${CMAKE_COMMAND}" --install "${TESSERA_BINARY_DIR}" --prefix "${prefix}" ${config_args})

# A tessera built with its CUDA backend installs tessera::cuda: the consumer also builds a .cu
# file against it (and runs it, which only reports "no CUDA device" on a machine without one).
set(cuda_args -DCONSUMER_CUDA=OFF)
if(CONSUMER_CUDA_COMPILER)
  set(cuda_args -DCONSUMER_CUDA=ON "-DCMAKE_CUDA_COMPILER=${CONSUMER_CUDA_COMPILER}")
  if(CONSUMER_CUDA_HOST_COMPILER)  # the host compiler tessera's own build gave nvcc
    list(APPEND cuda_args "-DCMAKE_CUDA_HOST_COMPILER=${CONSUMER_CUDA_HOST_COMPILER}")
  endif()
endif()
run("${CMAKE_COMMAND}" -S "${TESSERA_SOURCE_DIR}/tests/consumer" -B "${build}"
    -G "${CONSUMER_GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}" ${cuda_args}
    "-DCMAKE_BUILD_TYPE=${CONSUMER_BUILD_TYPE}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)

# The package must come from the prefix, not from a system copy or the source tree.
file(STRINGS "${build}/CMakeCache.txt" found_dir REGEX "^tessera_DIR:")
string(FIND "${found_dir}" "${prefix}/" at)
if(at EQUAL -1)
  message(FATAL_ERROR "consumer_find_package: tessera found outside ${prefix}: ${found_dir}")
endif()

run("${CMAKE_COMMAND}" --build "${build}" ${config_args})
run("${build}/consumer")
# A tessera built with tessera::fftw installs the `fftw` component: the consumer must find it.
if(CONSUMER_EXPECT_FFTW)
  if(NOT EXISTS "${build}/consumer_fftw")
    message(FATAL_ERROR "consumer_find_package: the fftw component was not found")
  endif()
  run("${build}/consumer_fftw")
endif()
if(CONSUMER_CUDA_COMPILER)
  run("${build}/consumer_cuda")
endif()
# An optional `cuda` component on a machine without the CUDA toolkit costs tessera::cuda only,
# never the package (find_dependency used to fail the whole find_package).
set(probe "${TESSERA_BINARY_DIR}/consumer-optional-cuda")
file(REMOVE_RECURSE "${probe}")
file(WRITE "${probe}/src/CMakeLists.txt"
     "cmake_minimum_required(VERSION 3.25)\nproject(probe CXX)\n"
     "find_package(tessera CONFIG REQUIRED OPTIONAL_COMPONENTS cuda)\n"
     "if(NOT TARGET tessera::tessera OR tessera_cuda_FOUND)\n"
     "  message(FATAL_ERROR \"tessera::tessera missing, or cuda found without the toolkit\")\n"
     "endif()\n")
run("${CMAKE_COMMAND}" -S "${probe}/src" -B "${probe}/build" -G "${CONSUMER_GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}" "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON)
message(STATUS "consumer_find_package: installed tessera found, built and ran")
