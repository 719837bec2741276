// SPDX-License-Identifier: Apache-2.0
// bf16 and half storage on cuda: cast rounds as the CUDA conversion functions do on the host
// (and as the bit-level round-to-nearest-even of bf16), widening is exact, and matmul of 16-bit
// tensors equals the float product of the same (exactly representable) values, rounded once.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
