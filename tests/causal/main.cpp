// SPDX-License-Identifier: Apache-2.0
// Test driver for tessera causal (DirectLiNGAM, LARS, VarLiNGAM) and the CSV reader.
#define BOOST_TEST_MODULE tessera_causal
#include <boost/test/unit_test.hpp>
