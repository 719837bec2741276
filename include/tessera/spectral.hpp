// SPDX-License-Identifier: Apache-2.0
// Umbrella for tessera::spectral: FFTs of tensors and variables, complex matrix products, the
// FNO spectral convolutions and the FNO building blocks.
#pragma once

#include "tessera/spectral/ad_fft.hpp"
#include "tessera/spectral/complex_matmul.hpp"
#include "tessera/spectral/fft.hpp"
#include "tessera/spectral/fno.hpp"
#include "tessera/spectral/spectral_conv.hpp"
