// SPDX-License-Identifier: Apache-2.0
// The optional FFTW 3 engine of the host transforms. Included by spectral/fft.hpp when
// TESSERA_USE_FFTW is defined (linking the CMake target tessera::fftw defines it and links
// libfftw3 and libfftw3f). FFTW is GPL-2.0-or-later: a program built with it is bound by the GPL,
// which is why it is opt-in and tessera's own Stockham engine stays the default.
//
// Each one-axis primitive of fft.hpp (c2c, r2c, c2r) becomes one FFTW guru plan over the
// tensor's own strided layout (the transform axis as the plan's dimension, every other axis as
// a loop of the plan), so no copy is made except c2r's input, which FFTW overwrites. Plans are
// made with FFTW_ESTIMATE by default (which leaves the arrays untouched, so the caller's arrays
// serve for planning; spectral::set_fftw_planning chooses FFTW_MEASURE or FFTW_PATIENT, which
// plan on scratch arrays of the same layout and alignment) and cached per (transform, geometry,
// in-place, alignment, planning effort) in one process-wide cache: FFTW's planner is not
// thread-safe, so planning and destroying plans take a mutex, while executing a plan
// (fftw_execute_dft and friends on new arrays) is thread-safe and runs without it (the mutex
// covers tessera's planner calls only: a program that also calls FFTW's planner itself from
// other threads must serialise those calls, e.g. with fftw_make_planner_thread_safe() from
// libfftw3_threads). Large transforms
// run one plan execution per index of their outermost loop, spread over the OpenMP threads, each
// slice scaled right after its transform. Layouts FFTW cannot describe (a complex pair axis that is
// not contiguous, odd or non-positive strides) fall back to the Stockham engine.
#pragma once

#include <fftw3.h>

#include <algorithm>
#include <atomic>
#include <compare>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/core/parallel.hpp"
#include "tessera/core/tensor.hpp"
#include "tessera/spectral/fft_engine.hpp"

namespace tessera::spectral::detail::fftw {

/// FFTW's double and float APIs under one name.
template <class T>
struct api;

template <>
struct api<double> {
  using plan_t = fftw_plan;
  using cpx = fftw_complex;
  static plan_t dft(int r, const fftw_iodim64* d, int hr, const fftw_iodim64* h, double* in,
                    double* out, int sign, unsigned flags) {
    return fftw_plan_guru64_dft(r, d, hr, h, reinterpret_cast<cpx*>(in),
                                reinterpret_cast<cpx*>(out), sign, flags);
  }
  static plan_t r2c(int r, const fftw_iodim64* d, int hr, const fftw_iodim64* h, double* in,
                    double* out, unsigned flags) {
    return fftw_plan_guru64_dft_r2c(r, d, hr, h, in, reinterpret_cast<cpx*>(out), flags);
  }
  static plan_t c2r(int r, const fftw_iodim64* d, int hr, const fftw_iodim64* h, double* in,
                    double* out, unsigned flags) {
    return fftw_plan_guru64_dft_c2r(r, d, hr, h, reinterpret_cast<cpx*>(in), out, flags);
  }
  static void exec_dft(plan_t p, double* in, double* out) {
    fftw_execute_dft(p, reinterpret_cast<cpx*>(in), reinterpret_cast<cpx*>(out));
  }
  static void exec_r2c(plan_t p, double* in, double* out) {
    fftw_execute_dft_r2c(p, in, reinterpret_cast<cpx*>(out));
  }
  static void exec_c2r(plan_t p, double* in, double* out) {
    fftw_execute_dft_c2r(p, reinterpret_cast<cpx*>(in), out);
  }
  static void destroy(plan_t p) { fftw_destroy_plan(p); }
  static int alignment(double* p) { return fftw_alignment_of(p); }
};

template <>
struct api<float> {
  using plan_t = fftwf_plan;
  using cpx = fftwf_complex;
  static plan_t dft(int r, const fftw_iodim64* d, int hr, const fftw_iodim64* h, float* in,
                    float* out, int sign, unsigned flags) {
    return fftwf_plan_guru64_dft(r, d, hr, h, reinterpret_cast<cpx*>(in),
                                 reinterpret_cast<cpx*>(out), sign, flags);
  }
  static plan_t r2c(int r, const fftw_iodim64* d, int hr, const fftw_iodim64* h, float* in,
                    float* out, unsigned flags) {
    return fftwf_plan_guru64_dft_r2c(r, d, hr, h, in, reinterpret_cast<cpx*>(out), flags);
  }
  static plan_t c2r(int r, const fftw_iodim64* d, int hr, const fftw_iodim64* h, float* in,
                    float* out, unsigned flags) {
    return fftwf_plan_guru64_dft_c2r(r, d, hr, h, reinterpret_cast<cpx*>(in), out, flags);
  }
  static void exec_dft(plan_t p, float* in, float* out) {
    fftwf_execute_dft(p, reinterpret_cast<cpx*>(in), reinterpret_cast<cpx*>(out));
  }
  static void exec_r2c(plan_t p, float* in, float* out) {
    fftwf_execute_dft_r2c(p, in, reinterpret_cast<cpx*>(out));
  }
  static void exec_c2r(plan_t p, float* in, float* out) {
    fftwf_execute_dft_c2r(p, reinterpret_cast<cpx*>(in), out);
  }
  static void destroy(plan_t p) { fftwf_destroy_plan(p); }
  static int alignment(float* p) { return fftwf_alignment_of(p); }
};

/// The three transforms of fft.hpp's primitives.
enum class kind : int { forward = 0, inverse = 1, r2c = 2, c2r = 3 };

/// The layout of one plan: the transform dimension first, then the loops, each as (n, input
/// stride, output stride) in units of the arrays' elements (complex for complex arrays).
using geometry = std::vector<fftw_iodim64>;

/// What identifies a plan: FFTW's new-array execute functions need the same geometry, the
/// same in-place-ness and the same alignment of both arrays as the plan was made with.
struct plan_key {
  kind k = kind::forward;
  std::vector<long long> dims;  // n, is, os per dimension (the transform's first)
  bool in_place = false;
  int align_in = 0, align_out = 0;
  unsigned flags = 0;  // FFTW_ESTIMATE, FFTW_MEASURE or FFTW_PATIENT
  auto operator<=>(const plan_key&) const = default;
};

/// FFTW's planner (and plan destruction) is not thread-safe: one mutex for both precisions.
inline std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

/// One FFTW plan; destroyed under the planner mutex when the last user lets it go.
template <class T>
struct plan_holder {
  typename api<T>::plan_t p = nullptr;
  plan_holder() = default;
  plan_holder(const plan_holder&) = delete;
  plan_holder& operator=(const plan_holder&) = delete;
  ~plan_holder() {
    if (p == nullptr) return;
    const std::lock_guard<std::mutex> lock(planner_mutex());
    api<T>::destroy(p);
  }
};

/// Counts of plans made and transforms executed through FFTW in this process (for tests and
/// diagnostics; relaxed atomics).
struct counters {
  std::atomic<std::uint64_t> plans{0}, executions{0};
};
inline counters& stats() {
  static counters c;
  return c;
}

/// The process-wide cache of plans of one precision, least recently used evicted beyond
/// `capacity`; a plan still executing elsewhere lives on in its user's shared_ptr.
template <class T>
class plan_cache {
 public:
  static constexpr std::size_t capacity = 64;

  static plan_cache& instance() {
    (void)planner_mutex();  // constructed first, so destroyed after the cache's plans at exit
    static plan_cache c;
    return c;
  }

  /// The cached plan for `key`, or a new one from make() (called under the planner mutex);
  /// nullptr when FFTW cannot plan it. A hit takes only the cache's own lock, so it does not
  /// wait for another thread's planning (FFTW_MEASURE may take hundreds of milliseconds).
  template <class Make>
  std::shared_ptr<plan_holder<T>> get(const plan_key& key, Make&& make) {
    if (std::shared_ptr<plan_holder<T>> hit = find(key)) return hit;
    // Released after the locks, if at all (a plan_holder's destructor locks the planner
    // mutex): the evicted plan, and a new one whose insertion throws. Lock order: the planner
    // mutex, then the cache's.
    std::shared_ptr<plan_holder<T>> evicted, h;
    const std::lock_guard<std::mutex> planning(planner_mutex());
    if (std::shared_ptr<plan_holder<T>> hit = find(key)) return hit;  // planned meanwhile
    h = std::make_shared<plan_holder<T>>();
    h->p = make();
    if (h->p == nullptr) return nullptr;
    stats().plans.fetch_add(1, std::memory_order_relaxed);
    const std::lock_guard<std::mutex> lock(mutex_);
    if (plans_.size() >= capacity) {
      auto oldest = plans_.begin();
      for (auto i = plans_.begin(); i != plans_.end(); ++i)
        if (i->second.last_use < oldest->second.last_use) oldest = i;
      evicted = std::move(oldest->second.plan);
      plans_.erase(oldest);
    }
    plans_.emplace(key, entry{h, ++clock_});
    return h;
  }

 private:
  struct entry {
    std::shared_ptr<plan_holder<T>> plan;
    std::uint64_t last_use = 0;
  };
  /// The cached plan for `key` (its use recorded), or null.
  std::shared_ptr<plan_holder<T>> find(const plan_key& key) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = plans_.find(key);
    if (it == plans_.end()) return nullptr;
    it->second.last_use = ++clock_;
    return it->second.plan;
  }

  std::mutex mutex_;  // plans_ and clock_
  std::map<plan_key, entry> plans_;
  std::uint64_t clock_ = 0;
};

/// FFTW's planner flag for the process-wide spectral::fftw_planning setting.
inline unsigned planner_flags() noexcept {
  switch (spectral::detail::fftw_planning_setting().load(std::memory_order_relaxed)) {
    case fftw_planning::measure:
      return FFTW_MEASURE;
    case fftw_planning::patient:
      return FFTW_PATIENT;
    default:
      return FFTW_ESTIMATE;
  }
}

/// `count` values of T, 64-byte aligned plus `offset_bytes`: FFTW's planner, when it measures,
/// overwrites the arrays it plans on, so it plans on these (of the caller's alignment) instead.
template <class T>
class scratch_array {
 public:
  scratch_array(index_t count, int offset_bytes) {
    const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(T) +
                               static_cast<std::size_t>(offset_bytes) + 63) /
                              64 * 64;
    base_ = static_cast<char*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
    if (base_ == nullptr) throw std::bad_alloc();
    p = reinterpret_cast<T*>(base_ + offset_bytes);
  }
  scratch_array(const scratch_array&) = delete;
  scratch_array& operator=(const scratch_array&) = delete;
  ~scratch_array() { std::free(base_); }
  T* p = nullptr;

 private:
  char* base_ = nullptr;
};

/// Elements an array must hold for a plan's dimensions: 1 + Σ (n − 1)·stride, in array units.
inline index_t span_of(const fftw_iodim64* d, int nd, bool input) {
  index_t s = 1;
  for (int i = 0; i < nd; ++i) s += (d[i].n - 1) * (input ? d[i].is : d[i].os);
  return s;
}

/// Appends (n, is, os) to g, or returns false when FFTW's units cannot express the strides
/// (`in_unit`/`out_unit`: 2 for complex arrays, whose strides must then be even; positive
/// strides only).
inline bool add_dim(geometry& g, index_t n, index_t is, index_t os, index_t in_unit,
                    index_t out_unit) {
  if (n == 1) return true;  // a loop of one: nothing to describe
  if (is <= 0 || os <= 0 || is % in_unit != 0 || os % out_unit != 0) return false;
  g.push_back(fftw_iodim64{static_cast<ptrdiff_t>(n), static_cast<ptrdiff_t>(is / in_unit),
                           static_cast<ptrdiff_t>(os / out_unit)});
  return true;
}

/// out[i] *= scale for i in [lo, hi).
template <class T>
void scale_range(T* out, index_t lo, index_t hi, T scale) {
  if (scale == T(1)) return;
  for (index_t i = lo; i < hi; ++i) out[i] *= scale;
}

/// Runs the transform of `g` (g[0] the transform, the rest loops) from `in` to `out` (whose
/// `points` elements are contiguous), then scales out by `scale`: one plan for the whole when
/// small, else one plan execution per index of the outermost loop, spread over the threads,
/// each slice scaled while it is still in cache when its output is one block. `make(dims,
/// loops, nloops, in, out, flags)` plans, `exec(plan, in, out)` executes. Plans are made with
/// the spectral::fftw_planning setting; a measuring one on scratch arrays of the same layout
/// and alignment. Returns false (nothing written) when FFTW cannot plan it.
template <class T, class Make, class Exec>
bool run(kind k, const geometry& g, T* in, T* out, index_t in_unit, index_t out_unit,
         index_t points, T scale, Make&& make, Exec&& exec) {
  const bool in_place = in == out;
  const auto plan_for = [&](const fftw_iodim64* loops, int nloops, T* i, T* o) {
    const unsigned flags = planner_flags();
    plan_key key{k, {}, in_place, api<T>::alignment(i), api<T>::alignment(o), flags};
    key.dims.reserve(static_cast<std::size_t>(3 * (nloops + 1)));
    const auto put = [&](const fftw_iodim64& d) {
      key.dims.push_back(d.n);
      key.dims.push_back(d.is);
      key.dims.push_back(d.os);
    };
    put(g[0]);
    for (int l = 0; l < nloops; ++l) put(loops[l]);
    return plan_cache<T>::instance().get(key, [&] {
      if (flags == FFTW_ESTIMATE) return make(&g[0], loops, nloops, i, o, flags);
      std::vector<fftw_iodim64> all(g.begin(), g.begin() + 1);
      all.insert(all.end(), loops, loops + nloops);
      const int nd = static_cast<int>(all.size());
      const index_t si = span_of(all.data(), nd, true) * in_unit;
      const index_t so = span_of(all.data(), nd, false) * out_unit;
      const scratch_array<T> a(in_place ? std::max(si, so) : si, key.align_in);
      const scratch_array<T> b(in_place ? 0 : so, key.align_out);
      return make(&g[0], loops, nloops, a.p, in_place ? a.p : b.p, flags);
    });
  };
  const int nloops = static_cast<int>(g.size()) - 1;
  const fftw_iodim64* loops = g.data() + 1;
  if (nloops == 0 || g[1].n < 2 || max_threads() < 2 || points <= 2 * default_grain) {
    const auto p = plan_for(loops, nloops, in, out);
    if (!p) return false;
    exec(p->p, in, out);
    stats().executions.fetch_add(1, std::memory_order_relaxed);
    scale_range(out, 0, points, scale);
    return true;
  }
  // Slices along the outermost loop; plan the first before writing anything, so that a
  // layout FFTW refuses still falls back cleanly.
  const fftw_iodim64 outer = g[1];
  if (!plan_for(loops + 1, nloops - 1, in, out)) return false;
  const index_t per_slice = points / outer.n;
  const bool blocks = outer.os * out_unit == per_slice;  // slice s is out[s·per_slice, ...)
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // an exception must not leave the OpenMP region
  std::mutex error_mutex;
  parallel_for(0, outer.n, 1, [&](index_t lo, index_t hi) {
    try {
      for (index_t s = lo; s < hi && !failed.load(std::memory_order_relaxed); ++s) {
        T* i = in + s * outer.is * in_unit;
        T* o = out + s * outer.os * out_unit;
        const auto p = plan_for(loops + 1, nloops - 1, i, o);
        if (!p) {
          failed.store(true);
          return;
        }
        exec(p->p, i, o);
        if (blocks) scale_range(o, 0, per_slice, scale);
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed.store(true);
    }
  });
  if (error) std::rethrow_exception(error);
  if (failed.load())
    throw std::runtime_error(
        "tessera::spectral (FFTW): FFTW could not plan a slice of a transform it had planned "
        "for another alignment");
  stats().executions.fetch_add(1, std::memory_order_relaxed);
  if (!blocks)
    parallel_for(0, points, default_grain,
                 [&](index_t lo, index_t hi) { scale_range(out, lo, hi, scale); });
  return true;
}

/// fft.hpp's c2c_into through FFTW: x complex (logical axis a of n points), out contiguous of
/// x's shape, possibly x itself. False when FFTW cannot take x's layout.
template <class T>
bool c2c(const tensor<T>& x, const tensor<T>& out, int a, bool inverse, T scale) {
  const int r = x.rank() - 1;
  if (x.strides()[r] != 1) return false;
  geometry g;
  const index_t n = x.shape()[a];
  if (n == 1)
    g.push_back(fftw_iodim64{1, 1, 1});
  else if (!add_dim(g, n, x.strides()[a], out.strides()[a], 2, 2))
    return false;
  for (int i = 0; i < r; ++i)
    if (i != a && !add_dim(g, x.shape()[i], x.strides()[i], out.strides()[i], 2, 2)) return false;
  T* in = const_cast<T*>(x.data());  // out of place, FFTW preserves the input
  return run<T>(
      inverse ? kind::inverse : kind::forward, g, in, out.data(), 2, 2, out.numel(), scale,
      [&](const fftw_iodim64* d, const fftw_iodim64* l, int nl, T* i, T* o, unsigned f) {
        return api<T>::dft(1, d, nl, l, i, o, inverse ? FFTW_BACKWARD : FFTW_FORWARD, f);
      },
      [](auto p, T* i, T* o) { api<T>::exec_dft(p, i, o); });
}

/// fft.hpp's r2c through FFTW: real x along logical axis a into out, contiguous
/// (..., n/2+1, ..., 2). False when FFTW cannot take x's layout.
template <class T>
bool r2c(const tensor<T>& x, const tensor<T>& out, int a, T scale) {
  geometry g;
  const index_t n = x.shape()[a];
  if (n == 1)
    g.push_back(fftw_iodim64{1, 1, 1});
  else if (!add_dim(g, n, x.strides()[a], out.strides()[a], 1, 2))
    return false;
  for (int i = 0; i < x.rank(); ++i)
    if (i != a && !add_dim(g, x.shape()[i], x.strides()[i], out.strides()[i], 1, 2)) return false;
  T* in = const_cast<T*>(x.data());  // r2c out of place preserves its input
  return run<T>(
      kind::r2c, g, in, out.data(), 1, 2, out.numel(), scale,
      [&](const fftw_iodim64* d, const fftw_iodim64* l, int nl, T* i, T* o, unsigned f) {
        return api<T>::r2c(1, d, nl, l, i, o, f);
      },
      [](auto p, T* i, T* o) { api<T>::exec_r2c(p, i, o); });
}

/// The input of FFTW's c2r along logical axis a from the half spectrum x: a contiguous
/// (..., n/2+1, ..., 2) copy (FFTW overwrites c2r's input), scaled on the way since FFTW does
/// not scale, with bins past x's extent zero and bins past n/2 dropped.
template <class T>
tensor<T> c2r_buffer(const tensor<T>& x, int a, index_t n, T scale) {
  const index_t nh = n / 2 + 1, used = std::min(x.shape()[a], nh);
  shape_t bs = x.shape();
  bs[a] = nh;
  tensor<T> buf(bs);
  T* b = buf.data();
  if (x.shape()[a] == nh && x.is_contiguous()) {  // the usual case: one scaled copy
    const T* p = x.data();
    parallel_for(0, buf.numel(), default_grain, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) b[i] = p[i] * scale;
    });
  } else {
    if (used < nh) buf.slice(a, used, nh).fill_(T(0));
    if (used > 0) buf.slice(a, 0, used).copy_from(x.slice(a, 0, used));
    if (scale != T(1))
      parallel_for(0, buf.numel(), default_grain, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) b[i] *= scale;
      });
  }
  return buf;
}

/// FFTW's c2r of n points along logical axis a of buf (from c2r_buffer; destroyed) into out:
/// the imaginary parts of DC and Nyquist are zeroed first, and the interior bins halved when
/// the weights are not Hermitian (FFTW's c2r counts each interior bin twice).
template <class T>
bool c2r_from_buffer(const tensor<T>& buf, const tensor<T>& out, int a, index_t n, bool hermitian) {
  const shape_t& bs = buf.shape();
  const int r = buf.rank() - 1;
  const index_t nh = bs[a];
  index_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= bs[i];
  for (int i = a + 1; i < r; ++i) inner *= bs[i];
  T* b = buf.data();
  const index_t last_interior = (n - 1) / 2;  // bins 1..(n-1)/2 have a mirror image
  const auto row = [&](index_t o, index_t k) { return b + (o * nh + k) * inner * 2; };
  for (index_t o = 0; o < outer; ++o) {
    for (index_t k : {index_t(0), n % 2 == 0 ? n / 2 : index_t(0)}) {  // DC, Nyquist
      T* p = row(o, k);
      for (index_t i = 0; i < inner; ++i) p[2 * i + 1] = T(0);
    }
    if (!hermitian)
      for (index_t k = 1; k <= last_interior; ++k) {
        T* p = row(o, k);
        for (index_t i = 0; i < 2 * inner; ++i) p[i] *= T(0.5);
      }
  }
  geometry g;
  if (n == 1)
    g.push_back(fftw_iodim64{1, 1, 1});
  else if (!add_dim(g, n, buf.strides()[a], out.strides()[a], 2, 1))
    return false;
  for (int i = 0; i < r; ++i)
    if (i != a && !add_dim(g, bs[i], buf.strides()[i], out.strides()[i], 2, 1)) return false;
  return run<T>(
      kind::c2r, g, b, out.data(), 2, 1, out.numel(), T(1),
      [&](const fftw_iodim64* d, const fftw_iodim64* l, int nl, T* i, T* o, unsigned f) {
        return api<T>::c2r(1, d, nl, l, i, o, f | FFTW_DESTROY_INPUT);
      },
      [](auto p, T* i, T* o) { api<T>::exec_c2r(p, i, o); });
}

/// fft.hpp's c2r through FFTW: scale · the real synthesis of n points from the half spectrum
/// x along logical axis a into out (contiguous), Hermitian or unit weights.
template <class T>
bool c2r(const tensor<T>& x, const tensor<T>& out, int a, index_t n, T scale, bool hermitian) {
  return c2r_from_buffer(c2r_buffer(x, a, n, scale), out, a, n, hermitian);
}

/// irfftn's host path through FFTW, without intermediate tensors: scale · (unscaled inverse
/// DFTs over the logical axes ax except the last, then the Hermitian real synthesis of n
/// points along ax.back()), all on the one c2r buffer (the inverse DFTs in place) into out.
template <class T>
bool irfftn(const tensor<T>& x, const shape_t& ax, index_t n, T scale, const tensor<T>& out) {
  const int last = static_cast<int>(ax.back());
  const tensor<T> buf = c2r_buffer(x, last, n, scale);
  for (int i = 0; i + 1 < ax.rank(); ++i)
    if (!c2c(buf, buf, static_cast<int>(ax[i]), true, T(1))) return false;
  return c2r_from_buffer(buf, out, last, n, true);
}

}  // namespace tessera::spectral::detail::fftw
