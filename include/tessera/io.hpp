// SPDX-License-Identifier: Apache-2.0
// Umbrella for tessera::io: reading and writing tensors in other tools' file formats (.npy).
#pragma once

#include "tessera/io/csv.hpp"
#include "tessera/io/npy.hpp"
