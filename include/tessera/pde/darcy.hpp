// SPDX-License-Identifier: Apache-2.0
// Darcy flow data as in the FNO benchmarks: piecewise-constant permeability from a thresholded
// Gaussian random field, and the pressure solving -∇·(a∇u) = f with u = 0 on the boundary of
// the unit square (5-point finite differences, preconditioned conjugate gradients).
#pragma once

#include <cmath>
#include <exception>
#include <mutex>
#include <numbers>
#include <vector>

#include <Eigen/Core>
#include <Eigen/IterativeLinearSolvers>
#include <Eigen/SparseCore>

#include "tessera/core/error.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/core/philox.hpp"
#include "tessera/core/tensor.hpp"

namespace tessera::pde {

/// The Gaussian random field U ~ N(0, (-Δ + τ²I)^-α) with Neumann boundary conditions.
struct grf_options {
  double alpha = 2.0;  ///< smoothness exponent α
  double tau = 3.0;    ///< inverse length scale τ
};

/// Stopping rule of the pressure solve.
struct darcy_solver_options {
  double tolerance = 1e-10;    ///< relative residual ‖b - Ax‖/‖b‖ at which CG stops
  index_t max_iterations = 0;  ///< 0: twice the number of unknowns
};

/// A Darcy data set: permeabilities a and pressures u, both (N, K, K).
template <class T>
struct darcy_data {
  tensor<T> a;
  tensor<T> u;
};

namespace detail {

/// The orthonormal DCT-II basis as a K×K matrix C[n, k] = w_k cos(π(2n + 1)k / 2K),
/// w_0 = √(1/K), w_k = √(2/K): the inverse 2-d DCT of L is C·L·Cᵀ (MATLAB's idct2).
inline Eigen::MatrixXd idct_basis(index_t K) {
  Eigen::MatrixXd c(K, K);
  const double w0 = std::sqrt(1.0 / static_cast<double>(K));
  const double wk = std::sqrt(2.0 / static_cast<double>(K));
  for (index_t n = 0; n < K; ++n)
    for (index_t k = 0; k < K; ++k)
      c(n, k) =
          (k == 0 ? w0 : wk) * std::cos(std::numbers::pi * static_cast<double>((2 * n + 1) * k) /
                                        (2.0 * static_cast<double>(K)));
  return c;
}

/// One field from Philox stream `s` (ξ_i = s.normal(i), i row-major over (k1, k2)).
inline Eigen::MatrixXd grf_sample(const philox_stream& s, index_t K, const grf_options& opt,
                                  const Eigen::MatrixXd& basis) {
  Eigen::MatrixXd L(K, K);
  const double pi2 = std::numbers::pi * std::numbers::pi;
  const double lead = static_cast<double>(K) * std::pow(opt.tau, opt.alpha - 1.0);
  for (index_t k1 = 0; k1 < K; ++k1)
    for (index_t k2 = 0; k2 < K; ++k2) {
      const double coef =
          lead * std::pow(pi2 * static_cast<double>(k1 * k1 + k2 * k2) + opt.tau * opt.tau,
                          -opt.alpha / 2.0);
      L(k1, k2) = coef * s.normal<double>(static_cast<std::uint64_t>(k1 * K + k2));
    }
  L(0, 0) = 0.0;
  return basis * L * basis.transpose();
}

inline void check_resolution(const char* fn, index_t K) {
  if (K < 3) throw_invalid_argument(fn, "resolution ", K, " must be at least 3");
}

}  // namespace detail

/// Samples of the Gaussian random field of the FNO Darcy data (the MATLAB GRF.m):
/// L_k = K·τ^(α-1)·(π²(k1² + k2²) + τ²)^(-α/2)·ξ_k with ξ ~ N(0, 1), L_00 = 0, and U the
/// orthonormal 2-d inverse DCT-II of L. One Philox stream of `gen` per sample, drawn in sample
/// order, so the result depends only on the generator's state, not on the thread count.
/// @return (n_samples, K, K).
/// @throws tessera::invalid_argument for a negative count or a resolution below 3.
template <class T = double>
tensor<T> gaussian_random_field(index_t n_samples, index_t resolution, generator& gen,
                                const grf_options& opt = {}) {
  const char* fn = "pde::gaussian_random_field";
  detail::check_resolution(fn, resolution);
  if (n_samples < 0) throw_invalid_argument(fn, "n_samples ", n_samples, " is negative");
  const index_t K = resolution;
  std::vector<philox_stream> streams;
  for (index_t s = 0; s < n_samples; ++s) streams.push_back(gen.next());
  const Eigen::MatrixXd basis = detail::idct_basis(K);
  tensor<T> out(shape_t{n_samples, K, K});
  parallel_for(0, n_samples, 1, [&](index_t lo, index_t hi) {
    for (index_t s = lo; s < hi; ++s) {
      const Eigen::MatrixXd u =
          detail::grf_sample(streams[static_cast<std::size_t>(s)], K, opt, basis);
      T* dst = out.data() + s * K * K;
      for (index_t i = 0; i < K; ++i)
        for (index_t j = 0; j < K; ++j) dst[i * K + j] = static_cast<T>(u(i, j));
    }
  });
  return out;
}

/// ψ(U): `high` where U >= 0, `low` where U < 0 (12 and 3 for the FNO Darcy data).
template <class T>
tensor<T> threshold_field(const tensor<T>& u, T high = T(12), T low = T(3)) {
  tensor<T> out(u.shape());
  const tensor<T> c = u.contiguous();
  for (index_t i = 0; i < c.numel(); ++i) out.data()[i] = c.data()[i] >= T(0) ? high : low;
  return out;
}

/// Solves -∇·(a∇u) = f on [0, 1]² with u = 0 on the boundary, on the K×K grid of nodes
/// x_i = i·h, y_j = j·h, h = 1/(K - 1) (first axis x). 5-point finite differences with face
/// coefficients the arithmetic means of the two nodal values, e.g. for the east face
/// a_{i+½,j} = (a_ij + a_{i+1,j})/2; the symmetric positive definite system of the interior
/// nodes is solved in double by Jacobi-preconditioned conjugate gradients (Eigen).
/// @param a permeability at the nodes (K, K), positive.
/// @param f right-hand side at the nodes (K, K); its boundary values are not used.
/// @return u (K, K), zero on the boundary.
/// @throws tessera::invalid_argument for shapes that are not (K, K) with K >= 3 or a
///   non-positive permeability; tessera::domain_error when CG does not converge.
inline tensor<double> solve_darcy(const tensor<double>& a, const tensor<double>& f,
                                  const darcy_solver_options& opt = {}) {
  const char* fn = "pde::solve_darcy";
  if (a.rank() != 2 || a.size(0) != a.size(1) || !(f.shape() == a.shape()))
    throw_invalid_argument(fn, "a ", a.shape().str(), " and f ", f.shape().str(),
                           " must both be (K, K)");
  const index_t K = a.size(0);
  detail::check_resolution(fn, K);
  const tensor<double> ac = a.contiguous(), fc = f.contiguous();
  for (index_t i = 0; i < ac.numel(); ++i)
    if (!(ac.data()[i] > 0.0))
      throw_invalid_argument(fn, "permeability ", ac.data()[i], " at element ", i,
                             " is not positive");
  const index_t n = K - 2;  // interior nodes per axis
  const double inv_h2 = static_cast<double>((K - 1) * (K - 1));
  auto A = [&](index_t i, index_t j) { return ac.data()[i * K + j]; };
  auto id = [&](index_t i, index_t j) { return static_cast<int>((i - 1) * n + (j - 1)); };
  std::vector<Eigen::Triplet<double>> trip;
  trip.reserve(static_cast<std::size_t>(5 * n * n));
  Eigen::VectorXd rhs(n * n);
  for (index_t i = 1; i <= n; ++i)
    for (index_t j = 1; j <= n; ++j) {
      const int row = id(i, j);
      const index_t nb[4][2] = {{i - 1, j}, {i + 1, j}, {i, j - 1}, {i, j + 1}};
      double diag = 0.0;
      for (const auto& q : nb) {
        const double face = 0.5 * (A(i, j) + A(q[0], q[1])) * inv_h2;
        diag += face;
        if (q[0] >= 1 && q[0] <= n && q[1] >= 1 && q[1] <= n)
          trip.emplace_back(row, id(q[0], q[1]), -face);
      }
      trip.emplace_back(row, row, diag);
      rhs(row) = fc.data()[i * K + j];
    }
  Eigen::SparseMatrix<double> M(n * n, n * n);
  M.setFromTriplets(trip.begin(), trip.end());
  // Lower (not Lower|Upper): Eigen's OpenMP SpMV would spin threads inside generate_darcy's
  // own parallel loop. Jacobi beats Eigen's incomplete Cholesky here in time to solution.
  Eigen::ConjugateGradient<Eigen::SparseMatrix<double>, Eigen::Lower> cg;
  cg.setTolerance(opt.tolerance);
  if (opt.max_iterations > 0) cg.setMaxIterations(opt.max_iterations);
  cg.compute(M);
  const Eigen::VectorXd sol = cg.solve(rhs);
  if (cg.info() != Eigen::Success)
    throw_domain_error(fn, "conjugate gradients did not reach the tolerance ", opt.tolerance,
                       " in ", cg.iterations(), " iterations (relative residual ", cg.error(), ")");
  tensor<double> u(shape_t{K, K});
  u.fill_(0.0);
  for (index_t i = 1; i <= n; ++i)
    for (index_t j = 1; j <= n; ++j) u.data()[i * K + j] = sol(id(i, j));
  return u;
}

/// solve_darcy with f ≡ 1.
inline tensor<double> solve_darcy(const tensor<double>& a, const darcy_solver_options& opt = {}) {
  tensor<double> f(a.shape());
  f.fill_(1.0);
  return solve_darcy(a, f, opt);
}

/// A Darcy data set at resolution K: a = ψ(U) with U from gaussian_random_field (12 where
/// U >= 0, 3 elsewhere) and u solving -∇·(a∇u) = 1, u = 0 on the boundary (solve_darcy).
/// Samples are solved in parallel (OpenMP); the result depends only on the generator's state.
/// @return {a, u}, both (n_samples, K, K), converted to T after the double-precision solve.
/// @throws as gaussian_random_field and solve_darcy.
template <class T = double>
darcy_data<T> generate_darcy(index_t n_samples, index_t resolution, generator& gen,
                             const grf_options& grf = {}, const darcy_solver_options& opt = {}) {
  const tensor<double> a =
      threshold_field(gaussian_random_field<double>(n_samples, resolution, gen, grf));
  const index_t K = resolution;
  darcy_data<T> out{tensor<T>(a.shape()), tensor<T>(a.shape())};
  // An exception must not leave an OpenMP region: keep the first and rethrow it after.
  std::exception_ptr error;
  std::mutex error_mutex;
  parallel_for(0, n_samples, 1, [&](index_t lo, index_t hi) {
    for (index_t s = lo; s < hi; ++s) {
      try {
        const tensor<double> as = a.select(0, s);
        const tensor<double> u = solve_darcy(as, opt);
        for (index_t i = 0; i < K * K; ++i) {
          out.a.data()[s * K * K + i] = static_cast<T>(as.data()[i]);
          out.u.data()[s * K * K + i] = static_cast<T>(u.data()[i]);
        }
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  });
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace tessera::pde
