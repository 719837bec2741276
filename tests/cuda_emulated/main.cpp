// SPDX-License-Identifier: Apache-2.0
// Test driver for the cuda kernels run on CPU threads (tests/cuda_emulated/emulation.hpp).
#define BOOST_TEST_MODULE tessera_cuda_emulated
#include <boost/test/unit_test.hpp>
