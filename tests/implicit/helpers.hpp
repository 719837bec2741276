// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the tessera::implicit tests: a small contractive fixed-point layer
// z = tanh(z W + x U + b), maps with known fixed points, and tensor comparisons.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "tessera/implicit.hpp"
#include "tessera/tessera.hpp"

namespace implicit_test {

using namespace tessera;
using dtensor = tensor<double>;
using dvar = ad::var<double>;

/// The fixed point of cos, z = cos z.
inline constexpr double dottie = 0.7390851332151607;

/// max |a − b| over all elements (same shapes).
template <class T>
double max_abs_diff(const tensor<T>& a, const tensor<T>& b) {
  BOOST_REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (index_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::abs(double(a.flat(i)) - double(b.flat(i))));
  return m;
}

inline double norm(const dtensor& a) {
  double s = 0;
  for (index_t i = 0; i < a.numel(); ++i) s += a.flat(i) * a.flat(i);
  return std::sqrt(s);
}

/// All elements of several tensors in one flat vector (for cosines and relative errors).
inline std::vector<double> flat_all(const std::vector<dtensor>& ts) {
  std::vector<double> v;
  for (const auto& t : ts)
    for (index_t i = 0; i < t.numel(); ++i) v.push_back(t.flat(i));
  return v;
}

inline double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

inline double rel_error(const std::vector<double>& a, const std::vector<double>& ref) {
  double d = 0, r = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    d += (a[i] - ref[i]) * (a[i] - ref[i]);
    r += ref[i] * ref[i];
  }
  return std::sqrt(d / r);
}

/// z = tanh(z W + x U + b) with z (B, n), x (B, p), W (n, n), U (p, n), b (n); W is scaled to
/// ‖W‖_F = 0.5, so the map is a contraction with constant ≤ 0.5.
struct layer {
  static constexpr index_t B = 2, n = 5, p = 3;
  dtensor W, U, b, x, c;  // c: the loss weights, L = Σ c ⊙ z*

  explicit layer(std::uint64_t seed = 7) {
    generator gen(seed);
    W = randn<double>({n, n}, gen);
    W = mul(W, scalar<double>(0.5 / norm(W)));
    U = randn<double>({p, n}, gen);
    b = randn<double>({n}, gen, 0.0, 0.5);
    x = randn<double>({B, p}, gen);
    c = randn<double>({B, n}, gen);
  }

  /// θ = {W, U, b, x}
  static dvar f(const dvar& z, const std::vector<dvar>& th) {
    return ad::tanh(ad::matmul(z, th[0]) + ad::matmul(th[3], th[1]) + th[2]);
  }

  std::vector<dtensor> theta() const { return {W, U, b, x}; }

  /// z* for θ, solved on values to the rounding floor.
  static dtensor solve(const std::vector<dtensor>& th) {
    const auto map = [&](const dtensor& z) {
      return tanh(add(add(matmul(z, th[0]), matmul(th[3], th[1])), th[2]));
    };
    implicit::solver_options o{
        .method = implicit::solver_method::picard, .max_iter = 400, .abs_tol = 1e-15, .rel_tol = 0};
    return implicit::solve(map, zeros<double>({B, n}), o).z;
  }

  /// L(θ) = Σ c ⊙ z*(θ)
  double loss(const std::vector<dtensor>& th) const {
    const dtensor z = solve(th);
    double s = 0;
    for (index_t i = 0; i < z.numel(); ++i) s += c.flat(i) * z.flat(i);
    return s;
  }

  /// Central differences of L with respect to every element of θ.
  std::vector<dtensor> fd_grads(double h = 1e-5) const {
    std::vector<dtensor> out;
    const std::vector<dtensor> th0 = theta();
    for (std::size_t k = 0; k < th0.size(); ++k) {
      dtensor g(th0[k].shape());
      for (index_t i = 0; i < th0[k].numel(); ++i) {
        std::vector<dtensor> tp, tm;
        for (const auto& t : th0) {
          tp.push_back(t.clone());
          tm.push_back(t.clone());
        }
        tp[k].data()[i] += h;
        tm[k].data()[i] -= h;
        g.data()[i] = (loss(tp) - loss(tm)) / (2 * h);
      }
      out.push_back(g);
    }
    return out;
  }

  /// dL/dθ through implicit::fixed_point with options o (θ as requires_grad leaves).
  std::vector<dtensor> grads(const implicit::options& o,
                             implicit::fixed_point_result<double>* keep = nullptr) const {
    ad::scope s;
    std::vector<dvar> th;
    for (const auto& t : theta()) th.emplace_back(t, true);
    auto r = implicit::fixed_point(f, zeros<double>({B, n}), th, o);
    dvar L = ad::sum(r.z * c);
    ad::backward(L);
    std::vector<dtensor> g;
    for (const auto& v : th) g.push_back(v.grad().clone());
    if (keep) {
      keep->info = r.info;
      keep->adjoint = r.adjoint;
    }
    return g;
  }
};

}  // namespace implicit_test
