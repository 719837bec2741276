// SPDX-License-Identifier: Apache-2.0
// Reductions against naive loops over every axis subset of a rank-3 tensor, both keepdim
// modes, on contiguous, strided and permuted layouts; var correction, argmax, logsumexp
// stability, norms, sum_to, determinism across thread counts.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "helpers.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace tessera;
using ops_test::check_throws;
using ops_test::check_values;
using ops_test::float_types;
using ops_test::random_tensor;
using ops_test::ravel;
using ops_test::rtol;
using ops_test::strided_copy;
using ops_test::unravel;

namespace {

/// The values of `x` grouped by output element of a reduction over `reduced` (row-major over
/// the keepdim output shape).
template <class T>
std::vector<std::vector<double>> groups(const tensor<T>& x, const std::vector<bool>& reduced,
                                        shape_t& keep_shape, shape_t& squeezed) {
  keep_shape = shape_t{};
  squeezed = shape_t{};
  for (int k = 0; k < x.rank(); ++k) {
    keep_shape.push_back(reduced[static_cast<std::size_t>(k)] ? 1 : x.shape()[k]);
    if (!reduced[static_cast<std::size_t>(k)]) squeezed.push_back(x.shape()[k]);
  }
  std::vector<std::vector<double>> g(static_cast<std::size_t>(keep_shape.numel()));
  for (index_t f = 0; f < x.numel(); ++f) {
    std::vector<index_t> idx = unravel(f, x.shape());
    const double v = static_cast<double>(x.flat(f));
    for (int k = 0; k < x.rank(); ++k)
      if (reduced[static_cast<std::size_t>(k)]) idx[static_cast<std::size_t>(k)] = 0;
    g[static_cast<std::size_t>(ravel(idx, keep_shape))].push_back(v);
  }
  return g;
}

using reducer = std::function<double(const std::vector<double>&)>;

double ref_sum(const std::vector<double>& v) {
  long double s = 0;
  for (double x : v) s += x;
  return static_cast<double>(s);
}
double ref_mean(const std::vector<double>& v) { return ref_sum(v) / static_cast<double>(v.size()); }
double ref_var(const std::vector<double>& v, int correction) {
  const double m = ref_mean(v);
  long double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return static_cast<double>(s) / static_cast<double>(static_cast<index_t>(v.size()) - correction);
}
double ref_lse(const std::vector<double>& v) {
  long double s = 0;
  for (double x : v) s += std::exp(static_cast<long double>(x));
  return static_cast<double>(std::log(s));
}

/// The layouts every reduction must agree on: contiguous, strided, and a permuted copy
/// viewed back in the original axis order.
template <class T>
std::vector<std::pair<const char*, tensor<T>>> layouts(const tensor<T>& x) {
  const tensor<T> p = x.permute(shape_t{2, 0, 1}).clone().permute(shape_t{1, 2, 0});
  return {{"contiguous", x}, {"strided", strided_copy(x)}, {"permuted", p}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops)
BOOST_AUTO_TEST_SUITE(reduce)

BOOST_AUTO_TEST_CASE_TEMPLATE(all_axis_subsets_against_naive_loops, T, float_types) {
  const tensor<T> x0 = random_tensor<T>(shape_t{3, 4, 5}, 21, -2, 2);
  using op_fn = std::function<tensor<T>(const tensor<T>&, const shape_t&, bool)>;
  const std::vector<std::tuple<const char*, op_fn, reducer, double>> ops = {
      {"sum", [](auto& x, auto& a, bool k) { return sum(x, a, k); }, ref_sum, 1},
      {"mean", [](auto& x, auto& a, bool k) { return mean(x, a, k); }, ref_mean, 1},
      {"var0", [](auto& x, auto& a, bool k) { return var(x, a, 0, k); },
       [](const std::vector<double>& v) { return ref_var(v, 0); }, 4},
      {"var1", [](auto& x, auto& a, bool k) { return var(x, a, 1, k); },
       [](const std::vector<double>& v) { return ref_var(v, 1); }, 4},
      {"max", [](auto& x, auto& a, bool k) { return max(x, a, k); },
       [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }, 0},
      {"min", [](auto& x, auto& a, bool k) { return min(x, a, k); },
       [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }, 0},
      {"logsumexp", [](auto& x, auto& a, bool k) { return logsumexp(x, a, k); }, ref_lse, 1},
      {"norm1", [](auto& x, auto& a, bool k) { return norm(x, T(1), a, k); },
       [](const std::vector<double>& v) {
         long double s = 0;
         for (double e : v) s += std::abs(e);
         return static_cast<double>(s);
       },
       1},
      {"norm2", [](auto& x, auto& a, bool k) { return norm(x, T(2), a, k); },
       [](const std::vector<double>& v) {
         long double s = 0;
         for (double e : v) s += e * e;
         return static_cast<double>(std::sqrt(s));
       },
       1},
      {"norminf",
       [](auto& x, auto& a, bool k) { return norm(x, std::numeric_limits<T>::infinity(), a, k); },
       [](const std::vector<double>& v) {
         double m = 0;
         for (double e : v) m = std::max(m, std::abs(e));
         return m;
       },
       0},
  };
  for (const auto& [layout, x] : layouts(x0)) {
    for (int mask = 0; mask < 8; ++mask) {
      std::vector<bool> reduced(3);
      shape_t axes;
      for (int k = 0; k < 3; ++k) {
        reduced[static_cast<std::size_t>(k)] = mask == 0 || ((mask >> k) & 1);
        // Odd masks name their axes from the end.
        if (mask != 0 && ((mask >> k) & 1)) axes.push_back(mask % 2 ? k - 3 : k);
      }
      shape_t keep, squeezed;
      const auto g = groups(x, reduced, keep, squeezed);
      for (const auto& [name, op, ref, tol_scale] : ops) {
        std::vector<double> want;
        for (const auto& grp : g) want.push_back(ref(grp));
        const double tol = rtol<T>() * std::max(1.0, tol_scale * 10);
        BOOST_TEST_CONTEXT(name << " over " << axes << " (" << layout << ")") {
          check_values(op(x, axes, true), keep, want, tol, tol);
          check_values(op(x, axes, false), squeezed, want, tol, tol);
        }
      }
      // argmax along each single axis.
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(argmax_first_maximum, T, float_types) {
  const tensor<T> x0 = random_tensor<T>(shape_t{3, 4, 5}, 22);
  for (const auto& [layout, x] : layouts(x0)) {
    for (int axis = -3; axis < 3; ++axis) {
      const int a = axis < 0 ? axis + 3 : axis;
      std::vector<bool> reduced(3, false);
      reduced[static_cast<std::size_t>(a)] = true;
      shape_t keep, squeezed;
      const auto g = groups(x, reduced, keep, squeezed);
      std::vector<double> want;
      for (const auto& grp : g)
        want.push_back(static_cast<double>(std::max_element(grp.begin(), grp.end()) - grp.begin()));
      BOOST_TEST_CONTEXT("axis " << axis << " (" << layout << ")") {
        check_values(argmax(x, axis, true), keep, want, 0);
        check_values(argmax(x, axis, false), squeezed, want, 0);
      }
    }
  }
  // Ties pick the first; NaN wins (as in numpy).
  const T nan = std::numeric_limits<T>::quiet_NaN();
  BOOST_TEST(argmax(from_list<T>({1, 3, 3, 2}), 0).item() == 1);
  BOOST_TEST(argmax(from_list<T>({1, nan, 3, nan}), 0).item() == 1);
  BOOST_TEST(argmax(from_list<T>({-5}), 0).item() == 0);
  BOOST_TEST(std::isnan(max(from_list<T>({1, nan, 3})).item()));
  BOOST_TEST(std::isnan(min(from_list<T>({nan, 1, 3})).item()));
  // A NaN makes every norm NaN, the infinity norm's max included (it skipped NaN before).
  const T inf = std::numeric_limits<T>::infinity();
  for (const T p : {T(1), T(2), inf}) {
    BOOST_TEST_CONTEXT("norm p = " << p) {
      BOOST_TEST(std::isnan(norm(from_list<T>({1, nan, 3}), p).item()));
      BOOST_TEST(std::isnan(norm(from_list<T>({nan, 1, 3}), p).item()));
      const tensor<T> rows = norm(from_list<T>({1, nan, 3, -4}).reshape({2, 2}), p, shape_t{1});
      BOOST_TEST(std::isnan(rows.data()[0]));
      BOOST_TEST(rows.data()[1] == (p == T(1) ? T(7) : p == T(2) ? T(5) : T(4)));
    }
  }
  check_throws([] { (void)argmax(zeros<T>(shape_t{2, 0}), 1); }, {"tessera::argmax", "(2,0)"});
  check_throws([] { (void)argmax(zeros<T>(shape_t{2, 3}), 2); }, {"tessera::argmax", "axis 2"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(logsumexp_is_stable, T, float_types) {
  const T inf = std::numeric_limits<T>::infinity();
  const double l2 = std::log(2.0);
  check_values(logsumexp(from_list<T>({1000, 1000})), shape_t{}, {1000 + l2}, rtol<T>());
  check_values(logsumexp(from_list<T>({-1000, -1000})), shape_t{}, {-1000 + l2}, rtol<T>());
  check_values(logsumexp(from_list<T>({1000, 0})), shape_t{}, {1000}, rtol<T>());
  check_values(logsumexp(from_list<T>({0, -inf})), shape_t{}, {0}, rtol<T>());
  check_values(logsumexp(from_list<T>({-inf, -inf})), shape_t{}, {-INFINITY}, 0);
  check_values(logsumexp(from_list<T>({inf, 0})), shape_t{}, {INFINITY}, 0);
  // Rows of very different scales, reduced along the last axis with keepdim.
  const tensor<T> x = from_vector<T>({1000, 999, 998, -1000, -1001, -1002, 0, 0, 0}, shape_t{3, 3});
  const double r = std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  check_values(logsumexp(x, shape_t{1}, true), shape_t{3, 1}, {1000 + r, -1000 + r, std::log(3.0)},
               rtol<T>() * 10);
  check_values(logsumexp(x.transpose(0, 1), shape_t{0}), shape_t{3},
               {1000 + r, -1000 + r, std::log(3.0)}, rtol<T>() * 10);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_and_rank0_reductions, T, float_types) {
  const tensor<T> e = zeros<T>(shape_t{3, 0});
  check_values(sum(e, shape_t{1}), shape_t{3}, {0, 0, 0}, 0);
  check_values(sum(e), shape_t{}, {0}, 0);
  check_values(sum(e, shape_t{0}), shape_t{0}, {}, 0);
  check_values(norm(e, T(2), shape_t{1}), shape_t{3}, {0, 0, 0}, 0);
  BOOST_TEST(std::isnan(mean(e).item()));
  check_throws([&] { (void)max(e, shape_t{1}); }, {"tessera::max", "(3,0)"});
  check_throws([&] { (void)min(e); }, {"tessera::min", "(3,0)"});
  // An axis beyond int's range is refused, not narrowed (2³² became axis 0).
  check_throws([&] { (void)sum(e, shape_t{index_t(1) << 32}); },
               {"tessera::sum", "axis 4294967296", "out of range"});
  check_values(logsumexp(e, shape_t{1}), shape_t{3}, {-INFINITY, -INFINITY, -INFINITY}, 0);
  check_values(logsumexp(e, shape_t{1}, true), shape_t{3, 1}, {-INFINITY, -INFINITY, -INFINITY}, 0);
  const tensor<T> s = scalar<T>(T(2.5));
  BOOST_TEST(sum(s).item() == T(2.5));
  BOOST_TEST(max(s).item() == T(2.5));
  BOOST_TEST(mean(s).item() == T(2.5));
  BOOST_TEST(var(s).item() == T(0));
  BOOST_TEST(std::isnan(var(s, shape_t{}, 1).item()));  // 1 element, correction 1
}

BOOST_AUTO_TEST_CASE_TEMPLATE(large_sums_accurate_and_deterministic, T, float_types) {
  const index_t n = 200003;  // above the parallel grain, not a multiple of the block size
  const tensor<T> x = random_tensor<T>(shape_t{n}, 23, 0, 1);
  long double ref = 0;
  for (index_t i = 0; i < n; ++i) ref += static_cast<long double>(x(i));
  // The lane/block summation keeps float error far below n·eps.
  BOOST_TEST(static_cast<double>(sum(x).item()) == static_cast<double>(ref),
             boost::test_tools::tolerance(std::is_same_v<T, float> ? 1e-6 : 1e-14));
  const tensor<T> m = x.reshape(shape_t{1, n});
  BOOST_TEST(sum(m, shape_t{1}).item() == sum(x).item());
#if defined(_OPENMP)
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const T one = sum(x).item();
  const std::vector<T> cols1 =
      sum(x.slice(0, 0, 200000).reshape(shape_t{400, 500}), shape_t{0}).to_vector();
  omp_set_num_threads(3);
  const T three = sum(x).item();
  const std::vector<T> cols3 =
      sum(x.slice(0, 0, 200000).reshape(shape_t{400, 500}), shape_t{0}).to_vector();
  omp_set_num_threads(saved);
  BOOST_TEST(one == three);  // bitwise
  BOOST_TEST(cols1 == cols3);
#endif
}

BOOST_AUTO_TEST_CASE_TEMPLATE(kept_axes_between_reduced_ones_sum_in_place, T, float_types) {
  // A contiguous x reduced over axes on both sides of a run of kept ones (a bias gradient:
  // (B, C, P) to C) is summed where it lies; the result must equal the naive sum, whatever
  // the size-1 axes and however many kept axes there are, and not depend on the thread count.
  struct reduction_case {
    shape_t shape, axes;
  };
  const std::vector<reduction_case> cases = {
      {shape_t{32, 8, 1000}, shape_t{0, 2}},     // the FNO bias: rows of 1000 with lane tails
      {shape_t{3, 1, 5, 1, 37}, shape_t{0, 4}},  // size-1 axes on both sides of the kept one
      {shape_t{4, 6, 2, 33}, shape_t{0, 3}},     // two kept axes in a row
      {shape_t{2, 3, 5, 7}, shape_t{0, 1, 3}},   // two reduced axes before the kept one
      {shape_t{5, 3, 9}, shape_t{0, 2}}};
  for (const reduction_case& c : cases) {
    const tensor<T> x = random_tensor<T>(c.shape, 31);
    std::vector<bool> reduced(static_cast<std::size_t>(x.rank()), false);
    for (index_t a : c.axes) reduced[static_cast<std::size_t>(a)] = true;
    shape_t keep_shape, squeezed;
    const auto g = groups(x, reduced, keep_shape, squeezed);
    std::vector<double> want;
    for (const auto& v : g) want.push_back(ref_sum(v));
    BOOST_TEST_CONTEXT("shape " << c.shape << " axes " << c.axes) {
      check_values(sum(x, c.axes, true), keep_shape, want, rtol<T>() * 10, rtol<T>());
      check_values(sum_to(x, keep_shape), keep_shape, want, rtol<T>() * 10, rtol<T>());
      // The copy path (a strided view of the same values) agrees to rounding.
      check_values(sum(strided_copy(x), c.axes, true), keep_shape, want, rtol<T>() * 10, rtol<T>());
#if defined(_OPENMP)
      const int saved = omp_get_max_threads();
      omp_set_num_threads(1);
      const std::vector<T> one = sum(x, c.axes).to_vector();
      omp_set_num_threads(3);
      const std::vector<T> three = sum(x, c.axes).to_vector();
      omp_set_num_threads(saved);
      BOOST_TEST(one == three);  // bitwise
#endif
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(sum_to_undoes_broadcasting, T, float_types) {
  const tensor<T> g = random_tensor<T>(shape_t{2, 3, 4}, 24);
  const std::vector<shape_t> targets = {shape_t{2, 3, 4}, shape_t{3, 4}, shape_t{4},
                                        shape_t{},        shape_t{3, 1}, shape_t{1, 1, 1},
                                        shape_t{2, 1, 4}, shape_t{1, 4}, shape_t{2, 3, 1}};
  for (const shape_t& t : targets) {
    // Reference: every element of g lands on its broadcast source position.
    std::vector<double> want(static_cast<std::size_t>(t.numel()), 0.0);
    for (index_t f = 0; f < g.numel(); ++f) {
      const std::vector<index_t> idx = unravel(f, g.shape());
      std::vector<index_t> src;
      for (int k = 0; k < t.rank(); ++k) {
        const index_t i = idx[static_cast<std::size_t>(g.rank() - t.rank() + k)];
        src.push_back(t[k] == 1 ? 0 : i);
      }
      want[static_cast<std::size_t>(ravel(src, t))] += static_cast<double>(g.flat(f));
    }
    BOOST_TEST_CONTEXT("to " << t) {
      check_values(sum_to(g, t), t, want, rtol<T>() * 10, rtol<T>());
      check_values(sum_to(strided_copy(g), t), t, want, rtol<T>() * 10, rtol<T>());
      // Adjoint of expand: <sum_to(g), y> == <g, expand(y)>.
      const tensor<T> y = random_tensor<T>(t, 25);
      BOOST_TEST(ops_test::dot_all(sum_to(g, t), y) == ops_test::dot_all(g, y.expand(g.shape())),
                 boost::test_tools::tolerance(rtol<T>() * 10));
    }
  }
  check_throws([&] { (void)sum_to(g, shape_t{5}); }, {"tessera::sum_to", "(2,3,4)", "(5)"});
  check_throws([&] { (void)sum_to(g, shape_t{1, 2, 3, 4}); }, {"tessera::sum_to", "(1,2,3,4)"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(reduction_errors, T, float_types) {
  const tensor<T> x = random_tensor<T>(shape_t{2, 3}, 26);
  check_throws([&] { (void)sum(x, shape_t{2}); }, {"tessera::sum", "axis 2", "rank 2"});
  check_throws([&] { (void)sum(x, shape_t{0, -2}); }, {"tessera::sum", "axis -2", "appears twice"});
  check_throws([&] { (void)mean(x, shape_t{-3}); }, {"tessera::mean", "axis -3"});
  check_throws([&] { (void)var(x, shape_t{5}); }, {"tessera::var", "axis 5"});
  check_throws([&] { (void)max(x, shape_t{3}); }, {"tessera::max", "axis 3"});
  check_throws([&] { (void)logsumexp(x, shape_t{4}); }, {"tessera::logsumexp", "axis 4"});
  check_throws([&] { (void)norm(x, T(3)); }, {"tessera::norm", "p 3"});
  check_throws([&] { (void)norm(x, T(2), shape_t{7}); }, {"tessera::norm", "axis 7"});
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
