// SPDX-License-Identifier: Apache-2.0
// The FNO spectral convolutions: the legacy convention by a direct O(H²W²) formula, the
// truncated-DFT (GEMM) path against the full-FFT path (to ~1e-12 in double) on odd, even,
// Nyquist and full-height mode sets, gradients of input and weights by finite differences,
// second order, float against double, and the errors for modes that do not fit. The fused
// truncated-DFT kernels of the cuda backend (spectral/dft_blocks.hpp) run here too, their
// phases emulated thread by thread, against the direct sums.
#include <boost/test/unit_test.hpp>

#include <limits>
#include <string>

#include "../ad/gradcheck.hpp"
#include "helpers.hpp"
#include "tessera/spectral/dft_blocks.hpp"
#include "tessera/spectral/spectral_conv.hpp"

using namespace tessera;
using namespace spectral_test;
namespace sp = tessera::spectral;
namespace tad = tessera::ad;
using tessera::test::check_result;
using tessera::test::dvar;

namespace {

/// The legacy SpectralConv2d written out: X = rfft2(x) by direct sums over the kept modes,
/// Y[b,o,k1,k2] = Σ_i X[b,i,k1,k2]·w[i,o,·,k2], y = irfft2(Y) as
/// y[h,w] = 1/(HW)·Σ_{k1 kept, k2 < m2} c_{k2}·Re(Y e^{2πi(k1 h/H + k2 w/W)}).
std::vector<long double> direct_conv2d(const tensor<double>& x, const tensor<double>& w1,
                                       const tensor<double>& w2) {
  const index_t B = x.size(0), Ci = x.size(1), H = x.size(2), W = x.size(3);
  const index_t Co = w1.size(1), m1 = w1.size(2), m2 = w1.size(3);
  std::vector<long double> y(static_cast<std::size_t>(B * Co * H * W), 0.0L);
  for (index_t b = 0; b < B; ++b)
    for (index_t r = 0; r < 2 * m1; ++r) {
      const index_t k1 = r < m1 ? r : H - 2 * m1 + r;
      const tensor<double>& w = r < m1 ? w1 : w2;
      const index_t wr = r % m1;
      for (index_t k2 = 0; k2 < m2; ++k2) {
        std::vector<cld> X(static_cast<std::size_t>(Ci));
        for (index_t i = 0; i < Ci; ++i)
          for (index_t h = 0; h < H; ++h)
            for (index_t q = 0; q < W; ++q)
              X[static_cast<std::size_t>(i)] +=
                  static_cast<long double>(x(b, i, h, q)) * root(-(k1 * h * W + k2 * q * H), H * W);
        const long double c = (k2 == 0 || 2 * k2 == W) ? 1.0L : 2.0L;
        for (index_t o = 0; o < Co; ++o) {
          cld Y = 0;
          for (index_t i = 0; i < Ci; ++i)
            Y += X[static_cast<std::size_t>(i)] * cld(w(i, o, wr, k2, 0), w(i, o, wr, k2, 1));
          for (index_t h = 0; h < H; ++h)
            for (index_t q = 0; q < W; ++q)
              y[static_cast<std::size_t>(((b * Co + o) * H + h) * W + q)] +=
                  c * (Y * root(k1 * h * W + k2 * q * H, H * W)).real() /
                  static_cast<long double>(H * W);
        }
      }
    }
  return y;
}

struct conv_shape {
  index_t B, Ci, Co, H, W, m1, m2;
  [[nodiscard]] std::string str() const {
    return "B" + std::to_string(B) + " " + std::to_string(Ci) + "→" + std::to_string(Co) + " " +
           std::to_string(H) + "×" + std::to_string(W) + " modes " + std::to_string(m1) + "×" +
           std::to_string(m2);
  }
};

const std::vector<conv_shape> shapes = {
    {2, 3, 2, 12, 10, 3, 3},  // the brief's gradient case
    {1, 2, 3, 9, 7, 4, 4},    // odd H and W, m2 = W/2+1 without a Nyquist bin
    {2, 2, 2, 8, 8, 4, 5},    // 2·m1 = H, m2 = W/2+1 with the Nyquist bin
    {1, 1, 1, 5, 3, 1, 1},    // DC only
};

}  // namespace

BOOST_AUTO_TEST_SUITE(spectral)
BOOST_AUTO_TEST_SUITE(spectral_conv)

BOOST_AUTO_TEST_CASE(legacy_convention_by_direct_sums) {
  generator gen(41);
  for (const conv_shape& s : shapes) {
    const tensor<double> x = randn<double>(shape_t{s.B, s.Ci, s.H, s.W}, gen);
    const tensor<double> w1 = randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
    const tensor<double> w2 = randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
    const std::vector<long double> want = direct_conv2d(x, w1, w2);
    check_real(sp::spectral_conv2d(x, w1, w2, sp::spectral_method::fft), want, "fft " + s.str());
    check_real(sp::spectral_conv2d(x, w1, w2), want, "gemm " + s.str());
  }
}

BOOST_AUTO_TEST_CASE(gemm_path_equals_fft_path) {
  generator gen(42);
  for (const conv_shape& s : shapes) {
    const tensor<double> x = randn<double>(shape_t{s.B, s.Ci, s.H, s.W}, gen);
    const tensor<double> w1 = sp::spectral_weights<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
    const tensor<double> w2 = sp::spectral_weights<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
    const tensor<double> a = sp::spectral_conv2d(x, w1, w2, sp::spectral_method::fft);
    const tensor<double> b = sp::spectral_conv2d(x, w1, w2, sp::spectral_method::truncated_dft);
    BOOST_TEST((b.shape() == shape_t{s.B, s.Co, s.H, s.W}));
    BOOST_TEST(max_abs_diff(a, b) <= 1e-12 * std::max(1.0, max_abs(a)), s.str());
    // Gradients of both paths agree as well.
    const tensor<double> seed = randn<double>(a.shape(), gen);
    tensor<double> g[2][3];
    for (int p = 0; p < 2; ++p) {
      tad::scope sc;
      const dvar xv(x, true), v1(w1, true), v2(w2, true);
      tad::backward(
          sp::spectral_conv2d(xv, v1, v2,
                              p ? sp::spectral_method::fft : sp::spectral_method::truncated_dft),
          seed);
      g[p][0] = xv.grad().clone();
      g[p][1] = v1.grad().clone();
      g[p][2] = v2.grad().clone();
    }
    for (int i = 0; i < 3; ++i)
      BOOST_TEST(max_abs_diff(g[0][i], g[1][i]) <= 1e-12 * std::max(1.0, max_abs(g[1][i])),
                 s.str() << " gradient " << i);
  }
  // 1-d: odd and even lengths, with and without the Nyquist bin.
  for (const auto& [n, m] :
       std::vector<std::pair<index_t, index_t>>{{11, 6}, {12, 7}, {12, 3}, {1, 1}}) {
    const tensor<double> x = randn<double>(shape_t{2, 3, n}, gen);
    const tensor<double> w = randn<double>(shape_t{3, 2, m, 2}, gen);
    const tensor<double> a = sp::spectral_conv1d(x, w, sp::spectral_method::fft);
    const tensor<double> b = sp::spectral_conv1d(x, w);
    BOOST_TEST((b.shape() == shape_t{2, 2, n}));
    BOOST_TEST(max_abs_diff(a, b) <= 1e-12 * std::max(1.0, max_abs(a)), "1-d n " << n);
  }
}

BOOST_AUTO_TEST_CASE(gradients_by_finite_differences) {
  generator gen(43);
  const conv_shape s = shapes[0];  // B = 2, C = 3 → 2, 12×10, modes 3×3
  const tensor<double> x = randn<double>(shape_t{s.B, s.Ci, s.H, s.W}, gen);
  const tensor<double> w1 = randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
  const tensor<double> w2 = randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
  for (auto method : {sp::spectral_method::truncated_dft, sp::spectral_method::fft}) {
    const check_result r = tessera::test::gradcheck(
        method == sp::spectral_method::fft ? "spectral_conv2d fft" : "spectral_conv2d gemm",
        [method](const dvar& a, const dvar& b, const dvar& c) {
          return sp::spectral_conv2d(a, b, c, method);
        },
        x, w1, w2);
    BOOST_TEST(r.checked == x.numel() + w1.numel() + w2.numel());
    BOOST_TEST(r.failures == 0);
  }
  const check_result r1 = tessera::test::gradcheck(
      "spectral_conv1d", [](const dvar& a, const dvar& b) { return sp::spectral_conv1d(a, b); },
      randn<double>(shape_t{2, 3, 9}, gen), randn<double>(shape_t{3, 2, 4, 2}, gen));
  BOOST_TEST(r1.failures == 0);
}

BOOST_AUTO_TEST_CASE(second_order) {
  generator gen(44);
  const tensor<double> x = randn<double>(shape_t{1, 2, 6, 5}, gen, 0.0, 0.5);
  const tensor<double> w1 = randn<double>(shape_t{2, 2, 2, 2, 2}, gen, 0.0, 0.5);
  const tensor<double> w2 = randn<double>(shape_t{2, 2, 2, 2, 2}, gen, 0.0, 0.5);
  const check_result r = tessera::test::hvpcheck(
      "tanh(spectral_conv2d)",
      [](const dvar& a, const dvar& b, const dvar& c) {
        return tad::tanh(sp::spectral_conv2d(a, b, c));
      },
      x, w1, w2);
  BOOST_TEST(r.failures == 0);
}

BOOST_AUTO_TEST_CASE(float_matches_double) {
  generator gen(45);
  const tensor<double> x = randn<double>(shape_t{2, 4, 16, 12}, gen);
  const tensor<double> w1 = sp::spectral_weights<double>(shape_t{4, 3, 5, 4, 2}, gen);
  const tensor<double> w2 = sp::spectral_weights<double>(shape_t{4, 3, 5, 4, 2}, gen);
  auto to_float = [](const tensor<double>& t) {
    tensor<float> f(t.shape());
    for (index_t i = 0; i < t.numel(); ++i) f.data()[i] = static_cast<float>(t.data()[i]);
    return f;
  };
  const tensor<double> yd = sp::spectral_conv2d(x, w1, w2);
  const tensor<float> yf = sp::spectral_conv2d(to_float(x), to_float(w1), to_float(w2));
  double d = 0;
  for (index_t i = 0; i < yd.numel(); ++i)
    d = std::max(d, std::abs(static_cast<double>(yf.data()[i]) - yd.data()[i]));
  BOOST_TEST(d <= 1e-5 * std::max(1.0, max_abs(yd)));
}

BOOST_AUTO_TEST_CASE(weights_initialisation_and_errors) {
  generator gen(46);
  const tensor<float> w = sp::spectral_weights<float>(shape_t{4, 8, 3, 3, 2}, gen);
  BOOST_TEST(min(w).item() >= 0.0f);
  BOOST_TEST(max(w).item() < 1.0f / 32);
  BOOST_TEST(std::abs(mean(w).item() - 0.5f / 32) < 0.1f / 32);
  const tensor<double> x = zeros<double>(shape_t{1, 2, 8, 6});
  const tensor<double> ok = zeros<double>(shape_t{2, 2, 4, 4, 2});
  BOOST_CHECK_NO_THROW(sp::spectral_conv2d(x, ok, ok));
  BOOST_CHECK_THROW(sp::spectral_conv2d(x, zeros<double>(shape_t{2, 2, 5, 2, 2}),
                                        zeros<double>(shape_t{2, 2, 5, 2, 2})),
                    invalid_argument);  // 2·m1 > H
  BOOST_CHECK_THROW(sp::spectral_conv2d(x, zeros<double>(shape_t{2, 2, 2, 5, 2}),
                                        zeros<double>(shape_t{2, 2, 2, 5, 2})),
                    invalid_argument);  // m2 > W/2+1
  BOOST_CHECK_THROW(sp::spectral_conv2d(x, zeros<double>(shape_t{3, 2, 2, 2, 2}),
                                        zeros<double>(shape_t{3, 2, 2, 2, 2})),
                    invalid_argument);  // channels
  BOOST_CHECK_THROW(sp::spectral_conv2d(x, ok, zeros<double>(shape_t{2, 2, 4, 3, 2})),
                    invalid_argument);  // w1 and w2 differ
  BOOST_CHECK_THROW(
      sp::spectral_conv1d(zeros<double>(shape_t{1, 2, 8}), zeros<double>(shape_t{2, 2, 6, 2})),
      invalid_argument);  // m > N/2+1
  // Empty transform axes are refused by name on every method (N = 0 used to divide by zero in
  // the 1-d GEMM path; W = 0 gave an empty result on the GEMM path and an rfft error on the
  // FFT path).
  const auto names = [](const char* fn) {
    return [fn](const invalid_argument& e) {
      const std::string m = e.what();
      return m.find(fn) != std::string::npos && m.find("need ") != std::string::npos;
    };
  };
  for (const sp::spectral_method method :
       {sp::spectral_method::truncated_dft, sp::spectral_method::fft,
        sp::spectral_method::truncated_dft_gemm}) {
    BOOST_CHECK_EXCEPTION(sp::spectral_conv1d(zeros<double>(shape_t{1, 1, 0}),
                                              zeros<double>(shape_t{1, 1, 1, 2}), method),
                          invalid_argument, names("spectral::spectral_conv1d"));
    BOOST_CHECK_EXCEPTION(sp::spectral_conv2d(zeros<double>(shape_t{1, 1, 4, 0}),
                                              zeros<double>(shape_t{1, 1, 1, 1, 2}),
                                              zeros<double>(shape_t{1, 1, 1, 1, 2}), method),
                          invalid_argument, names("spectral::spectral_conv2d"));
  }
}

namespace {

namespace spd = tessera::spectral::detail;

/// The forward fused kernel as a grid of blocks of `nt` threads runs it, on the host: for each
/// slice, every phase for every thread, then the next phase (what the block's barriers
/// guarantee). x (B, C, H, W) → modes (2·m2, m1, B, C, 2). Shared memory and the output start
/// as NaN, so that a value read before it is written, or never written, shows.
template <class T>
tensor<T> emulate_tdft2_forward(const tensor<T>& x, index_t m1, index_t m2, int nt) {
  const index_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const auto g = spd::tdft2_geometry::make(B * C, H, W, m1, m2);
  const spd::tdft2_tables<T> t = spd::make_tdft2_tables<T>(H, W, m1, m2);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  tensor<T> out = full<T>(shape_t{2 * m2, m1, B, C, 2}, nan);
  std::vector<T> sm(static_cast<std::size_t>(g.forward_smem()), nan);
  for (index_t s = 0; s < B * C; ++s) {
    for (int tid = 0; tid < nt; ++tid)
      spd::tdft2_fwd_stage(g, tid, nt, sm.data(), x.data() + s * H * W);
    for (int tid = 0; tid < nt; ++tid) spd::tdft2_fwd_w(g, tid, nt, sm.data(), t.f1t.data());
    for (int tid = 0; tid < nt; ++tid)
      spd::tdft2_fwd_h(g, tid, nt, sm.data(), t.tw_hr.data(), out.data(), s);
  }
  return out;
}

/// The inverse fused kernel emulated likewise: modes (2·m2, m1, B, C, 2) → (B, C, H, W); with
/// `bias` (C values), gelu(value + bias[c]) as the kernel's epilogue computes it.
template <class T>
tensor<T> emulate_tdft2_inverse(const tensor<T>& y, index_t H, index_t W, int nt,
                                const tensor<T>& bias = tensor<T>()) {
  const index_t m2 = y.size(0) / 2, m1 = y.size(1), B = y.size(2), C = y.size(3);
  const auto g = spd::tdft2_geometry::make(B * C, H, W, m1, m2);
  const spd::tdft2_tables<T> t = spd::make_tdft2_tables<T>(H, W, m1, m2);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  tensor<T> out = full<T>(shape_t{B, C, H, W}, nan);
  std::vector<T> sm(static_cast<std::size_t>(g.inverse_smem()), nan);
  for (index_t s = 0; s < B * C; ++s) {
    for (int tid = 0; tid < nt; ++tid) spd::tdft2_inv_stage(g, tid, nt, sm.data(), y.data(), s);
    for (int tid = 0; tid < nt; ++tid) spd::tdft2_inv_h(g, tid, nt, sm.data(), t.tw_rh.data());
    for (int tid = 0; tid < nt; ++tid)
      if (bias.defined())
        spd::tdft2_inv_w<T, true>(g, tid, nt, sm.data(), t.finv.data(), out.data() + s * H * W,
                                  bias.data() + s % C);
      else
        spd::tdft2_inv_w(g, tid, nt, sm.data(), t.finv.data(), out.data() + s * H * W);
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE_TEMPLATE(fused_dft_kernels_emulated, T, float_types) {
  generator gen(45);
  std::vector<conv_shape> cases = shapes;
  cases.push_back({1, 2, 2, 94, 94, 12, 12});  // the FNO-DEQ layer's grid (85 padded by 9)
  cases.push_back({2, 1, 3, 10, 2, 2, 2});     // W = 2: the Nyquist column only pairs with itself
  cases.push_back({1, 1, 1, 2, 1, 1, 1});      // one column, two rows
  for (const conv_shape& s : cases) {
    const tensor<double> xd = randn<double>(shape_t{s.B, s.Ci, s.H, s.W}, gen);
    const tensor<double> w1d = randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
    const tensor<double> w2d = randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
    const auto as_t = [](const tensor<double>& t) {
      tensor<T> r(t.shape());
      for (index_t i = 0; i < t.numel(); ++i) r.data()[i] = static_cast<T>(t.data()[i]);
      return r;
    };
    const tensor<T> x = as_t(xd), w1 = as_t(w1d), w2 = as_t(w2d);
    // The forward kernel's modes against direct sums (layout (2·m2 [block·m2 + k], m1, B, C)).
    std::vector<long double> want_modes(static_cast<std::size_t>(2 * s.m2 * s.m1 * s.B * s.Ci * 2));
    for (index_t b = 0; b < s.B; ++b)
      for (index_t c = 0; c < s.Ci; ++c)
        for (index_t r = 0; r < 2 * s.m1; ++r)
          for (index_t k = 0; k < s.m2; ++k) {
            const index_t k1 = r < s.m1 ? r : s.H - 2 * s.m1 + r;
            cld X = 0;
            for (index_t h = 0; h < s.H; ++h)
              for (index_t q = 0; q < s.W; ++q)
                X += static_cast<long double>(xd(b, c, h, q)) *
                     root(-(k1 * h * s.W + k * q * s.H), s.H * s.W);
            const index_t at =
                2 * (((((r / s.m1) * s.m2 + k) * s.m1 + r % s.m1) * s.B + b) * s.Ci + c);
            want_modes[static_cast<std::size_t>(at)] = X.real();
            want_modes[static_cast<std::size_t>(at + 1)] = X.imag();
          }
    const std::vector<long double> want = direct_conv2d(xd, w1d, w2d);
    const auto g = spd::tdft2_geometry::make(s.B * s.Ci, s.H, s.W, s.m1, s.m2);
    // The kernels' own block sizes, one thread, an odd count and more threads than work.
    for (const int nt : {g.forward_threads(), 1, 37, 1024}) {
      const std::string what = s.str() + ", " + std::to_string(nt) + " threads";
      const tensor<T> modes = emulate_tdft2_forward(x, s.m1, s.m2, nt);
      BOOST_TEST(all_finite(modes), "forward " << what << " left values unwritten");
      check_real(modes, want_modes, "forward " + what);
      const tensor<T> wm = sp::detail::stack_permuted(w1, w2, w1.shape(), shape_t{3, 2, 0, 1, 4},
                                                      shape_t{2 * s.m2, s.m1, s.Ci, s.Co, 2});
      const int ni = nt == g.forward_threads() ? spd::tdft2_geometry::inverse_threads : nt;
      const tensor<T> y = emulate_tdft2_inverse(sp::complex_matmul(modes, wm), s.H, s.W, ni);
      BOOST_TEST(all_finite(y), "inverse " << what << " left values unwritten");
      check_real(y, want, "forward, products, inverse " + what);
      // spectral_conv2d_linear_gelu as cuda computes it: L folded into the mode weights, the
      // bias and GELU in the inverse kernel's epilogue; against the host's composite
      // (spectral_conv2d, then matmul_add_gelu).
      const index_t Cl = 3;
      const tensor<T> L = as_t(randn<double>(shape_t{Cl, s.Co}, gen, 0.0, 0.5));
      const tensor<T> bias = as_t(randn<double>(shape_t{Cl}, gen));
      const tensor<T> lt = stack(
          std::vector<tensor<T>>{L.transpose(0, 1).contiguous(), zeros<T>(shape_t{s.Co, Cl})}, 2);
      const tensor<T> yl = emulate_tdft2_inverse(
          sp::complex_matmul(modes, sp::complex_matmul(wm, lt)), s.H, s.W, ni, bias);
      const tensor<T> ref = sp::spectral_conv2d_linear_gelu(x, w1, w2, L, bias);
      BOOST_TEST(all_finite(yl), "linear_gelu " << what << " left values unwritten");
      BOOST_TEST(max_abs_diff(yl, ref) <= 4 * tol<T>() * std::max(1.0, max_abs(ref)),
                 "linear_gelu " << what << ": max error " << max_abs_diff(yl, ref));
    }
  }
}

BOOST_AUTO_TEST_CASE(linear_gelu_composite_and_errors) {
  // On the host spectral_conv2d_linear_gelu is spectral_conv2d then matmul_add_gelu, written
  // out here with the direct sums; bad shapes are refused by name.
  generator gen(46);
  const conv_shape s{2, 3, 2, 9, 8, 3, 4};
  const tensor<double> x = randn<double>(shape_t{s.B, s.Ci, s.H, s.W}, gen);
  const tensor<double> w1 = randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
  const tensor<double> w2 = randn<double>(shape_t{s.Ci, s.Co, s.m1, s.m2, 2}, gen);
  const tensor<double> L = randn<double>(shape_t{4, s.Co}, gen);
  const tensor<double> b = randn<double>(shape_t{4, 1}, gen);
  const std::vector<long double> k = direct_conv2d(x, w1, w2);
  std::vector<long double> want(static_cast<std::size_t>(s.B * 4 * s.H * s.W));
  for (index_t bb = 0; bb < s.B; ++bb)
    for (index_t l = 0; l < 4; ++l)
      for (index_t p = 0; p < s.H * s.W; ++p) {
        long double v = b(l, 0);
        for (index_t o = 0; o < s.Co; ++o)
          v += static_cast<long double>(L(l, o)) *
               k[static_cast<std::size_t>((bb * s.Co + o) * s.H * s.W + p)];
        want[static_cast<std::size_t>((bb * 4 + l) * s.H * s.W + p)] =
            0.5L * v * (1.0L + std::erf(v / std::sqrt(2.0L)));
      }
  const tensor<double> got = sp::spectral_conv2d_linear_gelu(x, w1, w2, L, b);
  BOOST_TEST((got.shape() == shape_t{s.B, 4, s.H, s.W}));
  check_real(got, want, "spectral_conv2d_linear_gelu");
  BOOST_CHECK_EXCEPTION(
      sp::spectral_conv2d_linear_gelu(x, w1, w2, randn<double>(shape_t{4, 3}, gen), b),
      invalid_argument, [](const invalid_argument& e) {
        return std::string(e.what()).find("spectral_conv2d_linear_gelu") != std::string::npos &&
               std::string(e.what()).find("(4,3)") != std::string::npos;
      });
  BOOST_CHECK_EXCEPTION(
      sp::spectral_conv2d_linear_gelu(x, w1, w2, L, randn<double>(shape_t{3}, gen)),
      invalid_argument, [](const invalid_argument& e) {
        return std::string(e.what()).find("one value per row of L") != std::string::npos;
      });
  // The folded mode weights: folded[blk·m2 + k2, k1, c, l] = Σ_o w_blk[c, o, k1, k2]·L[l, o]
  // (complex times real), blk 0 for w1, 1 for w2. Passing them changes nothing on the host
  // (only the fused cuda path takes them); a misfit is refused.
  const tensor<double> folded = sp::spectral_conv2d_linear_gelu_weights(w1, w2, L);
  BOOST_TEST((folded.shape() == shape_t{2 * s.m2, s.m1, s.Ci, 4, 2}));
  double worst = 0;
  for (int blk = 0; blk < 2; ++blk)
    for (index_t k2 = 0; k2 < s.m2; ++k2)
      for (index_t k1 = 0; k1 < s.m1; ++k1)
        for (index_t c = 0; c < s.Ci; ++c)
          for (index_t l = 0; l < 4; ++l)
            for (index_t ri = 0; ri < 2; ++ri) {
              const tensor<double>& w = blk == 0 ? w1 : w2;
              long double v = 0;
              for (index_t o = 0; o < s.Co; ++o)
                v += static_cast<long double>(w(c, o, k1, k2, ri)) * L(l, o);
              worst = std::max(
                  worst, std::abs(static_cast<double>(v) - folded(blk * s.m2 + k2, k1, c, l, ri)));
            }
  BOOST_TEST(worst < 1e-13);
  BOOST_TEST(max_abs_diff(sp::spectral_conv2d_linear_gelu(
                              x, w1, w2, L, b, sp::spectral_method::truncated_dft, folded),
                          got) == 0.0);
  BOOST_CHECK_EXCEPTION(sp::spectral_conv2d_linear_gelu(
                            x, w1, w2, L, b, sp::spectral_method::truncated_dft,
                            sp::spectral_conv2d_linear_gelu_weights(w1, w2, L.slice(0, 0, 3))),
                        invalid_argument, [](const invalid_argument& e) {
                          return std::string(e.what()).find("folded weights") != std::string::npos;
                        });
  BOOST_CHECK_EXCEPTION(
      sp::spectral_conv2d_linear_gelu_weights(w1, w2, randn<double>(shape_t{4, 3}, gen)),
      invalid_argument, [](const invalid_argument& e) {
        return std::string(e.what()).find("linear_gelu_weights") != std::string::npos;
      });
}

BOOST_AUTO_TEST_CASE(fused_dft_adjoints_emulated) {
  // The reverse rules of the fused transforms on the tape (spectral_conv.hpp, tdft2_modes and
  // tdft2_synthesis): adjoint(I) = D·F and adjoint(F) = I·D⁻¹ with D = tdft2_adjoint_scale,
  // checked as ⟨I(Y), ȳ⟩ = ⟨Y, D·F(ȳ)⟩ and ⟨F(x), X̄⟩ = ⟨x, I(D⁻¹·X̄)⟩ with the kernels emulated
  // on the host (double), for the FNO-DEQ grid, odd sizes and a kept Nyquist column (W = 8,
  // m2 = 5; W = 2, m2 = 2). A wrong factor on any column breaks one of them.
  generator gen(47);
  for (const conv_shape& s : {conv_shape{2, 3, 3, 94, 94, 12, 12}, conv_shape{1, 2, 2, 9, 7, 3, 4},
                              conv_shape{2, 2, 2, 8, 8, 3, 5}, conv_shape{1, 1, 1, 10, 2, 2, 2}}) {
    const tensor<double> x = randn<double>(shape_t{s.B, s.Ci, s.H, s.W}, gen);
    const tensor<double> yb = randn<double>(shape_t{s.B, s.Ci, s.H, s.W}, gen);
    const tensor<double> Y = randn<double>(shape_t{2 * s.m2, s.m1, s.B, s.Ci, 2}, gen);
    const tensor<double> Xb = randn<double>(shape_t{2 * s.m2, s.m1, s.B, s.Ci, 2}, gen);
    const auto dot = [](const tensor<double>& a, const tensor<double>& b) {
      long double d = 0;
      for (index_t i = 0; i < a.numel(); ++i)
        d += static_cast<long double>(a.data()[i]) * b.data()[i];
      return static_cast<double>(d);
    };
    const tensor<double> D = spd::tdft2_adjoint_scale<double, host>(s.H, s.W, s.m2, false);
    const tensor<double> Dinv = spd::tdft2_adjoint_scale<double, host>(s.H, s.W, s.m2, true);
    BOOST_TEST((D.shape() == shape_t{2 * s.m2, 1, 1, 1, 1}));
    const double lhs1 = dot(emulate_tdft2_inverse(Y, s.H, s.W, 256), yb);
    const double rhs1 = dot(Y, emulate_tdft2_forward(yb, s.m1, s.m2, 256) * D);
    const double lhs2 = dot(emulate_tdft2_forward(x, s.m1, s.m2, 256), Xb);
    const double rhs2 = dot(x, emulate_tdft2_inverse(Xb * Dinv, s.H, s.W, 256));
    BOOST_TEST_CONTEXT(s.H << "×" << s.W << " modes " << s.m1 << "×" << s.m2) {
      BOOST_TEST(std::abs(lhs1 - rhs1) <= 1e-12 * (std::abs(lhs1) + 1e-3),
                 "adjoint(I): " << lhs1 << " vs " << rhs1);
      BOOST_TEST(std::abs(lhs2 - rhs2) <= 1e-12 * (std::abs(lhs2) + 1.0),
                 "adjoint(F): " << lhs2 << " vs " << rhs2);
    }
  }
}

BOOST_AUTO_TEST_CASE(fused_dft_geometry) {
  // The FNO-DEQ layer: 94×94, 12×12 modes. Odd pitch, 16-byte aligned W-stage rows, and both
  // kernels' shared memory within 48 KB in float (the cuda backend's condition for using them).
  const auto g = spd::tdft2_geometry::make(1024, 94, 94, 12, 12);
  BOOST_TEST(g.jp == 24);
  BOOST_TEST(g.pitch == 95);
  BOOST_TEST(g.xw_at % 8 == 0);
  BOOST_TEST(g.xw_at >= 94 * 95);
  BOOST_TEST(g.forward_smem() * 4 <= 48 * 1024);
  BOOST_TEST(g.inverse_smem() * 4 <= 48 * 1024);
  BOOST_TEST(g.row_groups() == 48);        // row 0, 46 pairs, row 47
  BOOST_TEST(g.forward_threads() == 256);  // 48 row groups × 3 chunks of 8 = 144 items; 256
                                           // for the staging
  BOOST_TEST(spd::tdft2_geometry::make(1, 9, 9, 2, 2).row_groups() == 5);  // row 0, 4 pairs
  BOOST_TEST(spd::tdft2_geometry::make(1, 2, 1, 1, 1).row_groups() == 2);  // rows 0 and 1
  BOOST_TEST(spd::tdft2_geometry::make(1, 7, 9, 2, 5).jp == 16);
  BOOST_TEST(spd::tdft2_geometry::make(1, 7, 9, 2, 5).pitch == 9);
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
