// SPDX-License-Identifier: Apache-2.0
// shape_t, contiguous strides, axis normalisation and broadcasting rules.
#include <boost/test/unit_test.hpp>

#include "helpers.hpp"

using namespace tessera;
using core_test::check_throws;

BOOST_AUTO_TEST_SUITE(core)
BOOST_AUTO_TEST_SUITE(shape)

BOOST_AUTO_TEST_CASE(shape_basics) {
  shape_t s{2, 3, 4};
  BOOST_TEST(s.rank() == 3);
  BOOST_TEST(s.numel() == 24);
  BOOST_TEST(s.back() == 4);
  BOOST_TEST(s.str() == "(2,3,4)");
  BOOST_TEST(shape_t{}.numel() == 1);
  BOOST_TEST(shape_t{}.str() == "()");
  BOOST_TEST((shape_t{3, 0, 5}.numel()) == 0);
  s.insert(1, 7);
  BOOST_TEST(s == (shape_t{2, 7, 3, 4}));
  s.erase(0);
  BOOST_TEST(s == (shape_t{7, 3, 4}));
  s.push_back(9);
  BOOST_TEST(s == (shape_t{7, 3, 4, 9}));
  BOOST_TEST(!(s == (shape_t{7, 3, 4})));
  BOOST_TEST(shape_t::filled(3, 5) == (shape_t{5, 5, 5}));
  shape_t full = shape_t::filled(max_rank, 1);
  check_throws([&] { full.push_back(1); }, {"tessera::shape_t::push_back", "rank 9", "8"});
  check_throws([&] { full.insert(0, 1); }, {"tessera::shape_t::insert", "rank 9"});
  check_throws([] { (void)shape_t{1, 1, 1, 1, 1, 1, 1, 1, 1}; }, {"tessera::shape_t", "rank 9"});
}

BOOST_AUTO_TEST_CASE(contiguous_strides_are_row_major) {
  BOOST_TEST(contiguous_strides(shape_t{2, 3, 4}) == (shape_t{12, 4, 1}));
  BOOST_TEST(contiguous_strides(shape_t{5}) == (shape_t{1}));
  BOOST_TEST(contiguous_strides(shape_t{}) == shape_t{});
  // Zero extents do not zero the outer strides.
  BOOST_TEST(contiguous_strides(shape_t{2, 0, 3}) == (shape_t{3, 3, 1}));
}

BOOST_AUTO_TEST_CASE(normalize_axis_range) {
  BOOST_TEST(normalize_axis("f", -1, 3) == 2);
  BOOST_TEST(normalize_axis("f", -3, 3) == 0);
  BOOST_TEST(normalize_axis("f", 2, 3) == 2);
  check_throws([] { (void)normalize_axis("myfn", 3, 3); }, {"tessera::myfn", "axis 3", "rank 3"});
  check_throws([] { (void)normalize_axis("myfn", -4, 3); }, {"tessera::myfn", "axis -4"});
  check_throws([] { (void)normalize_axis("myfn", 0, 0); }, {"axis 0", "rank 0"});
}

BOOST_AUTO_TEST_CASE(broadcast_rules) {
  BOOST_TEST(broadcast_shapes("f", shape_t{2, 1, 4}, shape_t{3, 1}) == (shape_t{2, 3, 4}));
  BOOST_TEST(broadcast_shapes("f", shape_t{}, shape_t{5, 2}) == (shape_t{5, 2}));
  BOOST_TEST(broadcast_shapes("f", shape_t{0, 1}, shape_t{1, 3}) == (shape_t{0, 3}));
  BOOST_TEST(broadcast_shapes("f", shape_t{1}, shape_t{0}) == (shape_t{0}));
  BOOST_TEST(broadcast_shapes("f", shape_t{4, 1}, shape_t{4, 1}) == (shape_t{4, 1}));
  // Symmetric.
  BOOST_TEST(broadcast_shapes("f", shape_t{3, 1}, shape_t{2, 1, 4}) == (shape_t{2, 3, 4}));
  check_throws(
      [] {
        (void)broadcast_shapes("add", shape_t{2, 3}, shape_t{4, 3});
      },
      {"tessera::add", "(2,3)", "(4,3)", "2 vs 4"});
  check_throws([] { (void)broadcast_shapes("add", shape_t{0}, shape_t{2}); }, {"(0)", "(2)"});
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
