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

/// A layer's prepared weights (spectral::prepare_fourier_layer) for variables V.
template <class V>
using prepared_layer =
    tessera::spectral::fourier_layer_prepared<typename V::value_type, typename V::space_type>;

/// The block's layers prepared from θ's current values: what each layer derives from its weights
/// on every unrecorded application, computed once for a solve's iterations.
template <class V>
std::vector<prepared_layer<V>> prepare_block(const std::vector<V>& th) {
  namespace sp = tessera::spectral;
  const std::span<const V> all(th);
  std::vector<prepared_layer<V>> p;
  for (std::size_t j = 0; j + 1 < th.size(); j += 8)
    p.push_back(sp::prepare_fourier_layer(all.subspan(j, 8), true));
  return p;
}

/// The block applied to z with the weights θ (see above); `method` is the spectral
/// convolutions' (truncated_dft: on cuda, the fused DFT kernels),
/// `fused_pointwise` fourier_layer_apply's (false: no one-kernel products), `prepared`
/// prepare_block(θ) of θ's current values or null (used where nothing is recorded).
template <class V>
V block_from(
    const V& z, const std::vector<V>& th,
    tessera::spectral::spectral_method method = tessera::spectral::spectral_method::truncated_dft,
    bool fused_pointwise = true, const std::vector<prepared_layer<V>>* prepared = nullptr) {
  namespace sp = tessera::spectral;
  const V& inj = th.back();
  const std::span<const V> all(th);
  V h = z;
  for (std::size_t j = 0; j + 1 < th.size(); j += 8)
    h = sp::fourier_layer_apply(h, all.subspan(j, 8), true, inj, true, method, fused_pointwise,
                                prepared ? &prepared->at(j / 8) : nullptr);
  return h;
}

}  // namespace fno_deq_block
