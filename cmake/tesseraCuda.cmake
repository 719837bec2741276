# SPDX-License-Identifier: Apache-2.0
# Decides whether the CUDA backend is built (TESSERA_WITH_CUDA = AUTO | ON | OFF) and, if so,
# enables the CUDA language and finds the toolkit. Sets TESSERA_CUDA_ENABLED.
# Building CUDA code needs nvcc only; running it needs a GPU (tests skip without one).

set(TESSERA_CUDA_ENABLED OFF)
string(TOUPPER "${TESSERA_WITH_CUDA}" _tessera_cuda_mode)

if(_tessera_cuda_mode STREQUAL "AUTO" OR _tessera_cuda_mode STREQUAL "ON")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Hopper (H100/H200) by default; override with -DCMAKE_CUDA_ARCHITECTURES=...
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(TESSERA_CUDA_ENABLED ON)
  elseif(_tessera_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_WITH_CUDA=ON but no CUDA compiler (nvcc) was found. "
                        "Put nvcc on PATH or set CMAKE_CUDA_COMPILER.")
  else()
    message(STATUS "tessera: nvcc not found, CUDA backend off")
  endif()
elseif(NOT _tessera_cuda_mode STREQUAL "OFF")
  message(FATAL_ERROR "TESSERA_WITH_CUDA must be AUTO, ON or OFF (got '${TESSERA_WITH_CUDA}')")
endif()
