// SPDX-License-Identifier: Apache-2.0
// CUDA Graph capture of tessera work: record a sequence of cuda ops once, replay it with one
// launch (small models are otherwise bound by per-kernel launch latency).
#pragma once

#include <utility>

#include "tessera/cuda/runtime.cuh"

namespace tessera::cuda_rt {

/// A captured sequence of tessera cuda work, replayed with one cudaGraphLaunch.
///
/// `graph g([&] { ... });` runs the callable once on a private stream in capture mode: every
/// tessera op, allocation and copy it enqueues becomes a node, nothing executes. `g.replay()`
/// then runs the whole sequence on the current stream. Rules, since replays reuse the captured
/// addresses:
/// - inputs and outputs are tensors allocated before capture, read and written in place
///   (`out.copy_from(result)`, `add_(p, ...)`); refill inputs between replays the same way;
/// - temporaries created inside the callable must die inside it (their stream-ordered frees
///   are captured too), and no tensor allocated before capture may be released inside it;
/// - nothing inside may synchronise or copy between host and device (`to<host>`, `to<cuda>`
///   (refused while capturing), `all_finite`; index checks are skipped while capturing);
/// - captured GEMMs (cuBLAS, cuBLASLt) and FFTs (cuFFT) use the capturing thread's cuBLAS
///   workspace and plans: replay the graph while that thread lives, and not at the same time as
///   other cuBLAS work of that thread on another stream.
class graph {
 public:
  template <class F>
  explicit graph(F&& record) {
    stream s;
    // One-time setup that may not happen during capture (it allocates with cudaMalloc or
    // configures the pool): this thread's cuBLAS handle and workspace, the device's pool.
    (void)sm_count();
    (void)cublas_handle();
    {
      stream_guard guard(s.get());
      TESSERA_CUDA_CHECK(cudaStreamBeginCapture(s.get(), cudaStreamCaptureModeThreadLocal));
      try {
        std::forward<F>(record)();
      } catch (...) {
        cudaGraph_t broken = nullptr;
        // Fails (capture invalidated) when the callable made an illegal call: that error was
        // thrown already, this one is ignored and cleared (see clear_last_cuda_error).
        cudaStreamEndCapture(s.get(), &broken);
        if (broken != nullptr) cudaGraphDestroy(broken);
        tessera::detail::clear_last_cuda_error();
        throw;
      }
      TESSERA_CUDA_CHECK(cudaStreamEndCapture(s.get(), &graph_));
    }
    if (const cudaError_t e = cudaGraphInstantiate(&exec_, graph_, 0); e != cudaSuccess) {
      cudaGraphDestroy(graph_);  // the destructor does not run for a constructor that throws
      tessera::detail::throw_cuda_error(e, "cudaGraphInstantiate(&exec_, graph_, 0)", __FILE__,
                                        __LINE__);
    }
  }
  graph(const graph&) = delete;
  graph& operator=(const graph&) = delete;
  graph(graph&& o) noexcept
      : graph_(std::exchange(o.graph_, nullptr)), exec_(std::exchange(o.exec_, nullptr)) {}
  graph& operator=(graph&& o) noexcept {
    std::swap(graph_, o.graph_);
    std::swap(exec_, o.exec_);
    return *this;
  }
  ~graph() {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
    tessera::detail::clear_last_cuda_error();  // ignored here, so not reported by a later check
  }

  /// Enqueues one run of the captured work on the current stream. Not from two threads at once:
  /// CUDA does not synchronise an executable graph, and the replays share its buffers.
  void replay() const { TESSERA_CUDA_CHECK(cudaGraphLaunch(exec_, current_stream())); }

  /// Number of nodes captured (kernels, copies, memsets, allocations, frees).
  [[nodiscard]] std::size_t node_count() const {
    std::size_t n = 0;
    TESSERA_CUDA_CHECK(cudaGraphGetNodes(graph_, nullptr, &n));
    return n;
  }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace tessera::cuda_rt
