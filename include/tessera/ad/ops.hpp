// SPDX-License-Identifier: Apache-2.0
// Differentiable versions of tessera's tensor ops on ad::var. Each rule's doc comment gives
// its adjoint; rules are generic so they also differentiate their own gradients.
#pragma once

#include <cmath>
#include <numeric>
#include <vector>

#include "tessera/ad/node.hpp"
#include "tessera/ops/indexing.hpp"
#include "tessera/ops/matmul.hpp"
#include "tessera/ops/normalization.hpp"
#include "tessera/ops/view.hpp"

namespace tessera::ad {

// ============================== elementwise, one input =========================================

/// y = -x;  x̄ += -ȳ
template <class T>
var<T> neg(const var<T>& x) {
  return make_op(tessera::neg(x.value()), {x}, [](auto& c) { c.acc(0, -c.gy()); });
}
/// y = |x|;  x̄ += ȳ·sign(x)
template <class T>
var<T> abs(const var<T>& x) {
  return make_op(tessera::abs(x.value()), {x},
                 [](auto& c) { c.acc(0, c.gy() * c.lift(tessera::sign(c.x(0).value_or_self()))); });
}
}  // namespace tessera::ad
