// SPDX-License-Identifier: Apache-2.0
// bf16 and half storage on cuda: cast rounds as the CUDA conversion functions do on the host
// (and as the bit-level round-to-nearest-even of bf16), widening is exact, matmul of 16-bit
// tensors equals the float product of the same (exactly representable) values, rounded once,
// and elementwise ops, reductions and row kernels on 16-bit tensors equal the host's float op on
// the same values, rounded once (within one unit in the last place of the 16-bit type); var,
// logsumexp, norm, argmax, all_finite, the losses and accumulating indexing widen to float.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "backend_support.hpp"

namespace tessera::test {
namespace {

/// The host's float values of x rounded to U and back (CUDA's host conversion functions).
template <class U>
tensor<float> round_on_host(const tensor<float>& x) {
  tensor<float> r = x.contiguous().clone();
  for (index_t i = 0; i < r.numel(); ++i) {
    if constexpr (std::is_same_v<U, __nv_bfloat16>)
      r.data()[i] = __bfloat162float(__float2bfloat16_rn(r.data()[i]));
    else
      r.data()[i] = __half2float(__float2half_rn(r.data()[i]));
  }
  return r;
}

/// bf16 round to nearest even on the bits (independent of CUDA's functions; finite inputs).
float bf16_bits(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&v, &bits, 4);
  return v;
}

BOOST_AUTO_TEST_SUITE(cuda_half)

BOOST_AUTO_TEST_CASE(casts_round_to_nearest_even_and_widen_exactly) {
  std::vector<float> v = uniform<float>({997}, 1, -300.f, 300.f).to_vector();
  // Ties and edge cases: 1 + 2⁻⁸ (bf16 tie, to even: 1), 1 + 3·2⁻⁸ (tie, up), half's largest
  // finite value and beyond (→ inf), a half subnormal, ±0, ±inf, NaN.
  const float specials[] = {1.f + 0x1p-8f, 1.f + 3 * 0x1p-8f, 65504.f,   65520.f, 1e5f, 3e-6f, 0.f,
                            -0.f,          INFINITY,          -INFINITY, NAN};
  v.insert(v.end(), std::begin(specials), std::end(specials));
  const tensor<float> x = from_vector<float>(v, {static_cast<index_t>(v.size())});
  const auto dx = to<cuda>(x);
  const tensor<float> bf = to<host>(cast<float>(cast<__nv_bfloat16>(dx)));
  const tensor<float> hf = to<host>(cast<float>(cast<__half>(dx)));
  const tensor<float> bf_ref = round_on_host<__nv_bfloat16>(x), hf_ref = round_on_host<__half>(x);
  BOOST_TEST(nmse(bf_ref, bf) == 0.0);
  BOOST_TEST(nmse(hf_ref, hf) == 0.0);
  for (index_t i = 0; i < x.numel(); ++i) {
    const float a = x.data()[i];
    if (std::isfinite(a)) BOOST_TEST(bf.data()[i] == bf16_bits(a), "bf16 of " << a);
  }
  BOOST_TEST(bf.data()[997] == 1.f);            // tie to even
  BOOST_TEST(bf.data()[998] == 1.f + 0x1p-6f);  // tie to even (up)
  BOOST_TEST(hf.data()[999] == 65504.f);
  BOOST_TEST(std::isinf(hf.data()[1000]));  // rounds past half's range
  BOOST_TEST(std::isnan(bf.data()[1007]));
  // Widening back to double is exact, and double → bf16 rounds once (not via float).
  const tensor<double> wide = to<host>(cast<double>(cast<__nv_bfloat16>(dx)));
  for (index_t i = 0; i < 997; ++i) BOOST_TEST(wide.data()[i] == double(bf.data()[i]));
  const double tricky = 1.0 + 0x1p-8 + 0x1p-40;  // above the tie: up in one rounding
  const auto t = to<cuda>(from_vector<double>({tricky}, {1}));
  BOOST_TEST(to<host>(cast<float>(cast<__nv_bfloat16>(t))).data()[0] == 1.f + 0x1p-7f);
  // Views are converted in their logical order; the same type is returned as is.
  const auto m = to<cuda>(uniform<float>({6, 5}, 2));
  BOOST_TEST(nmse(round_on_host<__half>(to<host>(m).transpose(0, 1)),
                  to<host>(cast<float>(cast<__half>(m.transpose(0, 1))))) == 0.0);
  BOOST_TEST(cast<float>(m).data() == m.data());
}

template <class U>
void check_matmul(const tensor<float>& a, const tensor<float>& b, bool transpose_b) {
  // Operands rounded to U on the host are exactly the values the device multiplies; their
  // products are exact in FP32 and the result is rounded to U once.
  const tensor<float> ar = round_on_host<U>(a), br = round_on_host<U>(b);
  const tensor<float> ref = round_on_host<U>(matmul(ar, transpose_b ? br.transpose(-1, -2) : br));
  const auto da = cast<U>(to<cuda>(a));
  auto db = cast<U>(to<cuda>(b));
  const tensor<float> got =
      to<host>(cast<float>(matmul(da, transpose_b ? db.transpose(-1, -2) : db)));
  // Both sides round sums of the same products (different order) once: at most a unit in the
  // last place apart (2⁻⁸ relative for bf16, 2⁻¹¹ for half), usually equal.
  const double bound = std::is_same_v<U, __nv_bfloat16> ? 1e-5 : 2e-7;
  BOOST_TEST(nmse(ref, got) <= bound, "NMSE " << nmse(ref, got) << ", shape " << ref.shape().str());
  // ... and not the float product of the unrounded inputs (the storage type took effect).
  BOOST_TEST(nmse(matmul(a, transpose_b ? b.transpose(-1, -2) : b), got) > bound / 100);
}

BOOST_AUTO_TEST_CASE(matmul_of_16_bit_tensors_is_the_rounded_float_product) {
  check_matmul<__nv_bfloat16>(uniform<float>({40, 96}, 3), uniform<float>({96, 24}, 4), false);
  check_matmul<__nv_bfloat16>(uniform<float>({3, 40, 96}, 5), uniform<float>({24, 96}, 6), true);
  check_matmul<__half>(uniform<float>({33, 64}, 7), uniform<float>({64, 17}, 8), false);
  check_matmul<__half>(uniform<float>({2, 3, 5, 8}, 9), uniform<float>({3, 4, 8}, 10), true);
  // k = 0 gives zeros; a rank-1 operand works.
  const auto e =
      matmul(cast<__half>(zeros<float, cuda>({3, 0})), cast<__half>(zeros<float, cuda>({0, 2})));
  BOOST_TEST(to<host>(cast<float>(e)).to_vector() == std::vector<float>(6, 0.f),
             boost::test_tools::per_element());
  const tensor<float> v = uniform<float>({8}, 11), w = uniform<float>({8, 3}, 12);
  const tensor<float> vr = round_on_host<__nv_bfloat16>(v), wr = round_on_host<__nv_bfloat16>(w);
  const auto vw = matmul(cast<__nv_bfloat16>(to<cuda>(v)), cast<__nv_bfloat16>(to<cuda>(w)));
  BOOST_TEST(vw.shape() == shape_t{3});
  BOOST_TEST(nmse(round_on_host<__nv_bfloat16>(matmul(vr, wr)), to<host>(cast<float>(vw))) <= 1e-5);
}

/// The spacing of U's values around |v| (normal or subnormal).
template <class U>
float ulp_of(float v) {
  constexpr int mant = std::is_same_v<U, __nv_bfloat16> ? 7 : 10;  // stored mantissa bits
  constexpr int emin = std::is_same_v<U, __nv_bfloat16> ? -126 : -14;
  const int e = v == 0.f ? emin : std::max(std::ilogb(std::fabs(v)), emin);
  return std::ldexp(1.f, e - mant);
}

/// Checks a 16-bit result against the host's float result `ref` of the same op on the same
/// (rounded) inputs. The device computes in float too, so before its one rounding it differs
/// from ref only by float-level error (CUDA's vs the host's exp/erf, FMA contraction, summation
/// order), bounded by a slack rel·|ref| + abs; after rounding to U, that leaves got within one
/// unit in the last place of U of round_U(ref), plus the slack. rel = 2⁻¹⁸ is 64 float ulps;
/// abs = 1e-6 covers the cancellation in 1 + erf(v) of gelu near v = -4 (an ulp of erf there is
/// 6e-8, times v/2). Computing in U (a rounding per step) would miss by several units on some
/// of the elements.
template <class U>
void check_rounded(const std::string& what, const tensor<float>& ref, const tensor<U, cuda>& y,
                   float rel = 0x1p-18f, float abs = 1e-6f) {
  const tensor<float> got = to<host>(cast<float>(y));
  BOOST_TEST_CONTEXT(what << (std::is_same_v<U, __nv_bfloat16> ? " (bf16)" : " (half)")
                          << ", shape " << ref.shape().str()) {
    BOOST_TEST_REQUIRE(got.shape() == ref.shape());
    const std::vector<float> r = round_on_host<U>(ref).to_vector(), g = got.to_vector(),
                             exact = ref.contiguous().to_vector();
    index_t bad = 0;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const float allowed = ulp_of<U>(r[i]) + rel * std::fabs(exact[i]) + abs;
      if (!(std::fabs(g[i] - r[i]) <= allowed)) {
        if (++bad <= 5)
          BOOST_TEST_MESSAGE("element " << i << ": got " << g[i] << ", want " << r[i] << " (float "
                                        << exact[i] << ")");
      }
    }
    BOOST_TEST(bad == 0,
               bad << " of " << r.size() << " elements beyond one unit in the last place");
  }
}

/// A cuda U tensor of x's values (rounded), and those values back on the host as float.
template <class U>
std::pair<tensor<U, cuda>, tensor<float>> rounded(const tensor<float>& x) {
  return {cast<U>(to<cuda>(x)), round_on_host<U>(x)};
}

template <class U>
void check_elementwise() {
  // 5·37 = 185 elements: 23 vectors of 8 and a tail of 1 on the flat path.
  const auto [dx, x] = rounded<U>(uniform<float>({5, 37}, 21));
  const auto [db, b] = rounded<U>(uniform<float>({37}, 22));
  // Contiguous, same shapes: the vectorised flat kernel (exp, axpy_, x·s).
  check_rounded("exp", exp(x), exp(dx));
  check_rounded("x * 0.3", x * 0.3f, dx * 0.3f);
  // A transposed view and a broadcast operand: the n-d kernel.
  check_rounded("gelu of a transposed view", gelu(x.transpose(0, 1)), gelu(dx.transpose(0, 1)));
  check_rounded("a + b broadcast", x + b, dx + db);
  check_rounded("add_gelu broadcast", add_gelu(x, b), add_gelu(dx, db));
  // In place: a broadcast add_ (n-d) and an axpy_ (flat), each rounding once.
  tensor<U, cuda> dst = dx.clone();
  tensor<float> dst_ref = x.clone();
  add_(dst, db);
  add_(dst_ref, b);
  check_rounded("add_ broadcast", dst_ref, dst);
  const auto [dy, y] = rounded<U>(uniform<float>({5, 37}, 23));
  dst = dx.clone();
  axpy_(dst, -0.75f, dy);
  dst_ref = x.clone();
  axpy_(dst_ref, -0.75f, y);
  check_rounded("axpy_", dst_ref, dst);
}

BOOST_AUTO_TEST_CASE(elementwise_ops_on_16_bit_tensors_compute_in_float_and_round_once) {
  check_elementwise<__nv_bfloat16>();
  check_elementwise<__half>();
}

template <class U>
void check_reductions() {
  // Positive values: no cancellation, so the float sums of host and device differ by far less
  // than 2⁻¹⁴ relative (n·2⁻²⁴ at worst), well below a unit of U.
  const auto [dx, x] = rounded<U>(uniform<float>({6, 300}, 31, 0.5f, 2.f));
  constexpr float rel = 0x1p-14f;
  check_rounded("sum over rows (block per row)", sum(x, {1}), sum(dx, {1}), rel);
  check_rounded("sum over columns", sum(x, {0}, true), sum(dx, {0}, true), rel);
  check_rounded("sum of all", sum(x), sum(dx), rel);
  check_rounded("sum of a transposed view", sum(x.transpose(0, 1), {1}),
                sum(dx.transpose(0, 1), {1}), rel);
  check_rounded("mean over rows, keepdim", mean(x, {1}, true), mean(dx, {1}, true), rel);
  check_rounded("mean of all", mean(x), mean(dx), rel);
  // max and min return one of the elements, exactly; rows of 37 take the warp-per-row kernel.
  const auto [ds, s] = rounded<U>(uniform<float>({9, 37}, 32));
  const auto back = [](const tensor<U, cuda>& t) { return to<host>(cast<float>(t)); };
  BOOST_TEST(nmse(max(s, {1}), back(max(ds, {1}))) == 0.0);  // warp per row
  BOOST_TEST(nmse(max(s), back(max(ds))) == 0.0);
  BOOST_TEST(nmse(min(s, {0}, true), back(min(ds, {0}, true))) == 0.0);  // columns
}

BOOST_AUTO_TEST_CASE(reductions_of_16_bit_tensors_accumulate_in_float_and_round_once) {
  check_reductions<__nv_bfloat16>();
  check_reductions<__half>();
}

template <class U>
void check_rows() {
  // Softmax and RMS norm have no cancellation: their float-level differences are relative.
  // Layer norm's x - mean and + bias cancel, so outputs near 0 get an absolute slack of 2⁻¹⁶
  // (the float-level error there is about 1e-6; 2⁻¹⁶ is far below a unit of U at the outputs'
  // scale of 1).
  constexpr float rel = 0x1p-18f, abs = 0x1p-16f;
  // Rows of 37 and 128 (a warp per row, element loads: 4 values per lane are half a 16-byte
  // vector of a 16-bit type), 256, 512 and 1024 (a warp per row, one, two and four 16-byte loads
  // of 8 values per lane) and 1100 (a block per row).
  for (const index_t d : {37, 128, 256, 512, 1024, 1100}) {
    const auto [dx, x] = rounded<U>(uniform<float>({4, d}, 40 + static_cast<std::uint64_t>(d)));
    const auto [dw, w] = rounded<U>(uniform<float>({d}, 41, 0.5f, 1.5f));
    const auto [db, b] = rounded<U>(uniform<float>({d}, 42));
    check_rounded("softmax", softmax(x), softmax(dx), rel, 0.f);
    check_rounded("layer_norm with weight and bias", layer_norm(x, w, b), layer_norm(dx, dw, db),
                  rel, abs);
    check_rounded("rms_norm", rms_norm(x, w), rms_norm(dx, dw), rel, 0.f);
  }
  // Rows of 256 one element past a 16-byte boundary: element loads, not vector loads.
  {
    const auto [dflat, flat] = rounded<U>(uniform<float>({3 * 256 + 1}, 44));
    const auto rows_of = [](const auto& t) {
      return t.slice(0, 1, t.numel()).view(shape_t{3, 256});
    };
    check_rounded("softmax of misaligned rows", softmax(rows_of(flat)), softmax(rows_of(dflat)),
                  rel, 0.f);
    check_rounded("rms_norm of misaligned rows", rms_norm(rows_of(flat), tensor<float>()),
                  rms_norm(rows_of(dflat), tensor<U, cuda>()), rel, 0.f);
  }
  // Along a non-last axis (moved last and back) and without an affine part.
  const auto [dx, x] = rounded<U>(uniform<float>({3, 5, 24}, 43));
  check_rounded("softmax along axis 1", softmax(x, 1), softmax(dx, 1), rel, 0.f);
  check_rounded("layer_norm without weight", layer_norm(x, tensor<float>(), tensor<float>()),
                layer_norm(dx, tensor<U, cuda>(), tensor<U, cuda>()), rel, abs);
}

BOOST_AUTO_TEST_CASE(row_kernels_on_16_bit_rows_keep_float_statistics) {
  check_rows<__nv_bfloat16>();
  check_rows<__half>();
}

template <class U>
void check_widened() {
  // The ops that widen to float, run the float kernels and round once.
  const auto [dx, x] = rounded<U>(uniform<float>({9, 37}, 51));
  constexpr float rel = 0x1p-14f;
  check_rounded("var over rows", var(x, {1}), var(dx, {1}), rel);
  check_rounded("var of all, correction 1", var(x, {}, 1), var(dx, {}, 1), rel);
  check_rounded("logsumexp over rows", logsumexp(x, {1}), logsumexp(dx, {1}), rel);
  check_rounded("logsumexp over columns, keepdim", logsumexp(x, {0}, true),
                logsumexp(dx, {0}, true), rel);
  check_rounded("2-norm over rows", norm(x, 2.f, {1}), norm(dx, 2.f, {1}), rel);
  check_rounded("1-norm of all", norm(x, 1.f), norm(dx, 1.f), rel);
  // argmax on the (exactly) widened values: the host's index, ties to the first as there.
  BOOST_TEST(to<host>(argmax(dx, 1)).to_vector() == argmax(x, 1).to_vector(),
             boost::test_tools::per_element());
  BOOST_TEST(all_finite(dx));
  tensor<float> with_inf = x.clone();
  with_inf.data()[100] = INFINITY;
  BOOST_TEST(!all_finite(cast<U>(to<cuda>(with_inf))));
  // Losses: the loss of the float values, rounded once.
  const tensor<index_t> t = from_vector<index_t>({0, 36, 5, 5, 12, 1, 0, 2, 30}, {9});
  check_rounded("cross_entropy", cross_entropy(x, t), cross_entropy(dx, to<tessera::cuda>(t)), rel);
  const auto [dy, y] = rounded<U>(uniform<float>({37}, 52));
  check_rounded("mse_loss, broadcast target", mse_loss(x, y), mse_loss(dx, dy), rel);
  // Accumulating indexing (repeated indices): float sums in another order, rounded once.
  const tensor<index_t> rows = from_vector<index_t>({3, 0, 3, 8, 3}, {5});
  const auto [ds, src] = rounded<U>(uniform<float>({5, 37}, 53, 0.5f, 2.f));
  check_rounded("index_add", index_add(shape_t{9, 37}, 0, rows, src),
                index_add(shape_t{9, 37}, 0, to<tessera::cuda>(rows), ds), rel);
  const tensor<index_t> cols = from_vector<index_t>({1, 1, 0, 2, 2, 2}, {2, 3});
  const auto [dg, g] = rounded<U>(uniform<float>({2, 3}, 54, 0.5f, 2.f));
  check_rounded("scatter_add", scatter_add(shape_t{2, 4}, 1, cols, g),
                scatter_add(shape_t{2, 4}, 1, to<tessera::cuda>(cols), dg), rel);
}

BOOST_AUTO_TEST_CASE(widened_ops_on_16_bit_tensors_compute_in_float_and_round_once) {
  check_widened<__nv_bfloat16>();
  check_widened<__half>();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
