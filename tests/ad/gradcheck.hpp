// SPDX-License-Identifier: Apache-2.0
// Finite-difference checkers for tessera::ad: reverse-mode gradients and Hessian-vector
// products against central differences, plus the input generators the ad tests share.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/tessera.hpp"

namespace tessera::test {

using dtensor = tensor<double>;
using dvar = ad::var<double>;

/// A function of a list of variables, the form every checker works on.
using var_fn = std::function<dvar(const std::vector<dvar>&)>;

/// Tolerances and steps of the checkers.
struct fd_options {
  double h = 1e-6;      ///< central-difference step of gradcheck
  double hvp_h = 1e-5;  ///< step of hvpcheck (differences of gradients: larger is best)
  double rtol = 1e-6;   ///< relative tolerance, against max(|analytic|, |numeric|)
  double atol = 1e-6;   ///< absolute tolerance
  std::uint64_t projection_seed = 0x5eedULL;  ///< seed of the projection r in ⟨y, r⟩
  int max_reports = 4;                        ///< failing elements reported per input
  bool report = true;  ///< false: count failures without failing the test (checker self-tests)
};

/// What a check found.
struct check_result {
  index_t checked = 0;   ///< elements compared
  index_t failures = 0;  ///< elements outside tolerance (or shape / finiteness problems)
  std::string first;     ///< the first failure, described
};

// ------------------------------------------------------------------ input generators -----------

/// An integer uniform in [lo, hi] drawn from `gen`.
inline index_t random_int(generator& gen, index_t lo, index_t hi) {
  const double u = rand<double>(shape_t{1}, gen).item();
  return lo + static_cast<index_t>(u * static_cast<double>(hi - lo + 1));
}

/// A shape of the given rank with extents uniform in [lo, hi].
inline shape_t random_shape(generator& gen, int rank, index_t lo = 1, index_t hi = 4) {
  shape_t s;
  for (int i = 0; i < rank; ++i) s.push_back(random_int(gen, lo, hi));
  return s;
}

/// Normal samples.
inline dtensor normal(const shape_t& s, generator& gen, double stddev = 1.0) {
  return randn<double>(s, gen, 0.0, stddev);
}

/// Uniform samples in [lo, hi) (for logs, roots and denominators: keep lo > 0).
inline dtensor uniform(const shape_t& s, generator& gen, double lo, double hi) {
  return rand<double>(s, gen, lo, hi);
}

/// Samples with |x| in [0.2, 1.7), random sign: away from the kinks of abs, relu, sign.
inline dtensor away_from_zero(const shape_t& s, generator& gen) {
  dtensor m = rand<double>(s, gen, 0.2, 1.7);
  const dtensor sg = rand<double>(s, gen);
  for (index_t i = 0; i < m.numel(); ++i)
    if (sg.data()[i] < 0.5) m.data()[i] = -m.data()[i];
  return m;
}

/// Distinct values (a shuffled ladder with step 0.25, centred, random signs when `signed_`):
/// no ties for max/min and no ties of |x| for the ∞-norm.
inline dtensor distinct(const shape_t& s, generator& gen, bool signed_ = true) {
  const index_t n = s.numel();
  const dtensor key = rand<double>(shape_t{n}, gen);
  std::vector<index_t> order(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::sort(order.begin(), order.end(),
            [&](index_t a, index_t b) { return key.data()[a] < key.data()[b]; });
  const dtensor sg = rand<double>(shape_t{n}, gen);
  dtensor out(s);
  for (index_t i = 0; i < n; ++i) {
    double v = 0.3 + 0.25 * static_cast<double>(order[static_cast<std::size_t>(i)]);
    if (signed_ && sg.data()[i] < 0.5) v = -v;
    out.data()[i] = v;
  }
  return out;
}

/// The same values as `t` in a non-contiguous layout: a view with every other element of the
/// last axis skipped (stride 2). Rank-0 tensors are returned as they are.
inline dtensor strided(const dtensor& t) {
  if (t.rank() == 0) return t;
  shape_t big = t.shape();
  big[big.rank() - 1] = 2 * big.back() + 1;
  dtensor b = full<double>(big, std::nan(""));
  dtensor v = b.slice(-1, 1, 2 * t.shape().back() + 1, 2);
  v.copy_from(t);
  return v;
}

/// The same values as `t` (rank >= 2) laid out transposed: t == transposed(t) elementwise but
/// its last two axes have swapped strides.
inline dtensor transposed(const dtensor& t) {
  if (t.rank() < 2) return strided(t);
  return t.transpose(-1, -2).clone().transpose(-1, -2);
}

// ------------------------------------------------------------------ helpers -------------------

/// "(i,j,k)" for element `flat` of `shape`.
inline std::string index_str(const shape_t& shape, index_t flat) {
  std::vector<index_t> idx(static_cast<std::size_t>(shape.rank()));
  for (int k = shape.rank() - 1; k >= 0; --k) {
    idx[static_cast<std::size_t>(k)] = shape[k] ? flat % shape[k] : 0;
    flat = shape[k] ? flat / shape[k] : 0;
  }
  std::string s = "(";
  for (std::size_t k = 0; k < idx.size(); ++k) s += (k ? "," : "") + std::to_string(idx[k]);
  return s + ")";
}

/// ⟨y, r⟩ in long double.
inline double project(const dtensor& y, const dtensor& r) {
  long double acc = 0;
  for (index_t i = 0; i < y.numel(); ++i)
    acc += static_cast<long double>(y.flat(i)) * static_cast<long double>(r.flat(i));
  return static_cast<double>(acc);
}

/// The fixed projection for an output of shape `s`.
inline dtensor projection(const shape_t& s, const fd_options& opt) {
  generator g(opt.projection_seed);
  return randn<double>(s, g);
}

/// Calls f(v[0], ..., v[N-1]) for a function of N separate variables.
template <std::size_t N, class F>
var_fn unpack(F f) {
  return [f](const std::vector<dvar>& v) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return dvar(f(v[I]...));
    }(std::make_index_sequence<N>{});
  };
}

namespace detail {
/// Evaluates ⟨f(xs), r⟩ with fresh leaves (requires_grad set, so functions that take
/// gradients inside, like gradient penalties, evaluate as they would in training).
inline double eval_projected(const var_fn& f, const std::vector<dtensor>& xs, const dtensor& r) {
  ad::scope s;
  std::vector<dvar> v;
  v.reserve(xs.size());
  for (const auto& x : xs) v.emplace_back(x, true);
  return project(f(v).value(), r);
}

/// First-order gradients of ⟨f(xs), r⟩ for every input, by reverse mode.
inline std::vector<dtensor> reverse_grads(const var_fn& f, const std::vector<dtensor>& xs,
                                          const dtensor* r_in, const fd_options& opt,
                                          shape_t* out_shape = nullptr) {
  ad::scope s;
  std::vector<dvar> v;
  v.reserve(xs.size());
  for (const auto& x : xs) v.emplace_back(x, true);
  const dvar y = f(v);
  if (out_shape) *out_shape = y.shape();
  const dtensor r = r_in ? *r_in : projection(y.shape(), opt);
  ad::backward(y, r);
  std::vector<dtensor> g;
  for (const auto& x : v) g.push_back(x.grad().clone());
  return g;
}

inline void record(check_result& res, const fd_options& opt, const std::string& msg) {
  if (res.failures == 0) res.first = msg;
  ++res.failures;
  if (opt.report) BOOST_ERROR(msg);
}

/// Compares `analytic` with `numeric` elementwise, recording failures.
inline void compare(check_result& res, const fd_options& opt, const std::string& what, int input,
                    const dtensor& analytic, const dtensor& numeric) {
  if (!(analytic.shape() == numeric.shape())) {
    record(res, opt,
           what + ": input " + std::to_string(input) + ": gradient shape " +
               analytic.shape().str() + " differs from input shape " + numeric.shape().str());
    return;
  }
  int reported = 0;
  for (index_t k = 0; k < numeric.numel(); ++k) {
    const double a = analytic.flat(k), n = numeric.flat(k);
    ++res.checked;
    const double tol = opt.atol + opt.rtol * std::max(std::abs(a), std::abs(n));
    if (std::isfinite(a) && std::abs(a - n) <= tol) continue;
    std::ostringstream os;
    os.precision(12);
    os << what << ": input " << input << " element " << index_str(numeric.shape(), k)
       << ": reverse mode " << a << ", finite differences " << n << " (|diff| " << std::abs(a - n)
       << ", tol " << tol << ")";
    if (res.failures == 0) res.first = os.str();
    ++res.failures;
    if (opt.report && reported++ < opt.max_reports) BOOST_ERROR(os.str());
  }
}
}  // namespace detail

// ------------------------------------------------------------------ first order -------------

/// Checks the reverse-mode gradient of ⟨f(x₀, …), r⟩ (r a fixed random projection of f's
/// output, any shape) with respect to every input, element by element, against central
/// differences. Inputs may be non-contiguous views; they are used as given for the reverse
/// pass and perturbed in contiguous copies.
inline check_result gradcheck(const std::string& name, const var_fn& f,
                              const std::vector<dtensor>& inputs, const fd_options& opt = {}) {
  check_result res;
  shape_t yshape;
  const std::vector<dtensor> g = detail::reverse_grads(f, inputs, nullptr, opt, &yshape);
  const dtensor r = projection(yshape, opt);
  std::vector<dtensor> xs;
  for (const auto& x : inputs) xs.push_back(x.clone());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    dtensor num(xs[i].shape());
    double* p = xs[i].data();
    for (index_t k = 0; k < xs[i].numel(); ++k) {
      const double x0 = p[k];
      p[k] = x0 + opt.h;
      const double fp = detail::eval_projected(f, xs, r);
      p[k] = x0 - opt.h;
      const double fm = detail::eval_projected(f, xs, r);
      p[k] = x0;
      num.data()[k] = (fp - fm) / (2 * opt.h);
    }
    detail::compare(res, opt, name, static_cast<int>(i), g[i], num);
  }
  return res;
}

/// gradcheck for a function of N separate variables: gradcheck(name, f, x0, x1, ...).
template <class F, class... X>
  requires(std::is_same_v<X, dtensor> && ...)
check_result gradcheck(const std::string& name, F f, const X&... inputs) {
  return gradcheck(name, unpack<sizeof...(X)>(std::move(f)), std::vector<dtensor>{inputs...});
}

// ------------------------------------------------------------------ second order ------------

/// Checks Hessian-vector products of L = ⟨f(x₀, …), r⟩: for random directions vᵢ (one per
/// input), the reverse-over-reverse product ∇ₓ⟨∇ₓL, v⟩ (ad::grad_graph, then backward) against
/// central differences of the first-order gradient, (∇L(x + hv) - ∇L(x - hv)) / 2h. With one
/// input it also checks that ad::hvp gives the same product.
inline check_result hvpcheck(const std::string& name, const var_fn& f,
                             const std::vector<dtensor>& inputs, const fd_options& opt = {}) {
  check_result res;
  generator dir_gen(opt.projection_seed + 1);
  std::vector<dtensor> vs;
  for (const auto& x : inputs) vs.push_back(randn<double>(x.shape(), dir_gen));

  std::vector<dtensor> hv;
  shape_t yshape;
  {
    ad::scope s;
    std::vector<dvar> xs;
    for (const auto& x : inputs) xs.emplace_back(x, true);
    const dvar y = f(xs);
    yshape = y.shape();
    const dtensor r = projection(y.shape(), opt);
    const std::vector<dvar> g = ad::grad_graph(y, xs, r);
    dvar gv = ad::constant(zeros<double>(shape_t{}));
    for (std::size_t i = 0; i < xs.size(); ++i) gv = gv + ad::sum(g[i] * vs[i]);
    ad::backward(gv);
    for (const auto& x : xs) hv.push_back(x.grad().clone());
  }
  const dtensor r = projection(yshape, opt);
  std::vector<dtensor> plus, minus;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    plus.push_back(inputs[i] + vs[i] * opt.hvp_h);
    minus.push_back(inputs[i] - vs[i] * opt.hvp_h);
  }
  const std::vector<dtensor> gp = detail::reverse_grads(f, plus, &r, opt);
  const std::vector<dtensor> gm = detail::reverse_grads(f, minus, &r, opt);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    detail::compare(res, opt, name + " (Hessian-vector product)", static_cast<int>(i), hv[i],
                    (gp[i] - gm[i]) / (2 * opt.hvp_h));

  if (inputs.size() == 1) {
    const dtensor h = ad::hvp([&](const dvar& x) { return ad::sum(f(std::vector<dvar>{x}) * r); },
                              inputs[0], vs[0]);
    fd_options exact = opt;
    exact.rtol = 1e-12;
    exact.atol = 1e-12;
    detail::compare(res, exact, name + " (ad::hvp vs grad_graph)", 0, h, hv[0]);
  }
  return res;
}

/// hvpcheck for a function of N separate variables.
template <class F, class... X>
  requires(std::is_same_v<X, dtensor> && ...)
check_result hvpcheck(const std::string& name, F f, const X&... inputs) {
  return hvpcheck(name, unpack<sizeof...(X)>(std::move(f)), std::vector<dtensor>{inputs...});
}

/// True when `t` has shape `s` and every element is within `tol` of `expected`'s.
inline bool close(const dtensor& t, const dtensor& expected, double tol = 1e-12) {
  if (!(t.shape() == expected.shape())) return false;
  for (index_t i = 0; i < t.numel(); ++i)
    if (!(std::abs(t.flat(i) - expected.flat(i)) <= tol * (1 + std::abs(expected.flat(i)))))
      return false;
  return true;
}

}  // namespace tessera::test
