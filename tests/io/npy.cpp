// SPDX-License-Identifier: Apache-2.0
// .npy round trips, numpy's exact byte layout, and files in every accepted variant.
#include "npy_test_util.hpp"

#include <cmath>
#include <cstdio>
#include <tuple>

#include "tessera/core/creation.hpp"
#include "tessera/io/npy.hpp"

using namespace tessera;
using npy_test::dict;
using npy_test::element_bytes;
using npy_test::make_npy;

namespace {

using npy_types = std::tuple<float, double, index_t>;

/// Distinct, exactly representable values (negative ones too) for element i.
template <class T>
T value_at(index_t i) {
  if constexpr (std::is_same_v<T, index_t>)
    return i * 7 - 40;
  else
    return static_cast<T>(i) * T(0.25) - T(3);
}

template <class T>
tensor<T> numbered(const shape_t& shape) {
  tensor<T> t(shape);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = value_at<T>(i);
  return t;
}

template <class T, class U>
void check_same(const tensor<T>& got, const tensor<U>& want) {
  BOOST_TEST_REQUIRE(got.shape() == want.shape(), got.shape() << " vs " << want.shape());
  BOOST_TEST(got.is_contiguous());
  for (index_t i = 0; i < want.numel(); ++i)
    BOOST_TEST(got.flat(i) == static_cast<T>(want.flat(i)), "element " << i);
}

const std::vector<shape_t>& round_trip_shapes() {
  static const std::vector<shape_t> shapes = {shape_t{},
                                              shape_t{1},
                                              shape_t{7},
                                              shape_t{0},
                                              shape_t{2, 3},
                                              shape_t{3, 0, 2},
                                              shape_t{1, 1, 1},
                                              shape_t{2, 3, 4},
                                              shape_t{0, 0},
                                              shape_t{2, 1, 3, 1, 2},
                                              shape_t{1, 2, 1, 2, 1, 2, 1, 2}};
  return shapes;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(io)
BOOST_AUTO_TEST_SUITE(npy)

BOOST_AUTO_TEST_CASE_TEMPLATE(round_trip_buffer_and_file, T, npy_types) {
  npy_test::temp_dir dir;
  for (const shape_t& s : round_trip_shapes()) {
    BOOST_TEST_CONTEXT("shape " << s) {
      const tensor<T> t = numbered<T>(s);
      const std::string bytes = tessera::io::to_npy_bytes(t);
      check_same(tessera::io::from_npy_bytes<T>(bytes), t);
      const std::string path = dir.file("rt.npy");
      tessera::io::save_npy(path, t);
      BOOST_TEST(npy_test::read_file(path) == bytes);
      check_same(tessera::io::load_npy<T>(path), t);
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(round_trip_non_contiguous_views, T, npy_types) {
  npy_test::temp_dir dir;
  const tensor<T> base = numbered<T>(shape_t{4, 5, 6});
  const std::vector<tensor<T>> views = {
      base.transpose(0, 2),
      base.slice(1, 1, 5, 2),
      base.slice(2, -1, 6).select(0, 3),
      base.permute(shape_t{1, 2, 0}).slice(0, 0, 5, 3),
      base.select(1, 2).unsqueeze(1).expand(shape_t{4, 3, 6}),
      base.slice(0, 2, 2),  // empty
  };
  for (std::size_t v = 0; v < views.size(); ++v) {
    BOOST_TEST_CONTEXT("view " << v << " of shape " << views[v].shape()) {
      const std::string path = dir.file("view.npy");
      tessera::io::save_npy(path, views[v]);
      const tensor<T> back = tessera::io::load_npy<T>(path);
      check_same(back, views[v]);
      // The bytes are those of the contiguous copy: views are written in logical order.
      BOOST_TEST(tessera::io::to_npy_bytes(views[v]) ==
                 tessera::io::to_npy_bytes(views[v].clone()));
    }
  }
}

// numpy 1.24+ writes this exact header for np.save(f, np.arange(6.).reshape(2, 3)): the dict,
// 21 - len(repr(shape[0])) spaces of growth room, then spaces and '\n' up to 128 bytes.
BOOST_AUTO_TEST_CASE(writes_numpy_byte_layout) {
  const std::string dict_2x3 = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  std::string expected = "\x93NUMPY\x01";
  expected += '\0';
  expected += "v";  // header length 118 = 0x76, little-endian
  expected += '\0';
  expected += dict_2x3 + std::string(20, ' ');
  expected += std::string(128 - expected.size() - 1, ' ') + "\n";
  BOOST_TEST_REQUIRE(expected.size() == 128u);
  std::vector<double> vals = {0, 1, 2, 3, 4, 5};
  expected += element_bytes(vals);
  const std::string got = tessera::io::to_npy_bytes(from_vector<double>(vals, shape_t{2, 3}));
  BOOST_TEST(got == expected);

  // Every header is 64-byte aligned, ends with '\n' and is format 1.0.
  for (const shape_t& s : round_trip_shapes()) {
    const std::string b = tessera::io::to_npy_bytes(numbered<float>(s));
    const std::size_t hlen =
        static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8);
    BOOST_TEST((10 + hlen) % 64 == 0u, "shape " << s);
    BOOST_TEST(b[6] == '\x01');
    BOOST_TEST(b[9 + hlen] == '\n');
    BOOST_TEST(b.size() == 10 + hlen + static_cast<std::size_t>(s.numel()) * sizeof(float));
  }
  // Shapes are written as Python tuples: () for rank 0, (n,) for rank 1.
  BOOST_TEST(tessera::io::to_npy_bytes(scalar<index_t>(3))
                 .find("'descr': '<i8', 'fortran_order': False, "
                       "'shape': (), }") != std::string::npos);
  BOOST_TEST(tessera::io::to_npy_bytes(numbered<float>(shape_t{7})).find("'shape': (7,), }") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(reads_hand_built_versions) {
  const std::vector<double> v = {1.5, -2.25, 3, 1e300, -0.0, 6};
  const tensor<double> want = from_vector<double>(v, shape_t{2, 3});
  const std::string d = dict("<f8", "False", "(2, 3)");
  for (int major : {1, 2, 3}) {
    BOOST_TEST_CONTEXT("format " << major << ".0") {
      check_same(tessera::io::from_npy_bytes<double>(make_npy(major, d, element_bytes(v))), want);
      // Unpadded headers (other writers) are accepted too.
      check_same(tessera::io::from_npy_bytes<double>(make_npy(major, d, element_bytes(v), false)),
                 want);
    }
  }
}

BOOST_AUTO_TEST_CASE(reads_fortran_order) {
  // a[i][j] = 10 i + j stored column by column.
  std::vector<double> colmajor;
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 2; ++i) colmajor.push_back(10 * i + j);
  const tensor<double> t = tessera::io::from_npy_bytes<double>(
      make_npy(1, dict("<f8", "True", "(2, 3)"), element_bytes(colmajor)));
  BOOST_TEST_REQUIRE(t.shape() == (shape_t{2, 3}));
  BOOST_TEST(t.is_contiguous());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) BOOST_TEST(t(i, j) == 10 * i + j);

  // Rank 3, int32 data: a[i][j][k] = 100 i + 10 j + k, first index fastest.
  std::vector<std::int32_t> f3;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) f3.push_back(100 * i + 10 * j + k);
  const tensor<index_t> u = tessera::io::from_npy_bytes<index_t>(
      make_npy(2, dict("<i4", "True", "(2, 3, 4)"), element_bytes(f3)));
  BOOST_TEST_REQUIRE(u.shape() == (shape_t{2, 3, 4}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) BOOST_TEST(u(i, j, k) == 100 * i + 10 * j + k);

  // Rank 0 and 1 are the same in both orders.
  const std::vector<float> one = {4.5f, 5.5f};
  BOOST_TEST(tessera::io::from_npy_bytes<float>(
                 make_npy(1, dict("<f4", "True", "(2,)"), element_bytes(one)))
                 .to_vector() == one);
  BOOST_TEST(tessera::io::from_npy_bytes<float>(
                 make_npy(1, dict("<f4", "True", "()"), element_bytes(std::vector<float>{7.f})))
                 .item() == 7.f);
}

BOOST_AUTO_TEST_CASE(reads_big_endian_and_native) {
  const std::vector<double> d = {1.0, -2.5, 1e-300};
  BOOST_TEST(tessera::io::from_npy_bytes<double>(
                 make_npy(1, dict(">f8", "False", "(3,)"), element_bytes(d, true)))
                 .to_vector() == d);
  const std::vector<float> f = {1.0f, -2.5f, 3.25f};
  BOOST_TEST(tessera::io::from_npy_bytes<float>(
                 make_npy(1, dict(">f4", "False", "(3,)"), element_bytes(f, true)))
                 .to_vector() == f);
  const std::vector<std::int64_t> l = {1, -2, (std::int64_t(1) << 40) + 3};
  BOOST_TEST(tessera::io::from_npy_bytes<index_t>(
                 make_npy(1, dict(">i8", "False", "(3,)"), element_bytes(l, true)))
                 .to_vector() == (std::vector<index_t>{1, -2, (index_t(1) << 40) + 3}));
  const std::vector<std::int32_t> i = {1, -2, 70000};
  BOOST_TEST(tessera::io::from_npy_bytes<index_t>(
                 make_npy(1, dict(">i4", "False", "(3,)"), element_bytes(i, true)))
                 .to_vector() == (std::vector<index_t>{1, -2, 70000}));
  const bool big = std::endian::native == std::endian::big;
  BOOST_TEST(tessera::io::from_npy_bytes<double>(
                 make_npy(1, dict("=f8", "False", "(3,)"), element_bytes(d, big)))
                 .to_vector() == d);
}

BOOST_AUTO_TEST_CASE(converts_between_float_widths_and_int_widths) {
  const std::vector<float> f = {0.1f, -3.5f, 1e30f};
  const tensor<double> fd = tessera::io::from_npy_bytes<double>(
      make_npy(1, dict("<f4", "False", "(3,)"), element_bytes(f)));
  for (int k = 0; k < 3; ++k)
    BOOST_TEST(fd(k) == static_cast<double>(f[static_cast<std::size_t>(k)]));

  const std::vector<double> d = {0.1, -3.5, 1e-3};
  const tensor<float> df = tessera::io::from_npy_bytes<float>(
      make_npy(1, dict("<f8", "False", "(3,)"), element_bytes(d)));
  for (int k = 0; k < 3; ++k)
    BOOST_TEST(df(k) == static_cast<float>(d[static_cast<std::size_t>(k)]));

  const std::vector<std::int32_t> i = {-2147483647 - 1, 0, 2147483647};
  BOOST_TEST(tessera::io::from_npy_bytes<index_t>(
                 make_npy(1, dict("<i4", "False", "(3,)"), element_bytes(i)))
                 .to_vector() == (std::vector<index_t>{-2147483648LL, 0, 2147483647}));
}

BOOST_AUTO_TEST_CASE(header_dict_variants) {
  const std::vector<double> v = {1, 2, 3, 4, 5, 6};
  const tensor<double> want = from_vector<double>(v, shape_t{3, 2});
  const std::vector<std::string> dicts = {
      "{'shape': (3, 2), 'fortran_order': False, 'descr': '<f8'}",
      "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (3, 2)}",
      "{ 'descr' : '<f8' ,\t'fortran_order' : False , 'shape' : ( 3 , 2 , ) , }",
      "{'descr':'<f8','fortran_order':False,'shape':(3,2)}",
      "\n{'fortran_order': False,\n 'shape': (3L, 2L),\n 'descr': '<f8',\n}\n",
  };
  for (const std::string& d : dicts) BOOST_TEST_CONTEXT(d) {
      check_same(tessera::io::from_npy_bytes<double>(make_npy(1, d, element_bytes(v))), want);
    }

  // Rank 8 with unit extents and rank 1 with an empty extent.
  const tensor<double> r8 = tessera::io::from_npy_bytes<double>(
      make_npy(1, dict("<f8", "False", "(1, 1, 1, 1, 1, 1, 1, 2)"),
               element_bytes(std::vector<double>{7, 8})));
  BOOST_TEST(r8.rank() == 8);
  BOOST_TEST(r8.flat(1) == 8.0);
  const tensor<float> e =
      tessera::io::from_npy_bytes<float>(make_npy(1, dict("<f4", "False", "(0,)"), ""));
  BOOST_TEST(e.shape() == shape_t{0});
  // An empty extent next to large ones: no data, nothing allocated but the handle.
  const tensor<float> e2 = tessera::io::from_npy_bytes<float>(
      make_npy(1, dict("<f4", "False", "(0, 1000000000000)"), ""));
  BOOST_TEST(e2.shape() == (shape_t{0, 1000000000000}));
}

// Larger than the reader's 16384-element chunk, converting and transposing on the way in.
BOOST_AUTO_TEST_CASE(multi_chunk_file_with_conversion) {
  npy_test::temp_dir dir;
  const index_t rows = 301, cols = 157;  // 47257 elements: three chunks, the last partial
  std::vector<float> colmajor;
  for (index_t j = 0; j < cols; ++j)
    for (index_t i = 0; i < rows; ++i) colmajor.push_back(static_cast<float>(i * 1000 + j));
  const std::string path = dir.write(
      "big.npy", make_npy(1, dict(">f4", "True", "(301, 157)"), element_bytes(colmajor, true)));
  const tensor<double> t = tessera::io::load_npy<double>(path);
  BOOST_TEST_REQUIRE(t.shape() == (shape_t{rows, cols}));
  index_t bad = 0;
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) bad += t(i, j) != static_cast<double>(i * 1000 + j);
  BOOST_TEST(bad == 0);
}

// Files written by real numpy, when a python3 with numpy is available (the one on PATH, or
// Debian's /usr/bin/python3 with python3-numpy, which scripts/install-deps installs: a PATH
// python3 of pyenv or a venv may lack numpy): the reader must agree with numpy on every
// variant, numpy must read what tessera writes, and the bytes must be the same.
namespace {
const std::string& numpy_python() {
  static const std::string found = [] {
    for (const char* py : {"python3", "/usr/bin/python3"})
      if (std::system((std::string(py) + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0)
        return std::string(py);
    return std::string();
  }();
  return found;
}
bool numpy_available() { return !numpy_python().empty(); }
}  // namespace

BOOST_AUTO_TEST_CASE(files_written_by_numpy,
                     *boost::unit_test::precondition([](boost::unit_test::test_unit_id) {
                       return numpy_available();
                     })) {
  npy_test::temp_dir dir;
  const std::string script = dir.write("make.py", R"PY(
import sys, os, numpy as np
from numpy.lib import format as fmt
out = sys.argv[1]
def vals(shape, kind):
    n = int(np.prod(shape))
    return (np.arange(n) * 7 - 40 if kind == 'i' else np.arange(n) * 0.25 - 3).reshape(shape)
cases = [('c_f8', '<f8', (2, 3), 'C', (1, 0)), ('c_f4', '<f4', (4,), 'C', (1, 0)),
         ('c_i8', '<i8', (3, 2, 2), 'C', (1, 0)), ('c_i4', '<i4', (5,), 'C', (1, 0)),
         ('be_f8', '>f8', (2, 3), 'C', (1, 0)), ('be_i4', '>i4', (3, 1), 'C', (1, 0)),
         ('f_f8', '<f8', (3, 4), 'F', (1, 0)), ('f_f4', '<f4', (2, 3, 4), 'F', (1, 0)),
         ('s_f8', '<f8', (), 'C', (1, 0)), ('e_f8', '<f8', (0, 3), 'C', (1, 0)),
         ('v2_f8', '<f8', (2, 3), 'C', (2, 0)), ('v3_i8', '<i8', (2, 3), 'C', (3, 0))]
for name, dt, shape, order, ver in cases:
    a = np.array(vals(shape, dt[1]), dtype=dt, order=order)
    with open(os.path.join(out, name + '.npy'), 'wb') as f:
        fmt.write_array(f, a, version=ver)
if hasattr(fmt, 'GROWTH_AXIS_MAX_DIGITS'):
    open(os.path.join(out, 'pads_header'), 'w').close()
)PY");
  BOOST_TEST_REQUIRE(
      std::system((numpy_python() + " '" + script + "' '" + dir.path.string() + "'").c_str()) == 0);

  const auto load_check = [&](const char* name, const shape_t& shape, bool integral) {
    BOOST_TEST_CONTEXT(name) {
      if (integral) {
        check_same(tessera::io::load_npy<index_t>(dir.file(std::string(name) + ".npy")),
                   numbered<index_t>(shape));
      } else {
        check_same(tessera::io::load_npy<double>(dir.file(std::string(name) + ".npy")),
                   numbered<double>(shape));
        check_same(tessera::io::load_npy<float>(dir.file(std::string(name) + ".npy")),
                   numbered<float>(shape));
      }
    }
  };
  load_check("c_f8", shape_t{2, 3}, false);
  load_check("c_f4", shape_t{4}, false);
  load_check("c_i8", shape_t{3, 2, 2}, true);
  load_check("c_i4", shape_t{5}, true);
  load_check("be_f8", shape_t{2, 3}, false);
  load_check("be_i4", shape_t{3, 1}, true);
  load_check("f_f8", shape_t{3, 4}, false);
  load_check("f_f4", shape_t{2, 3, 4}, false);
  load_check("s_f8", shape_t{}, false);
  load_check("e_f8", shape_t{0, 3}, false);
  load_check("v2_f8", shape_t{2, 3}, false);
  load_check("v3_i8", shape_t{2, 3}, true);

  if (std::filesystem::exists(dir.file("pads_header"))) {
    BOOST_TEST(npy_test::read_file(dir.file("c_f8.npy")) ==
               tessera::io::to_npy_bytes(numbered<double>(shape_t{2, 3})));
    BOOST_TEST(npy_test::read_file(dir.file("c_i8.npy")) ==
               tessera::io::to_npy_bytes(numbered<index_t>(shape_t{3, 2, 2})));
    BOOST_TEST(npy_test::read_file(dir.file("s_f8.npy")) ==
               tessera::io::to_npy_bytes(numbered<double>(shape_t{})));
    BOOST_TEST(npy_test::read_file(dir.file("e_f8.npy")) ==
               tessera::io::to_npy_bytes(numbered<double>(shape_t{0, 3})));
  }

  // numpy reads what tessera writes, views included.
  tessera::io::save_npy(dir.file("t_f4.npy"), numbered<float>(shape_t{2, 3, 4}).transpose(0, 2));
  tessera::io::save_npy(dir.file("t_i8.npy"), numbered<index_t>(shape_t{5}));
  tessera::io::save_npy(dir.file("t_s.npy"), numbered<double>(shape_t{}));
  const std::string check = dir.write("check.py", R"PY(
import sys, os, numpy as np
d = sys.argv[1]
a = np.load(os.path.join(d, 't_f4.npy'))
assert a.dtype == np.float32 and a.shape == (4, 3, 2), (a.dtype, a.shape)
assert (a == (np.arange(24) * 0.25 - 3).reshape(2, 3, 4).transpose(2, 1, 0)).all()
b = np.load(os.path.join(d, 't_i8.npy'))
assert b.dtype == np.int64 and (b == np.arange(5) * 7 - 40).all()
c = np.load(os.path.join(d, 't_s.npy'))
assert c.shape == () and c == -3.0
)PY");
  BOOST_TEST(
      std::system((numpy_python() + " '" + check + "' '" + dir.path.string() + "'").c_str()) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
