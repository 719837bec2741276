// SPDX-License-Identifier: Apache-2.0
// Indexing ops by definition and by adjoint identities (<scatter(g), x> == <g, gather(x)>),
// joining ops by round trips, and out-of-range input.
#include <boost/test/unit_test.hpp>

#include <limits>
#include <random>

#include "helpers.hpp"
#include "tessera/ops/view.hpp"

using namespace tessera;
using ops_test::check_throws;
using ops_test::check_values;
using ops_test::dot_all;
using ops_test::float_types;
using ops_test::random_tensor;
using ops_test::rtol;
using ops_test::strided_copy;
using ops_test::unravel;

namespace {

tensor<index_t> random_index(const shape_t& shape, index_t bound, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  tensor<index_t> t(shape);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<index_t>(rng() % bound);
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops)
BOOST_AUTO_TEST_SUITE(indexing)

BOOST_AUTO_TEST_CASE_TEMPLATE(index_select_and_index_add_are_adjoint, T, float_types) {
  const tensor<T> x0 = random_tensor<T>(shape_t{4, 5, 3}, 41);
  for (const tensor<T>& x : {x0, strided_copy(x0)}) {
    for (int axis = -3; axis < 3; ++axis) {
      const int a = axis < 0 ? axis + 3 : axis;
      const tensor<index_t> idx = random_index(shape_t{7}, x.shape()[a], 42 + a);  // repeats
      const tensor<T> y = index_select(x, axis, idx);
      shape_t ys = x.shape();
      ys[a] = 7;
      std::vector<double> want;
      for (index_t f = 0; f < ys.numel(); ++f) {
        std::vector<index_t> i = unravel(f, ys);
        i[static_cast<std::size_t>(a)] = idx(i[static_cast<std::size_t>(a)]);
        want.push_back(static_cast<double>(ops_test::at(x, i)));
      }
      BOOST_TEST_CONTEXT("axis " << axis) {
        check_values(y, ys, want, 0);
        const tensor<T> g = random_tensor<T>(ys, 43);
        const tensor<T> back = index_add(x.shape(), axis, idx, g);
        BOOST_TEST(dot_all(back, x) == dot_all(g, y), boost::test_tools::tolerance(rtol<T>() * 10));
        // Strided index tensor.
        const tensor<index_t> idx2 = random_index(shape_t{14}, x.shape()[a], 44).slice(0, 0, 14, 2);
        check_values(index_select(x, axis, idx2), index_select(x, axis, idx2.clone()).shape(),
                     ops_test::values(index_select(x, axis, idx2.clone())), 0);
      }
    }
  }
  // Empty index.
  BOOST_TEST(index_select(x0, 1, tensor<index_t>(shape_t{0})).shape() == (shape_t{4, 0, 3}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(gather_and_scatter_add_are_adjoint, T, float_types) {
  const tensor<T> x0 = random_tensor<T>(shape_t{4, 5, 3}, 51);
  for (const tensor<T>& x : {x0, strided_copy(x0)}) {
    for (int axis = 0; axis < 3; ++axis) {
      // index extents: up to x's on other axes, any size along axis.
      shape_t is{3, 4, 2};
      is[axis] = 6;
      const tensor<index_t> idx = random_index(is, x.shape()[axis], 52 + axis);
      const tensor<T> y = gather(x, axis, idx);
      std::vector<double> want;
      for (index_t f = 0; f < is.numel(); ++f) {
        std::vector<index_t> i = unravel(f, is);
        i[static_cast<std::size_t>(axis)] = idx.flat(f);
        want.push_back(static_cast<double>(ops_test::at(x, i)));
      }
      BOOST_TEST_CONTEXT("axis " << axis) {
        check_values(y, is, want, 0);
        const tensor<T> g = random_tensor<T>(is, 53);
        const tensor<T> back = scatter_add(x.shape(), axis, idx, g);
        BOOST_TEST(dot_all(back, x) == dot_all(g, y), boost::test_tools::tolerance(rtol<T>() * 10));
        // Strided index and source give the same result as contiguous ones.
        check_values(scatter_add(x.shape(), axis, strided_copy(idx), strided_copy(g)), x.shape(),
                     ops_test::values(back), 0);
        check_values(gather(x, axis - 3, strided_copy(idx)), is, want, 0);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(embedding_lookup, T, float_types) {
  const tensor<T> W = random_tensor<T>(shape_t{10, 4}, 61);
  const tensor<index_t> ids = from_vector<index_t>({3, 0, 9, 3, 3, 7}, shape_t{2, 3});
  const tensor<T> e = embedding(W, ids);
  BOOST_TEST_REQUIRE(e.shape() == (shape_t{2, 3, 4}));
  for (index_t i = 0; i < 2; ++i)
    for (index_t j = 0; j < 3; ++j)
      for (index_t d = 0; d < 4; ++d) BOOST_TEST(e(i, j, d) == W(ids(i, j), d));
  // Adjoint: the gradient of W is index_add of the output gradient rows.
  const tensor<T> g = random_tensor<T>(e.shape(), 62);
  const tensor<T> gw = index_add(W.shape(), 0, ids.flatten(), g.reshape(shape_t{6, 4}));
  BOOST_TEST(dot_all(gw, W) == dot_all(g, e), boost::test_tools::tolerance(rtol<T>() * 10));
  // Row 3 was looked up three times.
  for (index_t d = 0; d < 4; ++d)
    BOOST_TEST(static_cast<double>(gw(3, d)) == static_cast<double>(g(0, 0, d)) +
                                                    static_cast<double>(g(1, 0, d)) +
                                                    static_cast<double>(g(1, 1, d)),
               boost::test_tools::tolerance(rtol<T>()));
  BOOST_TEST(embedding(W, scalar<index_t>(2)).shape() == (shape_t{4}));
  BOOST_TEST(embedding(strided_copy(W), ids.transpose(0, 1)).to_vector() ==
             embedding(W, ids.transpose(0, 1).clone()).to_vector());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(slice_scatter_is_adjoint_of_slice, T, float_types) {
  const tensor<T> x = random_tensor<T>(shape_t{5, 9}, 71);
  for (auto [start, step, n] : {std::tuple<index_t, index_t, index_t>{0, 1, 9},
                                {1, 2, 4},
                                {2, 3, 3},
                                {8, 5, 1},
                                {4, 1, 0}}) {
    const tensor<T> s = x.slice(1, start, start + (n - 1) * step + 1, step);
    BOOST_TEST_REQUIRE(s.size(1) == n);
    const tensor<T> g = random_tensor<T>(s.shape(), 72);
    const tensor<T> back = slice_scatter(g, x.shape(), 1, start, step);
    BOOST_TEST(dot_all(back, x) == dot_all(g, s), boost::test_tools::tolerance(rtol<T>() * 10));
    BOOST_TEST(sum(back).item() == sum(g).item(), boost::test_tools::tolerance(T(rtol<T>() * 10)));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(concat_stack_split_round_trips, T, float_types) {
  const tensor<T> a = random_tensor<T>(shape_t{2, 3, 4}, 81);
  const tensor<T> b = strided_copy(random_tensor<T>(shape_t{2, 5, 4}, 82));
  const tensor<T> c = random_tensor<T>(shape_t{2, 0, 4}, 83);
  const tensor<T> d = random_tensor<T>(shape_t{2, 1, 4}, 84);
  const tensor<T> cat = concat<T>({a, b, c, d}, -2);
  BOOST_TEST_REQUIRE(cat.shape() == (shape_t{2, 9, 4}));
  const std::vector<tensor<T>> parts = split(cat, {3, 5, 0, 1}, 1);
  BOOST_TEST_REQUIRE(parts.size() == 4u);
  BOOST_TEST(parts[0].to_vector() == a.to_vector());
  BOOST_TEST(parts[1].to_vector() == b.to_vector());
  BOOST_TEST(parts[2].shape() == c.shape());
  BOOST_TEST(parts[3].to_vector() == d.to_vector());
  BOOST_TEST(shares_storage(parts[1], cat));  // split gives views
  // Element-level check of the concatenation.
  for (index_t i = 0; i < 2; ++i)
    for (index_t j = 0; j < 9; ++j)
      for (index_t k = 0; k < 4; ++k)
        BOOST_TEST(cat(i, j, k) == (j < 3 ? a(i, j, k) : j < 8 ? b(i, j - 3, k) : d(i, 0, k)));
  // concat(split(x)) == x along every axis.
  const tensor<T> x = random_tensor<T>(shape_t{4, 6, 2}, 85);
  for (int axis = 0; axis < 3; ++axis) {
    const index_t n = x.shape()[axis];
    const std::vector<tensor<T>> pieces = split(x, {1, n - 1, 0}, axis);
    BOOST_TEST(concat(pieces, axis).to_vector() == x.to_vector());
  }
  // stack: select(axis, i) of the stack is part i, for every new-axis position.
  const tensor<T> p = random_tensor<T>(shape_t{3, 2}, 86),
                  q = strided_copy(random_tensor<T>(shape_t{3, 2}, 87));
  for (int axis = -3; axis < 3; ++axis) {
    const tensor<T> st = stack<T>({p, q, p}, axis);
    const int a = axis < 0 ? axis + 3 : axis;
    shape_t want{3, 2};
    want.insert(a, 3);
    BOOST_TEST_REQUIRE(st.shape() == want);
    BOOST_TEST(st.select(a, 0).to_vector() == p.to_vector());
    BOOST_TEST(st.select(a, 1).to_vector() == q.to_vector());
    BOOST_TEST(st.select(a, 2).to_vector() == p.to_vector());
  }
}

BOOST_AUTO_TEST_CASE(indexing_errors) {
  const tensor<float> x = random_tensor<float>(shape_t{4, 3}, 1);
  const tensor<index_t> good = from_list<index_t>({0, 1});
  // index_select
  check_throws(
      [&] {
        (void)index_select(x, 0, from_list<index_t>({0, 4}));
      },
      {"tessera::index_select", "index 4", "axis 0", "(4,3)"});
  check_throws([&] { (void)index_select(x, 1, from_list<index_t>({-1})); },
               {"tessera::index_select", "index -1"});
  check_throws([&] { (void)index_select(x, 2, good); }, {"tessera::index_select", "axis 2"});
  check_throws(
      [&] {
        (void)index_select(x, 0, zeros<index_t>(shape_t{2, 2}));
      },
      {"tessera::index_select", "rank 1", "(2,2)"});
  // index_add: bad index values, index rank, and a source that does not match.
  check_throws(
      [&] {
        (void)index_add(x.shape(), 0, from_list<index_t>({5}), zeros<float>(shape_t{1, 3}));
      },
      {"tessera::index_add", "index 5", "(4,3)"});
  check_throws(
      [&] {
        (void)index_add(x.shape(), 0, zeros<index_t>(shape_t{2, 2}), zeros<float>(shape_t{4, 3}));
      },
      {"tessera::index_add", "rank 1", "(2,2)"});
  check_throws(
      [&] {
        (void)index_add(x.shape(), 0, good, zeros<float>(shape_t{2, 5}));
      },
      {"tessera::index_add", "(2,5)", "(2,3)"});
  check_throws(
      [&] {
        (void)index_add(x.shape(), 0, good, zeros<float>(shape_t{1, 3}));
      },
      {"tessera::index_add", "(1,3)", "(2,3)"});
  check_throws(
      [&] {
        (void)index_add(x.shape(), 3, good, zeros<float>(shape_t{2, 3}));
      },
      {"tessera::index_add", "axis 3"});
  // gather
  check_throws(
      [&] {
        (void)gather(x, 1, from_vector<index_t>({0, 3}, shape_t{2, 1}));
      },
      {"tessera::gather", "index 3", "axis 1"});
  check_throws([&] { (void)gather(x, 1, good); }, {"tessera::gather", "(2)", "(4,3)"});
  check_throws(
      [&] {
        (void)gather(x, 1, zeros<index_t>(shape_t{5, 1}));
      },
      {"tessera::gather", "(5,1)", "(4,3)", "axis 0"});
  // scatter_add: index rank, extents beyond the output, source shape, values.
  check_throws([&] { (void)scatter_add(x.shape(), 1, good, zeros<float>(shape_t{2})); },
               {"tessera::scatter_add", "(2)", "(4,3)"});
  check_throws(
      [&] {
        (void)scatter_add(x.shape(), 1, zeros<index_t>(shape_t{5, 1}), zeros<float>(shape_t{5, 1}));
      },
      {"tessera::scatter_add", "(5,1)", "(4,3)"});
  check_throws(
      [&] {
        (void)scatter_add(x.shape(), 1, zeros<index_t>(shape_t{2, 2}), zeros<float>(shape_t{1, 2}));
      },
      {"tessera::scatter_add", "(1,2)", "(2,2)"});
  check_throws(
      [&] {
        (void)scatter_add(x.shape(), 0, from_vector<index_t>({4}, shape_t{1, 1}),
                          zeros<float>(shape_t{1, 1}));
      },
      {"tessera::scatter_add", "index 4", "axis 0"});
  // embedding
  check_throws(
      [&] {
        (void)embedding(x, from_list<index_t>({1, 4}));
      },
      {"tessera::embedding", "4", "(4,3)"});
  check_throws([&] { (void)embedding(zeros<float>(shape_t{4}), good); },
               {"tessera::embedding", "rank 2", "(4)"});
  // concat / stack / split
  check_throws([&] { (void)concat<float>({}); }, {"tessera::concat", "no tensors"});
  check_throws(
      [&] {
        (void)concat<float>({x, zeros<float>(shape_t{4, 2})}, 0);
      },
      {"tessera::concat", "tensor 1", "(4,2)", "(4,3)"});
  check_throws(
      [&] {
        (void)concat<float>({x, zeros<float>(shape_t{4})}, 0);
      },
      {"tessera::concat", "tensor 1", "(4)"});
  check_throws([&] { (void)concat<float>({x}, 2); }, {"tessera::concat", "axis 2"});
  check_throws(
      [&] {
        (void)stack<float>({x, zeros<float>(shape_t{3, 4})});
      },
      {"tessera::stack", "tensor 1", "(3,4)", "(4,3)"});
  check_throws([&] { (void)stack<float>({x}, 3); }, {"tessera::stack", "axis 3"});
  check_throws([&] { (void)split(x, {1, 2}, 0); }, {"tessera::split", "add up to 3", "extent 4"});
  check_throws([&] { (void)split(x, {5, -1}, 0); }, {"tessera::split", "size -1"});
  // Sizes whose sum overflows index_t: refused as too large (the message gave the wrapped sum).
  constexpr index_t huge = std::numeric_limits<index_t>::max();
  check_throws(
      [&] {
        (void)split(x, {huge, huge, 4}, 0);
      },
      {"tessera::split", "add up to more than the extent 4"});
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
