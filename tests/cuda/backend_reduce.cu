// SPDX-License-Identifier: Apache-2.0
// Backend comparison of reductions, argmax, matmul, softmax/norm kernels, indexing and losses
// on host and cuda: warp-per-row and block-per-row paths, column reductions, whole-tensor CUB
// reductions, transposed and batched matmul operands, and the index checks.
// Boost.Test first: under nvcc, <boost/mpl/list.hpp> included before it turns off the
// variadic BOOST_TEST forms.
#include <boost/test/unit_test.hpp>

#include <boost/mpl/list.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "backend_support.hpp"

namespace tessera::test {
namespace {

using scalar_types = boost::mpl::list<float, double>;

// Reductions sum in a different order than the host: allow for a few ulps per element.
const tolerance summed{1e-11, 1e-26};
// Signed sums that cancel: NMSE is relative to the (small) result, so the summation-order
// difference is amplified by the condition number Σ|x| / |Σx| (about 60 for 6000 uniform
// values in [-2, 2]; measured on an H200: NMSE 2.8e-11 in float). Still a relative error of
// 3e-5 at most, far below what a missed or doubled element gives.
const tolerance cancelling{1e-9, 1e-24};

BOOST_AUTO_TEST_SUITE(cuda_backend_reduce)

BOOST_AUTO_TEST_CASE_TEMPLATE(reductions_match_host, T, scalar_types) {
  // Warp rows (K <= 256), block rows, columns, permuted copies, a whole large tensor (CUB;
  // positive values there, so that the float sum has no cancellation to amplify the
  // difference between the host's and CUB's summation orders).
  const std::vector<std::pair<tensor<T>, shape_t>> cases = {
      {uniform<T>({37, 100}, 1), {1}},
      {uniform<T>({37, 1000}, 2), {1}},
      {uniform<T>({300, 70}, 3), {0}},
      {uniform<T>({4, 5, 6}, 4), {0, 2}},
      // Kept axes between reduced ones, rows of >= 32: the bias-gradient form (A, M, K), summed
      // row by row then over A, with no permuted copy (two kept axes; a size-1 axis between).
      {uniform<T>({6, 5, 300}, 9), {0, 2}},
      {uniform<T>({3, 4, 5, 70}, 10), {0, 3}},
      {uniform<T>({4, 1, 7, 40}, 11), {0, 3}},
      {uniform<T>({3, 40, 50}, 5), {}},
      {uniform<T>({1 << 20}, 6, T(0), T(2)), {}},
      {uniform<T>({30, 20}, 7).transpose(0, 1), {1}},
      {uniform<T>({0, 3}, 8), {0}},
  };
  for (const auto& [x, axes] : cases) {
    const tensor<T> pos = add(abs(x), T(0.5));
    for (bool keep : {false, true}) {
      check_op<T>("sum", {x}, cancelling, [&](const auto& v) { return sum(v[0], axes, keep); });
      check_op<T>("mean", {x}, cancelling, [&](const auto& v) { return mean(v[0], axes, keep); });
      check_op<T>("var", {x}, summed, [&](const auto& v) { return var(v[0], axes, 1, keep); });
      check_op<T>("norm2", {x}, summed,
                  [&](const auto& v) { return norm(v[0], T(2), axes, keep); });
      check_op<T>("norm1", {x}, summed,
                  [&](const auto& v) { return norm(v[0], T(1), axes, keep); });
      check_op<T>("logsumexp", {x}, summed,
                  [&](const auto& v) { return logsumexp(v[0], axes, keep); });
      if (x.numel() > 0) {
        const tolerance exact{0, 0};
        check_op<T>("max", {x}, exact, [&](const auto& v) { return max(v[0], axes, keep); });
        check_op<T>("min", {x}, exact, [&](const auto& v) { return min(v[0], axes, keep); });
        check_op<T>("norm_inf", {x}, exact, [&](const auto& v) {
          return norm(v[0], std::numeric_limits<T>::infinity(), axes, keep);
        });
      }
    }
    check_op<T>("sum_to", {pos}, summed, [&](const auto& v) {
      shape_t s = v[0].shape();
      if (s.rank() > 0) s[s.rank() - 1] = 1;
      return sum_to(v[0], s);
    });
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(argmax_and_nan_rules_match_host, T, scalar_types) {
  for (const auto& x : {uniform<T>({50, 7}, 1), uniform<T>({9, 3000}, 2),
                        uniform<T>({40, 30}, 3).transpose(0, 1)}) {
    for (int axis : {0, 1}) {
      const tensor<index_t> ref = argmax(x, axis);
      const tensor<index_t> got = to<host>(argmax(to<cuda>(x), axis));
      BOOST_TEST(ref.to_vector() == got.to_vector(), boost::test_tools::per_element());
    }
  }
  // Ties pick the first index; a NaN wins and propagates through max.
  tensor<T> t = from_vector<T>({1, 3, 3, 0, 2, 2, NAN, 2, 5, 5, 5, 5}, {3, 4});
  const tensor<index_t> got = to<host>(argmax(to<cuda>(t), 1));
  BOOST_TEST(got.to_vector() == argmax(t, 1).to_vector(), boost::test_tools::per_element());
  BOOST_TEST(got.to_vector() == (std::vector<index_t>{1, 2, 0}), boost::test_tools::per_element());
  const tensor<T> m = to<host>(max(to<cuda>(t), {1}));
  BOOST_TEST(std::isnan(m(1)));
  BOOST_TEST(m(0) == T(3));
  // Every norm of a row with a NaN is NaN, the infinity norm too, on rows, columns and all.
  for (const T p : {T(1), T(2), std::numeric_limits<T>::infinity()}) {
    BOOST_TEST_CONTEXT("norm p = " << p) {
      const tensor<T> rows = to<host>(norm(to<cuda>(t), p, {1}));
      BOOST_TEST(std::isnan(rows(1)));
      BOOST_TEST(!std::isnan(rows(0)));
      const tensor<T> cols = to<host>(norm(to<cuda>(t), p, {0}));
      BOOST_TEST(std::isnan(cols(2)));
      BOOST_TEST(!std::isnan(cols(0)));
      BOOST_TEST(std::isnan(to<host>(norm(to<cuda>(t), p)).item()));
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(matmul_matches_host, T, scalar_types) {
  const tolerance gemm{1e-11, 1e-26};
  const std::vector<std::pair<tensor<T>, tensor<T>>> pairs = {
      {uniform<T>({33, 65}, 1), uniform<T>({65, 17}, 2)},
      {uniform<T>({65, 33}, 3).transpose(0, 1), uniform<T>({65, 17}, 4)},
      {uniform<T>({33, 65}, 5), uniform<T>({17, 65}, 6).transpose(0, 1)},
      {uniform<T>({4, 9, 8}, 7), uniform<T>({4, 8, 5}, 8)},
      {uniform<T>({3, 1, 9, 8}, 9), uniform<T>({2, 8, 5}, 10)},                // batch broadcast
      {uniform<T>({9, 8}, 11), uniform<T>({6, 8, 5}, 12)},                     // shared lhs
      {uniform<T>({8}, 13), uniform<T>({8, 5}, 14)},                           // vector · matrix
      {uniform<T>({9, 8}, 15), uniform<T>({8}, 16)},                           // matrix · vector
      {uniform<T>({6, 4, 8}, 17).transpose(0, 1), uniform<T>({4, 8, 3}, 18)},  // strided batch
      {uniform<T>({5, 0}, 19), uniform<T>({0, 3}, 20)},                        // k = 0
  };
  for (const auto& [a, b] : pairs)
    check_op<T>("matmul", {a, b}, gemm, [](const auto& v) { return matmul(v[0], v[1]); });
  // matmul_batch_sum: the chunked kernel (tails in m, n and k; several 32×32 tiles; a rank-4
  // batch; the weight-gradient form with a transposed rhs; m = n = 128), and the fallbacks (a
  // short inner range, m > 128, a batch without one stride, rank 2).
  const std::vector<std::pair<tensor<T>, tensor<T>>> batch_pairs = {
      {uniform<T>({8, 33, 3000}, 50), uniform<T>({8, 20, 3000}, 51).transpose(1, 2)},
      {uniform<T>({5, 2, 70, 700}, 52), uniform<T>({5, 2, 700, 7}, 53)},
      {uniform<T>({3, 128, 1500}, 54), uniform<T>({3, 1500, 128}, 55)},
      {uniform<T>({2, 9, 64}, 56), uniform<T>({2, 64, 5}, 57)},
      {uniform<T>({2, 130, 600}, 58), uniform<T>({2, 600, 3}, 59)},
      {uniform<T>({6, 4, 9, 600}, 60).transpose(0, 1), uniform<T>({4, 6, 600, 3}, 61)},
      {uniform<T>({9, 700}, 62), uniform<T>({700, 4}, 63)},
  };
  for (const auto& [a, b] : batch_pairs)
    check_op<T>("matmul_batch_sum", {a, b}, cancelling,
                [](const auto& v) { return matmul_batch_sum(v[0], v[1]); });
  // matmul_add_gelu: the fused kernel (M, K <= 32: 32 × 32, 20 × 7 and 5 × 32, with and without
  // the addend, odd column counts, more tiles than blocks) and the composite (M > 32, a scalar
  // bias; a transposed x, below).
  const tensor<T> none;
  const std::vector<std::array<tensor<T>, 4>> fused = {
      {uniform<T>({32, 32}, 70), uniform<T>({3, 32, 301}, 71), uniform<T>({3, 32, 301}, 72),
       uniform<T>({32, 1}, 73)},
      {uniform<T>({32, 32}, 74), uniform<T>({2, 32, 500}, 75), none, uniform<T>({32, 1}, 76)},
      {uniform<T>({20, 7}, 77), uniform<T>({2, 7, 97}, 78), uniform<T>({2, 20, 97}, 79),
       uniform<T>({20, 1}, 80)},
      {uniform<T>({5, 32}, 94), uniform<T>({2, 32, 130}, 95), uniform<T>({2, 5, 130}, 96),
       uniform<T>({5, 1}, 97)},
      // 4700 tiles of 64 columns: more than the grid's 32 blocks per multiprocessor on an
      // H100 or H200, so blocks take several tiles in turn.
      {uniform<T>({32, 32}, 98), uniform<T>({1, 32, 300800}, 99), uniform<T>({1, 32, 300800}, 100),
       uniform<T>({32, 1}, 101)},
      {uniform<T>({40, 20}, 90), uniform<T>({2, 20, 97}, 91), uniform<T>({2, 40, 97}, 92),
       uniform<T>({40, 1}, 93)},
      {uniform<T>({8, 6}, 81), uniform<T>({2, 6, 50}, 82), none, uniform<T>({}, 83)},
      {uniform<T>({70, 6}, 84), uniform<T>({2, 6, 50}, 85), none, uniform<T>({70, 1}, 86)},
  };
  // Both kernels of the one-kernel path (cuda_detail::gelu_kernel; matmul_add_gelu runs the
  // tiled one, checked below with the rest) on the cases they take: the column kernel matches
  // the host, and the tiled kernel the column kernel to rounding. They take the same sums in
  // the same order (test_cuda_emulated checks the bits, built without FMA contraction), but
  // where a compiler fuses a multiply-add is its own choice: on the host, g++ fused one
  // kernel's and not the other's (2026-11-28), so equal bits here would test nvcc, not them.
  for (const auto& [w, x, c, b] : fused) {
    const tensor<T, cuda> wd = to<cuda>(w), xd = to<cuda>(x), bd = to<cuda>(b),
                          cd = c.defined() ? to<cuda>(c) : tensor<T, cuda>();
    const tensor<T, cuda> column =
        cuda_detail::matmul_add_gelu_kernel(wd, xd, cd, bd, cuda_detail::gelu_kernel::column);
    const tensor<T, cuda> tiled =
        cuda_detail::matmul_add_gelu_kernel(wd, xd, cd, bd, cuda_detail::gelu_kernel::tiled);
    BOOST_TEST(column.defined() == tiled.defined());
    if (!column.defined()) continue;  // a composite case
    const tensor<T> ref = matmul_add_gelu(w, x, c, b), col = to<host>(column),
                    til = to<host>(tiled);
    BOOST_TEST(nmse(ref, col) <= tolerance{}.of<T>(),
               "column kernel " << w.shape() << " x " << x.shape() << ", NMSE " << nmse(ref, col));
    BOOST_TEST(nmse(col, til) <= tolerance{}.of<T>(),
               "tiled kernel " << w.shape() << " x " << x.shape() << ": NMSE " << nmse(col, til)
                               << " against the column kernel");
  }
  for (const auto& [w, x, c, b] : fused) {
    if (c.defined())
      check_op<T>("matmul_add_gelu", {w, x, c, b}, tolerance{1e-10, 1e-24},
                  [](const auto& v) { return matmul_add_gelu(v[0], v[1], v[2], v[3]); });
    else
      check_op<T>("matmul_add_gelu without addend", {w, x, b}, tolerance{1e-10, 1e-24},
                  [](const auto& v) {
                    using X = std::decay_t<decltype(v[0])>;
                    return matmul_add_gelu(v[0], v[1], X(), v[2]);
                  });
  }
  // A transposed x (made on each side: check_op's copy to the device is contiguous) takes the
  // composite.
  check_op<T>("matmul_add_gelu, transposed x",
              {uniform<T>({8, 6}, 87), uniform<T>({2, 50, 6}, 88), uniform<T>({8, 1}, 89)},
              tolerance{1e-10, 1e-24}, [](const auto& v) {
                using X = std::decay_t<decltype(v[0])>;
                return matmul_add_gelu(v[0], v[1].transpose(1, 2), X(), v[2]);
              });
  // matmul_pair_add_gelu: the fused kernel's second product (32 × 32 with 32 × 32, the FNO
  // layer's shape; 20 × 7 with 20 × 13; without c; more tiles than blocks) and the composite
  // (a second product with more than 32 inputs; a transposed x2, below).
  const std::vector<std::array<tensor<T>, 6>> pairs2 = {
      {uniform<T>({32, 32}, 110), uniform<T>({3, 32, 301}, 111), uniform<T>({32, 32}, 112),
       uniform<T>({3, 32, 301}, 113), uniform<T>({3, 32, 301}, 114), uniform<T>({32, 1}, 115)},
      {uniform<T>({20, 7}, 116), uniform<T>({2, 7, 97}, 117), uniform<T>({20, 13}, 118),
       uniform<T>({2, 13, 97}, 119), uniform<T>({2, 20, 97}, 120), uniform<T>({20, 1}, 121)},
      {uniform<T>({32, 32}, 122), uniform<T>({2, 32, 500}, 123), uniform<T>({32, 32}, 124),
       uniform<T>({2, 32, 500}, 125), none, uniform<T>({32, 1}, 126)},
      {uniform<T>({32, 32}, 127), uniform<T>({1, 32, 300800}, 128), uniform<T>({32, 32}, 129),
       uniform<T>({1, 32, 300800}, 130), uniform<T>({1, 32, 300800}, 131),
       uniform<T>({32, 1}, 132)},
      {uniform<T>({8, 6}, 139), uniform<T>({2, 6, 50}, 140), uniform<T>({8, 40}, 141),
       uniform<T>({2, 40, 50}, 142), uniform<T>({2, 8, 50}, 143), uniform<T>({8, 1}, 144)},
  };
  for (const auto& [w, x, w2, x2, c, b] : pairs2) {
    if (c.defined())
      check_op<T>(
          "matmul_pair_add_gelu", {w, x, w2, x2, c, b}, tolerance{1e-10, 1e-24},
          [](const auto& v) { return matmul_pair_add_gelu(v[0], v[1], v[2], v[3], v[4], v[5]); });
    else
      check_op<T>("matmul_pair_add_gelu without addend", {w, x, w2, x2, b}, tolerance{1e-10, 1e-24},
                  [](const auto& v) {
                    using X = std::decay_t<decltype(v[0])>;
                    return matmul_pair_add_gelu(v[0], v[1], v[2], v[3], X(), v[4]);
                  });
  }
  check_op<T>("matmul_pair_add_gelu, transposed x2",
              {uniform<T>({8, 6}, 133), uniform<T>({2, 6, 50}, 134), uniform<T>({8, 5}, 135),
               uniform<T>({2, 50, 5}, 136), uniform<T>({2, 8, 50}, 137), uniform<T>({8, 1}, 138)},
              tolerance{1e-10, 1e-24}, [](const auto& v) {
                return matmul_pair_add_gelu(v[0], v[1], v[2], v[3].transpose(1, 2), v[4], v[5]);
              });
  // An undefined second product is refused on cuda as on the host, not skipped.
  BOOST_CHECK_THROW((void)matmul_pair_add_gelu(
                        to<cuda>(uniform<T>({8, 6}, 145)), to<cuda>(uniform<T>({2, 6, 50}, 146)),
                        tensor<T, cuda>(), tensor<T, cuda>(), to<cuda>(uniform<T>({2, 8, 50}, 147)),
                        to<cuda>(uniform<T>({8, 1}, 148))),
                    invalid_argument);
  BOOST_CHECK_THROW(
      matmul_batch_sum(to<cuda>(uniform<T>({2, 3, 4}, 1)), to<cuda>(uniform<T>({3, 4, 5}, 2))),
      invalid_argument);
  if constexpr (std::is_same_v<T, float>) {
    cuda_rt::set_allow_tf32(true);
    check_op<T>("matmul tf32", {uniform<T>({128, 256}, 21), uniform<T>({256, 64}, 22)},
                tolerance{1e-5, 0}, [](const auto& v) { return matmul(v[0], v[1]); });
    cuda_rt::set_allow_tf32(false);
  }
  BOOST_CHECK_THROW(matmul(to<cuda>(uniform<T>({3, 4}, 1)), to<cuda>(uniform<T>({5, 2}, 2))),
                    invalid_argument);
  // matmul_add: the addend as the GEMM's C operand (the product's shape, batched, a strided
  // batch), broadcast into the result first (a column, a row), and on the GemmEx path.
  const std::vector<std::array<tensor<T>, 3>> triples = {
      {uniform<T>({33, 65}, 31), uniform<T>({65, 17}, 32), uniform<T>({33, 17}, 33)},
      {uniform<T>({9, 8}, 34), uniform<T>({6, 8, 50}, 35), uniform<T>({6, 9, 50}, 36)},
      {uniform<T>({6, 4, 8}, 37).transpose(0, 1), uniform<T>({4, 8, 3}, 38),
       uniform<T>({4, 6, 3}, 39)},
      {uniform<T>({9, 8}, 40), uniform<T>({6, 8, 50}, 41), uniform<T>({9, 1}, 42)},
      {uniform<T>({33, 65}, 43), uniform<T>({65, 17}, 44), uniform<T>({17}, 45)},
  };
  for (const bool lt : {true, false}) {
    cuda_rt::set_gemm_lt(lt);
    for (const auto& [a, b, c] : triples)
      check_op<T>(lt ? "matmul_add" : "matmul_add (GemmEx)", {a, b, c}, gemm,
                  [](const auto& v) { return matmul_add(v[0], v[1], v[2]); });
  }
  cuda_rt::set_gemm_lt(true);
  BOOST_CHECK_THROW(matmul_add(to<cuda>(uniform<T>({3, 4}, 1)), to<cuda>(uniform<T>({4, 2}, 2)),
                               to<cuda>(uniform<T>({3, 3}, 3))),
                    invalid_argument);
}

BOOST_AUTO_TEST_CASE(matmul_bf16_multiplies_the_rounded_inputs_exactly) {
  // bf16 products are exact in FP32, so the bf16 path must equal the host's float product of
  // the inputs rounded to bf16 (nearest even), up to the summation order.
  auto round_bf16 = [](const tensor<float>& x) {
    tensor<float> r = x.clone();
    for (index_t i = 0; i < r.numel(); ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, r.data() + i, 4);
      bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
      std::memcpy(r.data() + i, &bits, 4);
    }
    return r;
  };
  const tensor<float> a = uniform<float>({3, 40, 96}, 1), b = uniform<float>({24, 96}, 2);
  const tensor<float> ref = matmul(round_bf16(a), round_bf16(b).transpose(0, 1));
  cuda_rt::set_matmul_bf16(true);
  const tensor<float> got = to<host>(matmul(to<cuda>(a), to<cuda>(b).transpose(0, 1)));
  cuda_rt::set_matmul_bf16(false);
  BOOST_TEST(nmse(ref, got) <= 1e-11);
  // ... and differ from the float product by bf16's rounding (the option took effect).
  BOOST_TEST(nmse(matmul(a, b.transpose(0, 1)), got) > 1e-9);
  // Element counts that are not multiples of 4 take the scalar rounding kernel.
  const tensor<float> c = uniform<float>({5, 7}, 3), d = uniform<float>({7, 3}, 4);
  cuda_rt::set_matmul_bf16(true);
  const tensor<float> got_odd = to<host>(matmul(to<cuda>(c), to<cuda>(d)));
  cuda_rt::set_matmul_bf16(false);
  BOOST_TEST(nmse(matmul(round_bf16(c), round_bf16(d)), got_odd) <= 1e-11);
}

// The cuBLASLt path (cuda_rt::gemm_lt, on by default) against the host and against
// cublasGemmEx, for the operand layouts matmul passes to it; the per-thread plan cache and the
// autotune (β = 0 into the output, β = 1 into a scratch, skipped during graph capture).
BOOST_AUTO_TEST_CASE(matmul_cublaslt_path_and_plan_cache) {
  const tolerance gemm{1e-11, 1e-26};
  BOOST_TEST_REQUIRE(cuda_rt::gemm_lt());
  auto report = [](const char* what) {
    const cuda_rt::gemm_lt_stats s = cuda_rt::gemm_stats();
    return std::string(what) + ": lt_calls " + std::to_string(s.lt_calls) + ", gemmex_fallbacks " +
           std::to_string(s.gemmex_fallbacks) + ", heuristic_queries " +
           std::to_string(s.heuristic_queries) + ", autotuned " + std::to_string(s.autotuned) +
           ", rejected " + std::to_string(s.rejected_algos) + ", candidates " +
           std::to_string(s.last_candidates) + ", last cuBLASLt status " +
           cublasGetStatusName(s.last_lt_status);
  };
  cuda_rt::clear_gemm_cache();
  const tensor<float> a = uniform<float>({96, 64}, 1), b = uniform<float>({64, 80}, 2);
  const tensor<float, cuda> da = to<cuda>(a), db = to<cuda>(b);
  const tensor<float> first = to<host>(matmul(da, db));
  BOOST_TEST(cuda_rt::gemm_stats().lt_calls == 1u, report("plain float GEMM"));
  BOOST_TEST(cuda_rt::gemm_stats().heuristic_queries == 1u, report("plain float GEMM"));
  BOOST_TEST(nmse(matmul(a, b), first) <= gemm.f32);
  // Same problem: the cached plan, no new heuristic query, the same bits.
  const tensor<float> second = to<host>(matmul(da, db));
  BOOST_TEST(cuda_rt::gemm_stats().heuristic_queries == 1u, report("repeated GEMM"));
  BOOST_TEST(cuda_rt::gemm_stats().cached_problems == 1u);
  BOOST_TEST(first.to_vector() == second.to_vector(), boost::test_tools::per_element());

  // Layouts, made on each side from the same inputs (to<cuda> copies contiguous): transposed
  // operands, batches, broadcast batches (stride 0), a strided batch and a view starting 4
  // bytes into its allocation (alignment below the heuristic's default of 256 bytes).
  auto check_layout = [&](const std::string& name, const tensor<float>& x0, const tensor<float>& y0,
                          auto view) {
    const auto [x, y] = view(x0, y0);
    const tensor<float> ref = matmul(x, y);
    const tensor<float, cuda> dx0 = to<cuda>(x0), dy0 = to<cuda>(y0);
    const auto [dx, dy] = view(dx0, dy0);
    cuda_rt::set_gemm_lt(false);
    const tensor<float> gemmex = to<host>(matmul(dx, dy));
    cuda_rt::set_gemm_lt(true);
    const auto before = cuda_rt::gemm_stats();
    const tensor<float> lt = to<host>(matmul(dx, dy));
    const auto after = cuda_rt::gemm_stats();
    BOOST_TEST_CONTEXT(name << ": lhs " << x.shape().str() << ", rhs " << y.shape().str()) {
      BOOST_TEST(after.lt_calls == before.lt_calls + 1u, report("layout case"));
      BOOST_TEST(nmse(ref, lt) <= gemm.f32);
      BOOST_TEST(nmse(gemmex, lt) <= gemm.f32);
    }
  };
  check_layout("both transposed", uniform<float>({65, 33}, 3), uniform<float>({17, 65}, 4),
               [](const auto& x, const auto& y) {
                 return std::make_pair(x.transpose(0, 1), y.transpose(0, 1));
               });
  auto same = [](const auto& x, const auto& y) { return std::make_pair(x, y); };
  check_layout("batched", uniform<float>({4, 9, 8}, 5), uniform<float>({4, 8, 5}, 6), same);
  check_layout("broadcast batch", uniform<float>({3, 1, 9, 8}, 7), uniform<float>({2, 8, 5}, 8),
               same);
  check_layout("shared lhs, transposed batched rhs", uniform<float>({9, 8}, 10),
               uniform<float>({6, 5, 8}, 11),
               [](const auto& x, const auto& y) { return std::make_pair(x, y.transpose(1, 2)); });
  check_layout("strided batch", uniform<float>({6, 4, 8}, 12), uniform<float>({4, 8, 3}, 13),
               [](const auto& x, const auto& y) { return std::make_pair(x.transpose(0, 1), y); });
  check_layout("offset view", uniform<float>({1 + 40 * 24}, 9), uniform<float>({24, 7}, 14),
               [](const auto& x, const auto& y) {
                 return std::make_pair(x.slice(0, 1, 1 + 40 * 24).reshape({40, 24}), y);
               });

  // Autotune: the first call of a new problem times the candidates, later ones reuse the pick.
  cuda_rt::clear_gemm_cache();
  cuda_rt::set_gemm_autotune(true);
  cuda_rt::set_allow_tf32(true);
  const tensor<float> c = uniform<float>({128, 256}, 15), d = uniform<float>({256, 64}, 16);
  const tensor<float, cuda> dc = to<cuda>(c), dd = to<cuda>(d);
  const tensor<float> tuned = to<host>(matmul(dc, dd));
  const cuda_rt::gemm_lt_stats t1 = cuda_rt::gemm_stats();
  BOOST_TEST(t1.heuristic_queries == 1u, report("autotune"));
  BOOST_TEST(t1.autotuned == (t1.last_candidates > 1 ? 1u : 0u), report("autotune"));
  BOOST_TEST(nmse(matmul(c, d), tuned) <= 1e-5);  // TF32, as matmul_matches_host
  const tensor<float> again = to<host>(matmul(dc, dd));
  BOOST_TEST(cuda_rt::gemm_stats().autotuned == t1.autotuned, report("tuned problem again"));
  BOOST_TEST(cuda_rt::gemm_stats().heuristic_queries == 1u);
  BOOST_TEST(nmse(tuned, again) <= 1e-11);  // the tuned pick, reused
  cuda_rt::set_allow_tf32(false);

  // β = 1 (matmul_acc_): tuning runs into a scratch, the output gets the product once.
  const tensor<float> e = uniform<float>({48, 72}, 17), f = uniform<float>({72, 40}, 18);
  const tensor<float> acc0 = uniform<float>({48, 40}, 19);
  const tensor<float, cuda> acc = to<cuda>(acc0);
  matmul_acc_(acc, to<cuda>(e), to<cuda>(f));
  if (cuda_rt::gemm_stats().last_candidates > 1)
    BOOST_TEST(cuda_rt::gemm_stats().autotuned == t1.autotuned + 1u, report("matmul_acc_"));
  BOOST_TEST(nmse(acc0 + matmul(e, f), to<host>(acc)) <= gemm.f32, report("matmul_acc_"));

  // Under graph capture nothing is timed: the heuristic's first choice is captured, and the
  // next eager call tunes the problem.
  const tensor<float> g = uniform<float>({24, 56}, 20), h = uniform<float>({56, 88}, 21);
  const tensor<float, cuda> dg = to<cuda>(g), dh = to<cuda>(h);
  auto out = zeros<float, cuda>({24, 88});
  const auto s0 = cuda_rt::gemm_stats();
  cuda_rt::graph captured([&] { out.copy_from(matmul(dg, dh)); });
  const auto s1 = cuda_rt::gemm_stats();
  BOOST_TEST(s1.autotuned == s0.autotuned, report("capture"));
  if (s1.last_candidates > 1)
    BOOST_TEST(s1.tune_skipped_capturing == s0.tune_skipped_capturing + 1u, report("capture"));
  captured.replay();
  BOOST_TEST(nmse(matmul(g, h), to<host>(out)) <= gemm.f32);
  const tensor<float> eager = to<host>(matmul(dg, dh));
  BOOST_TEST(nmse(matmul(g, h), eager) <= gemm.f32);
  if (s1.last_candidates > 1)
    BOOST_TEST(cuda_rt::gemm_stats().autotuned == s1.autotuned + 1u, report("after capture"));
  cuda_rt::set_gemm_autotune(false);

  // The cache is bounded: it is emptied when a new problem finds it full, so 640 distinct
  // problems leave the last 640 - 512 of them.
  static_assert(cuda_detail::lt_cache_capacity == 512);
  cuda_rt::clear_gemm_cache();
  for (index_t i = 1; i <= 128; ++i)
    for (index_t j = 1; j <= 5; ++j) (void)matmul(dc.slice(0, 0, i), dd.slice(1, 0, j));
  BOOST_TEST(cuda_rt::gemm_stats().heuristic_queries == 640u, report("cache bound"));
  BOOST_TEST(cuda_rt::gemm_stats().cached_problems == 128u);
  cuda_rt::clear_gemm_cache();
  BOOST_TEST(cuda_rt::gemm_stats().cached_problems == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(fused_row_kernels_match_host, T, scalar_types) {
  const tolerance rows{1e-11, 1e-26};
  // Row lengths cover each register-held warp variant (≤ 128, 256, 512, 1024 values per row,
  // at and just past their limits; exactly 128, 256, 512 and 1024 take the 16-byte row loads)
  // and the block-per-row path (3000).
  for (const auto& x : {uniform<T>({70, 10}, 1, T(-20), T(20)), uniform<T>({5, 3000}, 2),
                        uniform<T>({3, 4, 5}, 3), uniform<T>({0, 8}, 4), uniform<T>({3, 128}, 7),
                        uniform<T>({3, 129}, 8), uniform<T>({11, 300}, 9), uniform<T>({6, 513}, 10),
                        uniform<T>({4, 1024}, 11, T(-20), T(20)), uniform<T>({5, 256}, 12),
                        uniform<T>({3, 512}, 13)}) {
    for (int axis : {-1, 0}) {
      check_op<T>("softmax", {x}, rows, [&](const auto& v) { return softmax(v[0], axis); });
      check_op<T>("log_softmax", {x}, rows, [&](const auto& v) { return log_softmax(v[0], axis); });
    }
    const index_t D = x.size(-1);
    const std::vector<tensor<T>> in{x, uniform<T>({D}, 5), uniform<T>({D}, 6)};
    check_op<T>("layer_norm", in, rows,
                [](const auto& v) { return layer_norm(v[0], v[1], v[2], T(1e-5)); });
    check_op<T>("layer_norm without affine", in, rows, [](const auto& v) {
      using tensor_t = std::decay_t<decltype(v[1])>;
      return layer_norm(v[0], tensor_t(), tensor_t(), T(1e-5));
    });
    check_op<T>("rms_norm", in, rows, [](const auto& v) { return rms_norm(v[0], v[1], T(1e-6)); });
  }
  // Rows of 256 one element past a 16-byte boundary: element loads, not vector loads (a
  // misaligned vector load would fault).
  const std::vector<tensor<T>> off{uniform<T>({4 * 256 + 1}, 14), uniform<T>({256}, 15),
                                   uniform<T>({256}, 16)};
  const auto misaligned = [](const auto& flat) {
    return flat.slice(0, 1, flat.numel()).view(shape_t{4, 256});
  };
  check_op<T>("softmax of misaligned rows", off, rows,
              [&](const auto& v) { return softmax(misaligned(v[0])); });
  check_op<T>("layer_norm of misaligned rows", off, rows,
              [&](const auto& v) { return layer_norm(misaligned(v[0]), v[1], v[2], T(1e-5)); });
  // A row of -inf is NaN on both sides (the shift falls back to 0, Σ exp = 0).
  const tensor<T> special = from_vector<T>({-INFINITY, -INFINITY, -INFINITY, 1, 2, 3}, {2, 3});
  check_op<T>("softmax of -inf rows", {special}, rows, [](const auto& v) { return softmax(v[0]); });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(indexing_matches_host, T, scalar_types) {
  const tolerance exact{0, 0};
  const tensor<T> x = uniform<T>({6, 5, 4}, 1);
  const tensor<index_t> idx = from_list<index_t>({4, 0, 0, 2});
  const auto didx = to<cuda>(idx);
  auto check = [&](const std::string& name, const tensor<T>& ref, const tensor<T, cuda>& got) {
    const double e = nmse(ref, to<host>(got));
    BOOST_TEST(e == 0.0, name << ": NMSE " << e);
  };
  const auto dx = to<cuda>(x);
  check("index_select axis 1", index_select(x, 1, idx), index_select(dx, 1, didx));
  check("index_select axis 0 of a view", index_select(x.transpose(0, 2), 2, idx),
        index_select(dx.transpose(0, 2), 2, didx));
  const tensor<T> src = uniform<T>({6, 4, 4}, 2);
  const tensor<T> ia_ref = index_add(shape_t{6, 5, 4}, 1, idx, src);
  const double e = nmse(ia_ref, to<host>(index_add(shape_t{6, 5, 4}, 1, didx, to<cuda>(src))));
  BOOST_TEST(e <= 1e-12);  // atomics may add the repeated index in either order
  const tensor<T> w = uniform<T>({10, 3}, 3);
  const tensor<index_t> ids = from_vector<index_t>({1, 9, 0, 3, 3, 7}, {2, 3});
  check("embedding", embedding(w, ids), embedding(to<cuda>(w), to<cuda>(ids)));
  const tensor<index_t> gidx = from_vector<index_t>({0, 4, 1, 1, 3, 2}, {2, 3});
  const tensor<T> m = uniform<T>({3, 5}, 4);
  check("gather", gather(m, 1, gidx), gather(to<cuda>(m), 1, to<cuda>(gidx)));
  check("gather of a view", gather(m.slice(1, 0, 5), 1, gidx),
        gather(to<cuda>(m).slice(1, 0, 5), 1, to<cuda>(gidx)));
  const tensor<T> gsrc = uniform<T>({2, 3}, 5);
  check("scatter_add", scatter_add(shape_t{3, 5}, 1, gidx, gsrc),
        scatter_add(shape_t{3, 5}, 1, to<cuda>(gidx), to<cuda>(gsrc)));
  check_op<T>("concat", {x, uniform<T>({6, 2, 4}, 6)}, exact, [](const auto& v) {
    return concat(std::vector{v[0], v[1]}, 1);
  });
  check_op<T>("stack", {x, x}, exact, [](const auto& v) {
    return stack(std::vector{v[0], v[1]}, 3);
  });
  check_op<T>("split", {x}, exact, [](const auto& v) {
    return split(v[0], {1, 3, 1}, 1)[1].clone();
  });
}

BOOST_AUTO_TEST_CASE(out_of_range_indices_are_reported_or_zero) {
  const auto x = to<cuda>(uniform<float>({4, 3}, 1));
  const auto bad = to<cuda>(from_list<index_t>({0, 4}));
  BOOST_CHECK_THROW(index_select(x, 0, bad), invalid_argument);
  BOOST_CHECK_THROW(embedding(x, bad), invalid_argument);
  BOOST_CHECK_THROW(cross_entropy(x.slice(0, 0, 2), to<cuda>(from_list<index_t>({0, 3}))),
                    invalid_argument);
  cuda_rt::set_check_indices(false);
  const tensor<float> r = to<host>(index_select(x, 0, bad));
  cuda_rt::set_check_indices(true);
  for (index_t j = 0; j < 3; ++j) BOOST_TEST(r(1, j) == 0.f);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(losses_match_host, T, scalar_types) {
  const tolerance loss{1e-11, 1e-26};
  for (index_t C : {10, 2000}) {
    const tensor<T> logits = uniform<T>({64, C}, 1, T(-5), T(5));
    std::vector<index_t> t(64);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<index_t>((i * 7919) % C);
    const tensor<index_t> target = from_vector<index_t>(t, {64});
    const tensor<T> ref = cross_entropy(logits, target);
    const tensor<T> got = to<host>(cross_entropy(to<cuda>(logits), to<cuda>(target)));
    BOOST_TEST(nmse(ref, got) <= loss.of<T>());
  }
  check_op<T>("mse_loss", {uniform<T>({17, 9}, 2), uniform<T>({9}, 3)}, loss,
              [](const auto& v) { return mse_loss(v[0], v[1]); });
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
