// SPDX-License-Identifier: Apache-2.0
// Which engine the host FFTs run on (tessera's own Stockham FFT, Eigen's FFT module or, when
// compiled in, FFTW 3), per thread, and how hard the FFTW engine plans (process-wide). Included
// by spectral/fft.hpp and spectral/fftw.hpp.
#pragma once

#include <atomic>

#include "tessera/config.hpp"
#include "tessera/core/error.hpp"

namespace tessera::spectral {

/// The engines of the host transforms: tessera's own Stockham FFT (`builtin`, always there);
/// FFTW 3 when tessera is compiled with it (TESSERA_USE_FFTW, e.g. through the CMake target
/// tessera::fftw; FFTW is GPL-licensed, so it is opt-in); Eigen's FFT module (`eigen`:
/// unsupported/Eigen/FFT, kissfft; spectral/eigen_fft.hpp) when compiled with
/// TESSERA_USE_EIGEN_FFT (it needs no further library, but its instantiation costs compile
/// time). All give the same results to rounding, for every transform, its tape rules and
/// everything built on them.
///
/// The default: `eigen` when compiled in, else `fftw` when compiled in, else `builtin`, which
/// is 5–14× faster than Eigen's on 64² and 94² grids (docs/spectral.md). Define either macro for
/// the whole program, not for some of its translation units.
enum class fft_engine { builtin, fftw, eigen };

/// True when this translation unit was compiled with the FFTW engine.
inline constexpr bool has_fftw = TESSERA_HAS_FFTW != 0;

/// True when this translation unit was compiled with the engine of Eigen's FFT module.
inline constexpr bool has_eigen_fft = TESSERA_HAS_EIGEN_FFT != 0;

/// How hard the FFTW engine plans a transform of a new layout (process-wide; no effect without
/// FFTW): `estimate` (FFTW_ESTIMATE, the default) plans in microseconds from heuristics;
/// `measure` (FFTW_MEASURE) times candidate algorithms on scratch arrays of the same layout and
/// alignment, which takes tens to hundreds of milliseconds per new layout and may find faster
/// plans (docs/spectral.md: no consistent gain on this project's shapes); `patient`
/// (FFTW_PATIENT) tries more.
/// Plans are cached per effort, so a change takes effect for layouts planned afterwards.
enum class fftw_planning { estimate, measure, patient };

namespace detail {
inline std::atomic<fftw_planning>& fftw_planning_setting() noexcept {
  static std::atomic<fftw_planning> p{fftw_planning::estimate};
  return p;
}
}  // namespace detail

/// Sets the FFTW engine's planning effort for the whole process (thread-safe).
inline void set_fftw_planning(fftw_planning p) noexcept {
  detail::fftw_planning_setting().store(p, std::memory_order_relaxed);
}
/// The FFTW engine's planning effort.
[[nodiscard]] inline fftw_planning get_fftw_planning() noexcept {
  return detail::fftw_planning_setting().load(std::memory_order_relaxed);
}

namespace detail {
inline fft_engine& thread_fft_engine() noexcept {
  thread_local fft_engine e = has_eigen_fft ? fft_engine::eigen
                              : has_fftw    ? fft_engine::fftw
                                            : fft_engine::builtin;
  return e;
}
}  // namespace detail

/// The engine this thread's host transforms use (the default, see fft_engine, unless a
/// fft_engine_guard on this thread chose another).
[[nodiscard]] inline fft_engine host_fft_engine() noexcept { return detail::thread_fft_engine(); }

/// Selects this thread's host FFT engine while it lives, then restores the previous one.
/// @throws tessera::invalid_argument for fft_engine::fftw or fft_engine::eigen when tessera was
///   compiled without it.
class fft_engine_guard {
 public:
  explicit fft_engine_guard(fft_engine e) : previous_(detail::thread_fft_engine()) {
    if (e == fft_engine::fftw && !has_fftw)
      throw_invalid_argument("spectral::fft_engine_guard",
                             "the FFTW engine is not compiled in (define TESSERA_USE_FFTW and "
                             "link FFTW, or link the CMake target tessera::fftw)");
    if (e == fft_engine::eigen && !has_eigen_fft)
      throw_invalid_argument("spectral::fft_engine_guard",
                             "the engine of Eigen's FFT module is not compiled in (define "
                             "TESSERA_USE_EIGEN_FFT for the whole program)");
    detail::thread_fft_engine() = e;
  }
  fft_engine_guard(const fft_engine_guard&) = delete;
  fft_engine_guard& operator=(const fft_engine_guard&) = delete;
  ~fft_engine_guard() { detail::thread_fft_engine() = previous_; }

 private:
  fft_engine previous_;
};

}  // namespace tessera::spectral
