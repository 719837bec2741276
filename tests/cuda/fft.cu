// SPDX-License-Identifier: Apache-2.0
// The spectral FFTs on cuda (cuFFT) against the host's Stockham engine: every transform of
// spectral/fft.hpp in 1, 2 and 3 dimensions (odd and even lengths, axes that are not the
// trailing ones, strided and misaligned inputs, crop/pad of irfft, spectra whose DC/Nyquist
// parts are not Hermitian, more than three axes), round trips, the same error messages, the
// plan cache, an owned stream, a captured graph, the tape's gradients through rfft2/irfft2,
// spectral_conv1d/2d with method fft on cuda against the host's truncated DFT, and the fused
// truncated-DFT kernels of spectral_conv2d against the host and cuBLAS. Float, with a few
// double cases (compile time: every case instantiates both spaces).
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "backend_support.hpp"
#include "tessera/cuda/spectral.cuh"

namespace tessera::test {
namespace {

namespace sp = tessera::spectral;

// Transforms summed in another order than the host's (cuFFT's kernels vs the Stockham
// passes): rounding of order ε·log n per element, NMSE ~ (1e-6)² in float; a wrong bin or
// scale gives NMSE > 1e-3.
const tolerance fft_tol{1e-10, 1e-24};

BOOST_AUTO_TEST_SUITE(cuda_fft)

BOOST_AUTO_TEST_CASE(transforms_match_host) {
  // Complex inputs (..., 2), real inputs, and half spectra with arbitrary (non-Hermitian)
  // DC/Nyquist parts.
  const tensor<float> c15 = uniform<float>({3, 15, 2}, 1), c16 = uniform<float>({2, 16, 2}, 2);
  const tensor<float> c3d = uniform<float>({3, 4, 5, 2}, 3), c695 = uniform<float>({2, 6, 9, 2}, 4);
  const tensor<float> r15 = uniform<float>({4, 15}, 5), r16 = uniform<float>({3, 16}, 6);
  const tensor<float> r2d = uniform<float>({2, 3, 10, 7}, 7), r3d = uniform<float>({3, 4, 5}, 8);
  const tensor<float> h5 = uniform<float>({3, 5, 2}, 9), h2d = uniform<float>({2, 6, 5, 2}, 10);
  const tensor<float> c4 = uniform<float>({2, 3, 2, 3, 2}, 11),
                      r4 = uniform<float>({2, 3, 2, 5}, 12);
  const tensor<float> flat = uniform<float>({2 * 4 * 5 * 2 + 1}, 13);
  const auto run = [&](const std::string& name, const std::vector<tensor<float>>& in,
                       const auto& body) { check_op<float>(name, in, fft_tol, body); };
  run("fft odd", {c15}, [](const auto& v) { return sp::fft(v[0]); });
  run("fft even", {c16}, [](const auto& v) { return sp::fft(v[0]); });
  run("ifft odd", {c15}, [](const auto& v) { return sp::ifft(v[0]); });
  run("fft axis 0", {c3d}, [](const auto& v) { return sp::fft(v[0], 0); });
  run("ifft axis -2", {c3d}, [](const auto& v) { return sp::ifft(v[0], -2); });
  run("fft of a transposed view", {c3d},
      [](const auto& v) { return sp::fft(v[0].transpose(0, 1), 1); });
  run("fft of a misaligned view", {flat}, [](const auto& v) {
    return sp::fft(v[0].slice(0, 1, v[0].numel()).view(shape_t{2, 4, 5, 2}), 1);
  });
  run("fft of an empty batch", {uniform<float>({0, 4, 2}, 14)},
      [](const auto& v) { return sp::fft(v[0]); });
  run("rfft odd", {r15}, [](const auto& v) { return sp::rfft(v[0]); });
  run("rfft even", {r16}, [](const auto& v) { return sp::rfft(v[0]); });
  run("rfft axis 0", {r15}, [](const auto& v) { return sp::rfft(v[0], 0); });
  run("rfft of length 1", {uniform<float>({3, 1}, 15)},
      [](const auto& v) { return sp::rfft(v[0]); });
  run("irfft default n", {h5}, [](const auto& v) { return sp::irfft(v[0]); });
  run("irfft odd n", {h5}, [](const auto& v) { return sp::irfft(v[0], -1, 9); });
  run("irfft crop", {h5}, [](const auto& v) { return sp::irfft(v[0], -1, 6); });
  run("irfft pad", {h5}, [](const auto& v) { return sp::irfft(v[0], -1, 13); });
  run("irfft n = 1", {h5}, [](const auto& v) { return sp::irfft(v[0], -1, 1); });
  run("irfft axis 0", {h2d}, [](const auto& v) { return sp::irfft(v[0], 0, 7); });
  run("fft2", {c695}, [](const auto& v) { return sp::fft2(v[0]); });
  run("ifft2", {c695}, [](const auto& v) { return sp::ifft2(v[0]); });
  run("rfft2 odd W", {r2d}, [](const auto& v) { return sp::rfft2(v[0]); });
  run("irfft2 of rfft2", {r2d}, [](const auto& v) {
    return sp::irfft2(sp::rfft2(v[0]), shape_t{10, 7});
  });
  run("irfft2 non-Hermitian edges, even W", {h2d}, [](const auto& v) { return sp::irfft2(v[0]); });
  run("irfft2 non-Hermitian edges, odd W", {h2d}, [](const auto& v) {
    return sp::irfft2(v[0], shape_t{6, 9});
  });
  run("fftn 3-d", {c3d}, [](const auto& v) { return sp::fftn(v[0]); });
  run("ifftn 3-d", {c3d}, [](const auto& v) { return sp::ifftn(v[0]); });
  run("fftn axes (2, 0)", {c3d}, [](const auto& v) { return sp::fftn(v[0], shape_t{2, 0}); });
  run("rfftn 3-d", {r3d}, [](const auto& v) { return sp::rfftn(v[0]); });
  run("irfftn 3-d", {c3d}, [](const auto& v) {
    return sp::irfftn(v[0], shape_t{}, shape_t{3, 4, 9});
  });
  run("rfftn axes (2, 0)", {r3d}, [](const auto& v) { return sp::rfftn(v[0], shape_t{2, 0}); });
  run("irfftn axes (0, 1)", {c3d}, [](const auto& v) { return sp::irfftn(v[0], shape_t{0, 1}); });
  run("fftn 4 axes", {c4}, [](const auto& v) { return sp::fftn(v[0]); });
  run("rfftn 4 axes", {r4}, [](const auto& v) { return sp::rfftn(v[0]); });
  run("irfftn 4 axes", {c4}, [](const auto& v) {
    return sp::irfftn(v[0], shape_t{}, shape_t{2, 3, 2, 5});
  });
  // double: the 2-d real pair and a 3-d complex transform.
  const tensor<double> d2 = uniform<double>({2, 9, 8}, 16), d3 = uniform<double>({3, 5, 4, 2}, 17);
  const tensor<double> dh = uniform<double>({2, 9, 5, 2}, 18);
  check_op<double>("rfft2 (double)", {d2}, fft_tol, [](const auto& v) { return sp::rfft2(v[0]); });
  check_op<double>("irfft2 (double)", {dh}, fft_tol, [](const auto& v) {
    return sp::irfft2(v[0], shape_t{9, 8});
  });
  check_op<double>("fftn 3-d (double)", {d3}, fft_tol,
                   [](const auto& v) { return sp::fftn(v[0]); });
}

BOOST_AUTO_TEST_CASE(round_trips_on_cuda) {
  const tensor<float> x = uniform<float>({4, 3, 94, 94}, 20);
  const tensor<float, cuda> xc = to<cuda>(x);
  const tensor<float> back = to<host>(sp::irfft2(sp::rfft2(xc), shape_t{94, 94}));
  BOOST_TEST(nmse(x, back) <= 1e-12, "irfft2∘rfft2 NMSE " << nmse(x, back));
  const tensor<float, cuda> z = to<cuda>(uniform<float>({2, 7, 6, 5, 2}, 21));
  const tensor<float> zb = to<host>(sp::ifftn(sp::fftn(z)));
  BOOST_TEST(nmse(to<host>(z), zb) <= 1e-12, "ifftn∘fftn NMSE " << nmse(to<host>(z), zb));
  const tensor<float> r = uniform<float>({5, 33}, 22);
  const tensor<float> rb = to<host>(sp::irfft(sp::rfft(to<cuda>(r)), -1, 33));
  BOOST_TEST(nmse(r, rb) <= 1e-12, "irfft∘rfft odd NMSE " << nmse(r, rb));
}

BOOST_AUTO_TEST_CASE(errors_read_as_on_the_host) {
  const auto message = [](const auto& f) -> std::string {
    try {
      f();
    } catch (const invalid_argument& e) {
      return e.what();
    }
    return "(no exception)";
  };
  const tensor<float> real3 = uniform<float>({4, 3}, 30), cplx = uniform<float>({4, 2}, 31);
  const tensor<float> r44 = uniform<float>({4, 4}, 32), h = uniform<float>({2, 3, 2}, 33);
  const auto both = [&](const char* what, const auto& f) {
    const std::string mh = message([&] { f(host{}); }), mc = message([&] { f(cuda{}); });
    BOOST_TEST(mh != "(no exception)", what);
    BOOST_TEST(mh == mc, what << ": host \"" << mh << "\", cuda \"" << mc << "\"");
  };
  both("fft of a real tensor", [&]<class S>(S) { (void)sp::fft(to<S>(real3)); });
  both("fft axis out of range", [&]<class S>(S) { (void)sp::fft(to<S>(cplx), 1); });
  both("rfft of an empty axis", [&]<class S>(S) { (void)sp::rfft(to<S>(r44.slice(1, 0, 0))); });
  both("irfft n = 0", [&]<class S>(S) { (void)sp::irfft(to<S>(h.slice(1, 0, 1))); });
  both("rfftn repeated axes", [&]<class S>(S) { (void)sp::rfftn(to<S>(r44), shape_t{1, -1}); });
  both("irfftn resizing a complex axis", [&]<class S>(S) {
    (void)sp::irfftn(to<S>(h), shape_t{}, shape_t{3, 4});
  });
}

BOOST_AUTO_TEST_CASE(plans_streams_and_graphs) {
  // A plan is made once per (lengths, type, batch) and thread.
  const tensor<float, cuda> x = to<cuda>(uniform<float>({3, 2, 12, 10}, 40));
  const tensor<float> ref = sp::rfft2(to<host>(x));
  const tensor<float> a = to<host>(sp::rfft2(x));
  const std::size_t plans = sp::detail::cufft_plans::of_thread().size();
  const tensor<float> b = to<host>(sp::rfft2(x));
  BOOST_TEST(sp::detail::cufft_plans::of_thread().size() == plans);
  BOOST_TEST(nmse(a, b) == 0.0);
  BOOST_TEST(nmse(ref, a) <= fft_tol.f32);
  // On a non-blocking stream.
  cuda_rt::stream s;
  {
    const cuda_rt::stream_guard g(s.get());
    const tensor<float> c = to<host>(sp::irfft2(sp::rfft2(x), shape_t{12, 10}));
    BOOST_TEST(nmse(to<host>(x), c) <= 1e-12);
  }
  // Captured after a first run (plans exist): replays recompute into the same output.
  const tensor<float, cuda> out(x.shape());
  const tensor<float, cuda> in = x.clone();
  cuda_rt::graph g([&] { out.copy_from(sp::irfft2(sp::rfft2(in) * 2.0f, shape_t{12, 10})); });
  g.replay();
  BOOST_TEST(nmse(to<host>(x) * 2.0f, to<host>(out)) <= 1e-12);
  in.copy_from(x * 3.0f);
  g.replay();
  BOOST_TEST(nmse(to<host>(x) * 6.0f, to<host>(out)) <= 1e-12);
  // Filling the cache past its capacity evicts plans (each after its own last use), but not
  // the ones the graph holds: the graph still replays correctly.
  using plans_t = sp::detail::cufft_plans;
  for (index_t len = 2; len < 6 + static_cast<index_t>(plans_t::capacity); ++len) {
    const tensor<float> v = uniform<float>({2, len}, 42);
    BOOST_TEST(nmse(sp::rfft(v), to<host>(sp::rfft(to<cuda>(v)))) <= fft_tol.f32, "length " << len);
  }
  BOOST_TEST(plans_t::of_thread().size() >= plans_t::capacity);
  BOOST_TEST(plans_t::of_thread().size() <= plans_t::capacity + 4);
  in.copy_from(x);
  g.replay();
  BOOST_TEST(nmse(to<host>(x) * 2.0f, to<host>(out)) <= 1e-12);
  // A new plan cannot be made under capture: a tessera error, not a cuFFT failure.
  const tensor<float, cuda> y = to<cuda>(uniform<float>({5, 13}, 41));
  BOOST_CHECK_THROW(cuda_rt::graph([&] { (void)sp::rfft(y); }), invalid_argument);
}

/// The tape's gradient of <gy, irfft2(rfft2(x) ⊙ k)> with respect to x and of
/// <gy, irfft2(X)> with respect to an arbitrary half spectrum X, computed in space S.
template <class S>
std::vector<tensor<float>> fft_tape_grads(const std::vector<tensor<float>>& v) {
  ad::scope sc;
  ad::var<float, S> x(to<S>(v[0]), true), X(to<S>(v[1]), true);
  const ad::var<float, S> k = ad::constant(to<S>(v[2]));
  const ad::var<float, S> y = sp::irfft2(sp::rfft2(x) * k, shape_t{10, 9});
  const ad::var<float, S> z = sp::irfft2(X, shape_t{10, 9});
  ad::backward(ad::sum(y * ad::constant(to<S>(v[3]))) + ad::sum(ad::square(z)));
  return {to<host>(x.grad()), to<host>(X.grad())};
}

BOOST_AUTO_TEST_CASE(tape_gradients_match_host) {
  const std::vector<tensor<float>> in = {
      uniform<float>({2, 3, 10, 9}, 50), uniform<float>({2, 3, 10, 5, 2}, 51),
      uniform<float>({10, 5, 2}, 52), uniform<float>({2, 3, 10, 9}, 53)};
  const std::vector<tensor<float>> h = fft_tape_grads<host>(in), c = fft_tape_grads<cuda>(in);
  for (int i = 0; i < 2; ++i)
    BOOST_TEST(nmse(h[i], c[i]) <= fft_tol.f32, (i == 0 ? "x̄" : "X̄")
                                                    << " NMSE " << nmse(h[i], c[i]));
}

BOOST_AUTO_TEST_CASE(spectral_conv_fft_on_cuda_matches_host_truncated_dft) {
  // The FFT method on cuda against the host's default method: forward and the tape's
  // gradients {x̄, w̄1, w̄2} (odd W, H > 2·m1), and spectral_conv1d.
  const tensor<float> x = uniform<float>({2, 3, 10, 9}, 60), gy = uniform<float>({2, 4, 10, 9}, 61);
  generator gen(62);
  const tensor<float> w1 = sp::spectral_weights<float>({3, 4, 3, 4, 2}, gen);
  const tensor<float> w2 = sp::spectral_weights<float>({3, 4, 3, 4, 2}, gen);
  const auto run = [&]<class S>(S, sp::spectral_method method) {
    ad::scope sc;
    ad::var<float, S> xv(to<S>(x), true), a(to<S>(w1), true), b(to<S>(w2), true);
    const ad::var<float, S> y = sp::spectral_conv2d(xv, a, b, method);
    ad::backward(y, to<S>(gy));
    return std::vector<tensor<float>>{to<host>(y.value()), to<host>(xv.grad()), to<host>(a.grad()),
                                      to<host>(b.grad())};
  };
  const auto h = run(host{}, sp::spectral_method::truncated_dft);
  const auto c = run(cuda{}, sp::spectral_method::fft);
  const char* names[] = {"y", "x̄", "w̄1", "w̄2"};
  for (int i = 0; i < 4; ++i)
    BOOST_TEST(nmse(h[i], c[i]) <= fft_tol.f32,
               "spectral_conv2d fft " << names[i] << " NMSE " << nmse(h[i], c[i]));
  const tensor<float> plain = to<host>(
      sp::spectral_conv2d(to<cuda>(x), to<cuda>(w1), to<cuda>(w2), sp::spectral_method::fft));
  BOOST_TEST(nmse(h[0], plain) <= fft_tol.f32);
  const tensor<float> x1 = uniform<float>({3, 2, 15}, 63), w = uniform<float>({2, 4, 6, 2}, 64);
  const tensor<float> y1 = sp::spectral_conv1d(x1, w);
  const tensor<float> c1 =
      to<host>(sp::spectral_conv1d(to<cuda>(x1), to<cuda>(w), sp::spectral_method::fft));
  BOOST_TEST(nmse(y1, c1) <= fft_tol.f32, "spectral_conv1d fft NMSE " << nmse(y1, c1));
}

BOOST_AUTO_TEST_CASE(spectral_conv2d_fused_dft_kernels_match_host) {
  // The fused truncated-DFT kernels (spectral/dft_blocks.hpp; the default method on cuda tensors
  // whose shape fits them) against the same method by cuBLAS GEMMs on cuda and against the
  // host: the FNO-DEQ layer (94×94, 12×12 modes, float), odd sizes, the Nyquist column, W = 2,
  // a permuted (non-contiguous) input, double, and a double grid too large for the kernels
  // (the GEMM fallback); also spectral_conv2d_linear_gelu (the GELU epilogue, L folded in).
  struct c {
    index_t B, Ci, Co, H, W, m1, m2;
  };
  const auto run = [&]<class T>(T, const c& s, bool permuted, bool fits) {
    const std::string what = std::to_string(s.H) + "×" + std::to_string(s.W) + " modes " +
                             std::to_string(s.m1) + "×" + std::to_string(s.m2) +
                             (sizeof(T) == 8 ? " double" : " float") +
                             (permuted ? " permuted" : "");
    BOOST_TEST(sp::detail::space_backend<cuda>::tdft2_fits<T>(s.H, s.W, s.m1, s.m2) == fits, what);
    const tensor<T> x0 = uniform<T>({s.B, s.Ci, permuted ? s.W : s.H, permuted ? s.H : s.W}, 70);
    const tensor<T> x = permuted ? x0.permute({0, 1, 3, 2}) : x0;
    generator gen(71);
    const tensor<T> w1 = sp::spectral_weights<T>({s.Ci, s.Co, s.m1, s.m2, 2}, gen);
    const tensor<T> w2 = sp::spectral_weights<T>({s.Ci, s.Co, s.m1, s.m2, 2}, gen);
    const tensor<T> h = sp::spectral_conv2d(x.contiguous(), w1, w2);
    const tensor<T, cuda> xc = permuted ? to<cuda>(x0).permute({0, 1, 3, 2}) : to<cuda>(x);
    const tensor<T> fused = to<host>(sp::spectral_conv2d(xc, to<cuda>(w1), to<cuda>(w2)));
    const tensor<T> gemm = to<host>(sp::spectral_conv2d(xc, to<cuda>(w1), to<cuda>(w2),
                                                        sp::spectral_method::truncated_dft_gemm));
    BOOST_TEST(nmse(h, fused) <= fft_tol.of<T>(), what << " fused NMSE " << nmse(h, fused));
    BOOST_TEST(nmse(h, gemm) <= fft_tol.of<T>(), what << " GEMM NMSE " << nmse(h, gemm));
    if (fits) {
      // The forward kernel alone against the GEMM path's modes (the same layout: the W-axis
      // GEMM, the H-axis GEMM, the permute to modes first), so that a failure shows which
      // kernel it is in; and blocks that take several slices each (3 and 2 blocks: the slice
      // loop's barriers), which must give the same values bit for bit.
      using backend = sp::detail::space_backend<cuda>;
      const index_t B = s.B, Ci = s.Ci, H = s.H, W = s.W, m1 = s.m1, m2 = s.m2;
      const sp::detail::conv2d_bases<T, cuda> b = backend::conv2d_matrices<T>(H, W, m1, m2);
      const tensor<T, cuda> xw = sp::detail::matmul_nt(b.f1, xc.contiguous());
      const tensor<T, cuda> xh = sp::detail::right_matmul(xw, b.g, shape_t{B, Ci, m2, 2, m1, 2});
      const tensor<T> want = to<host>(sp::detail::permute_copy(
          xh, xh.shape(), shape_t{3, 2, 4, 0, 1, 5}, shape_t{2 * m2, m1, B, Ci, 2}));
      const tensor<T, cuda> modes = backend::tdft2_forward<T>(xc, m1, m2);
      BOOST_TEST(nmse(want, to<host>(modes)) <= fft_tol.of<T>(),
                 what << " forward kernel NMSE " << nmse(want, to<host>(modes)));
      BOOST_TEST(nmse(to<host>(modes), to<host>(backend::tdft2_forward<T>(xc, m1, m2, 3))) == 0.0,
                 what << " forward kernel, 3 blocks");
      BOOST_TEST(nmse(to<host>(backend::tdft2_inverse<T>(modes, H, W)),
                      to<host>(backend::tdft2_inverse<T>(modes, H, W, 2))) == 0.0,
                 what << " inverse kernel, 2 blocks");
    }
    // The spectral path through an MLP's first product, gelu(L·conv + b): on cuda with the
    // fused kernels, L folded into the mode weights and the GELU in the inverse kernel.
    const tensor<T> L = uniform<T>({3, s.Co}, 72, T(-0.5), T(0.5)), lb = uniform<T>({3}, 73);
    const tensor<T> lg_host = sp::spectral_conv2d_linear_gelu(x.contiguous(), w1, w2, L, lb);
    const tensor<T> lg = to<host>(
        sp::spectral_conv2d_linear_gelu(xc, to<cuda>(w1), to<cuda>(w2), to<cuda>(L), to<cuda>(lb)));
    const tensor<T> lg_gemm = to<host>(
        sp::spectral_conv2d_linear_gelu(xc, to<cuda>(w1), to<cuda>(w2), to<cuda>(L), to<cuda>(lb),
                                        sp::spectral_method::truncated_dft_gemm));
    BOOST_TEST(nmse(lg_host, lg) <= fft_tol.of<T>(),
               what << " linear_gelu NMSE " << nmse(lg_host, lg));
    BOOST_TEST(nmse(lg_host, lg_gemm) <= fft_tol.of<T>(),
               what << " linear_gelu GEMM NMSE " << nmse(lg_host, lg_gemm));
    // The recorded form with no gradient wanted takes the same kernels.
    ad::no_grad ng;
    const tensor<T> viavar =
        to<host>(sp::spectral_conv2d(ad::var<T, cuda>(xc), ad::var<T, cuda>(to<cuda>(w1)),
                                     ad::var<T, cuda>(to<cuda>(w2)))
                     .value());
    BOOST_TEST(nmse(fused, viavar) == 0.0, what << " no-grad variable");
  };
  run(float{}, c{2, 4, 3, 94, 94, 12, 12}, false, true);
  run(float{}, c{1, 2, 3, 9, 7, 4, 4}, false, true);
  run(float{}, c{2, 2, 2, 8, 8, 4, 5}, true, true);
  run(float{}, c{3, 1, 2, 10, 2, 2, 2}, false, true);
  run(double{}, c{2, 3, 2, 12, 10, 3, 3}, false, true);
  run(double{}, c{1, 2, 2, 94, 94, 12, 12}, false, false);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
