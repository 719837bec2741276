// SPDX-License-Identifier: Apache-2.0
// Losses on host tensors: cross-entropy over class logits and mean squared error.
#pragma once

#include "tessera/core/creation.hpp"
#include "tessera/ops/indexing.hpp"
#include "tessera/ops/normalization.hpp"

namespace tessera {

/// Mean cross-entropy of logits (N, C) against class ids (N,) in [0, C).
/// @throws tessera::invalid_argument for mismatched shapes or an out-of-range class id.
template <class T>
tensor<T> cross_entropy(const tensor<T>& logits, const tensor<index_t>& target) {
  if (logits.rank() != 2 || target.rank() != 1 || target.size(0) != logits.size(0))
    throw_invalid_argument("cross_entropy", "logits shape ", logits.shape().str(),
                           " and target shape ", target.shape().str(), " must be (N, C) and (N,)");
  const tensor<T> lp = log_softmax(logits, 1);
  const index_t N = logits.size(0), C = logits.size(1);
  T acc = T(0);
  for (index_t i = 0; i < N; ++i) {
    const index_t c = target(i);
    if (c < 0 || c >= C)
      throw_invalid_argument("cross_entropy", "target[", i, "] = ", c, " is out of range for ", C,
                             " classes");
    acc -= lp(i, c);
  }
  return scalar<T>(N > 0 ? acc / static_cast<T>(N) : std::numeric_limits<T>::quiet_NaN());
}

/// Mean of (pred - target)² over all elements (target broadcasts to pred).
/// @throws tessera::invalid_argument when target does not broadcast to pred's shape.
template <class T>
tensor<T> mse_loss(const tensor<T>& pred, const tensor<T>& target) {
  if (!(broadcast_shapes("mse_loss", pred.shape(), target.shape()) == pred.shape()))
    throw_invalid_argument("mse_loss", "target shape ", target.shape().str(),
                           " does not broadcast to pred shape ", pred.shape().str());
  return mean(square(sub(pred, target)));
}

}  // namespace tessera
