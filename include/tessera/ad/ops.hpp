// SPDX-License-Identifier: Apache-2.0
// All differentiable ops on ad::var (elementwise, views, reductions, matmul, nn), without the
// reverse sweeps of grad.hpp. The ops themselves live in the headers included here.
#pragma once

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/linalg.hpp"
#include "tessera/ad/nn.hpp"
#include "tessera/ad/reduce.hpp"
#include "tessera/ad/shape.hpp"
