// SPDX-License-Identifier: Apache-2.0
// Reads the reference fixtures written by scripts/lingam/make_fixtures.py (blocks
// "name rows cols" followed by rows of numbers) and finds the test data files.
#pragma once

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessera/core/tensor.hpp"

namespace lingam_fixture {

inline std::string source_dir() {
#ifdef TESSERA_SOURCE_DIR
  return TESSERA_SOURCE_DIR;
#else
  return ".";
#endif
}

inline std::string data_dir() {
  if (const char* e = std::getenv("TESSERA_DATA_DIR")) return e;
#ifdef TESSERA_DATA_DIR
  return TESSERA_DATA_DIR;
#else
  return source_dir() + "/../shared/data";
#endif
}

inline std::string fixture_path(const std::string& name) {
  return source_dir() + "/tests/causal/fixtures/" + name;
}

inline std::string lingam_data(const std::string& name) { return data_dir() + "/lingam/" + name; }

/// Precondition for tests that need ../shared/data.
struct has_data {
  std::string file;
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(std::filesystem::exists(lingam_data(file)));
    if (!r) r.message() << "skipped: no ../shared/data";
    return r;
  }
};

/// One block: rows × cols doubles, row-major.
struct block {
  long rows = 0, cols = 0;
  std::vector<double> v;
  double operator()(long i, long j) const { return v[static_cast<std::size_t>(i * cols + j)]; }
  std::vector<long> as_index() const {
    std::vector<long> r;
    for (double x : v) r.push_back(static_cast<long>(x));
    return r;
  }
  tessera::tensor<double> as_tensor() const {
    tessera::tensor<double> t(tessera::shape_t{rows, cols});
    for (std::size_t k = 0; k < v.size(); ++k) t.data()[k] = v[k];
    return t;
  }
};

class fixture {
 public:
  explicit fixture(const std::string& name) {
    std::ifstream in(fixture_path(name));
    if (!in) throw std::runtime_error("cannot open fixture " + fixture_path(name));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream hs(line);
      std::string key;
      block b;
      hs >> key >> b.rows >> b.cols;
      for (long r = 0; r < b.rows; ++r) {
        std::getline(in, line);
        std::istringstream ls(line);
        for (long c = 0; c < b.cols; ++c) {
          std::string tok;
          ls >> tok;
          b.v.push_back(std::stod(tok));
        }
      }
      blocks_[key] = std::move(b);
    }
  }
  const block& operator[](const std::string& key) const {
    auto it = blocks_.find(key);
    if (it == blocks_.end()) throw std::runtime_error("fixture has no block " + key);
    return it->second;
  }
  bool has(const std::string& key) const { return blocks_.count(key) != 0; }

 private:
  std::map<std::string, block> blocks_;
};

/// |a - b| <= atol + rtol |b|.
inline bool close(double a, double b, double rtol, double atol) {
  return std::abs(a - b) <= atol + rtol * std::abs(b);
}

}  // namespace lingam_fixture
