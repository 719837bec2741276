// SPDX-License-Identifier: Apache-2.0
// tessera::io::read_csv: header detection, exact round trips, and an io_error naming file, line,
// column and text for every malformed input.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "fixture.hpp"
#include "tessera/io/csv.hpp"

using namespace tessera;

namespace {

/// A file with the given content in the temporary directory, removed at scope exit.
struct temp_file {
  std::string path;
  explicit temp_file(const std::string& content, const std::string& tag = "t") {
    path = (std::filesystem::temp_directory_path() /
            ("tessera_csv_" + tag + "_" + std::to_string(reinterpret_cast<std::uintptr_t>(this)) +
             ".csv"))
               .string();
    std::ofstream(path, std::ios::binary) << content;
  }
  ~temp_file() { std::remove(path.c_str()); }
};

template <class T = double>
void expect_io_error(const std::string& content, std::initializer_list<std::string> parts,
                     tessera::io::csv_header h = tessera::io::csv_header::detect) {
  const temp_file f(content);
  try {
    tessera::io::read_csv<T>(f.path, h);
    BOOST_FAIL("no exception for: " << content);
  } catch (const tessera::io_error& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("tessera::io::read_csv") != std::string::npos, m);
    BOOST_TEST(m.find(f.path) != std::string::npos, m);
    for (const auto& p : parts)
      BOOST_TEST(m.find(p) != std::string::npos, "'" << p << "' in: " << m);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(causal)
BOOST_AUTO_TEST_SUITE(csv)

BOOST_AUTO_TEST_CASE(header_detected_and_values_read) {
  const temp_file f("x0, \"x 1\",x2\n1,2.5,-3\n+4, 5e-1 ,6\r\n\n7,nan,-inf\n");
  const auto t = tessera::io::read_csv<double>(f.path);
  BOOST_TEST(t.has_header);
  const std::vector<std::string> names{"x0", "x 1", "x2"};
  BOOST_TEST(t.columns == names, boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(t.data.shape() == (shape_t{3, 3}));
  BOOST_TEST(t.data(0, 1) == 2.5);
  BOOST_TEST(t.data(0, 2) == -3.0);
  BOOST_TEST(t.data(1, 0) == 4.0);
  BOOST_TEST(t.data(1, 1) == 0.5);
  BOOST_TEST(std::isnan(t.data(2, 1)));
  BOOST_TEST(t.data(2, 2) == -INFINITY);
}

// A UTF-8 byte-order mark (spreadsheet exports) is skipped: the first row is data, not a header
// named "\xEF\xBB\xBF1"; with a header, the first column's name has no BOM either.
BOOST_AUTO_TEST_CASE(a_byte_order_mark_is_skipped) {
  const temp_file f(
      "\xEF\xBB\xBF"
      "1,2\n3,4\n5,6\n");
  const auto t = tessera::io::read_csv<double>(f.path);
  BOOST_TEST(!t.has_header);
  BOOST_TEST(t.data.shape() == (shape_t{3, 2}));
  BOOST_TEST(t.data(0, 0) == 1.0);
  const temp_file g(
      "\xEF\xBB\xBF"
      "x,y\r\n1,2\r\n");
  const auto u = tessera::io::read_csv<double>(g.path);
  BOOST_TEST(u.columns[0] == "x");
  BOOST_TEST(u.data.shape() == (shape_t{1, 2}));
}

BOOST_AUTO_TEST_CASE(no_header_keeps_the_first_row) {
  const temp_file f("1,2\n3,4\n");
  const auto t = tessera::io::read_csv<double>(f.path);
  BOOST_TEST(!t.has_header);
  BOOST_TEST(t.data.shape() == (shape_t{2, 2}));
  BOOST_TEST(t.data(0, 0) == 1.0);
  BOOST_TEST(t.columns[1] == "1");
  // Told there is a header, the first row becomes the names.
  const auto h = tessera::io::read_csv<double>(f.path, tessera::io::csv_header::present);
  BOOST_TEST(h.data.shape() == (shape_t{1, 2}));
  BOOST_TEST(h.columns[0] == "1");
  BOOST_TEST(h.data(0, 1) == 4.0);
}

BOOST_AUTO_TEST_CASE(round_trip_is_exact) {
  std::string s = "a,b\n";
  std::vector<double> v;
  std::vector<std::string> text;
  for (int i = 0; i < 200; ++i) {
    const double x = std::sin(1.0 + i) * std::pow(10.0, (i % 41) - 20), y = -1.0 / (i + 3.0);
    v.push_back(x);
    v.push_back(y);
    char buf[80];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    text.push_back(buf);
    std::snprintf(buf, sizeof buf, "%.17g", y);
    text.push_back(buf);
    s += text[text.size() - 2] + "," + text.back() + "\n";
  }
  const temp_file f(s);
  const auto t = tessera::io::read_csv<double>(f.path);
  for (std::size_t k = 0; k < v.size(); ++k) BOOST_TEST_REQUIRE(t.data.data()[k] == v[k]);
  const auto tf = tessera::io::read_csv<float>(f.path);
  // Floats are read from the text directly (correctly rounded, as strtof), not via double.
  for (std::size_t k = 0; k < v.size(); ++k)
    BOOST_TEST_REQUIRE(tf.data.data()[k] == std::strtof(text[k].c_str(), nullptr));
}

BOOST_AUTO_TEST_CASE(malformed_inputs_name_line_column_and_text) {
  expect_io_error("", {"empty file"});
  expect_io_error("\n  \n", {"empty file"});
  expect_io_error("a,b\n1,2\n3\n", {":3:", "1 fields", "header has 2"});
  expect_io_error("1,2\n3,4,5\n", {":2:", "3 fields", "first row has 2"});
  expect_io_error("a,b\n1,2\n3,1.2.3\n", {":3:", "column 2", "'1.2.3' is not a number"});
  expect_io_error("a,b\n1,\n", {":2:", "column 2", "empty field"});
  expect_io_error("a,b\n\"1,2\n", {":2:", "column 1", "unterminated quote"});
  expect_io_error("a,b\n1,2 x\n", {":2:", "column 2", "'2 x'"});
  expect_io_error("a,b\n1,--2\n", {"'--2'"});
  expect_io_error<float>("a\n1e39\n", {":2:", "'1e39'", "float"});
  expect_io_error("a,b\n1,2\n", {":1:", "column 1", "'a'"}, tessera::io::csv_header::absent);
  // A header alone is no data (it was read as 0 rows); bare '\r' line ends (classic Mac) are
  // refused rather than read as one line of fields such as "b\r1".
  expect_io_error("a,b\n", {"a header and no data rows"});
  expect_io_error("a,b\n\n \n", {"a header and no data rows"});
  expect_io_error("a,b\r1,2\r3,4\r", {":1:", "bare '\\r'"});
  // Binary data (a .npy's header: its magic, then the version bytes 1 and 0) is named as such,
  // not read as a row of odd fields.
  expect_io_error(std::string("\x93NUMPY\x01\x00v\x00{'descr': '<f8'}\n", 20),
                  {":1:", "a NUL byte (at byte 8)", "binary file"});
  expect_io_error(std::string("a,b\n1,2\n3,\x00\n", 12), {":3:", "NUL byte (at byte 3)"});
  // A directory is named as one (it read as "read error after line 0").
  try {
    tessera::io::read_csv<double>(std::filesystem::temp_directory_path().string());
    BOOST_FAIL("no exception for a directory");
  } catch (const tessera::io_error& e) {
    BOOST_TEST(std::string(e.what()).find(": is a directory") != std::string::npos, e.what());
  }
  const std::string missing = "/nonexistent/tessera_no_such.csv";
  try {
    tessera::io::read_csv<double>(missing);
    BOOST_FAIL("no exception");
  } catch (const tessera::io_error& e) {
    BOOST_TEST(std::string(e.what()).find(missing) != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(six_vars_sample,
                     *boost::unit_test::precondition(lingam_fixture::has_data{"6vars.csv"})) {
  const auto t = tessera::io::read_csv<double>(lingam_fixture::lingam_data("6vars.csv"));
  BOOST_TEST(t.has_header);
  BOOST_TEST(t.data.shape() == (shape_t{1000, 6}));
  BOOST_TEST(t.columns.back() == "x5");
  BOOST_TEST(t.data(0, 0) == 2.5148805939512227);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
