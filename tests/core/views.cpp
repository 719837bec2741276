// SPDX-License-Identifier: Apache-2.0
// Strided views: every view's elements are checked against index arithmetic done here, and
// sharing (views write through, copies do not) is checked by writing.
#include <boost/test/unit_test.hpp>

#include <limits>
#include <vector>

#include "helpers.hpp"

using namespace tessera;
using core_test::at;
using core_test::check_throws;
using core_test::iota;
using core_test::ravel;
using core_test::unravel;

namespace {

/// Python's slice(start, stop, step).indices(n) for step > 0, as a list of positions.
std::vector<index_t> python_slice(index_t n, index_t start, index_t stop, index_t step) {
  auto norm = [n](index_t v) {
    if (v < 0) v += n;
    return v < 0 ? index_t(0) : (v > n ? n : v);
  };
  std::vector<index_t> out;
  for (index_t i = norm(start); i < norm(stop); i += step) out.push_back(i);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(core)
BOOST_AUTO_TEST_SUITE(views)

BOOST_AUTO_TEST_CASE(fresh_tensor_layout) {
  const tensor<float> t(shape_t{2, 3, 4});
  BOOST_TEST(t.defined());
  BOOST_TEST(!tensor<float>().defined());
  BOOST_TEST(t.strides() == (shape_t{12, 4, 1}));
  BOOST_TEST(t.offset() == 0);
  BOOST_TEST(t.is_contiguous());
  BOOST_TEST(t.size(-1) == 4);
  BOOST_TEST(t.size(0) == 2);
  // Large allocations are 64-byte aligned.
  const tensor<double> big(shape_t{1000});
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(big.data()) % 64 == 0u);
}

BOOST_AUTO_TEST_CASE(slice_matches_python_semantics) {
  const index_t n = 10;
  const tensor<double> base = iota<double>(shape_t{3, n});
  const index_t starts[] = {-15, -10, -3, -1, 0, 1, 4, 9, 10, 12};
  const index_t stops[] = {-12, -3, -1, 0, 2, 7, 10, 11, 100};
  const index_t steps[] = {1, 2, 3, 7, 20};
  for (index_t start : starts)
    for (index_t stop : stops)
      for (index_t step : steps) {
        const std::vector<index_t> want = python_slice(n, start, stop, step);
        const tensor<double> v = base.slice(1, start, stop, step);
        BOOST_TEST_CONTEXT("slice(" << start << ", " << stop << ", " << step << ")") {
          BOOST_TEST_REQUIRE(v.shape() == (shape_t{3, static_cast<index_t>(want.size())}));
          BOOST_TEST(shares_storage(v, base));
          for (index_t r = 0; r < 3; ++r)
            for (std::size_t k = 0; k < want.size(); ++k)
              BOOST_TEST(v(r, static_cast<index_t>(k)) == static_cast<double>(r * n + want[k]));
        }
      }
  // Slicing the first axis with a negative axis index, and slices of slices.
  const tensor<double> s = base.slice(-2, 1, 3).slice(1, 1, 9, 3).slice(1, -2, 3);
  BOOST_TEST_REQUIRE(s.shape() == (shape_t{2, 2}));
  BOOST_TEST(s(0, 0) == 14.0);
  BOOST_TEST(s(1, 1) == 27.0);
}

BOOST_AUTO_TEST_CASE(select_transpose_permute) {
  const shape_t shape{2, 3, 4};
  const tensor<double> base = iota<double>(shape);
  const tensor<double> sel = base.select(1, -1);
  BOOST_TEST_REQUIRE(sel.shape() == (shape_t{2, 4}));
  for (index_t i = 0; i < 2; ++i)
    for (index_t k = 0; k < 4; ++k)
      BOOST_TEST(sel(i, k) == static_cast<double>(i * 12 + 2 * 4 + k));

  const tensor<double> tr = base.transpose(0, -1);
  BOOST_TEST_REQUIRE(tr.shape() == (shape_t{4, 3, 2}));
  BOOST_TEST(!tr.is_contiguous());
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 3; ++j)
      for (index_t k = 0; k < 2; ++k) BOOST_TEST(tr(i, j, k) == base(k, j, i));

  // Every permutation of 3 axes (negative entries allowed).
  const std::vector<shape_t> orders = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},  {1, 2, 0},
                                       {2, 0, 1}, {2, 1, 0}, {-1, 0, -2}};
  for (const shape_t& o : orders) {
    const tensor<double> p = base.permute(o);
    std::vector<index_t> src(3);
    for (index_t f = 0; f < p.numel(); ++f) {
      const std::vector<index_t> idx = unravel(f, p.shape());
      for (int a = 0; a < 3; ++a) {
        const index_t oa = o[a] < 0 ? o[a] + 3 : o[a];
        src[static_cast<std::size_t>(oa)] = idx[static_cast<std::size_t>(a)];
      }
      BOOST_TEST(at(p, idx) == static_cast<double>(ravel(src, shape)), "order " << o);
    }
    BOOST_TEST(p.is_contiguous() == (o == (shape_t{0, 1, 2})));
  }
}

BOOST_AUTO_TEST_CASE(unsqueeze_squeeze_expand) {
  const tensor<float> base = iota<float>(shape_t{2, 3});
  for (int axis = -3; axis <= 2; ++axis) {
    const tensor<float> u = base.unsqueeze(axis);
    const int a = axis < 0 ? axis + 3 : axis;
    shape_t want = shape_t{2, 3};
    want.insert(a, 1);
    BOOST_TEST(u.shape() == want, "axis " << axis);
    BOOST_TEST(u.is_contiguous());
    BOOST_TEST(u.to_vector() == base.to_vector());
    BOOST_TEST(u.squeeze(axis).shape() == base.shape());
  }
  // unsqueeze of a non-contiguous view stays a correct view.
  const tensor<float> tu = base.transpose(0, 1).unsqueeze(1);
  BOOST_TEST_REQUIRE(tu.shape() == (shape_t{3, 1, 2}));
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 2; ++j) BOOST_TEST(tu(i, 0, j) == base(j, i));

  const tensor<float> e = base.unsqueeze(1).expand(shape_t{4, 2, 5, 3});
  BOOST_TEST_REQUIRE(e.shape() == (shape_t{4, 2, 5, 3}));
  BOOST_TEST(e.strides()[0] == 0);
  BOOST_TEST(e.strides()[2] == 0);
  for (index_t f = 0; f < e.numel(); ++f) {
    const std::vector<index_t> i = unravel(f, e.shape());
    BOOST_TEST(at(e, i) == base(i[1], i[3]));
  }
  // Expanding a size-1 axis to 0 gives an empty view.
  BOOST_TEST(base.unsqueeze(0).expand(shape_t{0, 2, 3}).numel() == 0);
}

BOOST_AUTO_TEST_CASE(reshape_view_versus_copy) {
  const tensor<double> base = iota<double>(shape_t{2, 3, 4});
  const tensor<double> r = base.reshape(shape_t{4, -1});
  BOOST_TEST(r.shape() == (shape_t{4, 6}));
  BOOST_TEST(shares_storage(r, base));  // contiguous: a view
  BOOST_TEST(r.to_vector() == base.to_vector());
  BOOST_TEST(base.view(shape_t{24}).to_vector() == base.to_vector());
  BOOST_TEST(base.reshape(shape_t{-1}).shape() == (shape_t{24}));
  BOOST_TEST(base.slice(0, 1, 2).reshape(shape_t{3, 4}).to_vector() ==
             base.select(0, 1).to_vector());
  BOOST_TEST(shares_storage(base.slice(0, 1, 2).reshape(shape_t{12}), base));  // offset view

  const tensor<double> t = base.transpose(1, 2);  // (2,4,3), not contiguous
  const tensor<double> rt = t.reshape(shape_t{8, 3});
  BOOST_TEST(!shares_storage(rt, base));  // a copy
  for (index_t f = 0; f < 24; ++f) BOOST_TEST(rt.flat(f) == t.flat(f));
  // Writes through views reach the source; writes to copies do not.
  r(3, 5) = -1.0;
  BOOST_TEST(base(1, 2, 3) == -1.0);
  rt(0, 0) = -2.0;
  BOOST_TEST(base(0, 0, 0) == 0.0);
  check_throws([&] { (void)t.view(shape_t{24}); }, {"tessera::tensor::view", "not contiguous"});

  // Rank 0 and empty tensors.
  const tensor<double> s = base.select(0, 1).select(0, 2).select(0, 2);
  BOOST_TEST(s.rank() == 0);
  BOOST_TEST(s.item() == 22.0);
  BOOST_TEST(s.reshape(shape_t{1, 1}).shape() == (shape_t{1, 1}));
  const tensor<float> empty(shape_t{3, 0});
  BOOST_TEST(empty.is_contiguous());
  BOOST_TEST(empty.reshape(shape_t{0, 5}).shape() == (shape_t{0, 5}));
  // -1 next to a zero extent is ambiguous (numpy refuses it too).
  check_throws([&] { (void)empty.reshape(shape_t{0, -1}); }, {"tessera::tensor::reshape", "-1"});
  BOOST_TEST(base.flatten().shape() == (shape_t{24}));
}

BOOST_AUTO_TEST_CASE(contiguous_clone_copy_fill) {
  const tensor<double> base = iota<double>(shape_t{3, 4});
  BOOST_TEST(shares_storage(base.contiguous(), base));
  const tensor<double> t = base.transpose(0, 1);
  const tensor<double> c = t.contiguous();
  BOOST_TEST(!shares_storage(c, base));
  BOOST_TEST(c.is_contiguous());
  BOOST_TEST(c.strides() == (shape_t{3, 1}));
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 3; ++j) BOOST_TEST(c(i, j) == base(j, i));
  const tensor<double> cl = base.clone();
  BOOST_TEST(!shares_storage(cl, base));
  BOOST_TEST(cl.to_vector() == base.to_vector());

  // copy_from into a strided destination, with broadcasting of the source.
  tensor<double> dst = core_test::iota<double>(shape_t{4, 6});
  const tensor<double> view = dst.slice(1, 0, 6, 2);  // (4,3), stride 2
  view.copy_from(from_list<double>({7, 8, 9}));
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 6; ++j)
      BOOST_TEST(dst(i, j) ==
                 (j % 2 == 0 ? 7.0 + static_cast<double>(j / 2) : static_cast<double>(i * 6 + j)));
  view.transpose(0, 1).fill_(-1.0);
  BOOST_TEST(dst(3, 4) == -1.0);
  BOOST_TEST(dst(3, 5) == 23.0);
  check_throws(
      [&] {
        view.copy_from(from_list<double>({1, 2}));
      },
      {"tessera::tensor::copy_from", "(2)", "(4,3)"});

  // to_vector and flat on a non-contiguous view are in logical row-major order.
  const std::vector<double> v = base.slice(1, 1, 4, 2).to_vector();
  BOOST_TEST(v == (std::vector<double>{1, 3, 5, 7, 9, 11}));
}

BOOST_AUTO_TEST_CASE(at_and_item_bounds) {
  const tensor<float> t = iota<float>(shape_t{2, 3});
  BOOST_TEST(t.at({1, 2}) == 5.f);
  check_throws([&] { (void)t.at({2, 0}); }, {"tessera::tensor::at", "index 2", "axis 0", "(2,3)"});
  check_throws([&] { (void)t.at({0, -1}); }, {"tessera::tensor::at", "index -1"});
  check_throws([&] { (void)t.at({0}); }, {"tessera::tensor::at", "1 indices", "(2,3)"});
  check_throws([&] { (void)t.item(); }, {"tessera::tensor::item", "(2,3)"});
}

BOOST_AUTO_TEST_CASE(view_errors_name_function_and_values) {
  const tensor<float> t = iota<float>(shape_t{2, 3});
  check_throws([&] { (void)t.slice(2, 0, 1); }, {"tessera::tensor::slice", "axis 2", "rank 2"});
  check_throws([&] { (void)t.slice(0, 0, 1, 0); }, {"tessera::tensor::slice", "step 0"});
  check_throws([&] { (void)t.slice(0, 0, 1, -1); }, {"tessera::tensor::slice", "step -1"});
  check_throws([&] { (void)t.select(1, 3); }, {"tessera::tensor::select", "index 3", "(2,3)"});
  check_throws([&] { (void)t.select(1, -4); }, {"tessera::tensor::select", "index -4"});
  check_throws([&] { (void)t.transpose(0, 2); }, {"tessera::tensor::transpose", "axis 2"});
  check_throws(
      [&] {
        (void)t.permute(shape_t{0, 0});
      },
      {"tessera::tensor::permute", "(0,0)", "not a permutation"});
  check_throws([&] { (void)t.permute(shape_t{0}); }, {"tessera::tensor::permute", "(0)", "rank 2"});
  check_throws([&] { (void)t.squeeze(1); }, {"tessera::tensor::squeeze", "extent 3"});
  check_throws([&] { (void)t.unsqueeze(3); }, {"tessera::tensor::unsqueeze", "axis 3"});
  check_throws(
      [&] {
        (void)t.expand(shape_t{2, 4});
      },
      {"tessera::tensor::expand", "(2,3)", "(2,4)"});
  check_throws([&] { (void)t.expand(shape_t{3}); }, {"tessera::tensor::expand", "(3)"});
  check_throws(
      [&] {
        (void)t.select(0, 0).unsqueeze(0).expand(shape_t{-1, 3});
      },
      {"tessera::tensor::expand", "(-1,3)"});
  check_throws(
      [&] {
        (void)t.reshape(shape_t{4, 2});
      },
      {"tessera::tensor::reshape", "(4,2)", "8", "6"});
  check_throws(
      [&] {
        (void)t.reshape(shape_t{-1, -1});
      },
      {"tessera::tensor::reshape", "more than one -1"});
  check_throws(
      [&] {
        (void)t.reshape(shape_t{-1, 4});
      },
      {"tessera::tensor::reshape", "(-1,4)", "6 elements"});
  check_throws([&] { (void)t.reshape(shape_t{-2, -3}); }, {"tessera::tensor::reshape", "negative"});
  check_throws([&] { (void)t.view(shape_t{5}); }, {"tessera::tensor::view", "(5)"});
  check_throws(
      [] {
        (void)tensor<float>(shape_t{2, -1});
      },
      {"tessera::tensor", "(2,-1)", "negative"});
  // A shape whose element count overflows must not wrap into a small allocation.
  check_throws(
      [] {
        (void)tensor<float>(shape_t{index_t(1) << 40, index_t(1) << 40});
      },
      {"tessera::tensor", "(1099511627776,1099511627776)", "more elements"});
  check_throws([] { (void)tensor<double>(shape_t{index_t(1) << 61}); },
               {"tessera::tensor", "(2305843009213693952)"});
  // An empty extent does not excuse the others: strides are products of them.
  check_throws(
      [] {
        (void)tensor<float>(shape_t{0, index_t(1) << 40, index_t(1) << 40});
      },
      {"tessera::tensor", "(0,1099511627776,1099511627776)"});
  // Views get the same check: a product that wraps to 0 matched an empty tensor's count (and
  // the view then read out of bounds), an expand to such a shape reported 0 elements.
  const index_t big = index_t(1) << 32;
  check_throws(
      [] {
        (void)tensor<float>(shape_t{0}).reshape(shape_t{index_t(1) << 32, index_t(1) << 32});
      },
      {"tessera::tensor::reshape", "(4294967296,4294967296)", "more elements"});
  check_throws(
      [&] {
        (void)tensor<float>(shape_t{0}).reshape(shape_t{big, big, -1});
      },
      {"tessera::tensor::reshape", "more elements"});
  check_throws(
      [&] {
        (void)tensor<float>(shape_t{0}).view(shape_t{big, big});
      },
      {"tessera::tensor::view", "more elements"});
  check_throws(
      [&] {
        (void)tensor<double>(shape_t{1, 1}).expand(shape_t{big, big});
      },
      {"tessera::tensor::expand", "(4294967296,4294967296)", "more elements"});
}

// A step larger than the axis keeps its first element (the count's arithmetic overflowed).
BOOST_AUTO_TEST_CASE(slice_with_a_huge_step) {
  const tensor<float> t = iota<float>(shape_t{5});
  const tensor<float> s = t.slice(0, 0, 5, std::numeric_limits<index_t>::max());
  BOOST_TEST(s.shape() == (shape_t{1}));
  BOOST_TEST(s(0) == t(0));
  BOOST_TEST(t.slice(0, 2, 5, std::numeric_limits<index_t>::max())(0) == t(2));
  BOOST_TEST(t.slice(0, 3, 3, std::numeric_limits<index_t>::max()).shape() == (shape_t{0}));
}

// Overlapping views of one storage: the copy reads the source as it was (numpy's rule), whatever
// the layouts; before, a strided copy read elements it had already overwritten.
BOOST_AUTO_TEST_CASE(copy_between_overlapping_views) {
  const tensor<float> x = iota<float>(shape_t{2, 4});  // 0 … 7
  x.slice(1, 1, 4).copy_from(x.slice(1, 0, 3));
  const std::vector<float> want{0, 0, 1, 2, 4, 4, 5, 6};
  BOOST_TEST(x.contiguous().to_vector() == want, boost::test_tools::per_element());
  const tensor<float> y = iota<float>(shape_t{6});  // contiguous on both sides: memmove
  y.slice(0, 1, 6).copy_from(y.slice(0, 0, 5));
  const std::vector<float> want_y{0, 0, 1, 2, 3, 4};
  BOOST_TEST(y.to_vector() == want_y, boost::test_tools::per_element());
  const tensor<float> z = iota<float>(shape_t{3, 3});  // a transpose into itself
  z.copy_from(z.transpose(0, 1));
  const std::vector<float> want_z{0, 3, 6, 1, 4, 7, 2, 5, 8};
  BOOST_TEST(z.to_vector() == want_z, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
