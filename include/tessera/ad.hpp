// SPDX-License-Identifier: Apache-2.0
// Umbrella for tessera::ad: variables, tape scopes, differentiable ops and reverse sweeps.
#pragma once

#include "tessera/ad/elementwise.hpp"
#include "tessera/ad/grad.hpp"
#include "tessera/ad/linalg.hpp"
#include "tessera/ad/nn.hpp"
#include "tessera/ad/node.hpp"
#include "tessera/ad/reduce.hpp"
#include "tessera/ad/shape.hpp"
#include "tessera/ad/tape.hpp"
#include "tessera/ad/var.hpp"
