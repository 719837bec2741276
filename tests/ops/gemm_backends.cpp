// SPDX-License-Identifier: Apache-2.0
// The host GEMM backends of ops/detail/gemm.hpp, each against a long-double triple loop:
// Eigen always, and BLIS or the Fortran BLAS when this build has one. Every operand layout
// the matmul and its gradients hand down (row-major, column-major, two non-unit strides,
// stride 0), sizes 0/1/odd/large enough to block, accumulation and a leading dimension > n.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <tessera/core/philox.hpp>
#include <tessera/ops/detail/gemm.hpp>

using tessera::index_t;

namespace {

template <class T>
using gemm_fn = std::function<void(const T*, index_t, index_t, index_t, index_t, const T*, index_t,
                                   index_t, index_t, T*, index_t, bool)>;

template <class T>
std::vector<std::pair<std::string, gemm_fn<T>>> backends() {
  std::vector<std::pair<std::string, gemm_fn<T>>> out;
  out.emplace_back("eigen", [](auto... a) { tessera::detail::gemm_eigen<T>(a...); });
#if TESSERA_GEMM_BLIS
  out.emplace_back("blis", [](auto... a) { tessera::detail::gemm_blis<T>(a...); });
#endif
#if TESSERA_GEMM_BLAS
  out.emplace_back("blas", [](auto... a) { tessera::detail::gemm_blas<T>(a...); });
#endif
  out.emplace_back("dispatch", [](auto... a) { tessera::detail::gemm<T>(a...); });
  return out;
}

/// Storage holding a (rows × cols) operand in one of several layouts; element (i, j) is at
/// base[i * rs + j * cs].
template <class T>
struct operand {
  std::vector<T> buf;
  index_t rs = 0, cs = 0, off = 0;
  const T* ptr() const { return buf.data() + off; }
  T at(index_t i, index_t j) const { return ptr()[i * rs + j * cs]; }
};

enum class layout { row, col, strided, bcast_row, bcast_all };

template <class T>
operand<T> make_operand(index_t rows, index_t cols, layout l, std::uint64_t seed) {
  operand<T> o;
  switch (l) {
    case layout::row:
      o.rs = cols + 3, o.cs = 1;
      break;  // padded leading dimension
    case layout::col:
      o.rs = 1, o.cs = rows + 2;
      break;  // a transposed view
    case layout::strided:
      o.rs = 2 * cols + 1, o.cs = 2;
      break;
    case layout::bcast_row:
      o.rs = 0, o.cs = 1;
      break;  // every row the same
    case layout::bcast_all:
      o.rs = 0, o.cs = 0;
      break;  // one value everywhere
  }
  index_t extent = 1;
  if (rows > 0 && cols > 0) extent += (rows - 1) * o.rs + (cols - 1) * o.cs;
  o.off = 1;
  o.buf.resize(static_cast<std::size_t>(extent + 2));
  const tessera::philox_stream rng{seed, 0};
  for (std::size_t i = 0; i < o.buf.size(); ++i)
    o.buf[i] = static_cast<T>(rng.uniform<double>(i) * 2.0 - 1.0);
  return o;
}

template <class T>
void check_case(const std::string& name, const gemm_fn<T>& gemm, index_t m, index_t n, index_t k,
                layout la, layout lb, bool accumulate) {
  const operand<T> a = make_operand<T>(m, k, la, 11 + static_cast<std::uint64_t>(m * 7 + k));
  const operand<T> b = make_operand<T>(k, n, lb, 23 + static_cast<std::uint64_t>(n * 5 + k));
  const index_t ldc = n + 5;
  std::vector<T> c(static_cast<std::size_t>(std::max<index_t>(m, 1) * ldc));
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = static_cast<T>(0.25 * std::sin(double(i)));
  const std::vector<T> c0 = c;
  gemm(a.ptr(), m, k, a.rs, a.cs, b.ptr(), n, b.rs, b.cs, c.data(), ldc, accumulate);
  const double eps = std::is_same_v<T, float> ? 1e-6 : 1e-15;
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < ldc; ++j) {
      const std::size_t q = static_cast<std::size_t>(i * ldc + j);
      if (j >= n) {  // the padding past n columns is never touched
        BOOST_TEST_REQUIRE(c[q] == c0[q]);
        continue;
      }
      long double want = accumulate ? c0[q] : 0.0L;
      for (index_t p = 0; p < k; ++p)
        want += static_cast<long double>(a.at(i, p)) * static_cast<long double>(b.at(p, j));
      const double tol = eps * (4.0 * static_cast<double>(k) + 4.0);
      if (std::abs(static_cast<double>(c[q]) - static_cast<double>(want)) > tol) {
        BOOST_ERROR(name << " m=" << m << " n=" << n << " k=" << k << " la=" << int(la)
                         << " lb=" << int(lb) << " acc=" << accumulate << " at (" << i << "," << j
                         << "): " << c[q] << " vs " << static_cast<double>(want));
        return;
      }
    }
}

using float_types = std::tuple<float, double>;

}  // namespace

BOOST_AUTO_TEST_SUITE(gemm_backends)

BOOST_AUTO_TEST_CASE_TEMPLATE(all_layouts_against_loops, T, float_types) {
  const layout layouts[] = {layout::row, layout::col, layout::strided, layout::bcast_row,
                            layout::bcast_all};
  const index_t dims[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 1, 9}, {1, 13, 6}, {8, 9, 1}, {70, 66, 33}};
  for (const auto& [name, gemm] : backends<T>())
    for (const auto& d : dims)
      for (layout la : layouts)
        for (layout lb : layouts)
          for (bool acc : {false, true}) check_case<T>(name, gemm, d[0], d[1], d[2], la, lb, acc);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(blocked_sizes, T, float_types) {
  // Large enough for every backend's packed path (several cache blocks in each dimension).
  for (const auto& [name, gemm] : backends<T>()) {
    check_case<T>(name, gemm, 300, 257, 513, layout::row, layout::row, false);
    check_case<T>(name, gemm, 129, 300, 260, layout::col, layout::row, true);
    check_case<T>(name, gemm, 260, 70, 300, layout::row, layout::col, true);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_extents, T, float_types) {
  for (const auto& [name, gemm] : backends<T>()) {
    // k = 0: C = 0, or C unchanged when accumulating.
    std::vector<T> c(12, T(3));
    gemm(nullptr, 3, 0, 0, 1, nullptr, 4, 4, 1, c.data(), 4, true);
    for (T v : c) BOOST_TEST(v == T(3));
    gemm(nullptr, 3, 0, 0, 1, nullptr, 4, 4, 1, c.data(), 4, false);
    for (T v : c) BOOST_TEST(v == T(0));
    // m = 0 or n = 0: nothing is written.
    std::vector<T> a(6, T(1));
    gemm(a.data(), 0, 3, 3, 1, a.data(), 2, 2, 1, c.data(), 2, false);
    gemm(a.data(), 2, 3, 3, 1, a.data(), 0, 1, 1, c.data(), 1, false);
  }
}

BOOST_AUTO_TEST_CASE(backend_name_matches_build) {
  const std::string b = tessera::detail::gemm_backend();
#if TESSERA_GEMM_BLIS
  BOOST_TEST(b == "blis");
#elif TESSERA_GEMM_BLAS
  BOOST_TEST(b == "blas");
#else
  BOOST_TEST(b == "eigen");
#endif
}

BOOST_AUTO_TEST_SUITE_END()
