// SPDX-License-Identifier: Apache-2.0
// Umbrella for tessera::implicit: fixed-point and root solvers (Picard, Anderson, Broyden,
// GMRES) and differentiable fixed points (implicit, phantom and unrolled backward passes).
#pragma once

#include "tessera/implicit/fixed_point.hpp"
#include "tessera/implicit/gmres.hpp"
#include "tessera/implicit/jacobian.hpp"
#include "tessera/implicit/options.hpp"
#include "tessera/implicit/solve.hpp"
