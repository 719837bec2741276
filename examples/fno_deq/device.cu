// SPDX-License-Identifier: Apache-2.0
// fno_deq --device cuda: model.hpp (the models, training step and loop, evaluation, step timing,
// DEQ residual) instantiated for tessera::cuda, with CUDA events for the step's phases. The
// code that runs here is the code the host path runs (main.cpp), so the host run is its test.
#include <cuda_runtime.h>

#include <cstdio>
#include <exception>
#include <vector>

#include "tessera/cuda/spectral.cuh"
// after the CUDA backend, so that model.hpp's templates see its tensor<T, cuda> operations
#include "device.hpp"

namespace fno_deq {

/// space_ops for the device: the current stream's synchronisation, and CUDA events on it.
template <>
struct space_ops<tessera::cuda> {
  static void sync() { tessera::cuda_rt::synchronize(); }
  class marks {
   public:
    explicit marks(int n) : e_(static_cast<std::size_t>(n), nullptr) {
      try {
        for (auto& e : e_) TESSERA_CUDA_CHECK(cudaEventCreate(&e));
      } catch (...) {
        release();
        throw;
      }
    }
    marks(const marks&) = delete;
    marks& operator=(const marks&) = delete;
    ~marks() { release(); }
    void record(int i) {
      TESSERA_CUDA_CHECK(
          cudaEventRecord(e_[static_cast<std::size_t>(i)], tessera::cuda_rt::current_stream()));
    }
    /// Milliseconds from mark i to mark j (both recorded and completed: after sync()).
    [[nodiscard]] double ms(int i, int j) const {
      float t = 0;
      TESSERA_CUDA_CHECK(cudaEventElapsedTime(&t, e_[static_cast<std::size_t>(i)],
                                              e_[static_cast<std::size_t>(j)]));
      return static_cast<double>(t);
    }

   private:
    void release() noexcept {
      for (auto& e : e_)
        if (e != nullptr) {
          cudaEventDestroy(e);
          e = nullptr;
        }
    }
    std::vector<cudaEvent_t> e_;
  };
};

}  // namespace fno_deq

namespace fno_deq_cuda {
namespace {

/// The batch indices are permutations or clamped draws, always in range: skip index_select's
/// per-call check (a synchronisation) while the example runs.
class index_checks_off {
 public:
  index_checks_off() { tessera::cuda_rt::set_check_indices(false); }
  index_checks_off(const index_checks_off&) = delete;
  index_checks_off& operator=(const index_checks_off&) = delete;
  ~index_checks_off() { tessera::cuda_rt::set_check_indices(true); }
};

/// Runs f, turning an exception (device memory, a CUDA error outside a model) into status 1.
template <class F>
int guarded(const char* what, F&& f) {
  try {
    const index_checks_off off;
    return f();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fno_deq: --device cuda: %s failed: %s\n", what, e.what());
    return 1;
  }
}

}  // namespace

bool available() { return tessera::cuda_rt::device_available(); }

int train_models(const fno_deq::config& c, const fno_deq::host_data& h, fno_deq::report& rep) {
  if (!available()) return 3;
  return guarded("training", [&] { return fno_deq::train_models<tessera::cuda>(c, h, rep); });
}

int time_models(const fno_deq::config& c, const fno_deq::host_data& h) {
  if (!available()) return 3;
  return guarded("timing", [&] { return fno_deq::time_models<tessera::cuda>(c, h); });
}

}  // namespace fno_deq_cuda
