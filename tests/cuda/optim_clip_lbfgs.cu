// SPDX-License-Identifier: Apache-2.0
// Gradient clipping and L-BFGS on cuda against the host: clip_grad_norm (p = 1, 2, 3, ∞,
// clipping or not, non-finite grads, strided grads), clip_grad_norm_to captured in a CUDA
// graph, clip_grad_value, and L-BFGS least-squares fits through the tensor and slot overloads.
#include <boost/test/unit_test.hpp>

#include <limits>

#include "backend_support.hpp"

namespace tessera::test {
namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

/// Grads of three parameters and a fourth without one: (1000), (3, 5), a (6, 4) transposed view
/// of a (4, 6) base (strided), none. Values are only needed for the slot checks.
template <class S>
struct grad_set {
  std::vector<tensor<float, S>> values, grads;
  tensor<float, S> base;  // the storage of the strided grad

  explicit grad_set(const std::vector<tensor<float>>& g) {
    for (const auto& t : g) grads.push_back(to<S>(t).clone());
    base = grads[2];
    grads[2] = base.transpose(0, 1);
    grads.emplace_back();  // undefined: skipped
    for (const auto& t : grads)
      values.push_back(zeros<float, S>(t.defined() ? t.shape() : shape_t{2}));
  }
  std::vector<optim::param_slot<float, S>> slots() {
    std::vector<optim::param_slot<float, S>> s;
    for (std::size_t i = 0; i < grads.size(); ++i) s.push_back({&values[i], &grads[i]});
    return s;
  }
  /// The defined grads on the host, in row-major order of their views.
  std::vector<tensor<float>> host_grads() const {
    std::vector<tensor<float>> h;
    for (std::size_t i = 0; i + 1 < grads.size(); ++i) h.push_back(to<host>(grads[i]).clone());
    return h;
  }
};

std::vector<tensor<float>> sample_grads(std::uint64_t seed) {
  return {uniform<float>({1000}, seed), uniform<float>({3, 5}, seed + 1, -5.f, 5.f),
          uniform<float>({4, 6}, seed + 2)};
}

void check_same_grads(const std::vector<tensor<float>>& ref, const std::vector<tensor<float>>& got,
                      double tol) {
  BOOST_TEST_REQUIRE(ref.size() == got.size());
  for (std::size_t k = 0; k < ref.size(); ++k) {
    const double e = nmse(ref[k], got[k]);
    BOOST_TEST(e <= tol, "grad " << k << ": NMSE " << e << " exceeds " << tol);
  }
}

BOOST_AUTO_TEST_SUITE(cuda_optim_clip_lbfgs)

BOOST_AUTO_TEST_CASE(clip_grad_norm_matches_host) {
  const std::vector<tensor<float>> g0 = sample_grads(11);
  for (float p : {1.f, 2.f, 3.f, inf}) {
    grad_set<host> h(g0);
    const float n_host = optim::clip_grad_norm(h.slots(), 1e30f, p);  // N only
    for (float ratio : {0.3f, 2.f}) {  // clipping, then a case where it does not trigger
      BOOST_TEST_CONTEXT("p " << p << ", max_norm " << ratio << " N") {
        grad_set<host> hh(g0);
        grad_set<cuda> d(g0);
        const float nh = optim::clip_grad_norm(hh.slots(), ratio * n_host, p);
        const float nd = optim::clip_grad_norm(d.slots(), ratio * n_host, p);
        BOOST_TEST(nh == n_host);
        BOOST_TEST(std::abs(nd - nh) <= 1e-6f * nh, "N " << nd << " on cuda, " << nh << " on host");
        check_same_grads(hh.host_grads(), d.host_grads(), 1e-13);
        if (ratio > 1) check_same_grads(grad_set<host>(g0).host_grads(), d.host_grads(), 0.0);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(non_finite_norm_leaves_cuda_grads_alone) {
  for (float bad : {inf, std::numeric_limits<float>::quiet_NaN()})
    for (float p : {2.f, inf}) {
      std::vector<tensor<float>> g0 = sample_grads(21);
      g0[1].data()[7] = bad;  // in the middle of a middle slot
      grad_set<cuda> d(g0);
      const float n = optim::clip_grad_norm(d.slots(), 1.f, p);
      BOOST_TEST_CONTEXT("bad value " << bad << ", p " << p) {
        if (std::isnan(bad))
          BOOST_TEST(std::isnan(n));
        else
          BOOST_TEST(n == inf);
        // untouched (nmse counts NaN at the same place as equal)
        check_same_grads(grad_set<host>(g0).host_grads(), d.host_grads(), 0.0);
      }
    }
}

BOOST_AUTO_TEST_CASE(clip_grad_norm_to_is_capturable) {
  // No synchronisation inside: the call captures into a CUDA graph; each replay clips the
  // current grads and leaves N on the device.
  const std::vector<tensor<float>> g0 = sample_grads(31);
  grad_set<host> h(g0);
  const float n_host = optim::clip_grad_norm(h.slots(), 5.f);
  grad_set<cuda> d(g0);
  const auto slots = d.slots();
  const tensor<float, cuda> norm = zeros<float, cuda>({});
  try {
    cuda_rt::graph g([&] { optim::clip_grad_norm_to(slots, norm, 5.f); });
    BOOST_TEST(to<host>(norm).item() == 0.f);  // capture runs nothing
    g.replay();
    BOOST_TEST(std::abs(to<host>(norm).item() - n_host) <= 1e-6f * n_host);
    check_same_grads(h.host_grads(), d.host_grads(), 1e-13);
    g.replay();  // the grads now have norm ≈ 5: N ≈ 5, clipped by (5 / (5 + 1e-6)) ≈ 1
    BOOST_TEST(std::abs(to<host>(norm).item() - 5.f) <= 1e-5f);
  } catch (const std::exception& e) {
    BOOST_ERROR("capturing clip_grad_norm_to threw: " << e.what());
  }
  BOOST_CHECK_THROW(optim::clip_grad_norm_to(slots, zeros<float, cuda>({1}), 1.f),
                    invalid_argument);
  BOOST_CHECK_THROW(optim::clip_grad_norm(slots, -1.f), invalid_argument);
  BOOST_CHECK_THROW(optim::clip_grad_norm(slots, 1.f, 0.f), invalid_argument);
}

BOOST_AUTO_TEST_CASE(clip_grad_value_matches_host) {
  std::vector<tensor<float>> g0 = sample_grads(41);
  g0[0].data()[3] = std::numeric_limits<float>::quiet_NaN();  // stays NaN
  grad_set<host> h(g0);
  grad_set<cuda> d(g0);
  optim::clip_grad_value(h.slots(), 0.7f);
  optim::clip_grad_value(d.slots(), 0.7f);
  check_same_grads(h.host_grads(), d.host_grads(), 0.0);
  BOOST_TEST(std::isnan(d.host_grads()[0].data()[3]));
  BOOST_CHECK_THROW(optim::clip_grad_value(d.slots(), -1.f), invalid_argument);
}

/// Least squares ½‖A w − y‖² (tensor overload) and ½‖A w + c − y₁‖² (slots) with A (64, 16),
/// columns scaled by 1 … 4 (L-BFGS with 5 pairs needs about 35 iterations on the host), y = A w*
/// and y₁ = A w* + c*, so the minima are w* and (w*, c*) up to float rounding.
struct ls_problem {
  tensor<float> a, y, y1, w_star;
  float c_star = 0.75f;
  ls_problem() {
    a = uniform<float>({64, 16}, 51, -1.f, 1.f);
    for (index_t i = 0; i < 64; ++i)
      for (index_t j = 0; j < 16; ++j) a.data()[i * 16 + j] *= static_cast<float>(j % 4 + 1);
    w_star = uniform<float>({16, 1}, 52);
    y = matmul(a, w_star);
    y1 = add(y, c_star);
  }
};

/// Iteration counts of host and cuda runs agree up to the rounding-driven spread (perturbing y
/// by 10⁻⁶ moves the host's count by a few).
bool similar_iterations(index_t a, index_t b) {
  const index_t d = a > b ? a - b : b - a;
  return d <= 3 + (a > b ? a : b) / 5;
}

/// f and its gradients at (w, c) in space S: r = A w + c − y, f = ½ rᵀr, ∇w = Aᵀ r, ∇c = Σ r.
template <class S>
float ls_eval(const tensor<float, S>& a, const tensor<float, S>& y, const tensor<float, S>& w,
              const tensor<float, S>* c, const tensor<float, S>& gw, const tensor<float, S>* gc) {
  tensor<float, S> r = sub(matmul(a, w), y);
  if (c != nullptr) r = add(r, *c);
  gw.copy_from(matmul(a.transpose(0, 1), r));
  if (gc != nullptr) gc->copy_from(sum(r).reshape({1}));
  return 0.5f * to<host>(sum(mul(r, r))).item();
}

template <class S>
std::pair<optim::lbfgs_result<float>, tensor<float>> fit_tensor(const ls_problem& p) {
  const tensor<float, S> a = to<S>(p.a), y = to<S>(p.y);
  const tensor<float, S> w = zeros<float, S>({16, 1});
  const auto r =
      optim::lbfgs([&](const tensor<float, S>& x,
                       tensor<float, S>& g) { return ls_eval<S>(a, y, x, nullptr, g, nullptr); },
                   w, {.history = 5, .max_iterations = 200, .grad_tolerance = 1e-3f});
  return {r, to<host>(w)};
}

template <class S>
std::pair<optim::lbfgs_result<float>, std::vector<tensor<float>>> fit_slots(const ls_problem& p) {
  const tensor<float, S> a = to<S>(p.a), y = to<S>(p.y1);
  tensor<float, S> w = zeros<float, S>({16, 1}), c = zeros<float, S>({1});
  tensor<float, S> gw = zeros<float, S>({16, 1}), gc = zeros<float, S>({1});
  const std::vector<optim::param_slot<float, S>> slots{{&w, &gw}, {&c, &gc}};
  const auto r = optim::lbfgs([&] { return ls_eval<S>(a, y, w, &c, gw, &gc); }, slots,
                              {.history = 5, .max_iterations = 200, .grad_tolerance = 1e-3f});
  return {r, {to<host>(w), to<host>(c), to<host>(gw)}};
}

BOOST_AUTO_TEST_CASE(lbfgs_least_squares_matches_host) {
  const ls_problem p;
  const auto [rh, wh] = fit_tensor<host>(p);
  const auto [rd, wd] = fit_tensor<cuda>(p);
  BOOST_TEST_REQUIRE(rh.converged);  // the host reaches w* (else the comparison says little)
  BOOST_TEST(rh.iterations > 10);    // more iterations than history pairs
  BOOST_TEST(nmse(p.w_star, wh) <= 1e-9);
  BOOST_TEST(rd.converged);  // by either tolerance: which one fires first is rounding
  BOOST_TEST(similar_iterations(rd.iterations, rh.iterations),
             rd.iterations << " iterations on cuda, " << rh.iterations << " on host");
  BOOST_TEST(nmse(wh, wd) <= 1e-9);
  BOOST_TEST(rd.value <= 1e-6f);
  BOOST_TEST(rd.grad_norm <= 1e-2f);  // ≤ 1e-3 unless the function tolerance stopped it first
}

BOOST_AUTO_TEST_CASE(lbfgs_slots_match_host) {
  const ls_problem p;
  const auto [rh, xh] = fit_slots<host>(p);
  const auto [rd, xd] = fit_slots<cuda>(p);
  BOOST_TEST_REQUIRE(rh.converged);
  BOOST_TEST(nmse(p.w_star, xh[0]) <= 1e-9);
  BOOST_TEST(std::abs(xh[1].item() - p.c_star) <= 1e-4f);
  BOOST_TEST(rd.converged);
  BOOST_TEST(similar_iterations(rd.iterations, rh.iterations),
             rd.iterations << " iterations on cuda, " << rh.iterations << " on host");
  BOOST_TEST(nmse(xh[0], xd[0]) <= 1e-9);                      // w
  BOOST_TEST(std::abs(xd[1].item() - xh[1].item()) <= 1e-4f);  // c
  // The slots hold the returned point's gradient, within the reported ∞-norm.
  BOOST_TEST(max(abs(xd[2])).item() <= rd.grad_norm);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
