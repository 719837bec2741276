// SPDX-License-Identifier: Apache-2.0
// Memory-space tags and the host allocator behind tensor storage.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
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

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TESSERA_DETAIL_HAS_ASAN 1
#endif
#endif
#ifndef TESSERA_DETAIL_HAS_ASAN
#define TESSERA_DETAIL_HAS_ASAN 0
#endif

namespace detail {

/// Per-thread cache of large host blocks (at least 64 KiB), so that a training loop that
/// allocates the same activation and gradient buffers every step reuses them instead of
/// asking the OS for fresh pages (and faulting and zeroing them) every time.
///
/// Sizes are rounded up to classes with four steps per power of two (at most 25 % slack).
/// A freed block goes to the cache of the thread that frees it; a block of the requested
/// class is reused by the thread that allocates.
///
/// How much a thread keeps adapts to what it uses: at most its own peak of live large blocks
/// (what it has already held at once; a block counts against the thread that allocated it until
/// it is freed, by whichever thread), at least 256 MiB, and never more than
/// TESSERA_HOST_CACHE_BYTES (default 4 GiB; 0 turns the cache off), in at most 256 blocks,
/// none larger than a quarter of that bound; the oldest blocks go back to the system first.
/// A block nobody reused for TESSERA_HOST_CACHE_DECAY_MS milliseconds (default 10,000) goes
/// back at the thread's next large allocation or free. The cache of a thread is released
/// when the thread exits, by release() (tessera::release_host_cache()), and it is off under
/// AddressSanitizer.
class host_block_cache {
 public:
#if defined(TESSERA_HOST_CACHE_BYTES)
  static constexpr std::size_t max_bytes = TESSERA_HOST_CACHE_BYTES;
#elif defined(__SANITIZE_ADDRESS__) || TESSERA_DETAIL_HAS_ASAN
  static constexpr std::size_t max_bytes = 0;  // let ASan see every use after free
#else
  static constexpr std::size_t max_bytes = std::size_t(4) << 30;
#endif
#if defined(TESSERA_HOST_CACHE_DECAY_MS)
  static constexpr std::int64_t default_decay_ms = TESSERA_HOST_CACHE_DECAY_MS;
#else
  static constexpr std::int64_t default_decay_ms = 10000;
#endif
  /// The bound a thread's cache may always use, whatever its peak (if max_bytes allows).
  static constexpr std::size_t floor_bytes = std::size_t(256) << 20;
  static constexpr std::size_t min_block = std::size_t(64) << 10;
  static constexpr std::size_t max_block = max_bytes / 4;
  static constexpr std::size_t max_blocks = 256;
  static constexpr std::align_val_t alignment{64};

  /// The size class of a request of `bytes` (≥ min_block).
  static constexpr std::size_t size_class(std::size_t bytes) noexcept {
    std::size_t top = min_block;
    while (top * 2 <= bytes) top *= 2;
    const std::size_t step = top / 4;
    return (bytes + step - 1) / step * step;
  }

  static bool cacheable(std::size_t bytes) noexcept {
    return max_bytes > 0 && bytes >= min_block && bytes <= max_block;
  }

  /// The live bytes of one thread's large blocks: shared by the thread and by the deleters of
  /// its blocks, so that a block freed on another thread still leaves its count (an allocating
  /// thread whose blocks another thread frees would otherwise see its peak, and its cache's
  /// bound, climb with every block it hands over).
  using account = std::shared_ptr<std::atomic<std::size_t>>;

  /// This thread's account (null once the thread's cache is gone).
  static account own_account() { return dead() ? account() : instance().live_; }

  /// A block of exactly `bytes` (a size class): from this thread's cache or new, counted in
  /// this thread's account.
  static void* allocate(std::size_t bytes) {
    if (dead()) return ::operator new(bytes, alignment);
    auto& c = instance();
    c.sweep(clock::now());
    void* p = nullptr;
    for (std::size_t i = c.count_; i-- > 0;) {
      if (c.blocks_[i].bytes == bytes) {
        p = c.blocks_[i].ptr;
        c.remove(i);
        break;
      }
    }
    if (p == nullptr) {
      try {
        p = ::operator new(bytes, alignment);
      } catch (const std::bad_alloc&) {
        release();  // the cached blocks may be what stands in the way
        p = ::operator new(bytes, alignment);
      }
    }
    const std::size_t live = c.live_->fetch_add(bytes) + bytes;  // counted once it is there
    if (live > c.peak_) c.peak_ = live;
    return p;
  }

  /// Returns a block of `bytes` (as allocated) to this thread's cache, or to the system, and
  /// takes it off `owner`, the account of the thread that allocated it (null: none).
  static void deallocate(void* p, std::size_t bytes, const account& owner) noexcept {
    if (owner) owner->fetch_sub(bytes);
    if (dead()) {
      ::operator delete(p, alignment);
      return;
    }
    auto& c = instance();
    const clock::time_point now = clock::now();
    c.sweep(now);
    const std::size_t bound = limit();
    if (bytes > bound) {
      ::operator delete(p, alignment);
      return;
    }
    while (c.count_ > 0 && (c.count_ == max_blocks || c.bytes_ + bytes > bound)) {
      ::operator delete(c.blocks_[0].ptr, alignment);
      c.remove(0);
    }
    c.blocks_[c.count_++] = {p, bytes, now};
    c.bytes_ += bytes;
  }

  /// Bytes this thread's cache holds now.
  static std::size_t cached_bytes() noexcept { return dead() ? 0 : instance().bytes_; }

  /// What this thread's cache may hold now: its peak of live large blocks, at least
  /// floor_bytes, at most max_bytes.
  static std::size_t limit() noexcept {
    if (dead()) return 0;
    const std::size_t peak = instance().peak_;
    const std::size_t lo = floor_bytes < max_bytes ? floor_bytes : max_bytes;
    return peak < lo ? lo : (peak > max_bytes ? max_bytes : peak);
  }

  /// Sets how long this thread keeps a block nobody reuses (default default_decay_ms).
  static void set_decay(std::chrono::milliseconds d) noexcept {
    if (!dead()) instance().decay_ = d;
  }

  /// Gives every cached block of this thread back to the system and forgets its peak.
  static void release() noexcept {
    if (dead()) return;
    auto& c = instance();
    while (c.count_ > 0) {
      ::operator delete(c.blocks_[c.count_ - 1].ptr, alignment);
      c.remove(c.count_ - 1);
    }
    c.peak_ = c.live_->load();
  }

  host_block_cache(const host_block_cache&) = delete;
  host_block_cache& operator=(const host_block_cache&) = delete;
  ~host_block_cache() {
    release_all();
    dead() = true;
  }

 private:
  using clock = std::chrono::steady_clock;
  struct block {
    void* ptr;
    std::size_t bytes;
    clock::time_point freed;
  };
  host_block_cache() = default;

  static host_block_cache& instance() noexcept {
    thread_local host_block_cache c;
    return c;
  }
  /// Set when this thread's cache has been destroyed (thread exit): later frees bypass it.
  static bool& dead() noexcept {
    thread_local bool d = false;
    return d;
  }
  void remove(std::size_t i) noexcept {
    bytes_ -= blocks_[i].bytes;
    for (std::size_t j = i + 1; j < count_; ++j) blocks_[j - 1] = blocks_[j];
    --count_;
  }
  /// Returns the blocks idle for longer than the decay time (the oldest are first), looking
  /// at most once per tenth of that time.
  void sweep(clock::time_point now) noexcept {
    if (now - last_sweep_ < decay_ / 10) return;
    last_sweep_ = now;
    std::size_t n = 0;
    while (n < count_ && now - blocks_[n].freed > decay_) ++n;
    if (n == 0) return;
    for (std::size_t i = 0; i < n; ++i) {
      ::operator delete(blocks_[i].ptr, alignment);
      bytes_ -= blocks_[i].bytes;
    }
    for (std::size_t j = n; j < count_; ++j) blocks_[j - n] = blocks_[j];
    count_ -= n;
  }
  void release_all() noexcept {
    for (std::size_t i = 0; i < count_; ++i) ::operator delete(blocks_[i].ptr, alignment);
    count_ = 0;
    bytes_ = 0;
  }

  block blocks_[max_blocks];
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  // Bytes of large blocks this thread allocated that nobody has freed yet.
  account live_ = std::make_shared<std::atomic<std::size_t>>(0);
  std::size_t peak_ = 0;  // the most live_ has been at an allocation since start or release()
  std::chrono::milliseconds decay_{default_decay_ms};
  clock::time_point last_sweep_{};
};

}  // namespace detail

/// Gives the large host blocks the calling thread keeps for reuse back to the system, and
/// lets its cache start small again (see detail::host_block_cache).
inline void release_host_cache() noexcept { detail::host_block_cache::release(); }

/// Bytes of freed large host blocks the calling thread keeps for reuse.
[[nodiscard]] inline std::size_t host_cache_bytes() noexcept {
  return detail::host_block_cache::cached_bytes();
}

template <>
struct space_traits<host> {
  /// Below this size the data shares one allocation with its shared_ptr control block, which
  /// is what makes tiny tensors cheap; it still starts on a 64-byte boundary so that
  /// vectorised kernels never run a scalar prologue.
  static constexpr std::size_t small_bytes = 512;

  /// Uninitialised, 64-byte aligned storage for n elements, shared-owned. Blocks of 64 KiB and
  /// more come from and return to the calling thread's detail::host_block_cache.
  template <class T>
  static std::shared_ptr<T> allocate(index_t n) {
    static_assert(std::is_trivially_copyable_v<T>, "tensor elements must be trivially copyable");
    const std::size_t count = n > 0 ? static_cast<std::size_t>(n) : 1;
    const std::size_t bytes = count * sizeof(T);
    if (bytes < small_bytes) {
      constexpr std::size_t pad = (64 + sizeof(T) - 1) / sizeof(T);
      std::shared_ptr<T[]> a = std::make_shared_for_overwrite<T[]>(count + pad);
      void* p = a.get();
      std::size_t space = (count + pad) * sizeof(T);
      p = std::align(64, bytes, p, space);
      return std::shared_ptr<T>(a, static_cast<T*>(p));
    }
    if (detail::host_block_cache::cacheable(bytes)) {
      const std::size_t b = detail::host_block_cache::size_class(bytes);
      void* p = detail::host_block_cache::allocate(b);
      // (When the control block cannot be allocated, shared_ptr calls the deleter: the block
      // goes back and leaves the account.)
      return std::shared_ptr<T>(static_cast<T*>(p),
                                [b, owner = detail::host_block_cache::own_account()](T* q) {
                                  detail::host_block_cache::deallocate(q, b, owner);
                                });
    }
    void* p = ::operator new(bytes, std::align_val_t{64});
    return std::shared_ptr<T>(static_cast<T*>(p), [](T* q) {
      ::operator delete(static_cast<void*>(q), std::align_val_t{64});
    });
  }
};

}  // namespace tessera
