// SPDX-License-Identifier: Apache-2.0
// Test driver for tessera spectral.
#define BOOST_TEST_MODULE tessera_spectral
#include <boost/test/unit_test.hpp>
