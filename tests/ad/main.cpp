// SPDX-License-Identifier: Apache-2.0
// Test driver for tessera ad.
#define BOOST_TEST_MODULE tessera_ad
#include <boost/test/unit_test.hpp>
