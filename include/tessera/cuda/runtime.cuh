// SPDX-License-Identifier: Apache-2.0
// The CUDA runtime side of tensor<T, cuda>: the current stream of each host thread, the
// stream-ordered memory pool, the cuBLAS and cuBLASLt handles, device properties and backend
// options.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/shape.hpp"
#include "tessera/cuda/config.cuh"

// The stream bookkeeping (the per-thread block cache, "the null stream is never captured")
// assumes that stream 0 is the legacy default stream, synchronising with every blocking stream.
#if defined(CUDA_API_PER_THREAD_DEFAULT_STREAM)
#error "tessera/cuda assumes the legacy default stream: build without --default-stream per-thread"
#endif

namespace tessera::detail {
[[noreturn]] inline void throw_cublas_error(cublasStatus_t e, const char* call, const char* file,
                                            int line) {
  clear_last_cuda_error();  // a runtime error behind the cuBLAS failure is reported here
  throw cuda_error(std::string("tessera: cuBLAS call failed at ") + file + ":" +
                   std::to_string(line) + ": " + call + ": " + cublasGetStatusName(e) + " (" +
                   cublasGetStatusString(e) + ")");
}
}  // namespace tessera::detail

/// Evaluates a cuBLAS call and throws tessera::cuda_error (file, line, call) on failure.
#define TESSERA_CUBLAS_CHECK(call)                                                          \
  do {                                                                                      \
    const cublasStatus_t tessera_cublas_st_ = (call);                                       \
    if (tessera_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                        \
      ::tessera::detail::throw_cublas_error(tessera_cublas_st_, #call, __FILE__, __LINE__); \
  } while (0)

/// Checks the launch just made (configuration errors surface here, not at the next sync).
/// cudaGetLastError, not cudaPeekAtLastError: the error is cleared once reported, so one failed
/// call (an allocation refused, a capture invalidated) does not fail every later launch check.
#define TESSERA_CUDA_CHECK_LAUNCH() TESSERA_CUDA_CHECK(cudaGetLastError())

namespace tessera::cuda_rt {

namespace detail {
inline cudaStream_t& current_stream_slot() noexcept {
  thread_local cudaStream_t s = nullptr;  // the legacy default stream
  return s;
}
}  // namespace detail

/// The stream on which this host thread's tessera work is enqueued: every cuda op, allocation
/// and copy goes there, in program order. Initially the legacy default stream (0).
inline cudaStream_t current_stream() noexcept { return detail::current_stream_slot(); }

/// Makes `s` this thread's current stream (see stream_guard for the scoped form).
inline void set_current_stream(cudaStream_t s) noexcept { detail::current_stream_slot() = s; }

/// RAII: `s` is this thread's current stream until the guard is destroyed.
class stream_guard {
 public:
  explicit stream_guard(cudaStream_t s) noexcept : prev_(current_stream()) {
    set_current_stream(s);
  }
  stream_guard(const stream_guard&) = delete;
  stream_guard& operator=(const stream_guard&) = delete;
  ~stream_guard() { set_current_stream(prev_); }

 private:
  cudaStream_t prev_;
};

/// An owned non-blocking stream (does not synchronise with the legacy default stream).
/// Tensors allocated while it is current are freed on it: destroy it only after them (the
/// destructor waits for the stream's work first).
class stream {
 public:
  stream() { TESSERA_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() {
    if (s_ != nullptr) {
      cudaStreamSynchronize(s_);
      cudaStreamDestroy(s_);
      tessera::detail::clear_last_cuda_error();  // ignored here, so not reported by a later check
    }
  }
  [[nodiscard]] cudaStream_t get() const noexcept { return s_; }
  /// Waits for all work enqueued on this stream.
  void synchronize() const { TESSERA_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

/// Waits until all work on this thread's current stream has finished.
inline void synchronize() { TESSERA_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

/// The current device of this host thread.
inline int current_device() {
  int d = 0;
  TESSERA_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

namespace detail {
/// Per-device facts read once: multiprocessor count, and whether the default memory pool was
/// told to keep freed memory.
struct device_info {
  int sm_count = 0;
  bool pool_configured = false;
};

inline constexpr int max_devices = 64;

inline device_info& info_of(int device) {
  static std::mutex m;
  // Fixed storage: references handed out stay valid while other threads add devices.
  static device_info infos[max_devices];
  if (device < 0 || device >= max_devices)
    throw cuda_error("tessera: device ordinal " + std::to_string(device) + " exceeds " +
                     std::to_string(max_devices));
  std::lock_guard<std::mutex> lock(m);
  device_info& di = infos[device];
  if (!di.pool_configured) {
    TESSERA_CUDA_CHECK(
        cudaDeviceGetAttribute(&di.sm_count, cudaDevAttrMultiProcessorCount, device));
    // By default a pool returns freed memory to the driver at every synchronisation, so the
    // next allocation after a sync is a real cudaMalloc. Keeping it makes a training loop
    // reach a steady state with no driver allocation at all.
    cudaMemPool_t pool = nullptr;
    TESSERA_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    std::uint64_t keep = UINT64_MAX;
    TESSERA_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    di.pool_configured = true;
  }
  return di;
}
}  // namespace detail

/// Number of multiprocessors of the current device.
inline int sm_count() {
  thread_local int device = -1, count = 0;
  const int d = current_device();
  if (d != device) {
    count = detail::info_of(d).sm_count;
    device = d;
  }
  return count;
}

/// `bytes` of device memory from the current device's default pool, stream-ordered on `s`.
inline void* allocate_bytes(std::size_t bytes, cudaStream_t s) {
  (void)sm_count();  // configures the device's pool on first use
  void* p = nullptr;
  TESSERA_CUDA_CHECK(cudaMallocAsync(&p, bytes, s));
  return p;
}

/// Frees memory from allocate_bytes on stream `s` without throwing (for deleters; errors at
/// process exit, when the runtime is already unloading, are ignored).
inline void free_bytes(void* p, cudaStream_t s) noexcept {
  if (p != nullptr && cudaFreeAsync(p, s) != cudaSuccess)
    tessera::detail::clear_last_cuda_error();  // ignored: not reported by a later launch check
}

namespace detail {
/// Per-thread cache of small device blocks (512 B … 1 MiB, power-of-two classes) freed on the
/// legacy default stream, reused by the next allocation of the same class on that stream by
/// the same thread. Saves the pool's cudaMallocAsync/cudaFreeAsync pair per op, which is most
/// of the host cost of an op on a small tensor. Stream order makes reuse safe exactly as
/// cudaFreeAsync's is: the block's next use is enqueued on the same stream after every use
/// enqueued before the free. Only the legacy default stream is cached: it is never destroyed
/// (so a cached block cannot outlive its stream) and never captured into a graph (so graph
/// capture always allocates through the pool). At most `max_bytes` per thread; released to
/// the pool when the thread exits. TESSERA_CUDA_BLOCK_CACHE_BYTES=0 turns it off.
class device_block_cache {
 public:
#if defined(TESSERA_CUDA_BLOCK_CACHE_BYTES)
  static constexpr std::size_t max_bytes = TESSERA_CUDA_BLOCK_CACHE_BYTES;
#else
  static constexpr std::size_t max_bytes = std::size_t(64) << 20;
#endif
  static constexpr std::size_t min_block = 512;
  static constexpr std::size_t max_block = std::size_t(1) << 20;
  static constexpr int classes = 12;  // 512 B · 2^c, c = 0 … 11

  /// The class of a request of `bytes`, or -1 when it is not cached.
  static int class_of(std::size_t bytes, cudaStream_t s) noexcept {
    if (max_bytes == 0 || s != nullptr || bytes > max_block) return -1;
    int c = 0;
    while ((min_block << c) < bytes) ++c;
    return c;
  }
  static constexpr std::size_t class_bytes(int c) noexcept { return min_block << c; }

  /// A cached block of class c on `device`, or null.
  static void* take(int device, int c) noexcept {
    if (dead()) return nullptr;
    std::vector<void*>& v = instance().list(device, c);
    if (v.empty()) return nullptr;
    void* p = v.back();
    v.pop_back();
    instance().bytes_ -= class_bytes(c);
    return p;
  }

  /// Keeps block p (class c, `device`) for reuse; false when the cache is full or gone.
  static bool give(int device, int c, void* p) noexcept {
    if (dead()) return false;
    device_block_cache& k = instance();
    if (k.bytes_ + class_bytes(c) > max_bytes) return false;
    try {
      k.list(device, c).push_back(p);
    } catch (...) {
      return false;
    }
    k.bytes_ += class_bytes(c);
    return true;
  }

  /// Bytes this thread's cache holds.
  static std::size_t cached_bytes() noexcept { return dead() ? 0 : instance().bytes_; }

  /// Gives this thread's cached blocks back to the pool (stream-ordered on the default stream).
  static void release() noexcept {
    if (dead()) return;
    device_block_cache& k = instance();
    for (auto& [device, lists] : k.devices_)
      for (auto& v : lists) {
        for (void* p : v) (void)cudaFreeAsync(p, nullptr);
        v.clear();
      }
    k.bytes_ = 0;
  }

  device_block_cache() = default;
  device_block_cache(const device_block_cache&) = delete;
  device_block_cache& operator=(const device_block_cache&) = delete;
  ~device_block_cache() {
    release();
    dead() = true;
  }

 private:
  static device_block_cache& instance() {
    thread_local device_block_cache c;
    return c;
  }
  /// True once this thread's cache is destroyed (a trivially destructible flag, still readable
  /// by deleters that run later during thread exit).
  static bool& dead() noexcept {
    thread_local bool d = false;
    return d;
  }
  std::vector<void*>& list(int device, int c) {
    for (auto& [d, lists] : devices_)
      if (d == device) return lists[static_cast<std::size_t>(c)];
    devices_.emplace_back(device, std::array<std::vector<void*>, classes>{});
    return devices_.back().second[static_cast<std::size_t>(c)];
  }

  std::vector<std::pair<int, std::array<std::vector<void*>, classes>>> devices_;
  std::size_t bytes_ = 0;
};
}  // namespace detail

/// A device block of at least `bytes` for stream `s` and its deleter: from this thread's small
/// block cache on the default stream (detail::device_block_cache), else from the pool.
template <class T>
std::shared_ptr<T> allocate_shared(std::size_t bytes, cudaStream_t s) {
  const int c = detail::device_block_cache::class_of(bytes, s);
  if (c < 0) {
    T* p = static_cast<T*>(allocate_bytes(bytes, s));
    return std::shared_ptr<T>(p, [s](T* q) { free_bytes(q, s); });
  }
  const int device = current_device();
  void* p = detail::device_block_cache::take(device, c);
  if (p == nullptr) p = allocate_bytes(detail::device_block_cache::class_bytes(c), s);
  return std::shared_ptr<T>(static_cast<T*>(p), [device, c](T* q) {
    if (!detail::device_block_cache::give(device, c, q)) free_bytes(q, nullptr);
  });
}

/// Bytes the current device's pool holds from the driver (used + cached) and bytes in use;
/// `used` includes the blocks this thread's small-block cache keeps (`cached`).
struct pool_usage {
  std::uint64_t reserved = 0;
  std::uint64_t used = 0;
  std::uint64_t cached = 0;
};
inline pool_usage memory_pool_usage() {
  cudaMemPool_t pool = nullptr;
  TESSERA_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, current_device()));
  pool_usage u;
  TESSERA_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &u.reserved));
  TESSERA_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &u.used));
  u.cached = detail::device_block_cache::cached_bytes();
  return u;
}

// --- options ----------------------------------------------------------------------------------

namespace detail {
inline std::atomic<bool>& tf32_flag() noexcept {
  static std::atomic<bool> f{false};
  return f;
}
inline std::atomic<bool>& bf16_flag() noexcept {
  static std::atomic<bool> f{false};
  return f;
}
inline std::atomic<bool>& index_check_flag() noexcept {
  static std::atomic<bool> f{true};
  return f;
}
}  // namespace detail

/// Lets float matmuls use TF32 tensor cores (10-bit mantissa products, FP32 accumulation),
/// as torch.backends.cuda.matmul.allow_tf32 does. Off by default. Process-wide.
inline void set_allow_tf32(bool on) noexcept { detail::tf32_flag().store(on); }
[[nodiscard]] inline bool allow_tf32() noexcept { return detail::tf32_flag().load(); }

/// Makes float matmuls round both operands to bfloat16 (8-bit mantissa) and multiply them on
/// bf16 tensor cores with FP32 accumulation and FP32 output (the products are exact; only the
/// inputs are rounded). Takes precedence over TF32. Off by default. Process-wide.
inline void set_matmul_bf16(bool on) noexcept { detail::bf16_flag().store(on); }
[[nodiscard]] inline bool matmul_bf16() noexcept { return detail::bf16_flag().load(); }

namespace detail {
inline std::atomic<bool>& gemm_lt_flag() noexcept {
  static std::atomic<bool> f{true};
  return f;
}
inline std::atomic<bool>& gemm_autotune_flag() noexcept {
  static std::atomic<bool> f{false};
  return f;
}
}  // namespace detail

/// When on (the default), float, __nv_bfloat16 and __half matmuls go through cublasLtMatmul
/// with an algorithm from cublasLtMatmulAlgoGetHeuristic (chosen once per problem and cached
/// per thread), falling back to cublasGemmEx when cuBLASLt offers none; off, every GEMM is a
/// cublasGemmEx / cublasGemmStridedBatchedEx call with CUBLAS_GEMM_DEFAULT. double always uses
/// cublasGemmEx. Process-wide.
inline void set_gemm_lt(bool on) noexcept { detail::gemm_lt_flag().store(on); }
[[nodiscard]] inline bool gemm_lt() noexcept { return detail::gemm_lt_flag().load(); }

/// When on, the first cuBLASLt GEMM of each new problem (shape, layout, type, compute type,
/// alignment, device) times the heuristic's top candidates with CUDA events and keeps the
/// fastest for the thread (one stream synchronisation and a few extra GEMMs, once per problem;
/// an output scratch is allocated when β ≠ 0). Never while the stream is being captured into a
/// CUDA graph: the heuristic's first choice runs then, and the problem is tuned by the next
/// call outside capture. Off by default: timings pick different algorithms on different runs,
/// and different algorithms round differently, so results would not repeat bit for bit from
/// run to run. Process-wide.
inline void set_gemm_autotune(bool on) noexcept { detail::gemm_autotune_flag().store(on); }
[[nodiscard]] inline bool gemm_autotune() noexcept { return detail::gemm_autotune_flag().load(); }

/// When on (the default), gather/index_select/embedding/cross_entropy check their indices and
/// throw tessera::invalid_argument for one out of range; that costs one stream synchronisation
/// per call. Off, or while the stream is being captured into a CUDA graph, an out-of-range
/// index reads as zero (never out of bounds) and nothing is reported. Process-wide.
inline void set_check_indices(bool on) noexcept { detail::index_check_flag().store(on); }
[[nodiscard]] inline bool check_indices() noexcept { return detail::index_check_flag().load(); }

/// True while `s` is being captured into a CUDA graph (no synchronisation is allowed then).
inline bool is_capturing(cudaStream_t s) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  TESSERA_CUDA_CHECK(cudaStreamIsCapturing(s, &st));
  return st != cudaStreamCaptureStatusNone;
}

// --- cuBLAS -----------------------------------------------------------------------------------

namespace detail {
/// One cuBLAS handle per host thread and device, with its own workspace, destroyed with the
/// thread; a cuBLASLt handle beside it, created on first use, shares the workspace. A user
/// workspace keeps cuBLAS from allocating during CUDA graph capture.
class cublas_handles {
 public:
  static constexpr std::size_t workspace_bytes = std::size_t(32) << 20;  // Hopper's advice

  cublas_handles() = default;
  cublas_handles(const cublas_handles&) = delete;
  cublas_handles& operator=(const cublas_handles&) = delete;
  ~cublas_handles() {
    for (entry& e : entries_) {
      if (e.lt != nullptr) cublasLtDestroy(e.lt);
      if (e.handle != nullptr) cublasDestroy(e.handle);
      if (e.workspace != nullptr) cudaFree(e.workspace);
    }
  }

  cublasHandle_t get(int device, void*& workspace) {
    entry& e = at(device);
    workspace = e.workspace;
    return e.handle;
  }

  cublasLtHandle_t get_lt(int device, void*& workspace) {
    entry& e = at(device);
    if (e.lt == nullptr) TESSERA_CUBLAS_CHECK(cublasLtCreate(&e.lt));
    workspace = e.workspace;
    return e.lt;
  }

 private:
  struct entry {
    cublasHandle_t handle = nullptr;
    cublasLtHandle_t lt = nullptr;
    void* workspace = nullptr;
  };

  entry& at(int device) {
    if (static_cast<std::size_t>(device) >= entries_.size())
      entries_.resize(static_cast<std::size_t>(device) + 1);
    entry& e = entries_[static_cast<std::size_t>(device)];
    if (e.handle == nullptr) {
      // Built in locals and kept only once complete: a failed step (out of memory) leaves no
      // handle without its workspace behind, and the next call tries again.
      cublasHandle_t h = nullptr;
      void* ws = nullptr;
      try {
        TESSERA_CUBLAS_CHECK(cublasCreate(&h));
        TESSERA_CUDA_CHECK(cudaMalloc(&ws, workspace_bytes));
        TESSERA_CUBLAS_CHECK(cublasSetWorkspace(h, ws, workspace_bytes));
      } catch (...) {
        if (ws != nullptr) cudaFree(ws);
        if (h != nullptr) cublasDestroy(h);
        tessera::detail::clear_last_cuda_error();
        throw;
      }
      e.handle = h;
      e.workspace = ws;
    }
    return e;
  }

  std::vector<entry> entries_;
};

inline cublas_handles& thread_cublas_handles() {
  thread_local cublas_handles handles;
  return handles;
}
}  // namespace detail

/// This thread's cuBLAS handle for the current device, bound to the current stream.
/// The handle's workspace is shared by all streams of the thread: work enqueued through it on
/// two streams must not overlap in time (switch streams only after synchronising them).
inline cublasHandle_t cublas_handle() {
  void* ws = nullptr;
  cublasHandle_t h = detail::thread_cublas_handles().get(current_device(), ws);
  TESSERA_CUBLAS_CHECK(cublasSetStream(h, current_stream()));
  // cublasSetStream resets the handle's workspace to cuBLAS's own pool, which allocates (also
  // during graph capture): give it this thread's workspace again.
  TESSERA_CUBLAS_CHECK(cublasSetWorkspace(h, ws, detail::cublas_handles::workspace_bytes));
  return h;
}

/// This thread's cuBLASLt handle for the current device and the workspace it shares with
/// cublas_handle() (same rule: one stream at a time; cublasLtMatmul takes the stream per call).
struct cublaslt_context {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};
inline cublaslt_context cublaslt() {
  cublaslt_context c;
  c.handle = detail::thread_cublas_handles().get_lt(current_device(), c.workspace);
  c.workspace_bytes = detail::cublas_handles::workspace_bytes;
  return c;
}

// --- launch geometry --------------------------------------------------------------------------

/// Threads per block of tessera's 1-d grid-stride kernels.
inline constexpr int block_threads = 256;

/// Blocks for a grid-stride loop over `work` items: enough to fill the device a few times
/// over, never more than the work needs (at least one).
inline unsigned grid_for(index_t work, int threads = block_threads) {
  const index_t need = (work + threads - 1) / threads;
  const index_t cap = static_cast<index_t>(sm_count()) * 32;
  const index_t g = need < cap ? need : cap;
  return static_cast<unsigned>(g > 0 ? g : 1);
}

}  // namespace tessera::cuda_rt
