// SPDX-License-Identifier: Apache-2.0
// Synthetic linear non-Gaussian SEMs for the tests (brief §4): a random DAG over a random
// permutation, each forward pair an edge with probability 2/(d-1), weights ±[0.5, 2], unit-
// variance noise of a chosen family; all draws from tessera's Philox generator.
#pragma once

#include <cmath>
#include <numbers>
#include <ostream>
#include <vector>

#include "tessera/core/philox.hpp"
#include "tessera/core/tensor.hpp"

namespace lingam_sem {

using tessera::index_t;

enum class noise { uniform, laplace, exponential, student_t };

inline const char* name(noise k) {
  switch (k) {
    case noise::uniform:
      return "uniform";
    case noise::laplace:
      return "laplace";
    case noise::exponential:
      return "exponential";
    default:
      return "student-t(5)";
  }
}

inline std::ostream& operator<<(std::ostream& os, noise k) { return os << name(k); }

struct sem {
  tessera::tensor<double> X;  // (n, d)
  std::vector<index_t> perm;  // perm[k] = variable at causal position k
  std::vector<double> B;      // d×d row-major [effect, cause]
  index_t d = 0;
  double b(index_t e, index_t c) const { return B[static_cast<std::size_t>(e * d + c)]; }
};

/// Unit-variance noise sample i of stream s.
inline double draw(noise k, const tessera::philox_stream& s, std::uint64_t i) {
  const double u = s.uniform<double>(8 * i);
  switch (k) {
    case noise::uniform:
      return std::sqrt(3.0) * (2.0 * u - 1.0);
    case noise::laplace: {  // scale 1/√2
      const double v = u - 0.5;
      return -(v < 0 ? -1.0 : 1.0) * std::log1p(-2.0 * std::abs(v)) / std::numbers::sqrt2;
    }
    case noise::exponential:
      return -std::log1p(-u) - 1.0;
    default: {  // Student t with 5 degrees of freedom, variance 5/3 scaled to 1
      const double z = s.normal<double>(8 * i + 2);
      double chi2 = 0.0;
      for (int q = 0; q < 5; ++q) {
        const double g = s.normal<double>(8 * i + 3 + static_cast<std::uint64_t>(q));
        chi2 += g * g;
      }
      return z / std::sqrt(chi2 / 5.0) / std::sqrt(5.0 / 3.0);
    }
  }
}

/// edge_probability < 0 means the brief's 2/(d-1); 1 gives the complete DAG.
inline sem make(index_t n, index_t d, noise k, std::uint64_t seed, double edge_probability = -1.0) {
  const double pe = edge_probability < 0.0 ? 2.0 / static_cast<double>(d - 1) : edge_probability;
  tessera::generator gen(seed);
  sem m;
  m.d = d;
  m.B.assign(static_cast<std::size_t>(d * d), 0.0);
  // Random permutation (Fisher–Yates).
  const auto sp = gen.next();
  m.perm.resize(static_cast<std::size_t>(d));
  for (index_t j = 0; j < d; ++j) m.perm[static_cast<std::size_t>(j)] = j;
  for (index_t j = d - 1; j > 0; --j) {
    const auto r = static_cast<index_t>(sp.uniform<double>(static_cast<std::uint64_t>(j)) *
                                        static_cast<double>(j + 1));
    std::swap(m.perm[static_cast<std::size_t>(j)],
              m.perm[static_cast<std::size_t>(std::min(r, j))]);
  }
  const auto se = gen.next();
  std::uint64_t c = 0;
  for (index_t a = 0; a < d; ++a)
    for (index_t b = a + 1; b < d; ++b) {
      const double u = se.uniform<double>(c++), w = se.uniform<double>(c++),
                   sg = se.uniform<double>(c++);
      if (u < pe)
        m.B[static_cast<std::size_t>(m.perm[b] * d + m.perm[a])] =
            (sg < 0.5 ? -1.0 : 1.0) * (0.5 + 1.5 * w);
    }
  m.X = tessera::tensor<double>(tessera::shape_t{n, d});
  std::vector<tessera::philox_stream> streams;
  for (index_t j = 0; j < d; ++j) streams.push_back(gen.next());
  for (index_t i = 0; i < n; ++i)
    for (index_t k2 = 0; k2 < d; ++k2) {
      const index_t j = m.perm[static_cast<std::size_t>(k2)];
      double v = draw(k, streams[static_cast<std::size_t>(j)], static_cast<std::uint64_t>(i));
      for (index_t q = 0; q < d; ++q) v += m.b(j, q) * (m.b(j, q) != 0.0 ? m.X(i, q) : 0.0);
      m.X(i, j) = v;
    }
  return m;
}

/// Edges cause -> effect of the true DAG that the order puts effect first.
inline int order_violations(const sem& m, const std::vector<index_t>& order) {
  std::vector<index_t> pos(static_cast<std::size_t>(m.d));
  for (std::size_t k = 0; k < order.size(); ++k)
    pos[static_cast<std::size_t>(order[k])] = static_cast<index_t>(k);
  int v = 0;
  for (index_t e = 0; e < m.d; ++e)
    for (index_t c = 0; c < m.d; ++c)
      if (m.b(e, c) != 0.0 && pos[static_cast<std::size_t>(c)] > pos[static_cast<std::size_t>(e)])
        ++v;
  return v;
}

inline int edges(const sem& m) {
  int k = 0;
  for (double w : m.B) k += w != 0.0;
  return k;
}

}  // namespace lingam_sem
