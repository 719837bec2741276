// SPDX-License-Identifier: Apache-2.0
// CUDA-side configuration: the nvcc guard, error checking that throws tessera::cuda_error with
// file, line and the failed call, and the versioned namespace kernels live in.
#pragma once

#if !defined(__CUDACC__)
#error "tessera/cuda/*.cuh must be compiled by nvcc: include <tessera/cuda.hpp> from a .cu file"
#endif

#include <cuda_runtime.h>

#include <string>

#include "tessera/config.hpp"
#include "tessera/core/error.hpp"
#include "tessera/cuda/detail/kernel_namespace.hpp"

/// Declares a kernel: __global__ with hidden visibility, so a kernel template instantiated in
/// two shared libraries never resolves to the other library's copy (CUB's
/// CUB_DETAIL_KERNEL_ATTRIBUTES).
#define TESSERA_KERNEL __global__ __attribute__((visibility("hidden")))

namespace tessera::detail {
/// Clears this thread's last-error slot of the CUDA runtime. Every failed runtime call leaves
/// its error there, and cudaPeekAtLastError keeps reporting it; once the error has been
/// reported (thrown) or deliberately ignored it must be cleared, or the next launch check would
/// report it again (a sticky error, e.g. a kernel fault, stays in the context regardless).
inline void clear_last_cuda_error() noexcept { (void)cudaGetLastError(); }

[[noreturn]] inline void throw_cuda_error(cudaError_t e, const char* call, const char* file,
                                          int line) {
  clear_last_cuda_error();  // reported by this exception, once
  throw cuda_error(std::string("tessera: CUDA call failed at ") + file + ":" +
                   std::to_string(line) + ": " + call + ": " + cudaGetErrorName(e) + " (" +
                   cudaGetErrorString(e) + ")");
}
}  // namespace tessera::detail

/// Evaluates a CUDA runtime call and throws tessera::cuda_error (file, line, call) on failure.
#define TESSERA_CUDA_CHECK(call)                                                         \
  do {                                                                                   \
    const cudaError_t tessera_cuda_err_ = (call);                                        \
    if (tessera_cuda_err_ != cudaSuccess)                                                \
      ::tessera::detail::throw_cuda_error(tessera_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

namespace tessera::cuda_rt {

/// True when at least one CUDA device is usable.
inline bool device_available() noexcept {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

/// RAII device buffer from the stream-ordered allocator (cudaMallocAsync pools).
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  device_buffer(std::size_t n, cudaStream_t s) : n_(n), stream_(s) {
    if (n_ > 0)
      TESSERA_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&p_), n_ * sizeof(T), s));
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  device_buffer(device_buffer&& o) noexcept : p_(o.p_), n_(o.n_), stream_(o.stream_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  device_buffer& operator=(device_buffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(stream_, o.stream_);
    return *this;
  }
  ~device_buffer() {
    if (p_ && cudaFreeAsync(p_, stream_) != cudaSuccess)
      tessera::detail::clear_last_cuda_error();  // ignored: not reported by a later launch check
  }
  [[nodiscard]] T* get() const noexcept { return p_; }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
  cudaStream_t stream_ = nullptr;
};

}  // namespace tessera::cuda_rt
