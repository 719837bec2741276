// SPDX-License-Identifier: Apache-2.0
// Host-side references for the CUDA causal-ordering tests (see lingam_support.hpp).
#include "lingam_support.hpp"

#include <cmath>

#include "tessera/causal/direct_lingam.hpp"
#include "tessera/core/creation.hpp"

namespace tessera::test {

tensor<double> lingam_data(index_t n, index_t d, std::uint64_t seed) {
  generator g(seed);
  const double r3 = std::sqrt(3.0);
  const tensor<double> E = rand<double>({n, d}, g, -r3, r3);
  const tensor<double> P = rand<double>({d, d}, g);
  const tensor<double> Wt = rand<double>({d, d}, g, 0.5, 2.0);
  const tensor<double> S = rand<double>({d, d}, g);
  tensor<double> X(shape_t{n, d});
  for (index_t t = 0; t < n; ++t)
    for (index_t j = 0; j < d; ++j) {
      double v = E(t, j);
      for (index_t k = 0; k < j; ++k)
        if (P(j, k) < 2.0 / static_cast<double>(d - 1))
          v += (S(j, k) < 0.5 ? -1.0 : 1.0) * Wt(j, k) * X(t, k);
      X(t, j) = v;
    }
  return X;
}

causal::ordering_result cpu_causal_order(const tensor<double>& X,
                                         const causal::ordering_options& o) {
  return causal::causal_order(X, o);
}

}  // namespace tessera::test
