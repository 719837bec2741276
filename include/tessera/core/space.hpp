// SPDX-License-Identifier: Apache-2.0
// Memory-space tags and the host allocator behind tensor storage.
#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

#include "tessera/core/shape.hpp"

namespace tessera {

/// Tag for host (CPU) memory.
struct host {
  static constexpr const char* name = "host";
};

/// Tag for CUDA device memory; tensors in this space need <tessera/cuda.hpp> under nvcc.
struct cuda {
  static constexpr const char* name = "cuda";
};

/// Scalars on which tessera computes (float and double).
template <class T>
concept floating_point_scalar = std::same_as<T, float> || std::same_as<T, double>;

/// A memory space tag.
template <class S>
concept memory_space = std::same_as<S, host> || std::same_as<S, cuda>;

/// How a memory space allocates storage; specialised for cuda in <tessera/cuda.hpp>.
template <class Space>
struct space_traits;

template <>
struct space_traits<host> {
  /// Allocation at least this large is 64-byte aligned; smaller goes into one block with its
  /// control block, which is what makes tiny tensors cheap.
  static constexpr std::size_t aligned_threshold_bytes = 512;

  /// Uninitialised storage for n elements, shared-owned.
  template <class T>
  static std::shared_ptr<T> allocate(index_t n) {
    static_assert(std::is_trivially_copyable_v<T>, "tensor elements must be trivially copyable");
    const std::size_t count = n > 0 ? static_cast<std::size_t>(n) : 1;
    if (count * sizeof(T) < aligned_threshold_bytes) {
      std::shared_ptr<T[]> a = std::make_shared_for_overwrite<T[]>(count);
      return std::shared_ptr<T>(a, a.get());
    }
    void* p = ::operator new(count * sizeof(T), std::align_val_t{64});
    return std::shared_ptr<T>(static_cast<T*>(p), [](T* q) {
      ::operator delete(static_cast<void*>(q), std::align_val_t{64});
    });
  }
};

}  // namespace tessera
