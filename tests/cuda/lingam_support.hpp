// SPDX-License-Identifier: Apache-2.0
// Host-side references for the CUDA causal-ordering tests, compiled by g++ (lingam_support.cpp)
// so the .cu files need not include Eigen.
#pragma once

#include <cstdint>

#include "tessera/causal/ordering.hpp"

namespace tessera::test {

/// Synthetic LiNGAM data (brief §4): random DAG in variable order, edge probability 2/(d-1),
/// weights ±U[0.5, 2], noise U(-√3, √3). Returns X (n, d); the true order is 0, 1, …, d-1.
tensor<double> lingam_data(index_t n, index_t d, std::uint64_t seed);

/// The CPU causal order (full double precision) with the same options.
causal::ordering_result cpu_causal_order(const tensor<double>& X,
                                         const causal::ordering_options& o);

}  // namespace tessera::test
