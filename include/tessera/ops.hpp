// SPDX-License-Identifier: Apache-2.0
// Umbrella for tessera's plain (tape-free) tensor operations on the host.
#pragma once

#include "tessera/core.hpp"
#include "tessera/ops/elementwise.hpp"
#include "tessera/ops/indexing.hpp"
#include "tessera/ops/loss.hpp"
#include "tessera/ops/matmul.hpp"
#include "tessera/ops/normalization.hpp"
#include "tessera/ops/reduce.hpp"
