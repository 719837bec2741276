// SPDX-License-Identifier: Apache-2.0
// The fixed-point solver's kernels and the pointwise GELU kernels of cuda/detail, run on CPU
// threads (emulation.hpp) against definitions computed here: the residual pass in single values
// and 16-byte packs over several blocks and rows (every block partial written, their sums the
// direct ones), the combination with skipped zero terms, the best-iterate save, and the tiled
// GELU kernel against the column kernel (the same bits) and the host's matmul_add_gelu and
// matmul_pair_add_gelu, on partial tiles, grid-stride loops and every operand combination.
#include "emulation.hpp"
// The kernels, after the emulation's names.
#include "tessera/cuda/detail/fixed_point_kernels.cuh"
#include "tessera/cuda/detail/linear_gelu_kernels.cuh"
//
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tessera/tessera.hpp"

namespace {

using namespace tessera;
namespace ck = tessera::cuda_kernels;
using tessera::cuda_emulation::emulate_launch;

template <class T>
tensor<T> random(const shape_t& s, std::uint64_t seed) {
  generator gen(seed);
  return randn<T>(s, gen);
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

/// |a − b| ≤ tol·(1 + |b|) elementwise, reporting the first failure.
template <class T>
void expect_close(const T* a, const T* b, index_t n, double tol, const std::string& what) {
  for (index_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i];
    if (!(std::abs(x - y) <= tol * (1 + std::abs(y)))) {
      BOOST_ERROR(what << ": element " << i << " is " << x << ", expected " << y);
      return;
    }
  }
}

template <class T>
void expect_same_bits(const T* a, const T* b, index_t n, const std::string& what) {
  for (index_t i = 0; i < n; ++i)
    if (!(a[i] == b[i])) {
      BOOST_ERROR(what << ": element " << i << " is " << a[i] << ", expected " << b[i]);
      return;
    }
}

/// One residual pass of fixed_point_residual<T, V> on `rows` rows of n over a grid (gx, gy) of
/// `threads`-thread blocks, checked against the definition: r = f − x, u = x + β r, and per row
/// the sums of the block partials: ‖r‖², ‖f‖² (with f_norm), ⟨r, g_j⟩.
template <class T, int V>
void check_residual_pass_once(index_t rows, index_t n, unsigned gx, unsigned gy, int threads,
                              int ng, bool with_x, bool f_norm) {
  constexpr int D = ck::fixed_point_dots;
  const std::string what = "V " + std::to_string(V) + ", " + std::to_string(rows) + " x " +
                           std::to_string(n) + ", grid " + std::to_string(gx) + "x" +
                           std::to_string(gy) + ", " + std::to_string(ng) + " others" +
                           (with_x ? "" : ", no x") + (f_norm ? ", f_norm" : "");
  BOOST_TEST_CONTEXT(what) {
    const shape_t s{rows, n};
    const tensor<T> f = random<T>(s, 1), x = random<T>(s, 2);
    std::vector<tensor<T>> g;
    for (int j = 0; j < ng; ++j) g.push_back(random<T>(s, 10 + static_cast<std::uint64_t>(j)));
    const T nan = std::numeric_limits<T>::quiet_NaN();
    tensor<T> r = full<T>(s, nan), u = full<T>(s, nan);
    std::vector<double> partial(static_cast<std::size_t>(rows * gx * D),
                                std::numeric_limits<double>::quiet_NaN());
    ck::fixed_point_residual_args<T> a{};
    a.f = f.data();
    a.x = with_x ? x.data() : nullptr;
    a.r = with_x ? r.data() : nullptr;
    a.u = with_x ? u.data() : nullptr;
    a.ng = ng;
    for (int j = 0; j < ng; ++j) a.g[j] = g[static_cast<std::size_t>(j)].data();
    a.f_norm = f_norm;
    a.beta = T(0.625);
    a.n = n;
    a.rows = rows;
    a.partial = partial.data();
    if (V > 1) {
      BOOST_REQUIRE(n % V == 0);
      BOOST_REQUIRE(aligned16(f.data()) && aligned16(x.data()) && aligned16(r.data()));
    }
    emulate_launch(dim3(gx, gy), dim3(static_cast<unsigned>(threads)),
                   [&] { ck::fixed_point_residual<T, V>(a); });
    const tensor<T>& rr = with_x ? r : f;
    for (index_t b = 0; b < rows; ++b) {
      double want[D] = {}, got[D] = {};
      for (index_t e = 0; e < n; ++e) {
        const index_t k = b * n + e;
        if (with_x) {
          const T rv = f.data()[k] - x.data()[k];
          BOOST_TEST(r.data()[k] == rv);
          const T uv = x.data()[k] + a.beta * rv;
          BOOST_TEST(std::abs(double(u.data()[k]) - double(uv)) <=
                     2 * std::numeric_limits<T>::epsilon() * (1 + std::abs(double(uv))));
        }
        const double rd = rr.data()[k];
        want[0] += rd * rd;
        if (f_norm) want[1] += double(f.data()[k]) * double(f.data()[k]);
        for (int j = 0; j < ng; ++j) want[2 + j] += rd * double(g[std::size_t(j)].data()[k]);
      }
      for (unsigned blk = 0; blk < gx; ++blk)
        for (int q = 0; q < D; ++q) {
          const double p = partial[static_cast<std::size_t>((b * gx + blk) * D + q)];
          BOOST_TEST(std::isfinite(p),
                     "row " << b << ", block " << blk << ", dot " << q << " not written");
          got[q] += p;
        }
      for (int q = 0; q < D; ++q)
        BOOST_TEST(std::abs(got[q] - want[q]) <= 1e-12 * (1 + std::abs(want[q])),
                   "row " << b << ", dot " << q << ": " << got[q] << " vs " << want[q]);
    }
  }
}

/// check_residual_pass_once in each of the emulation's three thread orders.
template <class T, int V>
void check_residual_pass(index_t rows, index_t n, unsigned gx, unsigned gy, int threads, int ng,
                         bool with_x, bool f_norm) {
  for (int order = 0; order < 3; ++order)
    check_residual_pass_once<T, V>(rows, n, gx, gy, threads, ng, with_x, f_norm);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_emulated)

BOOST_AUTO_TEST_CASE(fixed_point_residual_pass_matches_its_definition) {
  // Single values and 16-byte packs; more rows than gridDim.y and more packs than the grid's
  // threads (both grid-stride loops), several warps per block, every number of others, with
  // and without x (a pass over r for further history products).
  check_residual_pass<float, 1>(3, 1000, 3, 2, 64, 2, true, true);
  check_residual_pass<float, 4>(3, 1000, 3, 2, 64, 8, true, true);
  check_residual_pass<float, 4>(5, 4096, 2, 5, 128, 0, true, false);
  check_residual_pass<float, 4>(2, 200, 1, 1, 32, 3, false, false);
  check_residual_pass<double, 1>(4, 333, 2, 3, 96, 5, true, true);
  check_residual_pass<double, 2>(4, 334, 2, 3, 96, 7, true, false);
}

BOOST_AUTO_TEST_CASE(fixed_point_combine_matches_its_definition) {
  // out = Σ_j c[row, j]·t_j per row in double; a term whose coefficient is 0 on every row is
  // null (not read), another is 0 on some rows only.
  const auto run = [](auto zero, auto vec) {
    using T = decltype(zero);
    constexpr int V = decltype(vec)::value;
    const index_t rows = 4, n = 640;
    const int nt = ck::fixed_point_max_terms;
    const shape_t s{rows, n};
    std::vector<tensor<T>> t;
    for (int j = 0; j < nt; ++j) t.push_back(random<T>(s, 40 + static_cast<std::uint64_t>(j)));
    std::vector<double> c(static_cast<std::size_t>(rows * nt));
    for (index_t b = 0; b < rows; ++b)
      for (int j = 0; j < nt; ++j)
        c[static_cast<std::size_t>(b * nt + j)] =
            j == 3 || (j == 5 && b % 2 == 1) ? 0.0 : 0.1 * (j + 1) - 0.05 * double(b);
    ck::fixed_point_combine_args<T> a{};
    a.nt = nt;
    for (int j = 0; j < nt; ++j) a.t[j] = j == 3 ? nullptr : t[static_cast<std::size_t>(j)].data();
    a.c = c.data();
    tensor<T> out = full<T>(s, std::numeric_limits<T>::quiet_NaN());
    a.out = out.data();
    a.n = n;
    a.rows = rows;
    emulate_launch(dim3(2, 3), dim3(64), [&] { ck::fixed_point_combine<T, V>(a); });
    std::vector<T> want(static_cast<std::size_t>(rows * n));
    for (index_t b = 0; b < rows; ++b)
      for (index_t e = 0; e < n; ++e) {
        double acc = 0;
        for (int j = 0; j < nt; ++j) {
          const double cj = c[static_cast<std::size_t>(b * nt + j)];
          if (cj != 0) acc += cj * double(t[static_cast<std::size_t>(j)].data()[b * n + e]);
        }
        want[static_cast<std::size_t>(b * n + e)] = static_cast<T>(acc);
      }
    expect_close(out.data(), want.data(), rows * n, 4 * std::numeric_limits<T>::epsilon(),
                 "combine, V " + std::to_string(V));
  };
  for (int order = 0; order < 3; ++order) {  // each of the emulation's thread orders
    run(float{}, std::integral_constant<int, 1>{});
    run(float{}, std::integral_constant<int, 4>{});
    run(double{}, std::integral_constant<int, 2>{});
  }
}

BOOST_AUTO_TEST_CASE(fixed_point_save_best_copies_the_evicted_rows_only) {
  const index_t rows = 5, n = 300;
  const shape_t s{rows, n};
  const tensor<float> x = random<float>(s, 3), u = random<float>(s, 4);
  tensor<float> bz = zeros<float>(s), bu = zeros<float>(s);
  const std::vector<double> best_iter{2, 5, 2, 0, 2};
  for (int order = 0; order < 3; ++order)  // the same copies in each thread order
    emulate_launch(dim3(2, 2), dim3(64), [&] {
      ck::fixed_point_save_best<float>(x.data(), u.data(), bz.data(), bu.data(), best_iter.data(),
                                       2.0, n, rows);
    });
  for (index_t b = 0; b < rows; ++b)
    for (index_t e = 0; e < n; ++e) {
      const index_t k = b * n + e;
      const bool saved = best_iter[static_cast<std::size_t>(b)] == 2.0;
      BOOST_TEST(bz.data()[k] == (saved ? x.data()[k] : 0.0f));
      BOOST_TEST(bu.data()[k] == (saved ? u.data()[k] : 0.0f));
    }
}

BOOST_AUTO_TEST_CASE(emulated_barriers_and_shuffles) {
  // The emulation itself: a block sum through shuffles and a barrier, __syncthreads_or over the
  // block, and a thread that leaves early.
  for (const int threads : {32, 96, 160}) {
    std::vector<double> sums(3, 0.0);
    std::vector<int> any(3, -1);
    emulate_launch(dim3(3), dim3(static_cast<unsigned>(threads)), [&] {
      const int t = static_cast<int>(threadIdx.x);
      double v = t + 1;
      for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
      __shared__ double warp_sums[32];
      if (t % 32 == 0) warp_sums[t / 32] = v;
      __syncthreads();
      if (t == 0) {
        double s = 0;
        for (int w = 0; w * 32 < threads; ++w) s += warp_sums[w];
        sums[blockIdx.x] = s;
      }
      const int hit = __syncthreads_or(blockIdx.x == 1 && t == threads - 1 ? 1 : 0);
      if (t == threads - 1) return;  // leaves; the barrier below counts the others
      __syncthreads();
      if (t == 0) any[blockIdx.x] = hit;
    });
    for (int b = 0; b < 3; ++b) {
      BOOST_TEST(sums[std::size_t(b)] == threads * (threads + 1) / 2.0, "threads " << threads);
      BOOST_TEST(any[std::size_t(b)] == (b == 1 ? 1 : 0), "threads " << threads);
    }
  }
}

namespace {

/// linear_add_gelu_tiled<T, HasC, HasX2> on w (M, K), x (B, K, P), w2 (M, K2), x2 (B, K2, P),
/// c (B, M, P) over `grid` blocks (grid-stride over the tiles), against the host's
/// matmul_add_gelu / matmul_pair_add_gelu; without x2, also the column kernel's bits.
template <class T, bool HasC, bool HasX2>
void check_linear_gelu_once(index_t M, index_t K, index_t K2, index_t B, index_t P, unsigned grid) {
  BOOST_TEST_CONTEXT("M " << M << ", K " << K << ", K2 " << K2 << ", B " << B << ", P " << P
                          << ", c " << HasC << ", x2 " << HasX2 << ", " << sizeof(T) << "-byte") {
    const tensor<T> w = random<T>({M, K}, 1), x = random<T>({B, K, P}, 2);
    const tensor<T> w2 = random<T>({M, K2}, 3), x2 = random<T>({B, K2, P}, 4);
    const tensor<T> c = random<T>({B, M, P}, 5), bias = random<T>({M, 1}, 6);
    tensor<T> out = full<T>({B, M, P}, std::numeric_limits<T>::quiet_NaN());
    const ck::linear_gelu_args<T> a{w.data(),
                                    x.data(),
                                    HasX2 ? w2.data() : nullptr,
                                    HasX2 ? x2.data() : nullptr,
                                    HasC ? c.data() : nullptr,
                                    bias.data(),
                                    out.data(),
                                    static_cast<int>(M),
                                    static_cast<int>(K),
                                    HasX2 ? static_cast<int>(K2) : 0,
                                    P,
                                    B * P};
    emulate_launch(dim3(grid), dim3(ck::linear_add_gelu_tile_threads),
                   [&] { ck::linear_add_gelu_tiled<T, HasC, HasX2>(a); });
    const tensor<T> cc = HasC ? c : tensor<T>();
    const tensor<T> want =
        HasX2 ? matmul_pair_add_gelu(w, x, w2, x2, cc, bias) : matmul_add_gelu(w, x, cc, bias);
    expect_close(out.data(), want.contiguous().data(), out.numel(), sizeof(T) == 4 ? 2e-5 : 1e-12,
                 "tiled kernel against the host");
    if constexpr (!HasX2) {
      tensor<T> col = full<T>({B, M, P}, std::numeric_limits<T>::quiet_NaN());
      emulate_launch(dim3(grid), dim3(ck::linear_add_gelu_threads<T>), [&] {
        ck::linear_add_gelu<T, HasC>(w.data(), x.data(), HasC ? c.data() : nullptr, bias.data(),
                                     col.data(), static_cast<int>(M), static_cast<int>(K), P,
                                     B * P);
      });
      expect_same_bits(out.data(), col.data(), out.numel(), "tiled kernel against the column one");
    }
  }
}

/// check_linear_gelu_once in each of the emulation's thread orders (the two kernels' launches
/// take turns, so each meets every order over the three runs).
template <class T, bool HasC, bool HasX2>
void check_linear_gelu(index_t M, index_t K, index_t K2, index_t B, index_t P, unsigned grid) {
  for (int order = 0; order < 3; ++order)
    check_linear_gelu_once<T, HasC, HasX2>(M, K, K2, B, P, grid);
}

}  // namespace

BOOST_AUTO_TEST_CASE(linear_gelu_kernels_match_the_host) {
  // The FNO's shapes (32 × 32, and the lifting's 32 × 3), partial tiles (B·P not a multiple of
  // the tile's 64 or 32 columns), fewer blocks than tiles, and M, K not multiples of anything.
  check_linear_gelu<float, false, false>(32, 32, 0, 3, 50, 2);
  check_linear_gelu<float, true, false>(32, 3, 0, 2, 71, 1);
  check_linear_gelu<float, true, false>(20, 7, 0, 3, 45, 2);
  check_linear_gelu<double, true, false>(32, 32, 0, 2, 37, 2);
  check_linear_gelu<double, false, false>(5, 31, 0, 4, 9, 3);
  check_linear_gelu<float, true, true>(32, 32, 32, 3, 50, 2);
  check_linear_gelu<float, false, true>(20, 7, 13, 2, 33, 1);
  check_linear_gelu<double, true, true>(32, 32, 32, 2, 40, 2);
  check_linear_gelu<double, false, true>(9, 32, 1, 3, 11, 2);
}

BOOST_AUTO_TEST_SUITE_END()
