// SPDX-License-Identifier: Apache-2.0
// Umbrella for tessera core: tensor, shapes, errors, Philox generator, creation, parallel_for.
#pragma once

#include "tessera/config.hpp"
#include "tessera/core/creation.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/parallel.hpp"
#include "tessera/core/philox.hpp"
#include "tessera/core/shape.hpp"
#include "tessera/core/tensor.hpp"
