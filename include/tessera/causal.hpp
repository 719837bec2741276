// SPDX-License-Identifier: Apache-2.0
// Umbrella for tessera::causal: DirectLiNGAM ordering, adjacency, bootstrap and VarLiNGAM.
#pragma once

#include "tessera/causal/adjacency.hpp"
#include "tessera/causal/direct_lingam.hpp"
#include "tessera/causal/lars.hpp"
#include "tessera/causal/ordering.hpp"
#include "tessera/causal/prior_knowledge.hpp"
#include "tessera/causal/var_lingam.hpp"
