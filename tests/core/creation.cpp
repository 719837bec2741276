// SPDX-License-Identifier: Apache-2.0
// Creation functions: full/zeros/ones/scalar, arange, linspace endpoints, eye, from_vector.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <locale>
#include <sstream>

#include "helpers.hpp"
#include "tessera/core/format.hpp"

using namespace tessera;
using core_test::check_throws;
using core_test::float_types;

BOOST_AUTO_TEST_SUITE(core)
BOOST_AUTO_TEST_SUITE(creation)

BOOST_AUTO_TEST_CASE_TEMPLATE(full_zeros_ones_scalar, T, float_types) {
  const tensor<T> f = full<T>(shape_t{2, 3}, T(2.5));
  BOOST_TEST(f.shape() == (shape_t{2, 3}));
  BOOST_TEST(f.to_vector() == std::vector<T>(6, T(2.5)));
  BOOST_TEST(zeros<T>(shape_t{4}).to_vector() == std::vector<T>(4, T(0)));
  BOOST_TEST(ones<T>(shape_t{1, 2}).to_vector() == std::vector<T>(2, T(1)));
  BOOST_TEST(zeros_like(f).shape() == f.shape());
  const tensor<T> s = scalar<T>(T(-3));
  BOOST_TEST(s.rank() == 0);
  BOOST_TEST(s.item() == T(-3));
  BOOST_TEST(full<T>(shape_t{0, 5}, T(1)).numel() == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(arange_counts_and_values, T, float_types) {
  struct arange_case {
    double start, stop, step;
    index_t count;
  };
  const arange_case cases[] = {{0, 5, 1, 5},    {0, 5, 2, 3},   {1, 2, 0.25, 4},
                               {5, 0, -1, 5},   {0, 0, 1, 0},   {3, 1, 1, 0},
                               {-1, 1, 0.5, 4}, {0, 1, 0.3, 4}, {2, -2, -1.5, 3}};
  for (const arange_case& c : cases) {
    const tensor<T> a = arange<T>(T(c.start), T(c.stop), T(c.step));
    BOOST_TEST_CONTEXT("arange(" << c.start << ", " << c.stop << ", " << c.step << ")") {
      BOOST_TEST_REQUIRE(a.shape() == (shape_t{c.count}));
      for (index_t i = 0; i < c.count; ++i)
        BOOST_TEST(static_cast<double>(a(i)) ==
                       static_cast<double>(T(c.start) + T(static_cast<double>(i)) * T(c.step)),
                   boost::test_tools::tolerance(1e-6));
    }
  }
  // Single-argument style default step.
  BOOST_TEST(arange<T>(T(0), T(3)).to_vector() == (std::vector<T>{0, 1, 2}));
  check_throws([] { (void)arange<T>(T(0), T(1), T(0)); }, {"tessera::arange", "step 0"});
  check_throws([] { (void)arange<T>(T(0), T(1), std::numeric_limits<T>::quiet_NaN()); },
               {"tessera::arange", "step nan"});
  check_throws([] { (void)arange<T>(T(0), T(1), std::numeric_limits<T>::infinity()); },
               {"tessera::arange", "step inf"});
  // A count beyond index_t was an undefined conversion (1e30 elements).
  check_throws([] { (void)arange<T>(T(0), T(1e30), T(1)); }, {"tessera::arange", "elements"});
  // eye's m: -1 is "as n"; another negative m is refused (it gave an n×n identity).
  check_throws([] { (void)eye<T>(2, -5); }, {"tessera::eye", "m -5 is negative"});
  BOOST_TEST(eye<T>(2).shape() == (shape_t{2, 2}));
  BOOST_TEST(eye<T>(2, 3).shape() == (shape_t{2, 3}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(linspace_endpoints_and_spacing, T, float_types) {
  for (index_t n : {2, 3, 7, 10, 101}) {
    const tensor<T> l = linspace<T>(T(-1.3), T(2.9), n);
    BOOST_TEST_REQUIRE(l.shape() == (shape_t{n}));
    BOOST_TEST(l(0) == T(-1.3));  // both endpoints exact
    BOOST_TEST(l(n - 1) == T(2.9));
    const double step =
        (static_cast<double>(T(2.9)) - static_cast<double>(T(-1.3))) / double(n - 1);
    for (index_t i = 0; i < n; ++i)
      BOOST_TEST(
          static_cast<double>(l(i)) == static_cast<double>(T(-1.3)) + step * static_cast<double>(i),
          boost::test_tools::tolerance(1e-6));
  }
  BOOST_TEST(linspace<T>(T(4), T(9), 1).to_vector() == (std::vector<T>{4}));
  BOOST_TEST(linspace<T>(T(4), T(9), 0).numel() == 0);
  // Decreasing.
  BOOST_TEST(linspace<T>(T(1), T(0), 5).to_vector() == (std::vector<T>{1, 0.75, 0.5, 0.25, 0}));
  check_throws([] { (void)linspace<T>(T(0), T(1), -1); }, {"tessera::linspace", "count -1"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(eye_is_identity, T, float_types) {
  for (auto [n, m] : {std::pair<index_t, index_t>{3, -1}, {2, 4}, {4, 2}, {0, -1}, {1, 1}}) {
    const tensor<T> e = eye<T>(n, m);
    const index_t cols = m < 0 ? n : m;
    BOOST_TEST_REQUIRE(e.shape() == (shape_t{n, cols}));
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < cols; ++j) BOOST_TEST(e(i, j) == (i == j ? T(1) : T(0)));
  }
  check_throws([] { (void)eye<T>(-2); }, {"tessera::eye", "n -2"});
}

BOOST_AUTO_TEST_CASE(from_vector_and_list) {
  const tensor<double> t = from_vector<double>({1, 2, 3, 4, 5, 6}, shape_t{3, 2});
  BOOST_TEST(t(2, 1) == 6.0);
  BOOST_TEST(t(1, 0) == 3.0);
  BOOST_TEST(from_list<float>({1.f, 2.f}).shape() == (shape_t{2}));
  check_throws(
      [] {
        (void)from_vector<double>({1, 2, 3}, shape_t{2, 2});
      },
      {"tessera::from_vector", "3 values", "(2,2)", "4 elements"});
}

BOOST_AUTO_TEST_CASE(printing) {
  BOOST_TEST(to_string(from_list<double>({1, 2.5, -3})) == "tensor(shape=(3), [1, 2.5, -3])");
  BOOST_TEST(to_string(scalar<float>(4)) == "tensor(shape=(), 4)");
  BOOST_TEST(to_string(zeros<float>(shape_t{0, 2})) == "tensor(shape=(0,2), [])");
  BOOST_TEST(to_string(tensor<float>()) == "tensor(undefined)");
  BOOST_TEST(to_string(arange<double>(0, 4).reshape(shape_t{2, 2}).transpose(0, 1)) ==
             "tensor(shape=(2,2), [[0, 2],\n [1, 3]])");
  BOOST_TEST(to_string(arange<double>(0, 10)) == "tensor(shape=(10), [0, 1, 2, ..., 7, 8, 9])");
}

// The numbers follow the stream's locale, not the global one: a program that sets a global
// locale with a decimal comma still prints 2.5 to a stream imbued with the classic locale,
// and 2,5 to one imbued with the comma.
BOOST_AUTO_TEST_CASE(printing_follows_the_streams_locale) {
  struct comma : std::numpunct<char> {
    char do_decimal_point() const override { return ','; }
  };
  const std::locale with_comma(std::locale::classic(), new comma);
  const std::locale before = std::locale::global(with_comma);
  std::ostringstream classic, commas;
  classic.imbue(std::locale::classic());
  commas.imbue(with_comma);
  classic << from_list<double>({2.5});
  commas << from_list<double>({2.5});
  std::locale::global(before);
  BOOST_TEST(classic.str() == "tensor(shape=(1), [2.5])");
  BOOST_TEST(commas.str() == "tensor(shape=(1), [2,5])");
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
