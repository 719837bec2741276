// SPDX-License-Identifier: Apache-2.0
// The spectral module on cuda tensors: the FFTs of spectral/fft.hpp through cuFFT (plans cached
// per thread), batched complex GEMMs (complex_matmul) through cuBLAS and the truncated-DFT basis
// matrices of spectral_conv1d/2d, built on the host and copied to the device once per shape.
// With these, every transform of spectral/fft.hpp and spectral/ad_fft.hpp, spectral_conv1d/2d
// (both methods) and the layout ops of spectral/layout_ops.hpp run on tensor<T, cuda>. Not part
// of <tessera/cuda.hpp> (as the spectral module is not part of <tessera/tessera.hpp>): include
// this header.
#pragma once

#include <cuComplex.h>
#include <cublas_v2.h>
#include <cufft.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/cuda.hpp"
#include "tessera/cuda/detail/tdft2_kernels.cuh"
#include "tessera/spectral.hpp"
#include "tessera/spectral/dft_blocks.hpp"

namespace tessera::detail {
/// The enumerator name of a cufftResult.
inline const char* cufft_result_name(cufftResult r) noexcept {
  switch (r) {
    case CUFFT_SUCCESS:
      return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN:
      return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED:
      return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_TYPE:
      return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE:
      return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR:
      return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED:
      return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED:
      return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE:
      return "CUFFT_INVALID_SIZE";
    case CUFFT_UNALIGNED_DATA:
      return "CUFFT_UNALIGNED_DATA";
    case CUFFT_INVALID_DEVICE:
      return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE:
      return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED:
      return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED:
      return "CUFFT_NOT_SUPPORTED";
    default:
      return "unknown cufftResult";
  }
}

[[noreturn]] inline void throw_cufft_error(cufftResult r, const char* call, const char* file,
                                           int line) {
  clear_last_cuda_error();  // a runtime error behind the cuFFT failure is reported here
  throw cuda_error(std::string("tessera: cuFFT call failed at ") + file + ":" +
                   std::to_string(line) + ": " + call + ": " + cufft_result_name(r) + " (" +
                   std::to_string(static_cast<int>(r)) + ")");
}
}  // namespace tessera::detail

/// Evaluates a cuFFT call and throws tessera::cuda_error (file, line, call, cufftResult).
#define TESSERA_CUFFT_CHECK(call)                                                        \
  do {                                                                                   \
    const cufftResult tessera_cufft_r_ = (call);                                         \
    if (tessera_cufft_r_ != CUFFT_SUCCESS)                                               \
      ::tessera::detail::throw_cufft_error(tessera_cufft_r_, #call, __FILE__, __LINE__); \
  } while (0)

TESSERA_CUDA_NAMESPACE_BEGIN

/// The input of a complex-to-real cuFFT plan from x, contiguous (B, E1, E2, m, 2) (E1, E2 the
/// other transformed axes, 1 when absent): out (B, E1, E2, nk, 2), nk = n/2+1, holds
/// scale·w_k·X_k for the interior bins k < used (w = `interior`: 1 for irfft, 1/2 for the
/// adjoint of rfft, as C2R counts interior bins twice), zeros past the input's bins, and at DC
/// and (n even) Nyquist the Hermitian part along the other axes, scale·(X_k + conj X_-k)/2:
/// those are the values a real result can come from (numpy ignores their imaginary parts in
/// 1-d; in n-d, the sequential ifft-then-irfft of the host sees exactly this part), and with
/// them the data is a consistent half spectrum, for which cuFFT's n-d C2R is defined. Also the
/// copy C2R needs, since it overwrites its input.
template <class T>
TESSERA_KERNEL void c2r_pack_kernel(const T* __restrict__ x, T* __restrict__ out, index_t total,
                                    index_t e1, index_t e2, index_t m, index_t nk, index_t n,
                                    index_t used, T scale, T interior) {
  for (index_t t = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const index_t k = t % nk;
    index_t r = t / nk;
    const index_t i2 = r % e2;
    r /= e2;
    const index_t i1 = r % e1;
    const index_t b = r / e1;
    T re = T(0), im = T(0);
    if (k < used) {
      const T* p = x + 2 * (((b * e1 + i1) * e2 + i2) * m + k);
      if (k == 0 || 2 * k == n) {
        const index_t j1 = i1 == 0 ? 0 : e1 - i1, j2 = i2 == 0 ? 0 : e2 - i2;
        const T* q = x + 2 * (((b * e1 + j1) * e2 + j2) * m + k);
        re = T(0.5) * scale * (p[0] + q[0]);
        im = T(0.5) * scale * (p[1] - q[1]);
      } else {
        re = interior * scale * p[0];
        im = interior * scale * p[1];
      }
    }
    out[2 * t] = re;
    out[2 * t + 1] = im;
  }
}

TESSERA_CUDA_NAMESPACE_END

namespace tessera::spectral::detail {

/// One complex GEMM operand as cuBLAS sees it: dense row-major complex matrices (rows, cols)
/// `stride` complex elements apart (0: one matrix shared by every batch entry).
template <class T>
struct complex_operand {
  const T* p = nullptr;
  long long stride = 0;
  tensor<T, cuda> keep;  // the storage p points into
};

/// t (own_batch..., rows, cols, 2) prepared for a GEMM over `batch` (the broadcast batch):
/// made contiguous (and 2·sizeof(T)-aligned, as cuComplex loads need); a batch that is neither
/// t's own full extent nor a single matrix is materialised by expanding first.
template <class T>
complex_operand<T> make_complex_operand(const tensor<T, cuda>& t, const shape_t& own_batch,
                                        const shape_t& batch) {
  complex_operand<T> o;
  const index_t rows = t.shape()[t.rank() - 3], cols = t.shape()[t.rank() - 2];
  const index_t own = own_batch.numel(), all = batch.numel();
  tensor<T, cuda> c = t.contiguous();
  const auto misaligned = [](const tensor<T, cuda>& x) {
    return reinterpret_cast<std::uintptr_t>(x.data()) % (2 * sizeof(T)) != 0;
  };
  if (own == all || own == 1) {
    if (misaligned(c)) c = t.clone();
    o.stride = own == 1 && all > 1 ? 0 : static_cast<long long>(rows * cols);
  } else {
    shape_t full = batch;
    full.push_back(rows);
    full.push_back(cols);
    full.push_back(2);
    c = t.expand(full).clone();  // fresh storage: aligned
    o.stride = static_cast<long long>(rows * cols);
  }
  o.p = c.data();
  o.keep = std::move(c);
  return o;
}

/// One cached cuFFT plan: made with cufftSetAutoAllocation(0), so each execution gets its work
/// area from the stream-ordered pool on the current stream (captured as a pool node under CUDA
/// graph capture; cuFFT allocates nothing itself). `done` is recorded on the stream after each
/// uncaptured execution (`last`, once `used`); `captured` marks a plan that a CUDA graph holds.
struct cufft_plan {
  int device = 0;
  cufftType type = CUFFT_C2C;
  int rank = 0;
  long long n[3] = {0, 0, 0};
  long long batch = 0;
  cufftHandle handle = 0;
  cudaEvent_t done = nullptr;
  cudaStream_t last = nullptr;
  bool used = false;
  std::size_t work_bytes = 0;
  std::uint64_t last_use = 0;
  bool captured = false;
};

/// This thread's cuFFT plans, one per (device, type, rank, lengths, batch). Beyond `capacity`
/// plans the least recently used one is destroyed, after waiting for its own last execution
/// (its event; no device-wide synchronisation, which would wait on other threads' work and
/// break a graph capture running on another thread). A plan used while its stream was being
/// captured is never evicted: the graph replays it later. Plans are destroyed with the thread,
/// like the cuBLAS handles (a graph that uses them must not outlive the thread that made it).
class cufft_plans {
 public:
  static constexpr std::size_t capacity = 32;

  cufft_plans() = default;
  cufft_plans(const cufft_plans&) = delete;
  cufft_plans& operator=(const cufft_plans&) = delete;
  ~cufft_plans() {
    for (const cufft_plan& p : plans_) release(p);
  }

  static cufft_plans& of_thread() {
    thread_local cufft_plans plans;
    return plans;
  }

  /// Number of plans this thread holds (for tests).
  [[nodiscard]] std::size_t size() const noexcept { return plans_.size(); }

  /// The plan for a transform of `rank` lengths n (outermost first) over `batch` contiguous
  /// batch entries on the current device, made on first use.
  /// @throws tessera::invalid_argument when it must be made while the current stream is being
  ///   captured into a CUDA graph (planning allocates and synchronises).
  cufft_plan& get(const char* fn, cufftType type, int rank, const long long* n, long long batch) {
    const int device = cuda_rt::current_device();
    for (cufft_plan& p : plans_)
      if (p.device == device && p.type == type && p.rank == rank && p.batch == batch &&
          std::equal(n, n + rank, p.n)) {
        p.last_use = ++clock_;
        return p;
      }
    if (cuda_rt::is_capturing(cuda_rt::current_stream())) {
      shape_t lengths;
      for (int i = 0; i < rank; ++i) lengths.push_back(static_cast<index_t>(n[i]));
      throw_invalid_argument(fn, "the cuFFT plan for lengths ", lengths.str(), " × batch ", batch,
                             " is made on first use, which cannot happen during CUDA graph "
                             "capture: run the computation once before capturing it");
    }
    if (plans_.size() >= capacity) evict_one();
    cufft_plan p;
    p.device = device;
    p.type = type;
    p.rank = rank;
    std::copy(n, n + rank, p.n);
    p.batch = batch;
    TESSERA_CUFFT_CHECK(cufftCreate(&p.handle));
    try {
      TESSERA_CUFFT_CHECK(cufftSetAutoAllocation(p.handle, 0));
      // Default (packed) layouts: nullptr embeds, batch entries one transform apart.
      TESSERA_CUFFT_CHECK(cufftMakePlanMany64(p.handle, rank, p.n, nullptr, 1, 0, nullptr, 1, 0,
                                              type, batch, &p.work_bytes));
      TESSERA_CUDA_CHECK(cudaEventCreateWithFlags(&p.done, cudaEventDisableTiming));
    } catch (...) {
      release(p);
      throw;
    }
    p.last_use = ++clock_;
    plans_.push_back(p);
    return plans_.back();
  }

  /// Before an execution of `p` on stream `s`: when its last execution was on another stream,
  /// `s` waits for it, so that the plan's uses stay ordered and `done` (recorded on `s` next)
  /// covers all of them.
  static void before_exec(const cufft_plan& p, cudaStream_t s) {
    if (p.used && p.last != s && !cuda_rt::is_capturing(s))
      TESSERA_CUDA_CHECK(cudaStreamWaitEvent(s, p.done, 0));
  }

  /// Marks the end of an execution of `p` enqueued on stream `s`: records its event, or, while
  /// `s` is being captured, pins the plan for the graph's lifetime.
  static void executed(cufft_plan& p, cudaStream_t s) {
    if (cuda_rt::is_capturing(s)) {
      p.captured = true;
    } else {
      TESSERA_CUDA_CHECK(cudaEventRecord(p.done, s));
      p.last = s;
      p.used = true;
    }
  }

 private:
  /// Destroys the least recently used plan that no graph holds (none: the cache grows).
  void evict_one() {
    auto oldest = plans_.end();
    for (auto it = plans_.begin(); it != plans_.end(); ++it)
      if (!it->captured && (oldest == plans_.end() || it->last_use < oldest->last_use)) oldest = it;
    if (oldest == plans_.end()) return;
    // Work enqueued with it may still run: `done` follows its last execution, which waited for
    // any earlier one on another stream (before_exec).
    TESSERA_CUDA_CHECK(cudaEventSynchronize(oldest->done));
    release(*oldest);
    plans_.erase(oldest);
  }

  static void release(const cufft_plan& p) noexcept {
    if (p.handle != 0) cufftDestroy(p.handle);
    if (p.done != nullptr) cudaEventDestroy(p.done);
  }

  std::vector<cufft_plan> plans_;
  std::uint64_t clock_ = 0;
};

/// The cuFFT transform types of a scalar type.
template <class T>
struct cufft_types;
template <>
struct cufft_types<float> {
  static constexpr cufftType c2c = CUFFT_C2C, r2c = CUFFT_R2C, c2r = CUFFT_C2R;
};
template <>
struct cufft_types<double> {
  static constexpr cufftType c2c = CUFFT_Z2Z, r2c = CUFFT_D2Z, c2r = CUFFT_Z2D;
};

/// Runs one transform of type `type` (lengths n, `batch` packed entries) from `in` to `out`
/// (distinct buffers) on the current stream; `direction` for complex-to-complex.
template <class T>
void cufft_exec(const char* fn, cufftType type, int rank, const long long* n, long long batch,
                const T* in, T* out, int direction) {
  cufft_plan& p = cufft_plans::of_thread().get(fn, type, rank, n, batch);
  const cudaStream_t s = cuda_rt::current_stream();
  cufft_plans::before_exec(p, s);
  TESSERA_CUFFT_CHECK(cufftSetStream(p.handle, s));
  // Freed (stream-ordered) after the transform is enqueued.
  std::shared_ptr<char> work;
  if (p.work_bytes > 0) {
    work = cuda_rt::allocate_shared<char>(p.work_bytes, s);
    TESSERA_CUFFT_CHECK(cufftSetWorkArea(p.handle, work.get()));
  }
  // cuFFT takes non-const inputs; out-of-place C2C and R2C leave them unchanged (C2R does not,
  // and is only given a private copy, see c2r below).
  void* i = const_cast<T*>(in);
  if constexpr (std::is_same_v<T, float>) {
    if (type == CUFFT_C2C)
      TESSERA_CUFFT_CHECK(cufftExecC2C(p.handle, static_cast<cufftComplex*>(i),
                                       reinterpret_cast<cufftComplex*>(out), direction));
    else if (type == CUFFT_R2C)
      TESSERA_CUFFT_CHECK(
          cufftExecR2C(p.handle, static_cast<cufftReal*>(i), reinterpret_cast<cufftComplex*>(out)));
    else
      TESSERA_CUFFT_CHECK(cufftExecC2R(p.handle, static_cast<cufftComplex*>(i), out));
  } else {
    if (type == CUFFT_Z2Z)
      TESSERA_CUFFT_CHECK(cufftExecZ2Z(p.handle, static_cast<cufftDoubleComplex*>(i),
                                       reinterpret_cast<cufftDoubleComplex*>(out), direction));
    else if (type == CUFFT_D2Z)
      TESSERA_CUFFT_CHECK(cufftExecD2Z(p.handle, static_cast<cufftDoubleReal*>(i),
                                       reinterpret_cast<cufftDoubleComplex*>(out)));
    else
      TESSERA_CUFFT_CHECK(cufftExecZ2D(p.handle, static_cast<cufftDoubleComplex*>(i), out));
  }
  cufft_plans::executed(p, s);
}

/// The logical axis order that puts the axes not in `ax` first (in order) and `ax` last (in
/// its order): cuFFT's packed layout, batch outermost, the last transformed axis innermost.
inline shape_t fft_batch_first_order(int logical_rank, const shape_t& ax) {
  shape_t order;
  for (int i = 0; i < logical_rank; ++i)
    if (std::find(ax.begin(), ax.end(), index_t(i)) == ax.end()) order.push_back(i);
  for (index_t a : ax) order.push_back(a);
  return order;
}

/// t contiguous and aligned to a complex element (cuFFT's requirement for every pointer).
template <class T>
tensor<T, cuda> fft_operand(const tensor<T, cuda>& t) {
  tensor<T, cuda> c = t.contiguous();
  if (reinterpret_cast<std::uintptr_t>(c.data()) % (2 * sizeof(T)) != 0) c = t.clone();
  return c;
}

/// The transforms on cuda (see space_backend in spectral/fft.hpp): the data is permuted into
/// cuFFT's packed layout (a copy unless the transformed axes are already the trailing ones of
/// a contiguous, aligned tensor), one batched plan of rank <= 3 runs (more axes: several), and
/// the result is permuted back into a contiguous tensor of the host's shape. Length-1 axes are
/// identities and are left out of the plan (a real axis of length 1 too: no plan of length 1).
struct cufft_backend {
  template <class T>
  static tensor<T, cuda> c2c(const tensor<T, cuda>& x, const shape_t& axes, bool inverse, T scale) {
    const char* fn = inverse ? "spectral::ifft" : "spectral::fft";
    const int L = x.rank() - 1;
    shape_t ax;
    for (index_t a : axes)
      if (x.shape()[static_cast<int>(a)] != 1) ax.push_back(a);
    if (ax.rank() > 3) {  // separable: the last three axes, then the others
      shape_t head, tail;
      for (int i = 0; i < ax.rank(); ++i) (i < ax.rank() - 3 ? head : tail).push_back(ax[i]);
      return c2c(c2c(x, tail, inverse, T(1)), head, inverse, scale);
    }
    if (ax.rank() == 0) {
      tensor<T, cuda> y = x.clone();
      if (scale != T(1)) scale_(y, scale);
      return y;
    }
    shape_t order = fft_batch_first_order(L, ax);
    order.push_back(L);
    const tensor<T, cuda> xp = x.permute(order);
    tensor<T, cuda> yp(xp.shape());
    if (yp.numel() > 0) {
      const tensor<T, cuda> in = fft_operand(xp);
      long long n[3] = {1, 1, 1}, len = 1;
      for (int i = 0; i < ax.rank(); ++i) len *= n[i] = x.shape()[static_cast<int>(ax[i])];
      cufft_exec<T>(fn, cufft_types<T>::c2c, ax.rank(), n, xp.numel() / (2 * len), in.data(),
                    yp.data(), inverse ? CUFFT_INVERSE : CUFFT_FORWARD);
      if (scale != T(1)) scale_(yp, scale);
    }
    return yp.permute(inverse_order(order)).contiguous();
  }

  template <class T>
  static tensor<T, cuda> r2c(const tensor<T, cuda>& x, const shape_t& axes, T scale) {
    const int L = x.rank();
    if (axes.rank() > 3) {  // the real axis with the two before it, then the others
      shape_t head, tail;
      for (int i = 0; i < axes.rank(); ++i) (i < axes.rank() - 3 ? head : tail).push_back(axes[i]);
      return c2c(r2c(x, tail, T(1)), head, false, scale);
    }
    shape_t ax;
    for (int i = 0; i + 1 < axes.rank(); ++i)
      if (x.shape()[static_cast<int>(axes[i])] != 1) ax.push_back(axes[i]);
    const int a = static_cast<int>(axes.back());
    if (x.shape()[a] == 1) {  // length 1: the identity, with zero imaginary parts
      const tensor<T, cuda> xc =
          stack(std::vector<tensor<T, cuda>>{x, zeros<T, cuda>(x.shape())}, -1);
      return c2c(xc, ax, false, scale);
    }
    ax.push_back(a);
    const shape_t order = fft_batch_first_order(L, ax);
    const tensor<T, cuda> xp = x.permute(order);
    shape_t ys = xp.shape();
    ys[L - 1] = ys[L - 1] / 2 + 1;
    ys.push_back(2);
    tensor<T, cuda> yp(ys);
    if (yp.numel() > 0) {
      const tensor<T, cuda> in = fft_operand(xp);
      long long n[3] = {1, 1, 1}, len = 1;
      for (int i = 0; i < ax.rank(); ++i) len *= n[i] = x.shape()[static_cast<int>(ax[i])];
      cufft_exec<T>("spectral::rfft", cufft_types<T>::r2c, ax.rank(), n, xp.numel() / len,
                    in.data(), yp.data(), 0);
      if (scale != T(1)) scale_(yp, scale);
    }
    shape_t corder = order;
    corder.push_back(L);
    return yp.permute(inverse_order(corder)).contiguous();
  }

  template <class T>
  static tensor<T, cuda> c2r(const tensor<T, cuda>& x, const shape_t& axes, index_t n_out, T scale,
                             bool hermitian) {
    const int L = x.rank() - 1;
    if (axes.rank() > 3) {  // the others (unscaled inverse DFTs), then the last three
      shape_t head, tail;
      for (int i = 0; i < axes.rank(); ++i) (i < axes.rank() - 3 ? head : tail).push_back(axes[i]);
      return c2r(c2c(x, head, true, T(1)), tail, n_out, scale, hermitian);
    }
    shape_t ax;
    for (int i = 0; i + 1 < axes.rank(); ++i)
      if (x.shape()[static_cast<int>(axes[i])] != 1) ax.push_back(axes[i]);
    const int a = static_cast<int>(axes.back());
    if (n_out == 1) {  // only the DC bin counts: the real part of its inverse over the others
      if (x.shape()[a] == 0) {
        shape_t ys = x.shape();
        ys.erase(L);
        ys[a] = 1;
        return zeros<T, cuda>(ys);
      }
      return c2c(x.slice(a, 0, 1), ax, true, scale).select(L, 0).contiguous();
    }
    ax.push_back(a);
    const shape_t order = fft_batch_first_order(L, ax);
    shape_t corder = order;
    corder.push_back(L);
    const tensor<T, cuda> xp = x.permute(corder);
    const index_t m = xp.shape()[L - 1], nk = n_out / 2 + 1;
    shape_t ys = xp.shape();
    ys.erase(L);
    ys[L - 1] = n_out;
    tensor<T, cuda> yp(ys);
    if (yp.numel() > 0) {
      const tensor<T, cuda> src = xp.contiguous();
      shape_t ps = xp.shape();
      ps[L - 1] = nk;
      const tensor<T, cuda> packed(ps);
      const int r = ax.rank();
      const index_t e1 = r >= 3 ? ps[L - 3] : 1, e2 = r >= 2 ? ps[L - 2] : 1;
      const index_t total = packed.numel() / 2;
      cuda_kernels::c2r_pack_kernel<T>
          <<<cuda_rt::grid_for(total), cuda_rt::block_threads, 0, cuda_rt::current_stream()>>>(
              src.data(), packed.data(), total, e1, e2, m, nk, n_out, std::min(m, nk), scale,
              hermitian ? T(1) : T(0.5));
      TESSERA_CUDA_CHECK_LAUNCH();
      long long n[3] = {1, 1, 1}, len = 1;
      for (int i = 0; i + 1 < r; ++i) len *= n[i] = x.shape()[static_cast<int>(ax[i])];
      len *= n[r - 1] = n_out;
      cufft_exec<T>("spectral::irfft", cufft_types<T>::c2r, r, n, yp.numel() / len, packed.data(),
                    yp.data(), 0);
    }
    return yp.permute(inverse_order(order)).contiguous();
  }
};

/// The cuda kernels of the spectral module (see space_backend in spectral/fft.hpp and
/// spectral/complex_matmul.hpp): the cuFFT transforms and cuBLAS complex GEMMs.
template <>
struct space_backend<cuda> : cufft_backend {
  /// complex_matmul on cuda: one cublasGemmStridedBatchedEx on CUDA_C_32F/64F data. Row-major
  /// C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ; the memory of a row-major M is the
  /// column-major Mᵀ, so op = identity passes as CUBLAS_OP_N and op = conjugate transpose as
  /// CUBLAS_OP_C ((Mᴴ)ᵀ = conj(M) = (Mᵀ)ᴴ). Leading dimensions are the stored column counts.
  /// Float uses TF32 tensor cores when cuda_rt::allow_tf32() is on (the bf16 matmul option
  /// does not apply to complex products).
  template <class T>
  static tensor<T, cuda> complex_matmul(const tensor<T, cuda>& a, const tensor<T, cuda>& b,
                                        bool adjoint_a, bool adjoint_b,
                                        const complex_matmul_plan& plan) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "cuda complex_matmul is for float and double");
    tensor<T, cuda> out(plan.out);
    if (out.numel() == 0) return out;
    if (plan.k == 0) {
      out.fill_(T(0));
      return out;
    }
    const index_t nb = plan.batch.numel();
    const complex_operand<T> A = make_complex_operand(a, plan.a_batch, plan.batch);
    const complex_operand<T> B = make_complex_operand(b, plan.b_batch, plan.batch);
    const index_t lda = a.shape()[a.rank() - 2], ldb = b.shape()[b.rank() - 2];
    for (const auto& [what, v] :
         {std::pair{"m", plan.m}, std::pair{"n", plan.n}, std::pair{"k", plan.k},
          std::pair{"batch count", nb}, std::pair{"leading dimension", lda},
          std::pair{"leading dimension", ldb}})
      if (v > std::numeric_limits<int>::max())
        throw_invalid_argument("spectral::complex_matmul", "shapes ", a.shape().str(), " and ",
                               b.shape().str(), ": ", what, " ", v,
                               " exceeds cuBLAS's 32-bit limit");
    const cublasHandle_t h = cuda_rt::cublas_handle();
    const cublasOperation_t opA = adjoint_a ? CUBLAS_OP_C : CUBLAS_OP_N;
    const cublasOperation_t opB = adjoint_b ? CUBLAS_OP_C : CUBLAS_OP_N;
    const int m = static_cast<int>(plan.m), n = static_cast<int>(plan.n),
              k = static_cast<int>(plan.k);
    const long long strideC = static_cast<long long>(plan.m * plan.n);
    if constexpr (std::is_same_v<T, float>) {
      const cuComplex alpha = make_cuComplex(1.0f, 0.0f), beta = make_cuComplex(0.0f, 0.0f);
      const cublasComputeType_t ct =
          cuda_rt::allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          h, opB, opA, n, m, k, &alpha, B.p, CUDA_C_32F, static_cast<int>(ldb), B.stride, A.p,
          CUDA_C_32F, static_cast<int>(lda), A.stride, &beta, out.data(), CUDA_C_32F, n, strideC,
          static_cast<int>(nb), ct, CUBLAS_GEMM_DEFAULT));
    } else {
      const cuDoubleComplex alpha = make_cuDoubleComplex(1.0, 0.0),
                            beta = make_cuDoubleComplex(0.0, 0.0);
      TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          h, opB, opA, n, m, k, &alpha, B.p, CUDA_C_64F, static_cast<int>(ldb), B.stride, A.p,
          CUDA_C_64F, static_cast<int>(lda), A.stride, &beta, out.data(), CUDA_C_64F, n, strideC,
          static_cast<int>(nb), CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT));
    }
    return out;
  }

  /// The spectral_conv2d matrices for (H, W, m1, m2) on the current device, built on the host
  /// and copied on first use, then shared by every later call (any thread, any stream).
  /// @throws tessera::invalid_argument when a new shape is first seen while the current stream
  ///   is being captured into a CUDA graph (run the step once before capturing it).
  template <class T>
  static conv2d_bases<T, cuda> conv2d_matrices(index_t H, index_t W, index_t m1, index_t m2) {
    return cached<T, conv2d_bases<T, cuda>>(
        "spectral::spectral_conv2d", key{cuda_rt::current_device(), H, W, m1, m2}, [&] {
          const conv2d_bases<T> h = make_conv2d_bases<T>(H, W, m1, m2);
          return conv2d_bases<T, cuda>{to<cuda>(h.f1), to<cuda>(h.g), to<cuda>(h.ginv),
                                       to<cuda>(h.finv)};
        });
  }

  /// Whether the fused truncated-DFT kernels take spectral_conv2d's (H, W, m1, m2) in T: each
  /// kernel's shared memory within the 48 KB a block gets without opting in (with 12×12 modes,
  /// square grids up to 99×99 in float and 67×67 in double).
  template <class T>
  static bool tdft2_fits(index_t H, index_t W, index_t m1, index_t m2) {
    if (H > 65536 || W > 65536 || H * W > (index_t{1} << 24)) return false;
    const tdft2_geometry g = tdft2_geometry::make(1, H, W, m1, m2);
    const index_t limit = index_t{48 * 1024} / static_cast<index_t>(sizeof(T));
    return g.forward_smem() <= limit && g.inverse_smem() <= limit;
  }

  /// The kept modes of x (B, C, H, W) as spectral_conv2d's per-mode products take them:
  /// (2·m2 [block·m2 + k], m1, B, C, 2), by the fused forward kernel (tdft2_fits must hold).
  /// `max_blocks` (0: one block per slice) caps the grid, so that blocks take several slices
  /// each (the tests use it to run that path).
  template <class T>
  static tensor<T, cuda> tdft2_forward(const tensor<T, cuda>& x, index_t m1, index_t m2,
                                       unsigned max_blocks = 0) {
    const index_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const tensor<T, cuda> xc = x.contiguous();
    tensor<T, cuda> out(shape_t{2 * m2, m1, B, C, 2});
    if (out.numel() == 0) return out;
    const tdft2_tables<T, cuda> t = tdft2_matrices<T>(H, W, m1, m2);
    const tdft2_geometry g = tdft2_geometry::make(B * C, H, W, m1, m2);
    const cudaStream_t s = cuda_rt::current_stream();
    cuda_kernels::tdft2_forward_kernel<T>
        <<<tdft2_grid(g.slices, max_blocks), g.forward_threads(),
           static_cast<std::size_t>(g.forward_smem()) * sizeof(T), s>>>(g, xc.data(), t.f1t.data(),
                                                                        t.tw_hr.data(), out.data());
    TESSERA_CUDA_CHECK_LAUNCH();
    return out;
  }

  /// The inverse of tdft2_forward's layout: modes y (2·m2, m1, B, C, 2) → real (B, C, H, W),
  /// the inverse truncated DFT of spectral_conv2d (tdft2_fits must hold; `max_blocks` as
  /// tdft2_forward's).
  /// With `bias` defined (C values), gelu(value + bias[c]) for channel c instead.
  template <class T>
  static tensor<T, cuda> tdft2_inverse(const tensor<T, cuda>& y, index_t H, index_t W,
                                       unsigned max_blocks = 0,
                                       const tensor<T, cuda>& bias = tensor<T, cuda>()) {
    const index_t m2 = y.size(0) / 2, m1 = y.size(1), B = y.size(2), C = y.size(3);
    if (bias.defined() && bias.numel() != C)
      throw_invalid_argument("spectral::detail::tdft2_inverse", "bias ", bias.shape().str(),
                             " does not have one value per channel of the modes ", y.shape().str());
    const tensor<T, cuda> yc = y.contiguous();
    const tensor<T, cuda> bc = bias.defined() ? bias.contiguous() : bias;
    tensor<T, cuda> out(shape_t{B, C, H, W});
    if (out.numel() == 0) return out;
    const tdft2_tables<T, cuda> t = tdft2_matrices<T>(H, W, m1, m2);
    const tdft2_geometry g = tdft2_geometry::make(B * C, H, W, m1, m2);
    const cudaStream_t s = cuda_rt::current_stream();
    const auto launch = [&](auto kernel) {
      kernel<<<tdft2_grid(g.slices, max_blocks), tdft2_geometry::inverse_threads,
               static_cast<std::size_t>(g.inverse_smem()) * sizeof(T), s>>>(
          g, yc.data(), t.tw_rh.data(), t.finv.data(), out.data(),
          bc.defined() ? bc.data() : nullptr, C);
    };
    if (bc.defined())
      launch(cuda_kernels::tdft2_inverse_kernel<T, true>);
    else
      launch(cuda_kernels::tdft2_inverse_kernel<T, false>);
    TESSERA_CUDA_CHECK_LAUNCH();
    return out;
  }

  /// The tables of the fused kernels for (H, W, m1, m2), cached as conv2d_matrices.
  template <class T>
  static tdft2_tables<T, cuda> tdft2_matrices(index_t H, index_t W, index_t m1, index_t m2) {
    return cached<T, tdft2_tables<T, cuda>>(
        "spectral::spectral_conv2d", key{cuda_rt::current_device(), H, W, m1, m2}, [&] {
          const tdft2_tables<T> h = make_tdft2_tables<T>(H, W, m1, m2);
          return tdft2_tables<T, cuda>{to<cuda>(h.f1t), to<cuda>(h.tw_hr), to<cuda>(h.tw_rh),
                                       to<cuda>(h.finv)};
        });
  }

  /// The spectral_conv1d matrices for (n, m), cached as conv2d_matrices.
  template <class T>
  static std::pair<tensor<T, cuda>, tensor<T, cuda>> conv1d_matrices(index_t n, index_t m) {
    return cached<T, std::pair<tensor<T, cuda>, tensor<T, cuda>>>(
        "spectral::spectral_conv1d", key{cuda_rt::current_device(), n, m, -1, -1}, [&] {
          const auto [f, finv] = make_conv1d_bases<T>(n, m);
          return std::pair{to<cuda>(f), to<cuda>(finv)};
        });
  }

 private:
  using key = std::tuple<int, index_t, index_t, index_t, index_t>;

  /// One block per slice, up to 2^20 blocks or `max_blocks` when not 0 (the kernels loop over
  /// the rest).
  static unsigned tdft2_grid(index_t slices, unsigned max_blocks) {
    const index_t cap = max_blocks > 0 ? index_t{max_blocks} : index_t{1} << 20;
    return static_cast<unsigned>(std::min<index_t>(slices, cap));
  }

  /// The cache entry for `k`, made by `make` the first time. Entries live until the process
  /// ends and are never freed (freeing device memory during static destruction, after the
  /// CUDA runtime may have shut down, is not safe); they are allocated and filled on the
  /// legacy default stream, which is then synchronised, so every stream may read them.
  template <class T, class V, class Make>
  static V cached(const char* fn, const key& k, Make make) {
    static std::mutex mu;
    static auto* entries = new std::map<key, V>();
    const std::lock_guard<std::mutex> lock(mu);
    if (const auto it = entries->find(k); it != entries->end()) return it->second;
    if (cuda_rt::is_capturing(cuda_rt::current_stream()))
      throw_invalid_argument(fn, "the basis matrices of a new shape (", std::get<1>(k), ", ",
                             std::get<2>(k), ", ", std::get<3>(k), ", ", std::get<4>(k),
                             ") are made on first use, which cannot happen during CUDA graph "
                             "capture: run the computation once before capturing it");
    const cuda_rt::stream_guard legacy(nullptr);
    V v = make();
    cuda_rt::synchronize();
    return entries->emplace(k, std::move(v)).first->second;
  }
};

}  // namespace tessera::spectral::detail
