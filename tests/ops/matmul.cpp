// SPDX-License-Identifier: Apache-2.0
// matmul against a naive triple loop: every operand layout (row-major, transposed, strided,
// stride-0, offset), batched broadcasting, rank-1 operands, empty dimensions.
#include <boost/test/unit_test.hpp>

#include "helpers.hpp"

using namespace tessera;
using ops_test::check_throws;
using ops_test::check_values;
using ops_test::float_types;
using ops_test::random_tensor;
using ops_test::ravel;
using ops_test::unravel;

namespace {

/// numpy matmul semantics computed with loops over (batch, i, j, p) in long double.
template <class T>
std::pair<shape_t, std::vector<double>> naive_matmul(const tensor<T>& lhs, const tensor<T>& rhs) {
  const tensor<T> a = lhs.rank() == 1 ? lhs.unsqueeze(0) : lhs;
  const tensor<T> b = rhs.rank() == 1 ? rhs.unsqueeze(1) : rhs;
  const index_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  shape_t ab, bb;
  for (int i = 0; i + 2 < a.rank(); ++i) ab.push_back(a.shape()[i]);
  for (int i = 0; i + 2 < b.rank(); ++i) bb.push_back(b.shape()[i]);
  const shape_t batch = broadcast_shapes("naive", ab, bb);
  std::vector<double> out;
  for (index_t q = 0; q < batch.numel(); ++q) {
    const std::vector<index_t> bi = unravel(q, batch);
    auto elem = [&](const tensor<T>& t, const shape_t& tb, index_t r, index_t c) {
      std::vector<index_t> idx;
      for (int d = 0; d < tb.rank(); ++d)
        idx.push_back(tb[d] == 1 ? 0 : bi[static_cast<std::size_t>(batch.rank() - tb.rank() + d)]);
      idx.push_back(r);
      idx.push_back(c);
      return static_cast<long double>(ops_test::at(t, idx));
    };
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) {
        long double s = 0;
        for (index_t p = 0; p < k; ++p) s += elem(a, ab, i, p) * elem(b, bb, p, j);
        out.push_back(static_cast<double>(s));
      }
  }
  shape_t shape = batch;
  if (lhs.rank() != 1) shape.push_back(m);
  if (rhs.rank() != 1) shape.push_back(n);
  return {shape, out};
}

template <class T>
void check_matmul(const tensor<T>& a, const tensor<T>& b) {
  const auto [shape, want] = naive_matmul(a, b);
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  BOOST_TEST_CONTEXT("matmul " << a.shape() << " (strides " << a.strides() << ") x " << b.shape()
                               << " (strides " << b.strides() << ")") {
    // Sums of k products of values in [-1, 1]: absolute error scales with k.
    const double k = static_cast<double>(a.rank() == 1 ? a.size(0) : a.size(-1));
    check_values(matmul(a, b), shape, want, tol, tol * std::max(1.0, k));
  }
}

/// gelu(Σ_i w(o, i)·x(b, i, p) + Σ_j w2(o, j)·x2(b, j, p) + c(b, o, p) + bias) in long double
/// over the (B, M, P) output, row-major; an undefined w2 (with x2) or c is left out, and the
/// bias is (M, 1) or a scalar.
template <class T>
std::vector<double> linear_gelu_reference(const tensor<T>& w, const tensor<T>& x,
                                          const tensor<T>& w2, const tensor<T>& x2,
                                          const tensor<T>& c, const tensor<T>& bias) {
  std::vector<double> want;
  for (index_t b = 0; b < x.size(0); ++b)
    for (index_t o = 0; o < w.size(0); ++o)
      for (index_t p = 0; p < x.size(2); ++p) {
        long double v = c.defined() ? c(b, o, p) : 0;
        for (index_t i = 0; i < w.size(1); ++i) v += static_cast<long double>(w(o, i)) * x(b, i, p);
        if (w2.defined())
          for (index_t i = 0; i < w2.size(1); ++i)
            v += static_cast<long double>(w2(o, i)) * x2(b, i, p);
        v += bias.rank() == 0 ? bias.item() : bias(o, 0);
        want.push_back(static_cast<double>(0.5L * v * (1 + std::erf(v / std::sqrt(2.0L)))));
      }
  return want;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops)
BOOST_AUTO_TEST_SUITE(gemm)

BOOST_AUTO_TEST_CASE_TEMPLATE(two_d_all_layouts, T, float_types) {
  std::uint64_t seed = 300;
  for (auto [m, k, n] : {std::tuple<index_t, index_t, index_t>{3, 4, 5},
                         {1, 7, 1},
                         {1, 1, 1},
                         {6, 1, 4},
                         {5, 8, 1},
                         {17, 33, 9}}) {
    const tensor<T> a = random_tensor<T>(shape_t{m, k}, seed++);
    const tensor<T> b = random_tensor<T>(shape_t{k, n}, seed++);
    // Row-major, transposed (column-major) and non-unit-stride variants of each operand.
    const tensor<T> at = random_tensor<T>(shape_t{k, m}, seed++).transpose(0, 1);
    const tensor<T> bt = random_tensor<T>(shape_t{n, k}, seed++).transpose(0, 1);
    const tensor<T> as = random_tensor<T>(shape_t{m, 3 * k}, seed++).slice(1, 1, 3 * k, 3);
    const tensor<T> bs = random_tensor<T>(shape_t{2 * k + 1, n}, seed++).slice(0, 1, 2 * k + 1, 2);
    const tensor<T> ao =
        random_tensor<T>(shape_t{m + 2, k + 1}, seed++).slice(0, 2, m + 2).slice(1, 1, k + 1);
    const tensor<T> a0 = random_tensor<T>(shape_t{1, k}, seed++).expand(shape_t{m, k});  // stride 0
    const tensor<T> b0 = random_tensor<T>(shape_t{k, 1}, seed++).expand(shape_t{k, n});
    for (const tensor<T>& x : {a, at, as, ao, a0})
      for (const tensor<T>& y : {b, bt, bs, b0}) check_matmul(x, y);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(batched_broadcasting, T, float_types) {
  std::uint64_t seed = 400;
  const std::vector<std::pair<shape_t, shape_t>> pairs = {
      {shape_t{2, 3, 4}, shape_t{2, 4, 5}}, {shape_t{2, 3, 4}, shape_t{4, 5}},
      {shape_t{3, 4}, shape_t{2, 4, 5}},    {shape_t{2, 1, 3, 4}, shape_t{5, 4, 2}},
      {shape_t{1, 3, 4}, shape_t{6, 4, 2}}, {shape_t{7, 1, 2}, shape_t{7, 2, 1}},
      {shape_t{0, 3, 4}, shape_t{4, 5}},    {shape_t{64, 4, 4}, shape_t{64, 4, 4}},
  };
  for (const auto& [sa, sb] : pairs) {
    const tensor<T> a = random_tensor<T>(sa, seed++);
    const tensor<T> b = random_tensor<T>(sb, seed++);
    check_matmul(a, b);
    check_matmul(ops_test::strided_copy(a), b);
    check_matmul(a, b.transpose(-1, -2).clone().transpose(-1, -2));
  }
  // A batch made by expand (stride 0 batch axis) and a permuted batch.
  const tensor<T> w = random_tensor<T>(shape_t{4, 3}, seed++);
  check_matmul(random_tensor<T>(shape_t{5, 2, 4}, seed++), w.unsqueeze(0).expand(shape_t{5, 4, 3}));
  check_matmul(random_tensor<T>(shape_t{2, 5, 4}, seed++).permute(shape_t{1, 0, 2}), w);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rank_one_operands, T, float_types) {
  std::uint64_t seed = 500;
  const tensor<T> v = random_tensor<T>(shape_t{4}, seed++);
  const tensor<T> w = random_tensor<T>(shape_t{4}, seed++);
  const tensor<T> m = random_tensor<T>(shape_t{4, 3}, seed++);
  const tensor<T> mt = random_tensor<T>(shape_t{3, 4}, seed++);
  check_matmul(v, w);  // dot product, rank 0
  BOOST_TEST(matmul(v, w).rank() == 0);
  check_matmul(v, m);  // (4)·(4,3) → (3)
  BOOST_TEST(matmul(v, m).shape() == (shape_t{3}));
  check_matmul(mt, v);  // (3,4)·(4) → (3)
  BOOST_TEST(matmul(mt, v).shape() == (shape_t{3}));
  check_matmul(random_tensor<T>(shape_t{2, 3, 4}, seed++), v);              // (2,3)
  check_matmul(v, random_tensor<T>(shape_t{2, 4, 5}, seed++));              // (2,5)
  check_matmul(random_tensor<T>(shape_t{8}, seed++).slice(0, 0, 8, 2), w);  // strided vector
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_dimensions, T, float_types) {
  // k = 0: the product is all zeros, not uninitialised memory.
  const tensor<T> z =
      matmul(random_tensor<T>(shape_t{3, 0}, 1), random_tensor<T>(shape_t{0, 4}, 2));
  check_values(z, shape_t{3, 4}, std::vector<double>(12, 0.0), 0);
  const tensor<T> zb =
      matmul(random_tensor<T>(shape_t{2, 3, 0}, 1), random_tensor<T>(shape_t{0, 2}, 2));
  check_values(zb, shape_t{2, 3, 2}, std::vector<double>(12, 0.0), 0);
  check_values(matmul(zeros<T>(shape_t{0}), zeros<T>(shape_t{0})), shape_t{}, {0.0}, 0);
  BOOST_TEST(
      matmul(random_tensor<T>(shape_t{0, 3}, 1), random_tensor<T>(shape_t{3, 4}, 2)).shape() ==
      (shape_t{0, 4}));
  BOOST_TEST(
      matmul(random_tensor<T>(shape_t{2, 3}, 1), random_tensor<T>(shape_t{3, 0}, 2)).shape() ==
      (shape_t{2, 0}));
}

BOOST_AUTO_TEST_CASE(large_product_through_eigen_threads) {
  const tensor<double> a = random_tensor<double>(shape_t{120, 200}, 7);
  const tensor<double> b = random_tensor<double>(shape_t{200, 90}, 8);
  check_matmul(a, b);
  check_matmul(a, b.transpose(0, 1).clone().transpose(0, 1));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(batch_sum_of_products, T, float_types) {
  // Σ_b a_b·b_b against the naive batched products summed over the batch in long double:
  // batch ranks 0, 1 and 2, a transposed rhs (the weight-gradient form Ȳ_b·X_bᵀ).
  std::uint64_t seed = 700;
  const std::vector<std::pair<shape_t, shape_t>> pairs = {
      {shape_t{3, 4}, shape_t{4, 5}},
      {shape_t{6, 3, 40}, shape_t{6, 40, 5}},
      {shape_t{2, 3, 4, 9}, shape_t{2, 3, 9, 2}},
  };
  for (const auto& [sa, sb] : pairs) {
    const tensor<T> a = random_tensor<T>(sa, seed++);
    for (const tensor<T>& b :
         {random_tensor<T>(sb, seed++),
          random_tensor<T>(sb, seed++).transpose(-1, -2).clone().transpose(-1, -2)}) {
      const auto [shape, each] = naive_matmul(a, b);
      const index_t m = sa[sa.rank() - 2], n = sb[sb.rank() - 1];
      const index_t nb = static_cast<index_t>(each.size()) / (m * n);
      std::vector<double> want(static_cast<std::size_t>(m * n), 0.0);
      for (index_t i = 0; i < nb; ++i)
        for (index_t j = 0; j < m * n; ++j)
          want[static_cast<std::size_t>(j)] += each[static_cast<std::size_t>(i * m * n + j)];
      const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
      const double k = static_cast<double>(sa[sa.rank() - 1] * nb);
      BOOST_TEST_CONTEXT("matmul_batch_sum " << sa << " x " << sb) {
        check_values(matmul_batch_sum(a, b), shape_t{m, n}, want, tol, tol * k);
      }
    }
  }
  check_throws(
      [] {
        (void)matmul_batch_sum(random_tensor<float>(shape_t{2, 3, 4}, 1),
                               random_tensor<float>(shape_t{3, 4, 5}, 2));
      },
      {"tessera::matmul_batch_sum", "(2,3,4)", "(3,4,5)", "same batch"});
  check_throws(
      [] {
        (void)matmul_batch_sum(random_tensor<float>(shape_t{3, 4}, 1),
                               random_tensor<float>(shape_t{2, 4, 5}, 2));
      },
      {"tessera::matmul_batch_sum", "(3,4)", "(2,4,5)"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(matmul_add_gelu_matches_its_definition, T, float_types) {
  // gelu(w·x + c + bias) against long double, with and without the addend, a per-row bias and
  // a scalar one.
  const tensor<T> w = random_tensor<T>(shape_t{5, 4}, 801),
                  x = random_tensor<T>(shape_t{3, 4, 7}, 802);
  const tensor<T> c = random_tensor<T>(shape_t{3, 5, 7}, 803);
  for (const tensor<T>& bias :
       {random_tensor<T>(shape_t{5, 1}, 804), random_tensor<T>(shape_t{}, 805)}) {
    for (const bool with_c : {false, true}) {
      const tensor<T> cc = with_c ? c : tensor<T>();
      const std::vector<double> want =
          linear_gelu_reference(w, x, tensor<T>(), tensor<T>(), cc, bias);
      const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
      BOOST_TEST_CONTEXT("bias " << bias.shape() << ", addend " << with_c) {
        check_values(matmul_add_gelu(w, x, cc, bias), shape_t{3, 5, 7}, want, tol, tol * 4);
      }
    }
  }
  check_throws(
      [&] {
        (void)matmul_add_gelu(w, random_tensor<T>(shape_t{3, 5, 7}, 806), tensor<T>(),
                              random_tensor<T>(shape_t{5, 1}, 807));
      },
      {"tessera::matmul", "(5,4)", "(3,5,7)"});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(matmul_pair_add_gelu_matches_its_definition, T, float_types) {
  // gelu(w·x + (w2·x2 + c) + bias) against long double (K2 ≠ K), with and without c.
  const tensor<T> w = random_tensor<T>(shape_t{5, 4}, 811),
                  x = random_tensor<T>(shape_t{3, 4, 7}, 812),
                  w2 = random_tensor<T>(shape_t{5, 6}, 813),
                  x2 = random_tensor<T>(shape_t{3, 6, 7}, 814),
                  c = random_tensor<T>(shape_t{3, 5, 7}, 815),
                  bias = random_tensor<T>(shape_t{5, 1}, 816);
  for (const bool with_c : {false, true}) {
    const tensor<T> cc = with_c ? c : tensor<T>();
    const std::vector<double> want = linear_gelu_reference(w, x, w2, x2, cc, bias);
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
    const tensor<T> got = matmul_pair_add_gelu(w, x, w2, x2, cc, bias);
    BOOST_TEST_CONTEXT("addend " << with_c) {
      check_values(got, shape_t{3, 5, 7}, want, tol, tol * 4);
    }
  }
  // The second product's operands are checked by matmul (named, with both shapes), and an
  // undefined one is refused, not skipped.
  check_throws(
      [&] {
        (void)matmul_pair_add_gelu(w, x, w2, random_tensor<T>(shape_t{3, 5, 7}, 817), c, bias);
      },
      {"tessera::matmul", "(5,6)", "(3,5,7)"});
  BOOST_CHECK_THROW((void)matmul_pair_add_gelu(w, x, tensor<T>(), tensor<T>(), c, bias),
                    invalid_argument);
}

BOOST_AUTO_TEST_CASE(matmul_errors) {
  const tensor<float> a = random_tensor<float>(shape_t{3, 4}, 1);
  check_throws(
      [&] {
        (void)matmul(a, random_tensor<float>(shape_t{5, 2}, 2));
      },
      {"tessera::matmul", "(3,4)", "(5,2)", "4 and 5"});
  check_throws([&] { (void)matmul(scalar<float>(1), a); }, {"tessera::matmul", "()", "rank"});
  check_throws([&] { (void)matmul(a, scalar<float>(1)); }, {"tessera::matmul", "()", "rank"});
  check_throws(
      [&] {
        (void)matmul(random_tensor<float>(shape_t{2, 3, 4}, 3),
                     random_tensor<float>(shape_t{3, 4, 5}, 4));
      },
      {"tessera::matmul", "(2)", "(3)"});
  check_throws([&] { (void)matmul(a, random_tensor<float>(shape_t{3}, 3)); },
               {"tessera::matmul", "(3,4)", "(3)", "4 and 3"});
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
