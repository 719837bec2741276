// SPDX-License-Identifier: Apache-2.0
// Umbrella for host code: core, plain ops and reverse-mode autodiff.
#pragma once

#include "tessera/ad.hpp"
#include "tessera/core.hpp"
#include "tessera/core/format.hpp"
#include "tessera/io.hpp"
#include "tessera/ops.hpp"
#include "tessera/optim.hpp"
