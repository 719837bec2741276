// SPDX-License-Identifier: Apache-2.0
// The fused truncated-DFT kernels of spectral_conv2d (cuda/detail/tdft2_kernels.cuh) run on CPU
// threads as cuda/spectral.cuh launches them (its block sizes and dynamic shared memory): a
// block per slice, and fewer blocks than slices (a block then takes several slices, and the
// kernels' claim that the next slice's staging may start before the barrier is tested by the
// emulation's run-ahead schedules); the same bits either way, and forward, mode products and
// inverse (with and without the bias + GELU epilogue) against the host's spectral_conv2d and
// spectral_conv2d_linear_gelu. tests/spectral checks the same phases emulated one thread after
// the other.
#include "../implicit/helpers.hpp"
#include "emulation.hpp"
// The kernels, after the emulation's names.
#include "tessera/cuda/detail/tdft2_kernels.cuh"
//
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tessera/spectral.hpp"
#include "tessera/tessera.hpp"

namespace {

using namespace tessera;
namespace ck = tessera::cuda_kernels;
namespace sp = tessera::spectral;
namespace spd = tessera::spectral::detail;
using implicit_test::max_abs_diff;
using tessera::cuda_emulation::emulate_launch;

struct conv_shape {
  index_t B, Ci, Co, H, W, m1, m2;
  [[nodiscard]] std::string str() const {
    return "B" + std::to_string(B) + " " + std::to_string(Ci) + "→" + std::to_string(Co) + " " +
           std::to_string(H) + "×" + std::to_string(W) + " modes " + std::to_string(m1) + "×" +
           std::to_string(m2);
  }
};

template <class T>
bool same_bits(const tensor<T>& a, const tensor<T>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(T)) == 0;
}

template <class T>
double max_abs(const tensor<T>& a) {
  double m = 0;
  for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(double(a.data()[i])));
  return m;
}

/// tdft2_forward_kernel on x (B, C, H, W) over `blocks` blocks (0: one per slice).
template <class T>
tensor<T> forward(const tensor<T>& x, index_t m1, index_t m2, unsigned blocks) {
  const index_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const auto g = spd::tdft2_geometry::make(B * C, H, W, m1, m2);
  const spd::tdft2_tables<T> t = spd::make_tdft2_tables<T>(H, W, m1, m2);
  tensor<T> out = full<T>(shape_t{2 * m2, m1, B, C, 2}, std::numeric_limits<T>::quiet_NaN());
  emulate_launch(
      dim3(blocks == 0 ? static_cast<unsigned>(g.slices) : blocks),
      dim3(static_cast<unsigned>(g.forward_threads())),
      [&] { ck::tdft2_forward_kernel<T>(g, x.data(), t.f1t.data(), t.tw_hr.data(), out.data()); },
      static_cast<std::size_t>(g.forward_smem()) * sizeof(T));
  return out;
}

/// tdft2_inverse_kernel on modes y (2·m2, m1, B, C, 2), with bias and GELU when `bias` is
/// defined.
template <class T>
tensor<T> inverse(const tensor<T>& y, index_t H, index_t W, unsigned blocks,
                  const tensor<T>& bias = tensor<T>()) {
  const index_t m2 = y.size(0) / 2, m1 = y.size(1), B = y.size(2), C = y.size(3);
  const auto g = spd::tdft2_geometry::make(B * C, H, W, m1, m2);
  const spd::tdft2_tables<T> t = spd::make_tdft2_tables<T>(H, W, m1, m2);
  tensor<T> out = full<T>(shape_t{B, C, H, W}, std::numeric_limits<T>::quiet_NaN());
  const dim3 grid(blocks == 0 ? static_cast<unsigned>(g.slices) : blocks);
  const dim3 threads(spd::tdft2_geometry::inverse_threads);
  const std::size_t smem = static_cast<std::size_t>(g.inverse_smem()) * sizeof(T);
  if (bias.defined())
    emulate_launch(
        grid, threads,
        [&] {
          ck::tdft2_inverse_kernel<T, true>(g, y.data(), t.tw_rh.data(), t.finv.data(), out.data(),
                                            bias.data(), C);
        },
        smem);
  else
    emulate_launch(
        grid, threads,
        [&] {
          ck::tdft2_inverse_kernel<T, false>(g, y.data(), t.tw_rh.data(), t.finv.data(), out.data(),
                                             nullptr, C);
        },
        smem);
  return out;
}

template <class T>
tensor<T> to_t(const tensor<double>& t) {
  tensor<T> r(t.shape());
  for (index_t i = 0; i < t.numel(); ++i) r.data()[i] = static_cast<T>(t.data()[i]);
  return r;
}

template <class T>
void check_shape(const conv_shape& s) {
  BOOST_TEST_CONTEXT(s.str() << ", " << sizeof(T) << "-byte") {
    generator gen(7);
    const tensor<T> x = to_t<T>(randn<double>(shape_t{s.B, s.Ci, s.H, s.W}, gen));
    const tensor<T> w1 = to_t<T>(randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen));
    const tensor<T> w2 = to_t<T>(randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen));
    const double tol = sizeof(T) == 4 ? 2e-5 : 1e-12;
    // One block per slice, then one and two blocks for all of them.
    const tensor<T> modes = forward(x, s.m1, s.m2, 0);
    BOOST_TEST(all_finite(modes), "forward left values unwritten");
    for (const unsigned blocks : {1u, 2u})
      BOOST_TEST(same_bits(forward(x, s.m1, s.m2, blocks), modes),
                 "forward on " << blocks << " blocks");
    const tensor<T> wm = spd::stack_permuted(w1, w2, w1.shape(), shape_t{3, 2, 0, 1, 4},
                                             shape_t{2 * s.m2, s.m1, s.Ci, s.Co, 2});
    const tensor<T> prod = sp::complex_matmul(modes, wm);
    const tensor<T> y = inverse(prod, s.H, s.W, 0);
    BOOST_TEST(all_finite(y), "inverse left values unwritten");
    for (const unsigned blocks : {1u, 2u})
      BOOST_TEST(same_bits(inverse(prod, s.H, s.W, blocks), y),
                 "inverse on " << blocks << " blocks");
    const tensor<T> ref = sp::spectral_conv2d(x, w1, w2);
    BOOST_TEST(max_abs_diff(y, ref) <= 4 * tol * std::max(1.0, max_abs(ref)),
               "against spectral_conv2d: max error " << max_abs_diff(y, ref));
    // The epilogue: L folded into the mode weights, gelu(value + bias) by the inverse kernel,
    // against the host's composite.
    const index_t Cl = 3;
    const tensor<T> L = to_t<T>(randn<double>(shape_t{Cl, s.Co}, gen, 0.0, 0.5));
    const tensor<T> bias = to_t<T>(randn<double>(shape_t{Cl}, gen));
    const tensor<T> lt = stack(
        std::vector<tensor<T>>{L.transpose(0, 1).contiguous(), zeros<T>(shape_t{s.Co, Cl})}, 2);
    const tensor<T> pl = sp::complex_matmul(modes, sp::complex_matmul(wm, lt));
    const tensor<T> yl = inverse(pl, s.H, s.W, 0, bias);
    BOOST_TEST(all_finite(yl), "inverse with GELU left values unwritten");
    BOOST_TEST(same_bits(inverse(pl, s.H, s.W, 2, bias), yl), "inverse with GELU on 2 blocks");
    const tensor<T> refl = sp::spectral_conv2d_linear_gelu(x, w1, w2, L, bias);
    BOOST_TEST(max_abs_diff(yl, refl) <= 4 * tol * std::max(1.0, max_abs(refl)),
               "against spectral_conv2d_linear_gelu: max error " << max_abs_diff(yl, refl));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_emulated)

BOOST_AUTO_TEST_CASE(tdft2_kernels_match_the_host) {
  const std::vector<conv_shape> shapes = {
      {2, 3, 2, 12, 10, 3, 3},    // the brief's gradient case
      {1, 2, 3, 9, 7, 4, 4},      // odd H and W, m2 = W/2+1 without a Nyquist bin
      {2, 2, 2, 8, 8, 4, 5},      // 2·m1 = H, m2 = W/2+1 with the Nyquist bin
      {1, 1, 1, 5, 3, 1, 1},      // DC only
      {2, 1, 3, 10, 2, 2, 2},     // W = 2: the Nyquist column pairs with itself
      {1, 3, 2, 94, 94, 12, 12},  // the FNO-DEQ layer's grid (85 padded by 9)
  };
  for (const conv_shape& s : shapes) {
    check_shape<float>(s);
    check_shape<double>(s);
  }
}

BOOST_AUTO_TEST_SUITE_END()
