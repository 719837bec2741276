// SPDX-License-Identifier: Apache-2.0
// The truncated-DFT spectral convolution on cuda against the host: complex_matmul (cuBLAS
// complex GEMMs, every adjoint combination, broadcast and misaligned operands), the layout ops,
// the cached basis matrices, spectral_conv1d/2d forward, the reverse pass of spectral_conv2d
// composed from the pieces its AD rules call (checked against the host tape first, then host
// against cuda), the tape's gradients on ad::var<T, cuda>, a few Adam steps of a small FNO
// built from the fno.hpp blocks in both spaces, and FNO-DEQ fixed points (implicit::
// fixed_point on cuda: Anderson/Picard forward, phantom and implicit backward; implicit::root
// and every adjoint method on a small contractive map), the Broyden solver and implicit::solve
// on cuda (values-only solves and root's defaults against the host, error messages).
// Boost.Test first: under nvcc, <boost/mpl/list.hpp> included before it turns off the
// variadic BOOST_TEST forms.
#include <boost/test/unit_test.hpp>

#include <boost/mpl/list.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backend_support.hpp"
#include "tessera/cuda/spectral.cuh"
#include "tessera/implicit.hpp"
#include "tessera/optim/adam.hpp"
#include "tessera/optim/param.hpp"

namespace tessera::test {
namespace {

namespace sp = tessera::spectral;
namespace sd = tessera::spectral::detail;
using scalar_types = boost::mpl::list<float, double>;

// GEMM chains summed in another order than the host's (cuBLAS vs Eigen/BLIS): a few ulps per
// element, as the matmul comparison.
const tolerance gemm{1e-10, 1e-24};

/// Compares a host result with a cuda result by NMSE, naming the case.
template <class T>
void expect_close(const std::string& name, const tensor<T>& ref, const tensor<T, cuda>& got,
                  tolerance tol) {
  const tensor<T> g = to<host>(got);
  const double e = nmse(ref, g);
  BOOST_TEST_CONTEXT(name << " (" << (std::is_same_v<T, float> ? "float" : "double")
                          << "), host shape " << ref.shape().str() << ", cuda shape "
                          << g.shape().str()) {
    BOOST_TEST(ref.shape() == g.shape());
    BOOST_TEST(e <= tol.of<T>(), "NMSE " << e << " exceeds " << tol.of<T>());
  }
}

// The fused truncated DFTs and the solver's graph replay and device-resident solve are found
// through compile-time checks; a check that GCC 12 misjudges leaves a path silently off (the
// graph replay was, until 2026-11-27). These hold in every build that compiles this file.
static_assert(tessera::spectral::detail::has_fused_dft<float, cuda> &&
                  tessera::spectral::detail::has_fused_dft<double, cuda>,
              "the fused truncated DFTs must be found on cuda");
static_assert(
    requires { implicit::detail::solver_kernels<cuda>::has_replayed_map; } &&
        requires { implicit::detail::solver_kernels<cuda>::has_resident_ops; },
    "the solver must find cuda's graph replay and device-resident operations");

BOOST_AUTO_TEST_SUITE(cuda_spectral)

BOOST_AUTO_TEST_CASE_TEMPLATE(complex_matmul_matches_host, T, scalar_types) {
  // How the body turns its first input into A: as is, a transposed (strided) view, or a view
  // from element 1 of a flat buffer (contiguous, not aligned to a complex element). Done in
  // the body so that the cuda side sees the view too (to<cuda> copies contiguous).
  enum class prep { none, transpose01, offset };
  struct product {
    const char* name;
    tensor<T> a, b;
    bool ta, tb;
    prep pa = prep::none;
    shape_t a_view = {};
  };
  const std::vector<product> cases = {
      {"A B", uniform<T>({3, 5, 4, 2}, 1), uniform<T>({3, 4, 6, 2}, 2), false, false},
      {"Aᴴ B", uniform<T>({3, 4, 5, 2}, 3), uniform<T>({3, 4, 6, 2}, 4), true, false},
      {"A Bᴴ", uniform<T>({3, 5, 4, 2}, 5), uniform<T>({3, 6, 4, 2}, 6), false, true},
      {"Aᴴ Bᴴ", uniform<T>({3, 4, 5, 2}, 7), uniform<T>({3, 6, 4, 2}, 8), true, true},
      {"shared B", uniform<T>({2, 3, 5, 4, 2}, 9), uniform<T>({4, 6, 2}, 10), false, false},
      {"shared A", uniform<T>({4, 5, 2}, 11), uniform<T>({2, 3, 4, 6, 2}, 12), true, false},
      {"partial broadcast", uniform<T>({2, 1, 5, 4, 2}, 13), uniform<T>({1, 3, 6, 4, 2}, 14), false,
       true},
      {"strided view", uniform<T>({4, 3, 5, 2}, 15), uniform<T>({3, 5, 6, 2}, 16), false, false,
       prep::transpose01},
      {"misaligned", uniform<T>({2 * 4 * 5 * 2 + 1}, 31), uniform<T>({2, 4, 3, 2}, 17), true, false,
       prep::offset, shape_t{2, 4, 5, 2}},
      {"mode mix (batch 2·m2·m1)", uniform<T>({6, 3, 8, 7, 2}, 18), uniform<T>({6, 3, 7, 9, 2}, 19),
       false, false},
      {"k = 0", uniform<T>({2, 3, 0, 2}, 20), uniform<T>({2, 0, 4, 2}, 21), false, false},
      {"empty batch", uniform<T>({0, 3, 2, 2}, 22), uniform<T>({0, 2, 4, 2}, 23), false, false},
  };
  for (const product& c : cases)
    check_op<T>(std::string("complex_matmul ") + c.name, {c.a, c.b}, gemm, [&](const auto& v) {
      auto a = v[0];
      if (c.pa == prep::transpose01) a = a.transpose(0, 1);
      if (c.pa == prep::offset) a = a.slice(0, 1, a.numel()).view(c.a_view);
      return sp::complex_matmul(a, v[1], c.ta, c.tb);
    });
  if constexpr (std::is_same_v<T, float>) {
    cuda_rt::set_allow_tf32(true);
    check_op<T>("complex_matmul tf32",
                {uniform<T>({4, 64, 96, 2}, 24), uniform<T>({4, 96, 32, 2}, 25)},
                tolerance{1e-5, 0}, [](const auto& v) { return sp::complex_matmul(v[0], v[1]); });
    cuda_rt::set_allow_tf32(false);
  }
  // The host's checks run first: the same messages on cuda.
  BOOST_CHECK_THROW(
      sp::complex_matmul(to<cuda>(uniform<T>({3, 4, 2}, 1)), to<cuda>(uniform<T>({5, 2, 2}, 2))),
      invalid_argument);
  BOOST_CHECK_THROW(
      sp::complex_matmul(to<cuda>(uniform<T>({3, 4}, 1)), to<cuda>(uniform<T>({4, 2, 2}, 2))),
      invalid_argument);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(layout_ops_match_host, T, scalar_types) {
  const tolerance exact{0, 0};
  const tensor<T> x6 = uniform<T>({2, 3, 4, 2, 5, 2}, 40);
  check_op<T>("permute_copy", {x6}, exact, [](const auto& v) {
    return sd::permute_copy(v[0], v[0].shape(), shape_t{3, 2, 4, 0, 1, 5}, shape_t{8, 5, 2, 3, 2});
  });
  check_op<T>("permute_copy of a view", {uniform<T>({6, 4, 10}, 41)}, exact, [](const auto& v) {
    return sd::permute_copy(v[0].slice(-1, 0, 10, 2), shape_t{6, 4, 5}, shape_t{2, 0, 1});
  });
  check_op<T>("stack_permuted", {uniform<T>({3, 4, 2, 5, 2}, 42), uniform<T>({3, 4, 2, 5, 2}, 43)},
              exact, [](const auto& v) {
                return sd::stack_permuted(v[0], v[1], v[0].shape(), shape_t{3, 2, 0, 1, 4},
                                          shape_t{10, 2, 3, 4, 2});
              });
  const tensor<T> f = uniform<T>({6, 9}, 44), x = uniform<T>({2, 3, 7, 9}, 45);
  check_op<T>("matmul_nt", {f, x}, gemm, [](const auto& v) { return sd::matmul_nt(v[0], v[1]); });
  check_op<T>("matmul_tn", {uniform<T>({2, 3, 6, 7}, 46), uniform<T>({6, 9}, 47)}, gemm,
              [](const auto& v) { return sd::matmul_tn(v[0], v[1]); });
  check_op<T>("right_matmul", {uniform<T>({2, 3, 4, 10}, 48), uniform<T>({10, 6}, 49)}, gemm,
              [](const auto& v) {
                return sd::right_matmul(v[0], v[1], shape_t{2, 3, 4, 3, 2});
              });
  check_op<T>("right_matmul by a transposed constant",
              {uniform<T>({2, 3, 4, 6}, 50), uniform<T>({10, 6}, 51)}, gemm, [](const auto& v) {
                return sd::right_matmul(v[0], v[1].transpose(0, 1), shape_t{2, 3, 40});
              });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(basis_matrices_are_copied_once_per_shape, T, scalar_types) {
  const sd::conv2d_bases<T> h = sd::make_conv2d_bases<T>(11, 9, 3, 4);
  const sd::conv2d_bases<T, cuda> a = sd::conv2d_bases_for<T, cuda>(11, 9, 3, 4);
  const sd::conv2d_bases<T, cuda> b = sd::conv2d_bases_for<T, cuda>(11, 9, 3, 4);
  const tolerance exact{0, 0};
  expect_close<T>("f1", h.f1, a.f1, exact);
  expect_close<T>("g", h.g, a.g, exact);
  expect_close<T>("ginv", h.ginv, a.ginv, exact);
  expect_close<T>("finv", h.finv, a.finv, exact);
  BOOST_TEST(shares_storage(a.f1, b.f1));
  BOOST_TEST(shares_storage(a.finv, b.finv));
  const sd::conv2d_bases<T, cuda> other = sd::conv2d_bases_for<T, cuda>(11, 9, 3, 3);
  BOOST_TEST(!shares_storage(a.f1, other.f1));
  BOOST_TEST((other.f1.shape() == shape_t{6, 9}));
  const auto [f, finv] = sd::conv1d_bases_for<T, cuda>(13, 5);
  const auto [hf, hfinv] = sd::make_conv1d_bases<T>(13, 5);
  expect_close<T>("conv1d f", hf, f, exact);
  expect_close<T>("conv1d finv", hfinv, finv, exact);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(spectral_conv_forward_matches_host, T, scalar_types) {
  struct conv_case {
    shape_t x, w;
  };
  // Odd sizes and H > 2·m1; the largest modes a grid allows (2·m1 = H, m2 = W/2 + 1); one batch
  // and one channel; the FNO-DEQ layer (width 32, 12 modes) on a padded 24 × 24 grid.
  const std::vector<conv_case> cases = {
      {{2, 3, 10, 9}, {3, 4, 3, 4, 2}},
      {{3, 5, 16, 16}, {5, 6, 8, 9, 2}},
      {{1, 1, 7, 5}, {1, 1, 2, 3, 2}},
      {{2, 32, 24, 24}, {32, 32, 12, 12, 2}},
  };
  std::uint64_t seed = 60;
  for (const conv_case& c : cases) {
    const tensor<T> x = uniform<T>(c.x, seed++);
    generator gen(seed++);
    const tensor<T> w1 = sp::spectral_weights<T>(c.w, gen), w2 = sp::spectral_weights<T>(c.w, gen);
    check_op<T>("spectral_conv2d " + c.x.str() + " modes " + c.w.str(), {x, w1, w2}, gemm,
                [](const auto& v) { return sp::spectral_conv2d(v[0], v[1], v[2]); });
  }
  for (const auto& [xs, ws] : {std::pair{shape_t{2, 3, 17}, shape_t{3, 4, 5, 2}},
                               std::pair{shape_t{4, 2, 16}, shape_t{2, 2, 9, 2}}}) {
    const tensor<T> x = uniform<T>(xs, seed++);
    generator gen(seed++);
    const tensor<T> w = sp::spectral_weights<T>(ws, gen);
    check_op<T>("spectral_conv1d " + xs.str() + " modes " + ws.str(), {x, w}, gemm,
                [](const auto& v) { return sp::spectral_conv1d(v[0], v[1]); });
  }
  const tensor<T, cuda> x = to<cuda>(uniform<T>({1, 2, 8, 8}, 1));
  const tensor<T, cuda> w = to<cuda>(uniform<T>({2, 2, 2, 2, 2}, 2));
  BOOST_CHECK_THROW(sp::spectral_conv2d(x, w.slice(1, 0, 1), w), invalid_argument);
}

BOOST_AUTO_TEST_CASE(spectral_conv_on_an_owned_stream) {
  // A shape first seen on a non-blocking stream: its basis matrices are made on the legacy
  // stream and synchronised before this stream reads them.
  const tensor<float> x = uniform<float>({2, 4, 13, 11}, 70);
  generator gen(71);
  const tensor<float> w1 = sp::spectral_weights<float>({4, 3, 5, 4, 2}, gen);
  const tensor<float> w2 = sp::spectral_weights<float>({4, 3, 5, 4, 2}, gen);
  const tensor<float> ref = sp::spectral_conv2d(x, w1, w2);
  cuda_rt::stream s;
  tensor<float> got;
  {
    const cuda_rt::stream_guard g(s.get());
    got = to<host>(sp::spectral_conv2d(to<cuda>(x), to<cuda>(w1), to<cuda>(w2)));
  }
  const double e = nmse(ref, got);
  BOOST_TEST(e <= gemm.f32, "NMSE " << e);
}

/// The reverse pass of spectral_conv2d (truncated DFT) for output adjoint gy, written with the
/// pieces its AD rules call, in the forward's order reversed: {x̄, w̄1, w̄2}.
template <class T, class S>
std::array<tensor<T, S>, 3> conv2d_vjp(const tensor<T, S>& x, const tensor<T, S>& w1,
                                       const tensor<T, S>& w2, const tensor<T, S>& gy) {
  const index_t B = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const index_t Cout = w1.size(1), m1 = w1.size(2), m2 = w1.size(3);
  const sd::conv2d_bases<T, S> b = sd::conv2d_bases_for<T, S>(H, W, m1, m2);
  // forward values the rules read
  const tensor<T, S> xw = sd::matmul_nt(b.f1, x);
  const tensor<T, S> xh = sd::right_matmul(xw, b.g, shape_t{B, Cin, m2, 2, m1, 2});
  const shape_t xorder{3, 2, 4, 0, 1, 5}, worder{3, 2, 0, 1, 4}, yorder{3, 4, 1, 0, 2, 5};
  const tensor<T, S> xm = sd::permute_copy(xh, xh.shape(), xorder, shape_t{2 * m2, m1, B, Cin, 2});
  const tensor<T, S> wm =
      sd::stack_permuted(w1, w2, w1.shape(), worder, shape_t{2 * m2, m1, Cin, Cout, 2});
  const shape_t yview{2, m2, m1, B, Cout, 2}, yh_shape{B, Cout, m2, 4 * m1};
  // reverse
  const tensor<T, S> g_yw = sd::matmul_nt(b.finv, gy);  // matmul_tn rule
  const tensor<T, S> g_yh = sd::right_matmul(g_yw, b.ginv.transpose(0, 1), yh_shape);
  const tensor<T, S> g_ym =
      sd::permute_copy(g_yh, sd::permuted_shape(yview, yorder), sd::inverse_order(yorder),
                       shape_t{2 * m2, m1, B, Cout, 2});
  const tensor<T, S> g_xm = sp::complex_matmul(g_ym, wm, false, true);  // C̄ Bᴴ
  const tensor<T, S> g_wm = sp::complex_matmul(xm, g_ym, true, false);  // Aᴴ C̄
  shape_t halves = sd::permuted_shape(w1.shape(), worder);
  halves.insert(0, 2);
  const tensor<T, S> gw = g_wm.reshape(halves);
  const tensor<T, S> g_w1 =
      sd::permute_copy(gw.select(0, 0), sd::permuted_shape(w1.shape(), worder),
                       sd::inverse_order(worder), w1.shape());
  const tensor<T, S> g_w2 =
      sd::permute_copy(gw.select(0, 1), sd::permuted_shape(w1.shape(), worder),
                       sd::inverse_order(worder), w1.shape());
  const tensor<T, S> g_xh = sd::permute_copy(g_xm, sd::permuted_shape(xh.shape(), xorder),
                                             sd::inverse_order(xorder), xh.shape());
  const tensor<T, S> g_xw = sd::right_matmul(g_xh, b.g.transpose(0, 1), xw.shape());
  return {sd::matmul_tn(g_xw, b.f1), g_w1, g_w2};  // matmul_nt rule
}

BOOST_AUTO_TEST_CASE_TEMPLATE(spectral_conv_reverse_pieces_match_host, T, scalar_types) {
  const std::array<const char*, 3> names = {"x̄", "w̄1", "w̄2"};
  for (const auto& [xs, ws] : {std::pair{shape_t{2, 3, 10, 9}, shape_t{3, 4, 3, 4, 2}},
                               std::pair{shape_t{2, 8, 16, 16}, shape_t{8, 8, 8, 9, 2}}}) {
    const tensor<T> x = uniform<T>(xs, 80);
    generator gen(81);
    const tensor<T> w1 = sp::spectral_weights<T>(ws, gen), w2 = sp::spectral_weights<T>(ws, gen);
    shape_t ys = xs;
    ys[1] = ws[1];
    const tensor<T> gy = uniform<T>(ys, 82);
    const std::array<tensor<T>, 3> ref = conv2d_vjp(x, w1, w2, gy);
    if constexpr (std::is_same_v<T, double>) {
      // The composed pieces are the host tape's gradient (so the cuda comparison below checks
      // what the rules compute).
      ad::scope s;
      ad::var<T> xv(x, true), a(w1, true), b(w2, true);
      ad::backward(sp::spectral_conv2d(xv, a, b), gy);
      const std::array<tensor<T>, 3> tape = {xv.grad(), a.grad(), b.grad()};
      for (int i = 0; i < 3; ++i)
        BOOST_TEST(nmse(tape[i], ref[i]) <= 1e-26,
                   names[i] << " of " << xs.str() << ": NMSE " << nmse(tape[i], ref[i]));
    }
    const std::array<tensor<T, cuda>, 3> got =
        conv2d_vjp(to<cuda>(x), to<cuda>(w1), to<cuda>(w2), to<cuda>(gy));
    for (int i = 0; i < 3; ++i)
      expect_close<T>(std::string("spectral_conv2d reverse ") + names[i] + " " + xs.str(), ref[i],
                      got[i], gemm);
  }
}

/// The tape's gradients {x̄, w̄1, w̄2} of <gy, spectral_conv2d(x, w1, w2)> computed in space S,
/// back on the host.
template <class S, class T>
std::array<tensor<T>, 3> conv2d_tape_grads(
    const tensor<T>& x, const tensor<T>& w1, const tensor<T>& w2, const tensor<T>& gy,
    sp::spectral_method method = sp::spectral_method::truncated_dft) {
  ad::scope s;
  ad::var<T, S> xv(to<S>(x), true), a(to<S>(w1), true), b(to<S>(w2), true);
  ad::backward(sp::spectral_conv2d(xv, a, b, method), to<S>(gy));
  return {to<host>(xv.grad()), to<host>(a.grad()), to<host>(b.grad())};
}

BOOST_AUTO_TEST_CASE_TEMPLATE(spectral_conv_tape_gradients_match_host, T, scalar_types) {
  const std::array<const char*, 3> names = {"x̄", "w̄1", "w̄2"};
  const shape_t xs{2, 4, 12, 10}, ws{4, 3, 4, 5, 2};
  const tensor<T> x = uniform<T>(xs, 90);
  generator gen(91);
  const tensor<T> w1 = sp::spectral_weights<T>(ws, gen), w2 = sp::spectral_weights<T>(ws, gen);
  const tensor<T> gy = uniform<T>({2, 3, 12, 10}, 92);
  // On cuda the default method records the fused DFT kernels (12×10 with 4×5 modes fits them,
  // the Nyquist column kept), their reverse rules each other's adjoint; truncated_dft_gemm
  // records the GEMMs. Both against the host.
  BOOST_TEST((sp::detail::space_backend<cuda>::tdft2_fits<T>(12, 10, 4, 5)));
  const std::array<tensor<T>, 3> ref = conv2d_tape_grads<host>(x, w1, w2, gy);
  for (const auto method :
       {sp::spectral_method::truncated_dft, sp::spectral_method::truncated_dft_gemm}) {
    const std::array<tensor<T>, 3> got = conv2d_tape_grads<cuda>(x, w1, w2, gy, method);
    for (int i = 0; i < 3; ++i) {
      const double e = nmse(ref[i], got[i]);
      BOOST_TEST(e <= gemm.of<T>(), "tape gradient " << names[i] << " (method "
                                                     << static_cast<int>(method) << "): NMSE "
                                                     << e);
    }
  }
  {
    // Second order through the fused transforms' rules (each calls the other on variables):
    // the gradient of ⟨x̄, v⟩ with respect to w1, where x̄ = ∂⟨conv(x), ȳ⟩/∂x, against the host.
    const tensor<T> v = uniform<T>(xs, 99);
    const auto second = [&]<class S>(S) {
      ad::scope sc;
      ad::var<T, S> xv(to<S>(x), true), a(to<S>(w1), true), b(to<S>(w2), true);
      const ad::var<T, S> y = sp::spectral_conv2d(xv, a, b);
      const ad::var<T, S> gx = ad::grad_graph(ad::sum(y * ad::constant(to<S>(gy))), {xv})[0];
      ad::backward(ad::sum(gx * ad::constant(to<S>(v))));
      return to<host>(a.grad());
    };
    const tensor<T> h2 = second(host{}), c2 = second(cuda{});
    BOOST_TEST(nmse(h2, c2) <= gemm.of<T>(), "second-order w̄1: NMSE " << nmse(h2, c2));
  }
  // spectral_conv1d and complex_matmul through the tape as well.
  {
    const tensor<T> x1 = uniform<T>({3, 2, 15}, 93), w = uniform<T>({2, 4, 6, 2}, 94);
    const tensor<T> g1 = uniform<T>({3, 4, 15}, 95);
    const auto grads = [&]<class S>(S) {
      ad::scope s;
      ad::var<T, S> xv(to<S>(x1), true), wv(to<S>(w), true);
      ad::backward(sp::spectral_conv1d(xv, wv), to<S>(g1));
      return std::array<tensor<T>, 2>{to<host>(xv.grad()), to<host>(wv.grad())};
    };
    const auto r = grads(host{}), c = grads(cuda{});
    for (int i = 0; i < 2; ++i)
      BOOST_TEST(nmse(r[i], c[i]) <= gemm.of<T>(),
                 "spectral_conv1d tape gradient " << i << ": NMSE " << nmse(r[i], c[i]));
  }
  {
    const tensor<T> a = uniform<T>({3, 5, 4, 2}, 96), b = uniform<T>({3, 6, 4, 2}, 97);
    const tensor<T> g = uniform<T>({3, 5, 6, 2}, 98);
    const auto grads = [&]<class S>(S) {
      ad::scope s;
      ad::var<T, S> av(to<S>(a), true), bv(to<S>(b), true);
      ad::backward(sp::complex_matmul(av, bv, false, true), to<S>(g));
      return std::array<tensor<T>, 2>{to<host>(av.grad()), to<host>(bv.grad())};
    };
    const auto r = grads(host{}), c = grads(cuda{});
    for (int i = 0; i < 2; ++i)
      BOOST_TEST(nmse(r[i], c[i]) <= gemm.of<T>(),
                 "complex_matmul tape gradient " << i << ": NMSE " << nmse(r[i], c[i]));
  }
}

/// Losses of `steps` Adam steps of a small FNO (lift, one Fourier block, last layer, head) in
/// space S, and its parameters afterwards, on the host.
template <class S>
std::pair<std::vector<double>, std::vector<tensor<double>>> fno_train(int steps) {
  generator gen(5);
  sp::lifting<double, S> lift(1, 6, 3, gen);
  sp::fourier_block<double, S> block(6, 3, 3, gen, 2, true);
  sp::fourier_layer<double, S> last(6, 3, 3, true, gen);
  sp::projection_head<double, S> head(6, 1, 3, gen, 16);
  std::vector<ad::parameter<double, S>*> ps = lift.parameters();
  sp::append_parameters(ps, block.parameters());
  sp::append_parameters(ps, last.parameters());
  sp::append_parameters(ps, head.parameters());
  optim::adam<double, S> opt(optim::slots_of(ps), {.lr = 1e-2, .weight_decay = 1e-4});
  const tensor<double, S> x = to<S>(uniform<double>({4, 1, 11, 11}, 6));
  const tensor<double, S> y = to<S>(uniform<double>({4, 1, 11, 11}, 7));
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    ad::scope sc;
    opt.zero_grad();
    const ad::var<double, S> xt = lift(ad::constant(x));
    const ad::var<double, S> pred = head(last(block(xt, ad::var<double, S>{}), {}, false));
    const ad::var<double, S> loss = ad::mean(ad::square(pred - ad::constant(y)));
    ad::backward(loss);
    opt.step();
    losses.push_back(to<host>(loss.value()).item());
  }
  std::vector<tensor<double>> out;
  for (auto* p : ps) out.push_back(to<host>(p->value()));
  return {losses, out};
}

BOOST_AUTO_TEST_CASE(fno_training_steps_match_host) {
  // The same seed gives the same initial weights in both spaces (drawn on the host), so the
  // losses of a few Adam steps and the final parameters agree up to rounding. In double: in
  // float, Adam's normalised step can turn rounding-level gradients into lr-sized differences.
  const auto [lh, ph] = fno_train<host>(4);
  const auto [lc, pc] = fno_train<cuda>(4);
  BOOST_TEST_REQUIRE(lh.size() == lc.size());
  for (std::size_t i = 0; i < lh.size(); ++i)
    BOOST_TEST(std::abs(lh[i] - lc[i]) <= 1e-10 * std::abs(lh[i]),
               "step " << i << ": host loss " << lh[i] << ", cuda loss " << lc[i]);
  BOOST_TEST(lc.back() < lc.front(), "cuda losses " << lc.front() << " -> " << lc.back());
  BOOST_TEST_REQUIRE(ph.size() == pc.size());
  for (std::size_t i = 0; i < ph.size(); ++i)
    BOOST_TEST(nmse(ph[i], pc[i]) <= 1e-18,
               "parameter " << i << " " << ph[i].shape().str() << ": NMSE " << nmse(ph[i], pc[i]));
}

BOOST_AUTO_TEST_CASE(lifting_is_shared_safely_between_threads) {
  // One lifting object called from four threads at once (on the shared legacy default stream,
  // as the lifting requires), each with its own batch size, so that its cached device grid (one
  // per shape) keeps being replaced while others read it: every result equals the host
  // lifting's with the same weights.
  generator g_host(3), g_cuda(3);
  const sp::lifting<double, host> lh(1, 4, 2, g_host);
  const sp::lifting<double, cuda> lc(1, 4, 2, g_cuda);
  constexpr int threads = 4;
  std::vector<tensor<double>> inputs, want;
  for (int t = 0; t < threads; ++t) {
    inputs.push_back(uniform<double>({t + 1, 1, 7, 9}, 40 + static_cast<std::uint64_t>(t)));
    ad::scope sc;
    want.push_back(lh(ad::constant(inputs.back())).value().clone());
  }
  std::vector<double> worst(threads, 0.0);
  std::vector<std::string> errors(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        const tensor<double, cuda> x = to<cuda>(inputs[static_cast<std::size_t>(t)]);
        for (int i = 0; i < 40; ++i) {
          ad::scope sc;
          const tensor<double> got = to<host>(lc(ad::constant(x)).value());
          worst[static_cast<std::size_t>(t)] = std::max(
              worst[static_cast<std::size_t>(t)], nmse(want[static_cast<std::size_t>(t)], got));
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  for (std::thread& th : pool) th.join();
  for (int t = 0; t < threads; ++t) {
    BOOST_TEST(errors[static_cast<std::size_t>(t)].empty(), errors[static_cast<std::size_t>(t)]);
    BOOST_TEST(worst[static_cast<std::size_t>(t)] <= gemm.of<double>(), "thread " << t);
  }
}

/// main.cpp's block F_θ(z, x̃) with every weight taken from θ (8 per layer, x̃ last), in space S.
template <class T, class S>
ad::var<T, S> deq_block(const ad::var<T, S>& z, const std::vector<ad::var<T, S>>& th) {
  const auto linear = [](const ad::var<T, S>& x, const ad::var<T, S>& w, const ad::var<T, S>& b) {
    const index_t B = x.size(0), Cin = w.size(1), Cout = w.size(0);
    const ad::var<T, S> y = ad::matmul(w, ad::reshape(x, shape_t{B, Cin, x.numel() / (B * Cin)}));
    shape_t out = x.shape();
    out[1] = Cout;
    return ad::reshape(y + ad::reshape(b, shape_t{Cout, 1}), out);
  };
  ad::var<T, S> h = z;
  for (std::size_t j = 0; j + 1 < th.size(); j += 8) {
    ad::var<T, S> k = sp::spectral_conv2d(h, th[j], th[j + 1]);
    k = linear(ad::gelu(linear(k, th[j + 2], th[j + 3])), th[j + 4], th[j + 5]);
    h = ad::gelu(k + linear(h, th[j + 6], th[j + 7]) + th.back());
  }
  return h;
}

/// The same block as the library writes it (examples/fno_deq/block.hpp): fourier_layer_apply
/// per layer, whose pointwise path is matmul_add_gelu and matmul_pair_add_gelu (the last
/// product with the skip product W_s·z + x̃) as single kernels when nothing is recorded (the
/// solve) and their composites when something is (the phantom step).
template <class T, class S>
ad::var<T, S> library_block(const ad::var<T, S>& z, const std::vector<ad::var<T, S>>& th) {
  const std::span<const ad::var<T, S>> all(th);
  ad::var<T, S> h = z;
  for (std::size_t j = 0; j + 1 < th.size(); j += 8)
    h = sp::fourier_layer_apply(h, all.subspan(j, 8), true, th.back(), true);
  return h;
}

/// library_block without the one-kernel paths: cuBLAS GEMMs for the DFTs, and the products
/// and GELUs as matmul_add and add_gelu (fno_deq --fused-dft off --fused-pointwise off).
template <class T, class S>
ad::var<T, S> library_block_unfused(const ad::var<T, S>& z, const std::vector<ad::var<T, S>>& th) {
  const std::span<const ad::var<T, S>> all(th);
  ad::var<T, S> h = z;
  for (std::size_t j = 0; j + 1 < th.size(); j += 8)
    h = sp::fourier_layer_apply(h, all.subspan(j, 8), true, th.back(), true,
                                sp::spectral_method::truncated_dft_gemm, false);
  return h;
}

struct deq_run {
  tensor<double> z;                   // the returned z (phantom step from z*)
  std::vector<double> history;        // forward residuals
  std::vector<tensor<double>> grads;  // of Σ z², block weights then x̃
};

/// One FNO-DEQ forward (implicit::fixed_point) and phantom backward in space S; `library`: 0
/// the hand-written block, 1 library_block, 2 library_block_unfused, 3 library_block with its
/// layers' weights prepared once for the solve (spectral::prepare_fourier_layer); `graph` and
/// `resident`: solver_options::graph and device_resident.
template <class S>
deq_run deq_fixed_point(implicit::solver_method method, bool batched, bool graph = false,
                        int library = 0, bool resident = false) {
  generator gen(21);
  sp::fourier_block<double, S> block(4, 2, 2, gen, 2, true);
  const tensor<double, S> inj = to<S>(uniform<double>({2, 4, 8, 8}, 22, -0.5, 0.5));
  ad::scope sc;
  std::vector<ad::var<double, S>> th;
  for (auto* p : block.parameters()) th.push_back((*p)());
  th.push_back(ad::var<double, S>(inj, true));
  implicit::options o;
  o.solver.method = method;
  o.solver.max_iter = 8;
  o.solver.full_budget = true;
  o.solver.batched = batched;
  o.solver.damping = 0.7;
  o.solver.graph = graph;
  o.solver.device_resident = resident;
  o.backward.mode = implicit::backward_mode::phantom;
  o.backward.phantom_tau = 0.5;
  o.backward.phantom_steps = 1;
  tensor<double, S> z0(inj.shape());
  z0.fill_(0.0);
  using V = ad::var<double, S>;
  auto prepared = std::make_shared<std::vector<sp::fourier_layer_prepared<double, S>>>();
  for (std::size_t j = 0; j + 1 < th.size(); j += 8)
    prepared->push_back(sp::prepare_fourier_layer(std::span<const V>(th).subspan(j, 8), true));
  // On cuda the folded mode weights exist (and the 8×8 grid with 2×2 modes takes the fused
  // kernels), so the prepared run exercises them.
  if constexpr (!std::is_same_v<S, host>) {
    BOOST_TEST(prepared->front().folded.defined());
    BOOST_TEST((sp::detail::fused_dft_fits<double, S>(8, 8, 2, 2)));
  }
  const auto prepared_block = [prepared](const V& z, const std::vector<V>& w) {
    const std::span<const V> all(w);
    V h = z;
    for (std::size_t j = 0; j + 1 < w.size(); j += 8)
      h = sp::fourier_layer_apply(h, all.subspan(j, 8), true, w.back(), true,
                                  sp::spectral_method::truncated_dft, true, &(*prepared)[j / 8]);
    return h;
  };
  const auto r = library == 3   ? implicit::fixed_point(prepared_block, z0, th, o)
                 : library == 2 ? implicit::fixed_point(library_block_unfused<double, S>, z0, th, o)
                 : library == 1 ? implicit::fixed_point(library_block<double, S>, z0, th, o)
                                : implicit::fixed_point(deq_block<double, S>, z0, th, o);
  ad::backward(ad::sum(ad::square(r.z)));
  deq_run out{to<host>(r.z.value()), r.info.residual_history, {}};
  for (const auto& t : th) out.grads.push_back(to<host>(t.grad()));
  return out;
}

BOOST_AUTO_TEST_CASE(fno_deq_fixed_point_matches_host) {
  // Anderson (one system for the batch, and per sample) and damped Picard (per-sample rows):
  // the cuda solve sums in another order and Anderson's small least-squares systems amplify
  // rounding a little, so the tolerances are loose for double but far below a wrong formula.
  // The hand-written block, and the library's (fourier_layer_apply: on cuda the solve runs the
  // fused DFT kernels with W₁ folded into the mode weights, spectral_conv2d_linear_gelu, and
  // the pointwise kernels; the host runs the composites), and the library's without the fused
  // kernels (the fallback fno_deq --fused-dft off --fused-pointwise off).
  for (const auto& [method, batched, library] :
       {std::tuple{implicit::solver_method::anderson, false, 0},
        std::tuple{implicit::solver_method::anderson, true, 0},
        std::tuple{implicit::solver_method::picard, true, 0},
        std::tuple{implicit::solver_method::anderson, false, 1},
        std::tuple{implicit::solver_method::picard, true, 1},
        std::tuple{implicit::solver_method::anderson, false, 2},
        std::tuple{implicit::solver_method::anderson, false, 3}}) {
    const deq_run h = deq_fixed_point<host>(method, batched, false, library);
    const deq_run c = deq_fixed_point<cuda>(method, batched, false, library);
    BOOST_TEST_CONTEXT("solver " << static_cast<int>(method) << ", batched " << batched
                                 << ", library block " << library) {
      BOOST_TEST(nmse(h.z, c.z) <= 1e-16, "z: NMSE " << nmse(h.z, c.z));
      BOOST_TEST_REQUIRE(h.history.size() == c.history.size());
      for (std::size_t i = 0; i < h.history.size(); ++i)
        // Relative to this residual, plus a floor relative to the first one: a converged
        // residual (H200: 1.4e-7 at iteration 7) is a difference of O(1) values, and its last
        // digits follow the summation order.
        BOOST_TEST(std::abs(h.history[i] - c.history[i]) <=
                       1e-9 * h.history[i] + 1e-10 * h.history.front(),
                   "residual " << i << ": host " << h.history[i] << ", cuda " << c.history[i]);
      BOOST_TEST_REQUIRE(h.grads.size() == c.grads.size());
      for (std::size_t i = 0; i < h.grads.size(); ++i)
        BOOST_TEST(nmse(h.grads[i], c.grads[i]) <= 1e-14,
                   "gradient " << i << ": NMSE " << nmse(h.grads[i], c.grads[i]));
    }
  }
}

BOOST_AUTO_TEST_CASE(fno_deq_prepared_weights_match_unprepared) {
  // The library block with its weights prepared once for the solve runs the same kernels on the
  // same values as without (the folded mode weights and summed biases computed by the same
  // functions, once instead of per iteration): the same bits, solve and phantom gradients.
  for (const bool graph : {false, true}) {
    const deq_run plain = deq_fixed_point<cuda>(implicit::solver_method::anderson, false, graph, 1);
    const deq_run prepared =
        deq_fixed_point<cuda>(implicit::solver_method::anderson, false, graph, 3);
    BOOST_TEST_CONTEXT("graph " << graph) {
      BOOST_TEST(nmse(plain.z, prepared.z) == 0.0, "z: NMSE " << nmse(plain.z, prepared.z));
      BOOST_TEST(plain.history == prepared.history);
      BOOST_TEST_REQUIRE(plain.grads.size() == prepared.grads.size());
      for (std::size_t i = 0; i < plain.grads.size(); ++i)
        BOOST_TEST(nmse(plain.grads[i], prepared.grads[i]) == 0.0,
                   "gradient " << i << ": NMSE " << nmse(plain.grads[i], prepared.grads[i]));
    }
  }
}

BOOST_AUTO_TEST_CASE(fno_deq_graph_solve_matches_plain) {
  // solver_options::graph: the Fourier block's forward replayed from one CUDA graph capture
  // (from the second evaluation on) runs the kernels of the plain solve on the same data, so
  // the solve and the phantom gradients agree to the last bits (a replay that read a stale
  // input would be off by O(1) from the second residual on). Both blocks: the hand-written
  // one and the library's (fourier_layer_apply: matmul_add_gelu and matmul_pair_add_gelu, as
  // the example's DEQ), each with Anderson, Picard and Broyden, and the device-resident solve
  // (replayed and plain both resident).
  using sm = implicit::solver_method;
  struct solve_case {
    sm method;
    bool batched;
    int library;
    bool resident;  // solver_options::device_resident (the FNO-DEQ example's default)
  };
  for (const auto& [method, batched, library, resident] :
       {solve_case{sm::anderson, false, 0, false}, solve_case{sm::picard, true, 0, false},
        solve_case{sm::broyden, true, 0, false}, solve_case{sm::anderson, false, 1, false},
        solve_case{sm::picard, true, 1, false}, solve_case{sm::broyden, true, 1, false},
        solve_case{sm::anderson, false, 3, false}, solve_case{sm::anderson, false, 3, true},
        solve_case{sm::picard, true, 3, true}}) {
    const deq_run plain = deq_fixed_point<cuda>(method, batched, false, library, resident);
    const deq_run replayed = deq_fixed_point<cuda>(method, batched, true, library, resident);
    BOOST_TEST_CONTEXT("solver " << static_cast<int>(method) << ", batched " << batched
                                 << ", library block " << library << ", resident " << resident) {
      BOOST_TEST(nmse(plain.z, replayed.z) <= 1e-26, "z: NMSE " << nmse(plain.z, replayed.z));
      BOOST_TEST_REQUIRE(plain.history.size() == replayed.history.size());
      for (std::size_t i = 0; i < plain.history.size(); ++i)
        BOOST_TEST(std::abs(plain.history[i] - replayed.history[i]) <=
                       1e-12 * plain.history[i] + 1e-13 * plain.history.front(),
                   "residual " << i << ": plain " << plain.history[i] << ", replayed "
                               << replayed.history[i]);
      BOOST_TEST_REQUIRE(plain.grads.size() == replayed.grads.size());
      for (std::size_t i = 0; i < plain.grads.size(); ++i)
        BOOST_TEST(nmse(plain.grads[i], replayed.grads[i]) <= 1e-26,
                   "gradient " << i << ": NMSE " << nmse(plain.grads[i], replayed.grads[i]));
    }
  }
  // The capture happens at the second evaluation: a map that copies to the host (which a
  // capture cannot hold) runs once, then fails there with the CUDA error; without graph it
  // solves.
  const tensor<double, cuda> z0 = to<cuda>(uniform<double>({4, 8}, 23, -1.0, 1.0));
  int calls = 0;
  const auto syncing = [&](const tensor<double, cuda>& z) {
    ++calls;
    (void)to<host>(z);
    return tanh(z) * 0.5;
  };
  implicit::solver_options o;
  o.method = sm::anderson;
  o.max_iter = 6;
  o.full_budget = true;
  o.graph = true;
  BOOST_CHECK_THROW((void)implicit::solve(syncing, z0, o), cuda_error);
  BOOST_TEST(calls == 2);
  o.graph = false;
  calls = 0;
  BOOST_TEST(implicit::solve(syncing, z0, o).info.iterations == 6);
  BOOST_TEST(calls == 6);
}

BOOST_AUTO_TEST_CASE(fno_deq_device_resident_solve_matches_synchronised) {
  // solver_options::device_resident: the residuals, best iterate and Anderson's small systems
  // on the device (implicit/detail/resident.hpp, one single-block kernel per iteration), the
  // report read once. The passes and combinations are the synchronised solve's kernels; the
  // small systems are the host's arithmetic except that the device contracts multiply-adds,
  // so the two agree to rounding (the host emulation in test_implicit's space_loop checks the
  // bookkeeping bit for bit, non-finite residuals and dropped best iterates included). Picard
  // and Anderson, per sample and not, the library block with prepared weights (the FNO-DEQ
  // example's) among them; Broyden ignores it. Without the graph replay here (gpu_session.sh
  // turns --resident-solve off when this case fails): fno_deq_graph_solve_matches_plain runs
  // the resident solve under the replay.
  using sm = implicit::solver_method;
  struct solve_case {
    sm method;
    bool batched, graph;
    int library;
  };
  for (const auto& [method, batched, graph, library] :
       {solve_case{sm::anderson, false, false, 0}, solve_case{sm::anderson, true, false, 0},
        solve_case{sm::picard, true, false, 0}, solve_case{sm::anderson, false, false, 1},
        solve_case{sm::anderson, false, false, 3}, solve_case{sm::picard, true, false, 3},
        solve_case{sm::broyden, true, false, 0}}) {
    const deq_run sync = deq_fixed_point<cuda>(method, batched, graph, library, false);
    const deq_run res = deq_fixed_point<cuda>(method, batched, graph, library, true);
    const deq_run h = deq_fixed_point<host>(method, batched, false, library, false);
    BOOST_TEST_CONTEXT("solver " << static_cast<int>(method) << ", batched " << batched
                                 << ", graph " << graph << ", library block " << library) {
      BOOST_TEST(nmse(sync.z, res.z) <= 1e-24, "z: NMSE " << nmse(sync.z, res.z));
      BOOST_TEST(nmse(h.z, res.z) <= 1e-16, "z vs host: NMSE " << nmse(h.z, res.z));
      BOOST_TEST_REQUIRE(sync.history.size() == res.history.size());
      for (std::size_t i = 0; i < sync.history.size(); ++i)
        BOOST_TEST(std::abs(sync.history[i] - res.history[i]) <=
                       1e-11 * sync.history[i] + 1e-12 * sync.history.front(),
                   "residual " << i << ": synchronised " << sync.history[i] << ", resident "
                               << res.history[i]);
      BOOST_TEST_REQUIRE(sync.grads.size() == res.grads.size());
      for (std::size_t i = 0; i < sync.grads.size(); ++i)
        BOOST_TEST(nmse(sync.grads[i], res.grads[i]) <= 1e-22,
                   "gradient " << i << ": NMSE " << nmse(sync.grads[i], res.grads[i]));
    }
  }
  // A history over 7 is refused by name on the device.
  const tensor<double, cuda> z0 = to<cuda>(uniform<double>({4, 8}, 23, -1.0, 1.0));
  implicit::solver_options o;
  o.history = 8;
  o.max_iter = 4;
  o.device_resident = true;
  BOOST_CHECK_THROW(
      (void)implicit::solve([](const tensor<double, cuda>& z) { return tanh(z); }, z0, o),
      invalid_argument);
}

BOOST_AUTO_TEST_CASE(device_resident_safeguards_on_a_large_batch) {
  // The device side of test_implicit's device_resident_* emulations, on 300 samples of 4096:
  // several blocks of partial sums per sample and more samples than the step kernel's 256
  // threads. Sample 0's map worsens from the 5th evaluation on, so its best iterate leaves the
  // ring and is saved (fixed_point_save_best) and returned from the saved copy; in the second
  // run sample 1's map value is also NaN on the 4th and 5th evaluations (the history cleared,
  // that sample restarted from its best iterate's u, null terms skipped). Picard without NaN
  // has no small system: the same bits as the synchronised solve; otherwise rounding (the
  // device fuses multiply-adds where the host rounds twice).
  using sm = implicit::solver_method;
  const tensor<double, cuda> c = to<cuda>(uniform<double>({300, 4096}, 41, -1.0, 1.0));
  tensor<double, cuda> z0(c.shape());
  z0.fill_(0.0);
  for (const bool nan : {false, true})
    for (const sm method : {sm::picard, sm::anderson}) {
      int calls = 0;
      const auto f = [&](const tensor<double, cuda>& z) {
        tensor<double, cuda> y = tanh(z) * 0.5 + c;
        ++calls;
        if (calls > 4) {
          tensor<double, cuda> row = y.select(0, 0);
          row.copy_from(row + 0.05 * (calls - 4));
        }
        if (nan && (calls == 4 || calls == 5)) y.select(0, 1).fill_(std::nan(""));
        return y;
      };
      implicit::solver_options o;
      o.method = method;
      o.max_iter = 16;
      o.abs_tol = 0;
      o.rel_tol = 1e-12;
      o.batched = true;
      o.history = 3;
      o.full_budget = true;
      calls = 0;
      const auto sync = implicit::solve(f, z0, o);
      o.device_resident = true;
      calls = 0;
      const auto res = implicit::solve(f, z0, o);
      const tensor<double> zs = to<host>(sync.z), zr = to<host>(res.z);
      BOOST_TEST_CONTEXT("solver " << static_cast<int>(method) << ", NaN " << nan) {
        BOOST_TEST(calls == 16);
        BOOST_TEST(res.info.iterations == sync.info.iterations);
        BOOST_TEST(res.info.safeguard_steps == sync.info.safeguard_steps);
        if (nan) BOOST_TEST(res.info.safeguard_steps >= 2);
        BOOST_TEST((res.info.sample_converged == sync.info.sample_converged));
        BOOST_TEST_REQUIRE(res.info.residual_history.size() == sync.info.residual_history.size());
        if (method == sm::picard && !nan) {
          BOOST_TEST(nmse(zs, zr) == 0.0, "z: NMSE " << nmse(zs, zr));
          BOOST_TEST(res.info.residual_history == sync.info.residual_history,
                     boost::test_tools::per_element());
          BOOST_TEST(res.info.sample_residuals == sync.info.sample_residuals,
                     boost::test_tools::per_element());
        } else {
          BOOST_TEST(nmse(zs, zr) <= 1e-24, "z: NMSE " << nmse(zs, zr));
          for (std::size_t i = 0; i < sync.info.residual_history.size(); ++i) {
            const double a = sync.info.residual_history[i], b = res.info.residual_history[i];
            BOOST_TEST((a == b || (std::isnan(a) && std::isnan(b)) ||
                        std::abs(a - b) <= 1e-10 * a + 1e-12 * sync.info.residual_history[0]),
                       "residual " << i << ": synchronised " << a << ", resident " << b);
          }
        }
      }
    }
}

/// A batched nonlinear contraction z ↦ 0.9 tanh(z W) + c (3 samples of 200 × 16), solved by
/// Anderson with a history of 10 in space S: more history products than one residual pass takes
/// (8) and more terms than one combination pass reads (8), so the chunked passes run; 3200
/// elements per sample, so each pass spreads a sample over several blocks (their partial sums
/// added on the host).
template <class S>
deq_run long_history_solve() {
  const tensor<double> w = uniform<double>({16, 16}, 31, -0.25, 0.25);
  const tensor<double> c = uniform<double>({3, 200, 16}, 32, -1.0, 1.0);
  ad::scope sc;
  const std::vector<ad::var<double, S>> th = {ad::var<double, S>(to<S>(w), false),
                                              ad::var<double, S>(to<S>(c), false)};
  const auto f = [](const ad::var<double, S>& z, const std::vector<ad::var<double, S>>& p) {
    return ad::tanh(ad::matmul(z, p[0])) * 0.9 + p[1];
  };
  implicit::options o;
  o.solver.method = implicit::solver_method::anderson;
  o.solver.max_iter = 14;
  o.solver.full_budget = true;
  o.solver.batched = true;
  o.solver.history = 10;
  o.solver.mixing = 0.8;
  tensor<double, S> z0(shape_t{3, 200, 16});
  z0.fill_(0.0);
  const auto r = implicit::fixed_point(f, z0, th, o);
  return {to<host>(r.z.value()), r.info.residual_history, {}};
}

BOOST_AUTO_TEST_CASE(anderson_long_history_matches_host) {
  const deq_run h = long_history_solve<host>();
  const deq_run c = long_history_solve<cuda>();
  BOOST_TEST(nmse(h.z, c.z) <= 1e-20, "z: NMSE " << nmse(h.z, c.z));
  BOOST_TEST_REQUIRE(h.history.size() == c.history.size());
  for (std::size_t i = 0; i < h.history.size(); ++i)
    BOOST_TEST(
        std::abs(h.history[i] - c.history[i]) <= 1e-9 * h.history[i] + 1e-12 * h.history.front(),
        "residual " << i << ": host " << h.history[i] << ", cuda " << c.history[i]);
  BOOST_TEST(h.history.back() < 1e-3 * h.history.front());  // Anderson did converge
}

/// The fused solver passes against sums formed on the host: rows split over several blocks
/// (5000, 300000 and 4999 elements per row; 16-byte packs and single values), 11 history products
/// (two residual passes) and 11 terms (two combination passes); a batch of two pass requests (a
/// given r, no u, no x).
BOOST_AUTO_TEST_CASE(solver_kernels_match_host_sums) {
  using K = implicit::detail::solver_kernels<cuda>;
  // Rows of an even length take the 16-byte packs, 4999 the one-value kernels.
  for (const auto& [rows, n] : {std::pair<index_t, index_t>{3, 5000}, {1, 300000}, {2, 4999}}) {
    const shape_t s{rows, n};
    const tensor<double> f = uniform<double>(s, 61), x = uniform<double>(s, 62);
    std::vector<tensor<double>> g;
    std::vector<tensor<double, cuda>> gc;
    for (std::uint64_t j = 0; j < 11; ++j) {
      g.push_back(uniform<double>(s, 63 + j));
      gc.push_back(to<cuda>(g.back()));
    }
    const double beta = 0.7;
    const auto p = K::residual_pass<double>(to<cuda>(f), to<cuda>(x), beta, gc, rows, true);
    const tensor<double> r = to<host>(p.r), u = to<host>(p.u);
    BOOST_TEST_REQUIRE(p.dots.size() == static_cast<std::size_t>((2 + 11) * rows));
    for (index_t b = 0; b < rows; ++b) {
      std::vector<double> want(13, 0.0);
      for (index_t e = 0; e < n; ++e) {
        const index_t k = b * n + e;
        const double rv = f.data()[k] - x.data()[k];
        want[0] += rv * rv;
        want[1] += f.data()[k] * f.data()[k];
        for (std::size_t j = 0; j < 11; ++j) want[2 + j] += rv * g[j].data()[k];
      }
      for (std::size_t q = 0; q < 13; ++q) {
        const double got = p.dots[q * static_cast<std::size_t>(rows) + static_cast<std::size_t>(b)];
        BOOST_TEST(
            std::abs(got - want[q]) <= 1e-10 * std::sqrt(want[0] * want[1]) + 1e-12,
            "rows " << rows << ", row " << b << ", dot " << q << ": " << got << " vs " << want[q]);
      }
    }
    BOOST_TEST(nmse(f - x, r) <= 1e-30, "r: NMSE " << nmse(f - x, r));
    BOOST_TEST(nmse(x + (f - x) * beta, u) <= 1e-28, "u: NMSE " << nmse(x + (f - x) * beta, u));
    // f 8 bytes off a 16-byte boundary (a contiguous view at offset 1) takes the one-value
    // kernels: the same r and u, the same sums up to their order.
    {
      tensor<double, cuda> buf(shape_t{rows * n + 1});
      const tensor<double, cuda> fu = buf.slice(0, 1, rows * n + 1).view(s);
      fu.copy_from(to<cuda>(f));
      const auto pu = K::residual_pass<double>(fu, to<cuda>(x), beta, gc, rows, true);
      BOOST_TEST(nmse(r, to<host>(pu.r)) == 0.0);
      BOOST_TEST(nmse(u, to<host>(pu.u)) == 0.0);
      BOOST_TEST_REQUIRE(pu.dots.size() == p.dots.size());
      for (std::size_t q = 0; q < p.dots.size(); ++q)
        BOOST_TEST(std::abs(pu.dots[q] - p.dots[q]) <= 1e-12 * std::abs(p.dots[q]) + 1e-12,
                   "unaligned f, dot " << q << ": " << pu.dots[q] << " vs " << p.dots[q]);
    }
    // One batch of passes: the same request writing into a given r without u, then a request
    // without x that reads that r (f = r: ⟨r, r⟩ and ⟨r, x⟩).
    std::vector<implicit::detail::pass_request<double, cuda>> q(2);
    q[0].f = to<cuda>(f);
    q[0].x = to<cuda>(x);
    q[0].r = tensor<double, cuda>(s);
    q[0].f_norm = true;
    q[0].others = gc;
    q[1].f = q[0].r;
    q[1].others = {q[0].x};
    const auto ps = K::passes<double>(q, rows);
    BOOST_TEST_REQUIRE(ps.size() == 2u);
    BOOST_TEST(shares_storage(ps[0].r, q[0].r));
    BOOST_TEST(!ps[0].u.defined());
    BOOST_TEST(shares_storage(ps[1].r, q[0].r));
    BOOST_TEST(nmse(f - x, to<host>(ps[0].r)) <= 1e-30);
    BOOST_TEST((ps[0].dots == p.dots));  // the same kernels on the same data and grid
    BOOST_TEST_REQUIRE(ps[1].dots.size() == static_cast<std::size_t>(3 * rows));
    for (index_t b = 0; b < rows; ++b) {
      double rx = 0, xx = 0;
      for (index_t e = 0; e < n; ++e) {
        rx += r.data()[b * n + e] * x.data()[b * n + e];
        xx += x.data()[b * n + e] * x.data()[b * n + e];
      }
      const std::size_t i = static_cast<std::size_t>(b), R = static_cast<std::size_t>(rows);
      BOOST_TEST(ps[1].dots[i] == p.dots[i]);  // ⟨r, r⟩ again, from the r it wrote
      BOOST_TEST(ps[1].dots[R + i] == 0.0);    // no f_norm
      BOOST_TEST(std::abs(ps[1].dots[2 * R + i] - rx) <= 1e-10 * std::sqrt(p.dots[i] * xx) + 1e-12,
                 "row " << b << ": " << ps[1].dots[2 * R + i] << " vs " << rx);
    }
    // Σ_j coef[b · 11 + j] · g_j per row.
    std::vector<double> coef(static_cast<std::size_t>(rows) * 11);
    for (std::size_t i = 0; i < coef.size(); ++i) coef[i] = 0.1 * static_cast<double>(i % 7) - 0.3;
    const tensor<double> got = to<host>(K::combine<double>(gc, coef, rows));
    tensor<double> want(s);
    for (index_t b = 0; b < rows; ++b)
      for (index_t e = 0; e < n; ++e) {
        double a = 0;
        for (std::size_t j = 0; j < 11; ++j)
          a += coef[static_cast<std::size_t>(b) * 11 + j] * g[j].data()[b * n + e];
        want.data()[b * n + e] = a;
      }
    BOOST_TEST(nmse(want, got) <= 1e-28, "combine, rows " << rows << ": NMSE " << nmse(want, got));
  }
}

/// The result of one implicit-mode solve and reverse sweep, copied to the host.
struct ift_run {
  tensor<double> z;                   // z*
  std::vector<tensor<double>> grads;  // of Σ z*², every θ in order
  implicit::solve_result forward;     // the forward solve's report
  implicit::solve_result adjoint;     // the adjoint solve's report
  int adjoint_before = -1;            // adjoint->iterations before the sweep (0: not run yet)
};

/// Σ z*² backward through r (implicit mode), collecting the gradients of th.
template <class S>
ift_run finish_ift(const implicit::fixed_point_result<double, S>& r,
                   const std::vector<ad::var<double, S>>& th) {
  ift_run out;
  out.adjoint_before = r.adjoint ? r.adjoint->iterations : -1;
  ad::backward(ad::sum(ad::square(r.z)));
  out.z = to<host>(r.z.value());
  out.forward = r.info;
  if (r.adjoint) out.adjoint = *r.adjoint;
  for (const auto& t : th) out.grads.push_back(to<host>(t.grad()));
  return out;
}

/// FNO-DEQ block (double, batch 2, width 4, 8×8, 2 modes, 2 layers) in space S: Anderson
/// forward to convergence, implicit backward with adjoint method m on a fixed budget (tolerance
/// 0, so both spaces run the same number of VJPs).
template <class S>
ift_run deq_implicit(implicit::adjoint_method m, bool batched) {
  generator gen(21);
  sp::fourier_block<double, S> block(4, 2, 2, gen, 2, true);
  const tensor<double, S> inj = to<S>(uniform<double>({2, 4, 8, 8}, 22, -0.5, 0.5));
  ad::scope sc;
  std::vector<ad::var<double, S>> th;
  for (auto* p : block.parameters()) th.push_back((*p)());
  th.push_back(ad::var<double, S>(inj, true));
  implicit::options o;
  o.solver.method = implicit::solver_method::anderson;
  o.solver.max_iter = 40;
  o.solver.abs_tol = 0;
  o.solver.rel_tol = 1e-12;
  o.solver.batched = batched;
  o.backward.mode = implicit::backward_mode::implicit;
  o.backward.method = m;
  o.backward.max_iter = 8;
  o.backward.abs_tol = 0;
  o.backward.rel_tol = 0;
  o.backward.restart = 3;
  tensor<double, S> z0(inj.shape());
  z0.fill_(0.0);
  return finish_ift(implicit::fixed_point(deq_block<double, S>, z0, th, o), th);
}

/// z ↦ 0.9 tanh(z W) + c (3 samples of 16, W and c differentiable) in space S: Anderson
/// forward, implicit backward with adjoint method m to rel_tol 1e-10; as a root of
/// g(z) = z − 0.9 tanh(z W) − c (Picard forward, α = 0.8) when `as_root`; with
/// `default_root`, that root with root_options{} (Broyden, GMRES adjoint) but for `batched`.
template <class S>
ift_run map_implicit(implicit::adjoint_method m, bool batched, bool as_root,
                     bool default_root = false) {
  const tensor<double> w = uniform<double>({16, 16}, 31, -0.25, 0.25);
  const tensor<double> c = uniform<double>({3, 16}, 32, -1.0, 1.0);
  ad::scope sc;
  const std::vector<ad::var<double, S>> th = {ad::var<double, S>(to<S>(w), true),
                                              ad::var<double, S>(to<S>(c), true)};
  const auto f = [](const ad::var<double, S>& z, const std::vector<ad::var<double, S>>& p) {
    return ad::tanh(ad::matmul(z, p[0])) * 0.9 + p[1];
  };
  implicit::backward_options bo;
  bo.mode = implicit::backward_mode::implicit;
  bo.method = m;
  bo.max_iter = 60;
  bo.abs_tol = 0;
  bo.rel_tol = 1e-10;
  tensor<double, S> z0(shape_t{3, 16});
  z0.fill_(0.0);
  const auto g = [&f](const ad::var<double, S>& z, const std::vector<ad::var<double, S>>& p) {
    return z - f(z, p);
  };
  if (default_root) {
    implicit::root_options o;
    o.solver.batched = batched;
    return finish_ift(implicit::root(g, z0, th, o), th);
  }
  if (as_root) {
    implicit::root_options o;
    o.solver.method = implicit::solver_method::picard;
    o.solver.max_iter = 200;
    o.solver.abs_tol = 0;
    o.solver.rel_tol = 1e-13;
    o.solver.batched = batched;
    o.backward = bo;
    o.alpha = 0.8;
    return finish_ift(implicit::root(g, z0, th, o), th);
  }
  implicit::options o;
  o.solver.method = implicit::solver_method::anderson;
  o.solver.max_iter = 60;
  o.solver.rel_tol = 1e-13;
  o.solver.batched = batched;
  o.backward = bo;
  return finish_ift(implicit::fixed_point(f, z0, th, o), th);
}

/// A host run against a cuda run of the same implicit-mode solve: z*, every gradient, and the
/// adjoint report (VJP count, per-iteration residuals, per-sample residuals and verdicts).
void expect_same_ift(const ift_run& h, const ift_run& c, double grad_tol) {
  BOOST_TEST(h.adjoint_before == 0);  // the report exists before the sweep, not run yet
  BOOST_TEST(c.adjoint_before == 0);
  BOOST_TEST(nmse(h.z, c.z) <= 1e-20, "z: NMSE " << nmse(h.z, c.z));
  BOOST_TEST_REQUIRE(h.grads.size() == c.grads.size());
  for (std::size_t i = 0; i < h.grads.size(); ++i)
    BOOST_TEST(nmse(h.grads[i], c.grads[i]) <= grad_tol,
               "gradient " << i << ": NMSE " << nmse(h.grads[i], c.grads[i]));
  const implicit::solve_result &a = h.adjoint, &b = c.adjoint;
  BOOST_TEST(a.iterations > 0);
  BOOST_TEST(a.iterations == b.iterations);
  BOOST_TEST(a.converged == b.converged);
  BOOST_TEST(std::abs(a.residual - b.residual) <= 1e-6 * a.residual + 1e-9 * a.residual_history[0],
             "adjoint residual: host " << a.residual << ", cuda " << b.residual);
  BOOST_TEST_REQUIRE(a.residual_history.size() == b.residual_history.size());
  for (std::size_t i = 0; i < a.residual_history.size(); ++i)
    BOOST_TEST(std::abs(a.residual_history[i] - b.residual_history[i]) <=
                   1e-6 * a.residual_history[i] + 1e-9 * a.residual_history[0],
               "adjoint residual " << i << ": host " << a.residual_history[i] << ", cuda "
                                   << b.residual_history[i]);
  BOOST_TEST(a.sample_residuals.size() == b.sample_residuals.size());
  BOOST_TEST((a.sample_converged == b.sample_converged));
}

BOOST_AUTO_TEST_CASE(fno_deq_implicit_gradients_match_host) {
  // Every adjoint method on a fixed budget (Anderson per sample and for the whole batch).
  using am = implicit::adjoint_method;
  for (const auto& [m, batched] : {std::pair{am::picard, true}, std::pair{am::anderson, false},
                                   std::pair{am::anderson, true}, std::pair{am::gmres, false}}) {
    BOOST_TEST_CONTEXT("adjoint " << static_cast<int>(m) << ", batched " << batched) {
      expect_same_ift(deq_implicit<host>(m, batched), deq_implicit<cuda>(m, batched), 1e-12);
    }
  }
}

BOOST_AUTO_TEST_CASE(contractive_map_implicit_gradients_match_host) {
  // The adjoints converge (rel_tol 1e-10), so the three methods also agree with each other.
  using am = implicit::adjoint_method;
  for (const bool as_root : {false, true}) {
    const ift_run ref = map_implicit<host>(am::gmres, false, as_root);
    for (const auto& [m, batched] : {std::pair{am::picard, true}, std::pair{am::anderson, true},
                                     std::pair{am::gmres, false}}) {
      BOOST_TEST_CONTEXT((as_root ? "root" : "fixed_point")
                         << ", adjoint " << static_cast<int>(m) << ", batched " << batched) {
        const ift_run h = map_implicit<host>(m, batched, as_root);
        const ift_run c = map_implicit<cuda>(m, batched, as_root);
        expect_same_ift(h, c, 1e-20);
        BOOST_TEST(c.adjoint.converged);
        for (std::size_t i = 0; i < ref.grads.size(); ++i)
          BOOST_TEST(nmse(ref.grads[i], c.grads[i]) <= 1e-16,
                     "gradient " << i << " against GMRES on the host: NMSE "
                                 << nmse(ref.grads[i], c.grads[i]));
      }
    }
  }
}

/// The maps of the values-only solves below (implicit::solve on plain tensors of space S).
enum class values_map {
  linear,   // z ↦ z A + b, A symmetric with eigenvalues in [−0.5, 0.9]: z* = b (I − A)⁻¹
  tanh,     // z ↦ 0.9 tanh(z W) + c on (3, 200, 16): 3200 elements per sample
  cubic,    // z ↦ z − (z³ − 27): a first step that explodes (the restart safeguard)
  nan_row,  // z ↦ 0.5 z + 1, whose third evaluation is NaN on sample 1 of 2
};

/// A and b (3 × 12) of values_map::linear and its solution, built on the host: A = Q D Q with
/// Q = I − 2 v vᵀ / ‖v‖² (a reflection), so (I − A)⁻¹ = Q (I − D)⁻¹ Q.
struct linear_problem {
  static constexpr index_t n = 12;
  tensor<double> A{shape_t{n, n}}, b = uniform<double>({3, n}, 71, -1.0, 1.0), zstar{shape_t{3, n}};
  linear_problem() {
    const tensor<double> v = uniform<double>({n}, 72, -1.0, 1.0);
    double vv = 0;
    for (index_t i = 0; i < n; ++i) vv += v.data()[i] * v.data()[i];
    std::vector<double> Q(static_cast<std::size_t>(n * n)), d(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
      d[static_cast<std::size_t>(i)] = 0.9 - 1.4 * double(i) / double(n - 1);
      for (index_t j = 0; j < n; ++j)
        Q[static_cast<std::size_t>(i * n + j)] = (i == j) - 2 * v.data()[i] * v.data()[j] / vv;
    }
    // M = Q diag(w) Q for w = d (A) and w = 1 / (1 − d) ((I − A)⁻¹).
    const auto sandwich = [&](auto w) {
      std::vector<double> M(static_cast<std::size_t>(n * n), 0.0);
      for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < n; ++j)
          for (index_t k = 0; k < n; ++k)
            M[static_cast<std::size_t>(i * n + j)] += Q[static_cast<std::size_t>(i * n + k)] *
                                                      w(k) * Q[static_cast<std::size_t>(k * n + j)];
      return M;
    };
    const std::vector<double> a = sandwich([&](index_t k) { return d[std::size_t(k)]; });
    const std::vector<double> inv =
        sandwich([&](index_t k) { return 1 / (1 - d[std::size_t(k)]); });
    std::copy(a.begin(), a.end(), A.data());
    for (index_t r = 0; r < 3; ++r)
      for (index_t j = 0; j < n; ++j) {
        double acc = 0;
        for (index_t k = 0; k < n; ++k) acc += b.data()[r * n + k] * inv[std::size_t(k * n + j)];
        zstar.data()[r * n + j] = acc;
      }
  }
};

/// The maps given to implicit::solve: one callable type per space, so every values-only solve
/// here shares one instantiation of the solver loop (nvcc time).
template <class S>
using values_fn = std::function<tensor<double, S>(const tensor<double, S>&)>;

/// A values-only solve's result, copied to the host.
struct values_run {
  tensor<double> z;
  implicit::solve_result info;
};

/// implicit::solve of map m from z0 in space S.
template <class S>
values_run values_solve(values_map m, const tensor<double>& z0, const implicit::solver_options& o) {
  const linear_problem lp;
  const tensor<double, S> A = to<S>(lp.A), b = to<S>(lp.b);
  const tensor<double, S> W = to<S>(uniform<double>({16, 16}, 31, -0.25, 0.25));
  const tensor<double, S> c = to<S>(uniform<double>({3, 200, 16}, 32, -1.0, 1.0));
  tensor<double> mask_h(shape_t{2, 5});  // 1 on sample 0, NaN on sample 1
  for (index_t i = 0; i < 10; ++i)
    mask_h.data()[i] = i < 5 ? 1.0 : std::numeric_limits<double>::quiet_NaN();
  const tensor<double, S> mask = to<S>(mask_h);
  int calls = 0;
  const values_fn<S> f = [&](const tensor<double, S>& z) -> tensor<double, S> {
    switch (m) {
      case values_map::linear:
        return matmul(z, A) + b;
      case values_map::tanh:
        return tanh(matmul(z, W)) * 0.9 + c;
      case values_map::cubic:
        return z - (z * z * z - 27.0);
      case values_map::nan_row:
        break;
    }
    const tensor<double, S> fz = z * 0.5 + 1.0;
    return ++calls == 3 ? fz * mask : fz;
  };
  const implicit::solution<double, S> sol = implicit::solve(f, to<S>(z0), o);
  return {to<host>(sol.z), sol.info};
}

/// A host solve against a cuda solve of the same problem: the returned iterate, the iteration
/// count (equal, or off by one where rounding moves a residual across the tolerance), the
/// residual history on the common iterations (relative, with a floor relative to the first
/// residual: a converged residual is a difference of O(1) values whose last digits follow the
/// summation order, and Broyden's secant pairs carry that rounding on), the per-sample verdicts,
/// and the safeguard count (within 2 when batched: the solve steps on samples that have
/// converged, whose secant pairs are rounding, and whether such an update is skipped follows
/// the summation order).
void expect_same_solve(const values_run& h, const values_run& c, double z_tol, bool batched) {
  const implicit::solve_result &a = h.info, &b = c.info;
  BOOST_TEST(nmse(h.z, c.z) <= z_tol, "z: NMSE " << nmse(h.z, c.z));
  BOOST_TEST(std::abs(a.iterations - b.iterations) <= 1,
             "iterations: host " << a.iterations << ", cuda " << b.iterations);
  BOOST_TEST(a.converged == b.converged);
  BOOST_TEST((a.sample_converged == b.sample_converged));
  BOOST_TEST_REQUIRE(a.sample_residuals.size() == b.sample_residuals.size());
  const std::size_t common = std::min(a.residual_history.size(), b.residual_history.size());
  for (std::size_t i = 0; i < common; ++i) {
    const double x = a.residual_history[i], y = b.residual_history[i];
    BOOST_TEST((x == y || (!std::isfinite(x) && !std::isfinite(y)) ||
                std::abs(x - y) <= 1e-8 * x + 1e-11 * a.residual_history[0]),
               "residual " << i << ": host " << x << ", cuda " << y);
  }
  const int slack = (batched ? 2 : 0) + (a.iterations == b.iterations ? 0 : 1);
  BOOST_TEST(std::abs(a.safeguard_steps - b.safeguard_steps) <= slack,
             "safeguard steps: host " << a.safeguard_steps << ", cuda " << b.safeguard_steps);
}

BOOST_AUTO_TEST_CASE(broyden_values_solves_match_host) {
  // implicit::solve with Broyden (and one Anderson and Picard solve) in both spaces: per-sample
  // and whole-batch coefficients, memories of 4 and 10 below the iteration count (~35), the
  // memory and the 3200-element samples above what one pass reads (8 products, 8 terms,
  // several blocks per sample), the restart safeguard (a whole solve, and one sample of two)
  // and a NaN evaluation on one sample.
  using sm = implicit::solver_method;
  struct spec {
    const char* name;
    values_map map;
    tensor<double> z0;
    implicit::solver_options o;
  };
  const auto opts = [](sm method, bool batched, int memory, double abs_tol, double rel_tol) {
    implicit::solver_options o;
    o.method = method;
    o.max_iter = 100;
    o.abs_tol = abs_tol;
    o.rel_tol = rel_tol;
    o.batched = batched;
    o.broyden_memory = memory;
    return o;
  };
  const tensor<double> zeros12 = zeros<double>({3, 12});
  const tensor<double> zeros_tanh = zeros<double>({3, 200, 16});
  implicit::solver_options restart = opts(sm::broyden, false, 30, 1e-10, 0);
  restart.broyden_restart = 10;
  implicit::solver_options restart_batched = restart;
  restart_batched.batched = true;
  const std::vector<spec> specs = {
      {"linear", values_map::linear, zeros12, opts(sm::broyden, false, 30, 0, 1e-12)},
      {"linear batched", values_map::linear, zeros12, opts(sm::broyden, true, 30, 0, 1e-12)},
      {"tanh batched, memory 10", values_map::tanh, zeros_tanh,
       opts(sm::broyden, true, 10, 0, 1e-12)},
      {"tanh, memory 4", values_map::tanh, zeros_tanh, opts(sm::broyden, false, 4, 0, 1e-12)},
      {"cubic restart", values_map::cubic, ones<double>({1}), restart},
      {"cubic restart, one sample of two", values_map::cubic,
       from_vector<double>({1.0, 3.1}, {2, 1}), restart_batched},
      {"NaN on one sample", values_map::nan_row, zeros<double>({2, 5}),
       opts(sm::broyden, true, 30, 1e-12, 0)},
      {"anderson", values_map::linear, zeros12, opts(sm::anderson, true, 30, 0, 1e-12)},
      {"picard", values_map::tanh, zeros_tanh, opts(sm::picard, false, 30, 0, 1e-10)},
  };
  const linear_problem lp;
  for (const spec& sp : specs) {
    BOOST_TEST_CONTEXT(sp.name) {
      const values_run h = values_solve<host>(sp.map, sp.z0, sp.o);
      const values_run c = values_solve<cuda>(sp.map, sp.z0, sp.o);
      expect_same_solve(h, c, 1e-20, sp.o.batched);
      BOOST_TEST(h.info.converged);
      BOOST_TEST(c.info.converged);
      if (sp.map == values_map::linear)
        BOOST_TEST(nmse(lp.zstar, c.z) <= 1e-20, "against (I − A)⁻¹ b: " << nmse(lp.zstar, c.z));
      if (sp.map == values_map::cubic)
        for (double z : c.z.to_vector()) BOOST_TEST(std::abs(z - 3.0) <= 1e-11);
      if (sp.map == values_map::nan_row) {
        BOOST_TEST(!std::isfinite(c.info.residual_history[2]));
        for (double z : c.z.to_vector()) BOOST_TEST(std::abs(z - 2.0) <= 1e-11);
      }
      if (sp.o.method == sm::broyden) {  // the safeguard cases do exercise it, the others not
        const bool safeguards = sp.map == values_map::cubic || sp.map == values_map::nan_row;
        BOOST_TEST((h.info.safeguard_steps > 0) == safeguards,
                   "host safeguard steps " << h.info.safeguard_steps);
      }
      if (sp.o.broyden_memory < 30 && sp.o.method == sm::broyden)  // the memory did wrap
        BOOST_TEST(c.info.iterations > sp.o.broyden_memory + 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(default_root_gradients_match_host) {
  // implicit::root with root_options{}: Broyden forward, implicit backward by GMRES, per sample
  // and for the whole batch; the forward report and gradients against the host.
  using am = implicit::adjoint_method;
  for (const bool batched : {false, true}) {
    BOOST_TEST_CONTEXT("batched " << batched) {
      const ift_run h = map_implicit<host>(am::gmres, batched, true, true);
      const ift_run c = map_implicit<cuda>(am::gmres, batched, true, true);
      expect_same_ift(h, c, 1e-20);
      expect_same_solve({h.z, h.forward}, {c.z, c.forward}, 1e-20, batched);
      BOOST_TEST(c.forward.converged);
      BOOST_TEST(c.adjoint.converged);
    }
  }
}

/// What f throws, or "" when nothing is thrown.
template <class F>
std::string thrown_by(F&& f) {
  try {
    f();
  } catch (const invalid_argument& e) {
    return e.what();
  }
  return "";
}

BOOST_AUTO_TEST_CASE(solve_errors_on_cuda_match_host) {
  // implicit::solve and fixed_point validate cuda tensors as the host ones: the same messages.
  tensor<double> bad = uniform<double>({2, 3}, 1);
  bad.data()[4] = std::numeric_limits<double>::infinity();
  const tensor<double, cuda> bad_c = to<cuda>(bad);
  const values_fn<host> same = [](const tensor<double>& z) { return z; };
  const values_fn<cuda> same_c = [](const tensor<double, cuda>& z) { return z; };
  const std::string nonfinite = thrown_by([&] { implicit::solve(same, bad); });
  BOOST_TEST(nonfinite.find("flat index 4") != std::string::npos, nonfinite);
  BOOST_TEST(thrown_by([&] { implicit::solve(same_c, bad_c); }) == nonfinite);
  const values_fn<host> wide = [](const tensor<double>& z) { return z.reshape(shape_t{6}); };
  const values_fn<cuda> wide_c = [](const tensor<double, cuda>& z) {
    return z.reshape(shape_t{6});
  };
  const tensor<double> z0 = uniform<double>({2, 3}, 2);
  const std::string shape = thrown_by([&] { implicit::solve(wide, z0); });
  BOOST_TEST(shape.find("f returned shape (6)") != std::string::npos, shape);
  BOOST_TEST(thrown_by([&] { implicit::solve(wide_c, to<cuda>(z0)); }) == shape);
  implicit::solver_options o;
  o.broyden_memory = 0;
  const std::string memory = thrown_by([&] { implicit::solve(same, z0, o); });
  BOOST_TEST(memory.find("broyden_memory = 0") != std::string::npos, memory);
  BOOST_TEST(thrown_by([&] { implicit::solve(same_c, to<cuda>(z0), o); }) == memory);
  ad::scope sc;
  const std::vector<ad::var<double, cuda>> th = {ad::var<double, cuda>(to<cuda>(z0), true)};
  const auto g = [](const ad::var<double, cuda>& z, const std::vector<ad::var<double, cuda>>& p) {
    return z * 0.5 + p[0];
  };
  BOOST_TEST(thrown_by([&] { implicit::root(g, bad_c, th); }).find("flat index 4") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
