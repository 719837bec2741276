// SPDX-License-Identifier: Apache-2.0
// tessera's kernel-only headers (include/tessera/cuda/detail/*_kernels.cuh) run on the CPU: each
// CUDA thread of a block is a fiber (ucontext) on the calling thread, and a block runs its
// fibers in turn, each until it reaches a barrier (__syncthreads, __syncthreads_or, or the two
// warp barriers around a shuffle's exchange) or returns. Blocks run one after the other, so a
// kernel's __shared__ variables are function statics, shared by the block's threads as on the
// device. The schedule is deterministic: a thread runs ahead of the others up to its next
// barrier, so a read of shared memory that a missing barrier should have ordered after another
// thread's write sees the old value, and a barrier that some threads skip while others wait is
// reported (std::logic_error) instead of hanging. After every switch the scheduler runs the
// first runnable thread in a priority order, so the threads first in it run as far ahead as the
// barriers allow (a warp that needs only its own barriers finishes a whole reduction, and the
// next row's, before the others read the shared sums of this one). Launches take turns among
// three priority orders (ascending, descending, shuffled), since which stale read shows depends
// on who runs ahead: a test that launches a kernel three times sees all three.
//
// Why: a machine without a GPU (CI, most sessions) still executes the kernels' own index
// arithmetic, loads and stores, barriers and reductions, and compares them with the host
// operations, bit for bit where the arithmetic is the same (the tests build without FMA
// contraction). What it does not show: speed, the device's contraction and math functions, and
// races that only a real warp schedule exposes (compute-sanitizer's racecheck on a GPU).
//
// Include this first, then the kernel headers; launch with emulate_launch(grid, block, fn),
// where fn calls the kernel like a function. Launches do not nest, and one thread launches at a
// time (the fibers' bookkeeping is this header's, not thread-safe). A thread that returns
// leaves the barriers' counts, as a GPU's exited threads do.
#pragma once

#if defined(__CUDACC__)
#error \
    "tests/cuda_emulated/emulation.hpp runs kernels on the host; compile it with the host compiler"
#endif

#define TESSERA_CUDA_EMULATION 1

#include <ucontext.h>

#include <math.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace tessera::cuda_emulation {

/// A barrier of `live` fibers: each arrival waits until the phase moves on, which the last
/// arrival (or the exit of the last fiber not yet arrived) does.
struct barrier_state {
  int live = 0, arrived = 0;
  unsigned phase = 0;
};

/// One block's fibers and barriers.
struct block_state {
  struct fiber {
    ucontext_t ctx{};
    char* stack = nullptr;
    const barrier_state* waits_on = nullptr;  ///< null: runnable
    unsigned waits_for = 0;                   ///< the phase it waits to end
    bool done = false;
    void* asan_fake = nullptr;
  };
  barrier_state block;
  std::vector<barrier_state> warps;
  std::vector<fiber> fibers;
  int or_acc = 0, or_result = 0;  ///< __syncthreads_or: this phase's, and the last phase's
  alignas(16) unsigned char slot[32][32][16];  ///< [warp][lane]: shuffle exchange (≤ 1024 threads)
  ucontext_t scheduler{};
  int current = 0;
  const void* scheduler_stack = nullptr;
  std::size_t scheduler_stack_size = 0;
};

/// What the CUDA built-in variables read.
struct thread_context {
  dim3 thread, block, block_dim, grid_dim;
  block_state* state = nullptr;
  int linear = 0;  ///< the thread's index in its block
};
inline thread_context context;

inline constexpr std::size_t fiber_stack_bytes =
#if defined(__SANITIZE_ADDRESS__)
    256 * 1024;
#else
    128 * 1024;
#endif

/// swapcontext and the setup of a fiber's context, outside the functions that loop over fibers
/// (getcontext and swapcontext return twice: GCC warns of clobbered locals around them).
[[gnu::noinline]] inline void switch_context(ucontext_t* from, const ucontext_t* to) {
  swapcontext(from, to);
}
[[gnu::noinline]] inline void make_fiber(ucontext_t* ctx, char* stack, std::size_t bytes,
                                         ucontext_t* link, void (*entry)()) {
  getcontext(ctx);
  ctx->uc_stack.ss_sp = stack;
  ctx->uc_stack.ss_size = bytes;
  ctx->uc_link = link;
  makecontext(ctx, entry, 0);
}

/// Switches from the current fiber back to the scheduler (ASan told about the stack change).
inline void yield_to_scheduler() {
  block_state& s = *context.state;
  block_state::fiber& f = s.fibers[static_cast<std::size_t>(s.current)];
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(&f.asan_fake, s.scheduler_stack, s.scheduler_stack_size);
#endif
  switch_context(&f.ctx, &s.scheduler);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(f.asan_fake, nullptr, nullptr);
#endif
}

/// Ends b's phase: every fiber waiting on it may run again.
inline void complete(barrier_state& b, block_state& s, bool is_block) {
  b.arrived = 0;
  ++b.phase;
  if (is_block) {
    s.or_result = s.or_acc;
    s.or_acc = 0;
  }
}

/// The calling fiber arrives at b and waits for its phase to end.
inline void arrive_and_wait(barrier_state& b, bool is_block) {
  block_state& s = *context.state;
  if (++b.arrived == b.live) {
    complete(b, s, is_block);
    return;
  }
  block_state::fiber& f = s.fibers[static_cast<std::size_t>(s.current)];
  f.waits_on = &b;
  f.waits_for = b.phase;
  yield_to_scheduler();
}

inline void syncthreads() { arrive_and_wait(context.state->block, true); }

inline int syncthreads_or(int p) {
  block_state& s = *context.state;
  if (p != 0) s.or_acc = 1;
  arrive_and_wait(s.block, true);
  return s.or_result;
}

/// __shfl_down_sync over the whole warp: lane l gets lane l + off's value, or its own when
/// that lane is outside the warp.
template <class T>
T shfl_down(unsigned /*mask*/, T v, unsigned off) {
  static_assert(sizeof(T) <= 16 && std::is_trivially_copyable_v<T>);
  block_state& s = *context.state;
  const int w = context.linear / 32, lane = context.linear % 32;
  barrier_state& b = s.warps[static_cast<std::size_t>(w)];
  std::memcpy(s.slot[w][lane], &v, sizeof(T));
  arrive_and_wait(b, false);
  T r = v;
  if (lane + static_cast<int>(off) < b.live) std::memcpy(&r, s.slot[w][lane + off], sizeof(T));
  arrive_and_wait(b, false);  // the slots are rewritten by the next shuffle
  return r;
}

namespace launch_detail {
/// The launch in progress: its kernel call and first error.
struct launch {
  std::function<void()> fn;
  std::exception_ptr error;
  std::vector<unsigned char> dynamic_shared;  ///< the launch's dynamic shared memory (+16)
};
inline launch* current = nullptr;
/// Launches so far: launch i gives its threads priority order i % 3 (0 ascending, 1
/// descending, 2 shuffled).
inline unsigned long launches = 0;

/// Stacks for `threads` fibers, kept for later launches (allocating them per launch costs
/// ASan builds minutes).
inline char* stacks(int threads) {
  static std::unique_ptr<char[]> pool;
  static int have = 0;
  if (threads > have) {
    pool.reset(new char[static_cast<std::size_t>(threads) * fiber_stack_bytes]);
    have = threads;
  }
  return pool.get();
}

/// A fiber's body: the kernel, then leaving the block's and its warp's barriers.
inline void fiber_main() {
  block_state& s = *context.state;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(nullptr, &s.scheduler_stack, &s.scheduler_stack_size);
#endif
  try {
    current->fn();
  } catch (...) {
    if (!current->error) current->error = std::current_exception();
  }
  for (barrier_state* b : {&s.block, &s.warps[static_cast<std::size_t>(context.linear / 32)]}) {
    --b->live;
    if (b->live > 0 && b->arrived == b->live) complete(*b, s, b == &s.block);
  }
  s.fibers[static_cast<std::size_t>(s.current)].done = true;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(nullptr, s.scheduler_stack, s.scheduler_stack_size);
#endif
  // returns to the scheduler through uc_link
}
}  // namespace launch_detail

/// The block's dynamic shared memory (TESSERA_DYNAMIC_SHARED_BYTES), 16-byte aligned.
inline unsigned char* dynamic_shared() {
  std::vector<unsigned char>& v = launch_detail::current->dynamic_shared;
  const auto p = reinterpret_cast<std::uintptr_t>(v.data());
  return v.data() + (16 - p % 16) % 16;
}

/// Runs fn() as a kernel of `grid` blocks of `block` threads with `dynamic_shared_bytes` of
/// dynamic shared memory, the blocks in order. Each block's dynamic shared memory starts as
/// 0xff bytes (NaN as float or double), so that a value read before any thread wrote it shows.
/// An exception thrown by the kernel is rethrown here after the block; threads of a block that
/// wait at different barriers throw std::logic_error.
template <class Fn>
void emulate_launch(dim3 grid, dim3 block, Fn fn, std::size_t dynamic_shared_bytes = 0) {
  const int nt = static_cast<int>(block.x * block.y * block.z);
  const auto dims = [&] {
    return "grid " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" +
           std::to_string(grid.z) + ", block of " + std::to_string(nt) + " threads";
  };
  if (nt < 1 || nt > 1024 || grid.x * grid.y * grid.z == 0)
    throw std::invalid_argument("emulate_launch: " + dims());
  if (launch_detail::current != nullptr)
    throw std::logic_error("emulate_launch: launches do not nest");
  launch_detail::launch l{std::function<void()>(fn), nullptr, {}};
  launch_detail::current = &l;
  struct reset {
    ~reset() { launch_detail::current = nullptr; }
  } reset_current;
  const unsigned long order = launch_detail::launches++ % 3;
  std::vector<int> seq(static_cast<std::size_t>(nt));
  unsigned long long rng = 0x9e3779b97f4a7c15ull * (launch_detail::launches + 1);
  char* const stacks = launch_detail::stacks(nt);
  auto s = std::make_unique<block_state>();
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        s->block = barrier_state{nt, 0, 0};
        s->warps.assign(static_cast<std::size_t>((nt + 31) / 32), barrier_state{});
        for (int w = 0; w * 32 < nt; ++w)
          s->warps[static_cast<std::size_t>(w)].live = std::min(32, nt - 32 * w);
        s->or_acc = s->or_result = 0;
        l.dynamic_shared.assign(dynamic_shared_bytes + 16, 0xff);
        s->fibers.assign(static_cast<std::size_t>(nt), block_state::fiber{});
        for (int t = 0; t < nt; ++t) {
          block_state::fiber& f = s->fibers[static_cast<std::size_t>(t)];
          f.stack = stacks + static_cast<std::size_t>(t) * fiber_stack_bytes;
          make_fiber(&f.ctx, f.stack, fiber_stack_bytes, &s->scheduler, &launch_detail::fiber_main);
        }
        // Priority order: after every switch the first runnable thread of `seq` runs, so
        // the threads early in it run as far ahead as the barriers let them.
        for (int i = 0; i < nt; ++i) seq[static_cast<std::size_t>(i)] = order == 1 ? nt - 1 - i : i;
        if (order == 2)
          for (int i = nt - 1; i > 0; --i) {  // Fisher–Yates with a 64-bit LCG
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            std::swap(seq[static_cast<std::size_t>(i)],
                      seq[static_cast<std::size_t>((rng >> 33) % static_cast<unsigned>(i + 1))]);
          }
        for (int left = nt; left > 0;) {
          block_state::fiber* next = nullptr;
          int t = 0;
          for (const int c : seq) {
            block_state::fiber& f = s->fibers[static_cast<std::size_t>(c)];
            if (f.done || (f.waits_on != nullptr && f.waits_on->phase == f.waits_for)) continue;
            next = &f;
            t = c;
            break;
          }
          if (next == nullptr)
            throw std::logic_error("emulate_launch: in block (" + std::to_string(bx) + ", " +
                                   std::to_string(by) + ", " + std::to_string(bz) + ") of " +
                                   dims() + ", " + std::to_string(left) +
                                   " threads wait at barriers the others never reach");
          next->waits_on = nullptr;
          const unsigned u = static_cast<unsigned>(t);
          context =
              thread_context{dim3(u % block.x, u / block.x % block.y, u / (block.x * block.y)),
                             dim3(bx, by, bz),
                             block,
                             grid,
                             s.get(),
                             t};
          s->current = t;
#if defined(__SANITIZE_ADDRESS__)
          void* fake = nullptr;
          __sanitizer_start_switch_fiber(&fake, next->stack, fiber_stack_bytes);
#endif
          switch_context(&s->scheduler, &next->ctx);
#if defined(__SANITIZE_ADDRESS__)
          __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
          if (next->done) --left;
        }
        if (l.error) std::rethrow_exception(l.error);
      }
}

/// Atomics: the fibers of a launch share one host thread and switch only at barriers, so a
/// read-modify-write is atomic as it stands.
template <class T>
T atomic_exch(T* p, T v) {
  const T old = *p;
  *p = v;
  return old;
}
template <class T>
T atomic_min(T* p, T v) {
  const T old = *p;
  if (v < old) *p = v;
  return old;
}

}  // namespace tessera::cuda_emulation

// The CUDA names the kernel headers use.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define TESSERA_KERNEL inline
#define threadIdx (::tessera::cuda_emulation::context.thread)
#define blockIdx (::tessera::cuda_emulation::context.block)
#define blockDim (::tessera::cuda_emulation::context.block_dim)
#define gridDim (::tessera::cuda_emulation::context.grid_dim)
#define __syncthreads() ::tessera::cuda_emulation::syncthreads()
#define __syncthreads_or(p) ::tessera::cuda_emulation::syncthreads_or(p)
#define __shfl_down_sync(mask, v, off) ::tessera::cuda_emulation::shfl_down(mask, v, off)
#define atomicExch(p, v) ::tessera::cuda_emulation::atomic_exch(p, v)
#define atomicMin(p, v) ::tessera::cuda_emulation::atomic_min(p, v)
// The special-function-unit intrinsics as the host's float functions (the device's are
// approximations: tests compare their results to a tolerance, not bit for bit).
#define __expf(x) ::expf(x)
#define __logf(x) ::logf(x)
#define TESSERA_DYNAMIC_SHARED_BYTES(name) \
  unsigned char* const name = ::tessera::cuda_emulation::dynamic_shared()
