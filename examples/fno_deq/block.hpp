// SPDX-License-Identifier: Apache-2.0
// The FNO block F_θ(z, x̃) with its weights taken from θ, shared by the CPU path (main.cpp) and
// the GPU path (model.hpp in main.cpp and device.cu): implicit::fixed_point needs every
// differentiable input of f to come through its parameter list. θ holds the fourier_block's
// parameters in parameters() order, 8 per layer, then x̃ last. V is ad::var<T, S> for either space.
// Each layer is spectral::fourier_layer_apply, the same code as the library's fourier_layer.
#pragma once

#include <span>
#include <vector>

#include "tessera/ad/ops.hpp"
#include "tessera/spectral/fno.hpp"

namespace fno_deq_block {

/// The block applied to z with the weights θ (see above); `method` is the spectral
/// convolutions' (truncated_dft: on cuda, the fused DFT kernels where nothing is recorded),
/// `fused_pointwise` fourier_layer_apply's (false: no one-kernel products).
template <class V>
V block_from(
    const V& z, const std::vector<V>& th,
    tessera::spectral::spectral_method method = tessera::spectral::spectral_method::truncated_dft,
    bool fused_pointwise = true) {
  namespace sp = tessera::spectral;
  const V& inj = th.back();
  const std::span<const V> all(th);
  V h = z;
  for (std::size_t j = 0; j + 1 < th.size(); j += 8)
    h = sp::fourier_layer_apply(h, all.subspan(j, 8), true, inj, true, method, fused_pointwise);
  return h;
}

}  // namespace fno_deq_block
