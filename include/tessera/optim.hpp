// SPDX-License-Identifier: Apache-2.0
// Umbrella for tessera::optim: SGD, Adam, AdamW, gradient clipping, learning-rate schedules and
// L-BFGS over parameter slots (plain tensors; no dependency on the autodiff).
#pragma once

#include "tessera/optim/adam.hpp"
#include "tessera/optim/adamw.hpp"
#include "tessera/optim/clip.hpp"
#include "tessera/optim/lbfgs.hpp"
#include "tessera/optim/optimizer.hpp"
#include "tessera/optim/param.hpp"
#include "tessera/optim/schedule.hpp"
#include "tessera/optim/sgd.hpp"
