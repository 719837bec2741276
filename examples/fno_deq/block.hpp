// SPDX-License-Identifier: Apache-2.0
// The FNO block F_θ(z, x̃) with its weights taken from θ, shared by the CPU path (main.cpp) and
// the GPU timing path (cuda_timing.cu): implicit::fixed_point needs every differentiable input
// of f to come through its parameter list. θ holds the fourier_block's parameters in
// parameters() order, 8 per layer, then x̃ last. V is ad::var<T, S> for either space.
#pragma once

#include <vector>

#include "tessera/ad/ops.hpp"
#include "tessera/spectral/spectral_conv.hpp"

namespace fno_deq_block {

/// A pointwise (1×1) linear map over the channel axis 1 of x (B, Cin, ...): w (Cout, Cin), b
/// (Cout).
template <class V>
V linear(const V& x, const V& w, const V& b) {
  namespace ad = tessera::ad;
  using tessera::index_t;
  using tessera::shape_t;
  const index_t B = x.size(0), Cin = w.size(1), Cout = w.size(0);
  const index_t P = x.numel() / (B * Cin);
  const V y = ad::matmul(w, ad::reshape(x, shape_t{B, Cin, P}));
  shape_t out = x.shape();
  out[1] = Cout;
  return ad::reshape(y + ad::reshape(b, shape_t{Cout, 1}), out);
}

/// The block applied to z with the weights θ (see above).
template <class V>
V block_from(const V& z, const std::vector<V>& th) {
  namespace ad = tessera::ad;
  namespace sp = tessera::spectral;
  const V& inj = th.back();
  V h = z;
  for (std::size_t j = 0; j + 1 < th.size(); j += 8) {
    V k = sp::spectral_conv2d(h, th[j], th[j + 1]);
    k = linear(ad::gelu(linear(k, th[j + 2], th[j + 3])), th[j + 4], th[j + 5]);
    h = ad::gelu(k + linear(h, th[j + 6], th[j + 7]) + inj);
  }
  return h;
}

}  // namespace fno_deq_block
