#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tessera's own FFT against FFTW 3 on the CPU, one thread, float (fftw_cpu.cpp): installs
# libfftw3-dev when missing (FFTW is GPL; it is a peer here, never a dependency of tessera),
# builds the program with the bench preset's flags and runs it. Prints RESULT lines
# (rfft2/irfft2 at (16, 32, 64, 64) and (32, 32, 94, 94), CPU-time medians) and CHECK lines
# (agreement of the two results); the `_fftw_engine` and `_eigen_engine` lines time the same
# calls on tessera's FFTW engine (tessera::fftw) and on its engine of Eigen's FFT module.
#   benchmarks/compare/fftw_cpu.sh [--reps N] [--min-time S] [--estimate] [--engine-measure]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
if ! dpkg-query -W -f='${Status}' libfftw3-dev 2>/dev/null | grep -q 'install ok installed'; then
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    libfftw3-dev
fi
mkdir -p build
exe=build/compare-fftw_cpu
# Both optional engines compiled in (the program selects each engine explicitly).
g++ -std=c++20 -O3 -DNDEBUG -march=native -fno-math-errno -fopenmp -Iinclude \
  -isystem /usr/include/eigen3 -DTESSERA_USE_FFTW -DTESSERA_USE_EIGEN_FFT \
  benchmarks/compare/fftw_cpu.cpp -lfftw3f -lfftw3 -o "$exe"
OMP_NUM_THREADS=1 "$exe" "$@"
echo "RUN tessera=$(git rev-parse --short HEAD 2>/dev/null || echo unknown) date=$(date -u +%FT%TZ)"
