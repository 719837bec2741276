// SPDX-License-Identifier: Apache-2.0
// Hostile .npy input: every corrupt or truncated file throws tessera::io_error naming the
// function, the file and the offending value; a mutation fuzz loop checks nothing else escapes.
#include "npy_test_util.hpp"

#include <random>

#include "tessera/core/creation.hpp"
#include "tessera/io/npy.hpp"

using namespace tessera;
using namespace std::string_literals;
using npy_test::check_contains;
using npy_test::dict;
using npy_test::element_bytes;
using npy_test::io_error_message;
using npy_test::make_npy;

namespace {

std::string valid_2x3() {
  return make_npy(1, dict("<f8", "False", "(2, 3)"),
                  element_bytes(std::vector<double>{1, 2, 3, 4, 5, 6}));
}

/// Loads `bytes` from a file with load_npy<T> and from the buffer with from_npy_bytes<T>; both
/// must throw tessera::io_error whose message names the function, the source and `parts`.
template <class T = double>
void check_rejected(const std::string& bytes, std::initializer_list<std::string> parts) {
  npy_test::temp_dir dir;
  const std::string path = dir.write("bad.npy", bytes);
  const std::string m1 = io_error_message([&] { (void)tessera::io::load_npy<T>(path); });
  check_contains(m1, {"tessera::io::load_npy", path});
  check_contains(m1, parts);
  const std::string m2 = io_error_message([&] { (void)tessera::io::from_npy_bytes<T>(bytes); });
  check_contains(m2, {"tessera::io::from_npy_bytes"});
  check_contains(m2, parts);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(io)
BOOST_AUTO_TEST_SUITE(npy_corrupt)

BOOST_AUTO_TEST_CASE(bad_magic_and_version) {
  std::string b = valid_2x3();
  b[5] = 'Z';
  check_rejected(b, {"magic", "NUMPZ"});
  check_rejected("", {"magic", "0 bytes"});
  check_rejected("\x93NUM", {"magic"});
  check_rejected("PK\x03\x04 this is a zip file", {"magic", "PK"});
  std::string v4 = valid_2x3();
  v4[6] = 4;
  check_rejected(v4, {"version 4.0"});
  std::string v11 = valid_2x3();
  v11[7] = 1;
  check_rejected(v11, {"version 1.1"});
  std::string v0 = valid_2x3();
  v0[6] = 0;
  check_rejected(v0, {"version 0.0"});
}

BOOST_AUTO_TEST_CASE(truncated_preamble_header_and_data) {
  const std::string b = valid_2x3();
  check_rejected(b.substr(0, 9), {"truncated preamble", "9 bytes"});
  check_rejected(make_npy(2, dict("<f8", "False", "(2, 3)"), "").substr(0, 11),
                 {"truncated preamble", "11 bytes"});
  // Header cut: the declared header length (118) runs past the end.
  check_rejected(b.substr(0, 60), {"header length 118", "60 bytes"});
  // Data cut by one byte, and one byte too many.
  check_rejected(b.substr(0, b.size() - 1), {"needs 48 data bytes but 47", "truncated"});
  check_rejected(b + "x", {"needs 48 data bytes but 49", "trailing"});
  // Whole data missing.
  check_rejected(b.substr(0, 128), {"needs 48 data bytes but 0"});
}

BOOST_AUTO_TEST_CASE(header_length_past_eof_or_huge) {
  std::string b = valid_2x3();
  b[8] = '\xff';
  b[9] = '\xff';
  check_rejected(b, {"header length 65535", "runs past the end"});
  std::string v2 = make_npy(2, dict("<f8", "False", "(2, 3)"),
                            element_bytes(std::vector<double>{1, 2, 3, 4, 5, 6}));
  v2[8] = v2[9] = v2[10] = v2[11] = '\xff';
  check_rejected(v2, {"header length 4294967295", "exceeds the limit"});
  std::string v3 = v2;
  v3[6] = 3;
  v3[8] = '\x00';
  v3[9] = '\x00';
  v3[10] = '\x02';  // 131072 bytes: under the limit, past the end
  v3[11] = '\x00';
  check_rejected(v3, {"header length 131072", "runs past the end"});
}

BOOST_AUTO_TEST_CASE(bad_dict) {
  const std::string data = element_bytes(std::vector<double>{1, 2, 3, 4, 5, 6});
  struct bad_case {
    std::string dict;
    std::vector<std::string> parts;
  };
  const std::vector<bad_case> cases = {
      {"", {"bad header", "expected '{'"}},
      {"   \n", {"bad header", "expected '{'"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), ", {"bad header", "ends at"}},
      {"{'descr': '<f8', 'fortran_order': False}", {"'shape' is missing"}},
      {"{'descr': '<f8', 'shape': (2, 3)}", {"'fortran_order' is missing"}},
      {"{'fortran_order': False, 'shape': (2, 3)}", {"'descr' is missing"}},
      {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
       {"'descr' appears twice"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
       {"unexpected key 'extra'"}},
      {"{'descr': '<f8', 'fortran_order': maybe, 'shape': (2, 3)}", {"True or False", "maybe"}},
      {"{'descr': '<f8', 'fortran_order': Falsey, 'shape': (2, 3)}", {"True or False", "Falsey"}},
      {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 3)}", {"True or False"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3]}", {"shape tuple", "[2, 3]"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (6)}", {"shape (6) is not a tuple"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2.5, 3)}",
       {"not a plain integer", "2."}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3x)}", {"not a plain integer", "3x"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (02, 3)}", {"leading zero", "02"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,, 3)}", {"shape extent"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (+2, 3)}", {"+2", "not a plain integer"}},
      {"{'descr': '<f\\x38', 'fortran_order': False, 'shape': (2, 3)}", {"unsupported character"}},
      {"{'descr': '<f8", {"in the descr string at offset"}},  // padding '\n' hit
      {"{descr: '<f8', 'fortran_order': False, 'shape': (2, 3)}", {"quoted key", "descr"}},
      {"{'descr' '<f8', 'fortran_order': False, 'shape': (2, 3)}", {"expected ':'"}},
      {"{'descr': '<f8' 'fortran_order': False, 'shape': (2, 3)}", {"',' or '}'"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)} x", {"trailing characters", "x"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}\0"s,
       {"trailing characters", "\\x00"}},
      {"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2, 3)}",
       {"structured dtypes are not supported"}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 6)}",
       {"more than 8 extents"}},
  };
  for (const bad_case& c : cases) {
    BOOST_TEST_CONTEXT(c.dict) {
      npy_test::temp_dir dir;
      const std::string bytes = make_npy(1, c.dict, data);
      const std::string path = dir.write("bad.npy", bytes);
      const std::string m = io_error_message([&] { (void)tessera::io::load_npy<double>(path); });
      check_contains(m, {"tessera::io::load_npy", path});
      for (const std::string& p : c.parts) check_contains(m, {p});
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_shapes) {
  check_rejected(make_npy(1, dict("<f8", "False", "(-1, 3)"), ""), {"extent -1", "negative"});
  check_rejected(make_npy(1, dict("<f8", "False", "(2, -3)"), ""), {"extent -3", "axis 1"});
  // (2**62, 2**62): each extent fits, the product does not.
  check_rejected(
      make_npy(1, dict("<f8", "False", "(4611686018427387904, 4611686018427387904)"), ""),
      {"(4611686018427387904,4611686018427387904)", "is too large"});
  // 2**61 elements of 8 bytes: the element count fits, the byte count does not.
  check_rejected(make_npy(1, dict("<f8", "False", "(2305843009213693952,)"), ""),
                 {"(2305843009213693952)", "is too large"});
  // An empty extent does not excuse the others (tensor refuses such shapes too).
  check_rejected(make_npy(1, dict("<f4", "False", "(0, 9223372036854775807)"), ""),
                 {"(0,9223372036854775807)", "is too large"});
  // An extent that does not even fit in 64 bits.
  check_rejected(make_npy(1, dict("<f8", "False", "(99999999999999999999,)"), ""),
                 {"99999999999999999999", "does not fit in 64 bits"});
  // Large but representable: refused because the data is not there (nothing allocated).
  check_rejected(make_npy(1, dict("<f8", "False", "(100000000000,)"), "12345678"),
                 {"needs 800000000000 data bytes but 8"});
}

BOOST_AUTO_TEST_CASE(unsupported_and_mismatched_dtypes) {
  const std::string d16 = std::string(32, '\0');
  check_rejected(make_npy(1, dict("<c16", "False", "(2,)"), d16), {"unsupported dtype '<c16'"});
  check_rejected(make_npy(1, dict("|b1", "False", "(2,)"), "\1\0"), {"unsupported dtype '|b1'"});
  check_rejected(make_npy(1, dict("<f2", "False", "(2,)"), "\0\0\0\0"), {"'<f2'"});
  check_rejected(make_npy(1, dict("<u8", "False", "(2,)"), d16), {"'<u8'"});
  check_rejected(make_npy(1, dict("|f8", "False", "(2,)"), d16), {"'|f8'"});
  check_rejected(make_npy(1, dict("f8", "False", "(2,)"), d16), {"'f8'"});
  check_rejected(make_npy(1, dict("<U8", "False", "(2,)"), d16), {"'<U8'"});
  check_rejected(make_npy(1, dict("|O", "False", "(2,)"), d16), {"'|O'"});
  // Integer and floating data never cross (documented in load_npy): int asked as float...
  const std::string ints =
      make_npy(1, dict("<i8", "False", "(2,)"), element_bytes(std::vector<std::int64_t>{1, 2}));
  check_rejected<double>(ints, {"dtype '<i8' cannot be loaded as double"});
  check_rejected<float>(ints, {"dtype '<i8' cannot be loaded as float"});
  // ...and float asked as index_t.
  check_rejected<index_t>(valid_2x3(), {"dtype '<f8' cannot be loaded as index_t"});
}

BOOST_AUTO_TEST_CASE(missing_file_and_directory) {
  npy_test::temp_dir dir;
  const std::string missing = dir.file("does_not_exist.npy");
  check_contains(io_error_message([&] { (void)tessera::io::load_npy<double>(missing); }),
                 {"tessera::io::load_npy", missing, "cannot open"});
  check_contains(io_error_message([&] { (void)tessera::io::load_npy<double>(dir.path.string()); }),
                 {"tessera::io::load_npy", dir.path.string()});
  const std::string unwritable = dir.file("no/such/dir/x.npy");
  check_contains(io_error_message([&] { tessera::io::save_npy(unwritable, scalar<double>(1)); }),
                 {"tessera::io::save_npy", unwritable, "cannot open"});
}

// Mutation fuzzing with a fixed seed: truncations at every length must throw io_error, and
// random byte edits must either load (consistently with the input's size) or throw io_error.
// Anything else (another exception, a crash, a sanitizer report) fails.
BOOST_AUTO_TEST_CASE(fuzz_truncation_and_byte_flips) {
  std::vector<std::string> seeds = {
      valid_2x3(),
      make_npy(1, dict("<f4", "True", "(2, 3, 2)"), element_bytes(std::vector<float>(12, 1.5f))),
      make_npy(2, dict(">i4", "False", "(5,)"),
               element_bytes(std::vector<std::int32_t>{1, 2, 3, 4, 5}, true)),
      make_npy(3, dict("<i8", "False", "()"), element_bytes(std::vector<std::int64_t>{-9})),
      make_npy(1, dict("<f8", "False", "(0, 4)"), ""),
      tessera::io::to_npy_bytes(arange<double>(0, 10).reshape(shape_t{2, 5})),
  };
  std::mt19937_64 rng(20240521);
  int loaded = 0, rejected = 0;
  auto attempt = [&](const std::string& bytes) {
    const auto try_type = [&](auto tag) {
      using T = decltype(tag);
      try {
        const tensor<T> t = tessera::io::from_npy_bytes<T>(bytes);
        // Whatever loads must be backed by bytes that were really there.
        BOOST_TEST(static_cast<std::size_t>(t.numel()) * 4 <= bytes.size());
        ++loaded;
      } catch (const io_error& e) {
        BOOST_TEST(std::string(e.what()).find("tessera::io::from_npy_bytes") == 0u);
        ++rejected;
      }
    };
    try_type(double{});
    try_type(float{});
    try_type(index_t{});
  };
  static constexpr char alphabet[] = "(){}[],:'\" \n-+0123456789LTrueFalsedescrshape<>|=fic";
  for (const std::string& s : seeds) {
    for (std::size_t len = 0; len < s.size(); ++len) {
      const std::string cut = s.substr(0, len);
      BOOST_CHECK_THROW((void)tessera::io::from_npy_bytes<double>(cut), io_error);
      BOOST_CHECK_THROW((void)tessera::io::from_npy_bytes<index_t>(cut), io_error);
    }
    for (int it = 0; it < 3000; ++it) {
      std::string m = s;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        const std::size_t pos = rng() % m.size();
        if (rng() % 2 == 0 && pos >= 10 && pos < 128)
          m[pos] = alphabet[rng() % (sizeof(alphabet) - 1)];  // header-shaped edits
        else
          m[pos] = static_cast<char>(rng() & 0xff);
      }
      if (rng() % 8 == 0) m.resize(rng() % (m.size() + 1));
      attempt(m);
    }
  }
  BOOST_TEST_MESSAGE("fuzz: " << loaded << " loads, " << rejected << " rejections");
  BOOST_TEST(loaded > 0);
  BOOST_TEST(rejected > 0);

  // The same through files for a sample of mutants (exercises the chunked reader).
  npy_test::temp_dir dir;
  const std::string path = dir.file("fuzz.npy");
  for (int it = 0; it < 300; ++it) {
    std::string m = seeds[static_cast<std::size_t>(it) % seeds.size()];
    m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
    if (it % 5 == 0) m.resize(rng() % (m.size() + 1));
    dir.write("fuzz.npy", m);
    try {
      (void)tessera::io::load_npy<double>(path);
    } catch (const io_error& e) {
      BOOST_TEST(std::string(e.what()).find("tessera::io::load_npy") == 0u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
